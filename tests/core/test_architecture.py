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


# The import graph of eventkit/ and plugins/ (docs/architecture.md, "What may import what").

PACKAGE_ROOTS = [(ROOT / "eventkit", ROOT), (ROOT / "plugins", ROOT / "plugins")]

# Imports inside functions that close a loop, each allowed for the reason given (the
# importer matches by prefix, so a module split into a package keeps its entry).
DOCUMENTED_LAZY = {
    ("eventkit", "eventkit.provider"): "the root's deprecated names resolve there until 0.2",
    ("eventkit._wiring", "eventkit._transport"): "import eventkit does not load ssl/http.client until a send",
    ("eventkit._transport", "eventkit"): "the User-Agent reads eventkit.__version__",
    ("eventkit._secrets", "eventkit._logging"): "the first client holding a secret installs the log filter "
    "on the libraries' loggers (the filter reads the live secrets from _secrets)",
}


def module_names() -> dict[str, tuple[Path, bool]]:
    found = {}
    for base, top in PACKAGE_ROOTS:
        for path in python_files(base):
            parts = list(path.relative_to(top).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def _type_checking_only(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(body: list[ast.stmt], lazy: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, marked lazy when inside a function; ``if TYPE_CHECKING:`` bodies skipped."""
    for node in body:
        if isinstance(node, ast.If) and _type_checking_only(node.test):
            yield from import_nodes(node.orelse, lazy)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, lazy
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from import_nodes(node.body, True)
        else:
            for field in ("body", "orelse", "finalbody", "handlers"):
                children = getattr(node, field, None)
                if isinstance(children, list):
                    yield from import_nodes([c for c in children if isinstance(c, ast.stmt)], lazy)
                    for handler in children:
                        if isinstance(handler, ast.ExceptHandler):
                            yield from import_nodes(handler.body, lazy)


def import_edges(modules: dict[str, tuple[Path, bool]]) -> list[tuple[str, str, bool]]:
    """(importer, imported, lazy) for every import between modules of the two trees."""
    edges = []
    for name, (path, is_package) in modules.items():
        package = name if is_package else name.rpartition(".")[0]
        for node, lazy in import_nodes(ast.parse(path.read_text(), str(path)).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    module = ".".join(base + ([node.module] if node.module else []))
                else:
                    module = node.module or ""
                targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.append((name, target, lazy))
    return edges


def cycles(edges: list[tuple[str, str, bool]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for a, b, _ in edges:
        graph.setdefault(a, set()).add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _documented(importer: str, imported: str) -> bool:
    return any(
        imported == target and (importer == prefix or importer.startswith(prefix + "."))
        for prefix, target in DOCUMENTED_LAZY
    )


def test_the_cycle_check_can_fail() -> None:
    assert cycles([("a", "b", False), ("b", "c", False), ("c", "a", True)]) == [["a", "b", "c"]]
    assert cycles([("a", "b", False), ("b", "c", False)]) == []


def test_module_level_imports_have_no_cycles() -> None:
    modules = module_names()
    assert {"eventkit._provider", "eventkit._client", "eventkit_stream._listen", "eventkit.testing"} <= set(modules)
    edges = import_edges(modules)
    assert ("eventkit._client", "eventkit._wiring", False) in edges
    assert cycles([e for e in edges if not e[2]]) == []


def test_lazy_imports_close_no_loop_except_documented_ones() -> None:
    edges = [(a, b, lazy) for a, b, lazy in import_edges(module_names()) if not (lazy and _documented(a, b))]
    assert cycles(edges) == []


def test_the_provider_contract_imports_no_transport_listener_or_client() -> None:
    imported = {b for a, b, _ in import_edges(module_names()) if a == "eventkit._provider"}
    assert imported, "eventkit._provider imports nothing?"
    assert not {b for b in imported if b.split(".")[1] in ("_transport", "_webhooks", "_client", "_wiring")}
    assert "eventkit._provider" not in {b for a, b, _ in import_edges(module_names()) if a == "eventkit._retry"}


# Every vendor plugin has the one documented layout (docs/architecture.md, "Plugin layout").

VENDOR_PLUGINS = ["eventkit_signalwire", "eventkit_asterisk", "eventkit_stream", "eventkit_vonage"]
LAYOUT = [
    "__init__.py",
    "_wire.py",
    "_settings.py",
    "_codec.py",
    "_errors.py",
    "testing/emulator.py",
    "testing/sandbox.py",
]
IO_MODULES = {"_listen", "_send", "_ami"}


@pytest.mark.parametrize("plugin", VENDOR_PLUGINS)
def test_each_vendor_plugin_has_the_documented_layout(plugin: str) -> None:
    root = ROOT / "plugins" / plugin
    assert [name for name in LAYOUT if not (root / name).is_file()] == []
    from eventkit import _registry

    provider = _registry.load(plugin.removeprefix("eventkit_"))
    socket_modes = {mode.value for mode in provider.capabilities.listen} & {"websocket", "tcp"}
    assert (root / "_listen.py").is_file() == bool(socket_modes)


@pytest.mark.parametrize("plugin", [*VENDOR_PLUGINS, "eventkit_memory"])
def test_plugin_packages_import_their_io_modules_lazily(plugin: str) -> None:
    init = ROOT / "plugins" / plugin / "__init__.py"
    eager = {
        b.rpartition(".")[2]
        for a, b, lazy in import_edges(module_names())
        if a == plugin and not lazy and b.startswith(plugin + ".")
    }
    assert init.is_file() and not eager & IO_MODULES


def test_the_import_rules_table_of_docs_architecture() -> None:
    edges = import_edges(module_names())

    def imports(module: str) -> set[str]:
        return {b for a, b, _ in edges if a == module}

    assert "eventkit._cli" not in imports("eventkit._demo")  # the CLI runs the demo; they share _table
    assert "eventkit._client" not in imports("eventkit._wiring")
    assert not {"eventkit._client", "eventkit._cli"} & imports("eventkit.provider")
    plugin_modules = [m for m in module_names() if m.startswith("eventkit_")]
    assert not [m for m in module_names() if m.startswith("eventkit.") and imports(m) & set(plugin_modules)]
