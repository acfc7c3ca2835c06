"""The package boundaries docs/architecture.md promises, checked on the source itself.

Plugins (built-in and the third-party example) import ``eventkit`` and
``eventkit.provider`` only; the root module exports the user API, and the
plugin author's names it used to export still resolve, with a warning.
"""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

import eventkit
import eventkit.provider

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_SOURCES = [ROOT / "plugins", ROOT / "docs" / "examples" / "eventkit-acme" / "src"]


def python_files(*roots: Path) -> Iterator[Path]:
    for root in roots:
        yield from sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """Every absolute module an AST imports, with ``from pkg import sub`` giving ``pkg.sub`` too."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module
            for alias in node.names:
                yield node.lineno, f"{node.module}.{alias.name}"


def private_eventkit_imports(source: str, filename: str) -> list[str]:
    found: dict[int, str] = {}
    for line, module in imported_modules(ast.parse(source, filename)):
        parts = module.split(".")
        if parts[0] == "eventkit" and any(part.startswith("_") and part != "__version__" for part in parts[1:]):
            found.setdefault(line, f"{filename}:{line}: {module}")
    return list(found.values())


def test_the_private_import_check_can_fail() -> None:
    assert private_eventkit_imports("from eventkit._stats import Counters", "x.py") == ["x.py:1: eventkit._stats"]
    assert private_eventkit_imports("import eventkit._json", "x.py") == ["x.py:1: eventkit._json"]
    assert private_eventkit_imports("from eventkit import _transport", "x.py") == ["x.py:1: eventkit._transport"]
    assert private_eventkit_imports("def f():\n    from eventkit._json import copy_json", "x.py") != []
    assert private_eventkit_imports("from eventkit.provider import Provider\nimport eventkit", "x.py") == []


def test_plugins_import_only_the_public_modules() -> None:
    files = list(python_files(*PLUGIN_SOURCES))
    assert len(files) > 20  # every built-in plugin and the acme example were found
    offences = [
        hit for path in files for hit in private_eventkit_imports(path.read_text(), str(path.relative_to(ROOT)))
    ]
    assert offences == []


def test_the_provider_kit_names_resolve() -> None:
    missing = [name for name in eventkit.provider.__all__ if not hasattr(eventkit.provider, name)]
    assert missing == []
    assert len(set(eventkit.provider.__all__)) == len(eventkit.provider.__all__)


def test_the_root_exports_the_user_api_only() -> None:
    kit_only = {"Provider", "RetryLoop", "segment", "json_body", "from_status", "Counters", "HttpCodec", "setting"}
    assert kit_only.isdisjoint(eventkit.__all__)
    assert {"connect", "connect_async", "Client", "AsyncClient", "Event", "SendResult", "check"} <= set(
        eventkit.__all__
    )
    assert [name for name in eventkit.__all__ if not hasattr(eventkit, name)] == []


@pytest.mark.parametrize("name", ["segment", "RetryLoop", "Provider", "TransportSettings", "wait_within"])
def test_moved_names_still_resolve_with_a_warning(name: str) -> None:
    with pytest.warns(DeprecationWarning, match=rf"eventkit\.{name} .*import it from eventkit\.provider"):
        value = getattr(eventkit, name)
    assert value is getattr(eventkit.provider, name)


def test_user_api_names_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert eventkit.connect is not None and eventkit.Event is not None and eventkit.Secret is not None


def test_unknown_root_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        eventkit.no_such_name  # noqa: B018
