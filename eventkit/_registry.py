"""Finding providers by name through stevedore (entry point group ``eventkit.providers``).

The core never imports a plugin by module name: built-in providers register
exactly like third-party ones. Loading is lazy and per name, so ``connect("stream")``
imports only the Stream plugin. A plugin that fails to load is reported with its
error; two plugins claiming one name are an error.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs

from ._errors import DuplicateProviderError, PluginLoadError, ProviderNotFoundError

GROUP = "eventkit.providers"


@attrs.frozen
class PluginEntry:
    name: str
    value: str
    distribution: str | None


@attrs.frozen
class LoadFailure:
    name: str
    value: str
    error: str


def _entry_points() -> list[PluginEntry]:
    from importlib.metadata import entry_points

    out = []
    for ep in entry_points(group=GROUP):
        dist = getattr(ep, "dist", None)
        out.append(PluginEntry(ep.name, ep.value, getattr(dist, "name", None)))
    return out


@functools.lru_cache(maxsize=1)
def entries() -> dict[str, list[PluginEntry]]:
    """Entry points by name; identical duplicates (one distribution seen twice) collapse."""
    by_name: dict[str, list[PluginEntry]] = {}
    for entry in _entry_points():
        same = by_name.setdefault(entry.name, [])
        if all(e.value != entry.value for e in same):
            same.append(entry)
    return by_name


def refresh() -> None:
    """Forget what was found (after installing a plugin in a running process)."""
    entries.cache_clear()
    _load.cache_clear()


def names() -> list[str]:
    return sorted(entries())


def _check_duplicate(name: str) -> PluginEntry:
    found = entries().get(name)
    if not found:
        raise ProviderNotFoundError(name, entries())
    if len(found) > 1:
        where = "; ".join(f"{e.value} (from {e.distribution or 'unknown distribution'})" for e in found)
        raise DuplicateProviderError(f"provider name {name!r} is claimed by more than one plugin: {where}")
    return found[0]


@functools.cache
def _load(name: str) -> type[Any]:
    from stevedore import DriverManager

    from ._provider import Provider

    entry = _check_duplicate(name)
    failures: list[str] = []

    def on_failure(manager: Any, ep: Any, exc: BaseException) -> None:
        failures.append(f"{type(exc).__name__}: {exc}")

    try:
        manager = DriverManager(GROUP, name, invoke_on_load=False, on_load_failure_callback=on_failure)
        cls = manager.driver
    except Exception as exc:  # stevedore raises NoMatches/RuntimeError when the load failed
        detail = failures[0] if failures else f"{type(exc).__name__}: {exc}"
        raise PluginLoadError(f"provider {name!r} ({entry.value}) failed to load: {detail}") from None
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise PluginLoadError(f"provider {name!r} ({entry.value}) is not an eventkit.Provider subclass")
    if getattr(cls, "name", None) != name:
        raise PluginLoadError(f"provider {name!r} ({entry.value}) declares the name {getattr(cls, 'name', None)!r}")
    return cls


def load(name: str) -> type[Any]:
    """The provider class registered as ``name``; typed errors for every failure."""
    return _load(name)


def load_all() -> tuple[dict[str, type[Any]], list[LoadFailure]]:
    """Every provider that loads, and every failure with its error (none dropped)."""
    loaded: dict[str, type[Any]] = {}
    failures: list[LoadFailure] = []
    for name, found in sorted(entries().items()):
        try:
            loaded[name] = load(name)
        except (PluginLoadError, DuplicateProviderError) as exc:
            failures.append(LoadFailure(name, ", ".join(e.value for e in found), exc.message))
    return loaded, failures


def for_scheme(scheme: str) -> type[Any]:
    """The provider a URL scheme names: ``<name>``, ``<name>+http(s)``, or a declared extra scheme."""
    from ._settings import provider_from_scheme

    base = provider_from_scheme(scheme)
    if base in entries():
        return load(base)
    loaded, _ = load_all()
    for cls in loaded.values():
        if scheme.lower() in cls.url_schemes or base in cls.url_schemes:
            return cls
    raise ProviderNotFoundError(f"{scheme}://", entries())
