"""Helpers for users' cross-vendor tests: choose providers by capability, compare round trips.

They work with the pytest plugin (``eventkit.testing.pytest_plugin``, on by
default once eventkit is installed) but import nothing heavy: pytest is
imported only when a marker is built.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from eventkit import Event

if TYPE_CHECKING:
    import pytest

    from .sandbox import Sandbox

CAPABILITY_KINDS = ("target", "listen", "payload")
"""What ``capability="kind:value"`` may name: a target kind, a listen mode, a payload model."""


class SelectionError(ValueError):
    """A provider selection names something that does not exist (a typo); the message names the valid ones."""


def parse_capabilities(capability: str | Iterable[str] | None) -> dict[str, str]:
    """``"listen:webhook"`` (or several) as ``{"listen": "webhook"}``; a typo is an error, not an empty run."""
    if capability is None:
        return {}
    items = [capability] if isinstance(capability, str) else list(capability)
    out: dict[str, str] = {}
    for item in items:
        kind, colon, value = item.partition(":")
        if not colon or kind not in CAPABILITY_KINDS or not value:
            raise SelectionError(
                f"capability {item!r}: use one of {', '.join(k + ':<value>' for k in CAPABILITY_KINDS)}"
            )
        out[kind] = value
    return out


def valid_values() -> dict[str, list[str]]:
    """What each selection condition may name, from the sandboxes' providers and eventkit's enums."""
    from eventkit import ListenMode, PayloadModel, _registry, _targets

    from .sandbox import SANDBOXES

    builtin = (
        _targets.CallTarget,
        _targets.ChannelTarget,
        _targets.UserTarget,
        _targets.ConversationTarget,
        _targets.AmiTarget,
        _targets.AppTarget,
        _targets.TopicTarget,
    )
    kinds: list[str] = [cls.kind for cls in builtin]
    for cls in SANDBOXES.values():
        for kind in _registry.load(cls.provider).capabilities.target_kinds:
            if kind not in kinds:
                kinds.append(kind)
    return {
        "target": kinds,
        "listen": [mode.value for mode in ListenMode],
        "payload": [model.value for model in PayloadModel],
    }


def select_sandboxes(
    names: Iterable[str] = (),
    *,
    capability: str | Iterable[str] | None = None,
    target: str | None = None,
    listen: str | None = None,
    payload: str | None = None,
) -> list[str]:
    """Sandbox names (in demo order) matching every condition, judged from the declarations.

    ``names`` may hold sandbox names (``asterisk-ami``) or provider names
    (``asterisk``: all its sandboxes). ``target`` is a target kind the provider
    declares, ``listen`` the listening path the sandbox uses, ``payload`` the
    provider's declared payload model (``json``, ``flat-strings``).

    A name or a value that does not exist raises :class:`SelectionError` naming
    the valid ones: a typo must fail, not select nothing and skip. Valid values
    that no sandbox matches give an empty list (the plugin skips, with the reason).
    """
    from eventkit import _registry

    from .sandbox import SANDBOXES

    wanted = {"target": target, "listen": listen, "payload": payload, **parse_capabilities(capability)}
    if wanted["payload"]:
        wanted["payload"] = wanted["payload"].replace("_", "-")
    names = list(names)
    providers = list(dict.fromkeys(cls.provider for cls in SANDBOXES.values()))
    unknown = [n for n in names if n not in SANDBOXES and n not in providers]
    if unknown:
        known = list(dict.fromkeys([*providers, *SANDBOXES]))
        raise SelectionError(
            f"no eventkit provider or sandbox named {', '.join(map(repr, unknown))}; known: {', '.join(known)}"
        )
    valid = None
    for kind, value in wanted.items():
        if value is None:
            continue
        valid = valid or valid_values()
        if value not in valid[kind]:
            raise SelectionError(f"{kind} {value!r} does not exist; valid: {', '.join(valid[kind])}")
    chosen = []
    for name, cls in SANDBOXES.items():
        if names and name not in names and cls.provider not in names:
            continue
        caps = _registry.load(cls.provider).capabilities
        if wanted["target"] and wanted["target"] not in caps.target_kinds:
            continue
        if wanted["listen"] and wanted["listen"] != cls.listen_via:
            continue
        if wanted["payload"] and wanted["payload"] != caps.payload.value:
            continue
        chosen.append(name)
    return chosen


def for_each_provider(
    *names: str,
    capability: str | Iterable[str] | None = None,
    target: str | None = None,
    listen: str | None = None,
    payload: str | None = None,
) -> pytest.MarkDecorator:
    """A pytest mark: run the test once per built-in sandbox that matches, as ``eventkit_provider``.

    >>> @for_each_provider(capability="listen:webhook")          # doctest: +SKIP
    ... def test_round_trip(eventkit_provider):
    ...     trip = eventkit_provider.round_trip("order_ready", {"id": 1})
    ...     assert_received_equals_sent(trip.sent, trip.received, eventkit_provider)
    """
    import pytest

    # Names and values are checked when pytest collects the test (the sandboxes' providers
    # are loaded then, not at import): a typo fails that test with a one-line message.
    return pytest.mark.eventkit_providers(*names, capability=capability, target=target, listen=listen, payload=payload)


def _expected_for(sent: Event, provider: Any) -> tuple[str | None, dict[str, Any]]:
    """(provider name, the data a listener sees) for a name, a sandbox, or a plugin's ProviderCase."""
    from .sandbox import SANDBOXES, Sandbox

    sandbox: Sandbox | None = getattr(provider, "sandbox", None)
    if sandbox is None and isinstance(provider, Sandbox):
        sandbox = provider
    if sandbox is not None:
        return sandbox.provider, sandbox.expected(sent)
    if isinstance(provider, str):
        cls = SANDBOXES.get(provider) or next((c for c in SANDBOXES.values() if c.provider == provider), None)
        if cls is not None:
            return cls.provider, cls().expected(sent)
        return provider, dict(sent.data)  # a third-party provider: identity unless it says otherwise
    raise TypeError(f"provider must be a name, a Sandbox or eventkit_provider, not {type(provider).__name__}")


def _canonical(value: Any) -> str:
    """JSON text with sorted keys: ``True`` and ``1`` (or ``"1"``) differ, as they do on the wire."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=repr)


def assert_received_equals_sent(sent: Event, received: Event | None, provider: str | Sandbox | Any) -> None:
    """Assert ``received`` is ``sent`` after the trip, under the provider's documented mapping.

    Checks the name, the data (as the mapping says a listener sees it: for the
    built-in providers eventkit-to-eventkit round trips are exact, AMI's
    strings included), and which provider it came through. The message names
    each differing key, so a failure in a cross-vendor run says what the
    platform did.
    """
    __tracebackhide__ = True
    name, expected = _expected_for(sent, provider)
    if received is None:
        raise AssertionError(f"{sent.name!r} was sent through {name} but nothing was received")
    problems = []
    if received.name != sent.name:
        problems.append(f"name: sent {sent.name!r}, received {received.name!r}")
    for key in sorted(set(expected) | set(received.data), key=str):
        if key not in received.data:
            problems.append(f"data[{key!r}]: missing (expected {expected[key]!r})")
        elif key not in expected:
            problems.append(f"data[{key!r}]: unexpected {received.data[key]!r}")
        elif _canonical(received.data[key]) != _canonical(expected[key]):
            problems.append(f"data[{key!r}]: expected {expected[key]!r}, received {received.data[key]!r}")
    if name is not None and received.provider not in (None, name):
        problems.append(f"provider: expected {name!r}, received through {received.provider!r}")
    if problems:
        raise AssertionError(f"received != sent through {name}:\n  " + "\n  ".join(problems))
