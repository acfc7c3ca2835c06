"""eventkit's pytest plugin: vendor emulators as fixtures, one test body across providers.

Registered with the ``pytest11`` entry point, so it is on in every test session
once eventkit is installed (``-p no:eventkit`` turns it off). It starts nothing
until a test asks for one of its fixtures, and it imports no emulator, server or
provider at start-up.

Fixtures:

* ``eventkit_signalwire``, ``eventkit_asterisk_ami``, ``eventkit_asterisk_ari``,
  ``eventkit_stream``, ``eventkit_vonage``: a connected :class:`eventkit.Client`
  whose provider talks to that vendor's emulator (started once per session).
* ``eventkit_sandbox``: ``eventkit_sandbox("stream")`` gives the started
  :class:`~eventkit.testing.sandbox.Sandbox` (emulator, settings, target, mapping).
* ``eventkit_provider``: with ``@eventkit.testing.for_each_provider(...)`` (or
  ``@pytest.mark.eventkit_providers(...)``), the test runs once per matching
  provider and gets a :class:`ProviderCase`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from .case import ProviderCase

if TYPE_CHECKING:
    import eventkit

    from .sandbox import Sandbox

MARKER = (
    "eventkit_providers(*names, capability=None, target=None, listen=None, payload=None): "
    "run the test once per eventkit sandbox matching (fixture: eventkit_provider)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER)


class SandboxPool:
    """Sandboxes started on first use and kept for the session (emulators take tens of ms each)."""

    def __init__(self) -> None:
        self._started: dict[str, Sandbox] = {}

    def get(self, name: str) -> Sandbox:
        from eventkit import ConfigurationError

        from .sandbox import missing_requirements, sandbox_class

        try:
            cls = sandbox_class(name)
        except ConfigurationError as exc:
            problem = str(exc)
        else:
            problem = ""
        if problem:  # a typo: one line naming the valid names, not a traceback (nor a chained one)
            pytest.fail(problem, pytrace=False)
        if cls.name not in self._started:
            missing = missing_requirements(cls)
            if missing:
                pytest.skip(
                    f"eventkit sandbox {cls.name} needs {', '.join(missing)} (pip install 'eventkit-cpaas[all]')"
                )
            self._started[cls.name] = cls().start()
        return self._started[cls.name]

    def close(self) -> None:
        for sandbox in self._started.values():
            sandbox.close()
        self._started.clear()


@pytest.fixture(scope="session")
def eventkit_sandboxes() -> Iterator[SandboxPool]:
    """The session's emulators, started lazily; all stopped at the end of the session."""
    pool = SandboxPool()
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def eventkit_sandbox(eventkit_sandboxes: SandboxPool) -> Callable[[str], Sandbox]:
    """``eventkit_sandbox("vonage")``: the started sandbox (emulator, settings, target, mapping)."""
    return eventkit_sandboxes.get


def _client_fixture(sandbox: str) -> Any:
    def fixture(eventkit_sandboxes: SandboxPool) -> Iterator[eventkit.Client]:
        with eventkit_sandboxes.get(sandbox).connect() as kit:
            yield kit

    fixture.__doc__ = f"An eventkit client connected to the {sandbox} emulator (sync; ``kit.send(...)``)."
    fixture.__name__ = "eventkit_" + sandbox.replace("-", "_")
    return pytest.fixture(name=fixture.__name__)(fixture)


eventkit_signalwire = _client_fixture("signalwire")
eventkit_asterisk_ami = _client_fixture("asterisk-ami")
eventkit_asterisk_ari = _client_fixture("asterisk-ari")
eventkit_stream = _client_fixture("stream")
eventkit_vonage = _client_fixture("vonage")


@pytest.fixture
def eventkit_provider(request: pytest.FixtureRequest, eventkit_sandboxes: SandboxPool) -> Iterator[ProviderCase]:
    """The provider of this run of a ``for_each_provider`` test."""
    name = getattr(request, "param", None)
    if name is None:
        raise pytest.UsageError(
            "eventkit_provider needs @eventkit.testing.for_each_provider(...) or @pytest.mark.eventkit_providers(...)"
        )
    if isinstance(name, _SelectionFailure):
        pytest.fail(name.message, pytrace=False)
    case = ProviderCase(eventkit_sandboxes.get(name))
    try:
        yield case
    finally:
        case.close()


class _SelectionFailure:
    """The parameter of a test whose provider selection is invalid: its setup fails with ``message``."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __repr__(self) -> str:
        return "invalid-selection"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "eventkit_provider" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("eventkit_providers")
    if marker is None:
        names: list[str] = []  # every sandbox
        options: dict[str, Any] = {}
    else:
        names, options = list(marker.args), dict(marker.kwargs)
    from .helpers import SelectionError, select_sandboxes

    try:
        chosen = select_sandboxes(names, **options)
    except (SelectionError, TypeError) as exc:
        # The test fails at setup with this one line (a collection error would end the session
        # with a traceback, and a skip would hide the typo).
        failure = _SelectionFailure(f"eventkit_providers: {exc}")
        metafunc.parametrize("eventkit_provider", [failure], indirect=True, ids=["invalid-selection"])
        return
    if not chosen:
        metafunc.parametrize(
            "eventkit_provider",
            [pytest.param(None, marks=pytest.mark.skip(reason=f"no eventkit provider matches {options or names}"))],
            indirect=True,
            ids=["none"],
        )
        return
    metafunc.parametrize("eventkit_provider", chosen, indirect=True, ids=chosen)
