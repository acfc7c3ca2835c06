"""Store URL parameters, parsed once for every local backend.

``memory://?max_events=10000&max_bytes=64MiB`` and
``sqlite:///events.db?max_bytes=1GiB&retention=7d&synchronous=full`` share one
parser, so a value means the same thing on every backend and a typo is an error
at :func:`~eventkit._store.open_store` time, before any file is touched.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

import attrs

from ._base import StoreSettingsError

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NUMBER_UNIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def _number_and_unit(name: str, text: str) -> tuple[float, str]:
    match = _NUMBER_UNIT.match(text)
    if match is None:
        raise StoreSettingsError(f"store parameter {name}={text!r} is not a non-negative number with an optional unit")
    value = float(match.group(1))
    if not math.isfinite(value):
        raise StoreSettingsError(f"store parameter {name}={text!r} is not a finite number")
    return value, match.group(2).lower()


def parse_size(name: str, text: str) -> int:
    """Bytes from ``1048576``, ``500MB`` (powers of 1000) or ``1GiB`` (powers of 1024)."""
    value, unit = _number_and_unit(name, text)
    if unit not in _SIZE_UNITS:
        raise StoreSettingsError(
            f"store parameter {name}={text!r}: unknown size unit {unit!r} (use B, KB, MB, GB, KiB, MiB, GiB)"
        )
    return int(value * _SIZE_UNITS[unit])


def parse_duration(name: str, text: str) -> float:
    """Seconds from ``30``, ``1.5``, ``250ms``, ``30s``, ``15m``, ``12h``, ``7d`` or ``2w``."""
    value, unit = _number_and_unit(name, text)
    if unit not in _DURATION_UNITS:
        raise StoreSettingsError(
            f"store parameter {name}={text!r}: unknown duration unit {unit!r} (use ms, s, m, h, d, w)"
        )
    return value * _DURATION_UNITS[unit]


def parse_count(name: str, text: str) -> int:
    """A whole non-negative number (``1000000``; ``1e6`` is accepted when whole)."""
    value, unit = _number_and_unit(name, text)
    if unit or value != int(value):
        raise StoreSettingsError(f"store parameter {name}={text!r} is not a whole number")
    return int(value)


@attrs.frozen
class Bounds:
    """The limits and timings one store keeps; ``0`` for a bound means unbounded."""

    max_events: int = 0
    """Inbox entries held (acknowledged ones waiting for retention included); outbox items are bounded by it separately."""
    max_bytes: int = 0
    """Payload bytes held in the inbox and the outbox together."""
    retention: float = 0.0
    """Seconds an event every group acknowledged is kept (for late groups and replays) before it may be deleted."""
    dedupe_ttl: float = 3 * 86400.0
    """Seconds a dedupe key is remembered: a platform's redelivery within this window is stored once."""


_BOUND_PARSERS = {
    "max_events": parse_count,
    "max_bytes": parse_size,
    "retention": parse_duration,
    "dedupe_ttl": parse_duration,
}


@attrs.frozen
class ParsedUrl:
    scheme: str
    netloc: str
    """What follows ``scheme://`` up to the next ``/`` (empty for the local backends)."""
    path: str
    """The rest up to the query: for ``sqlite:///x.db`` it is ``/x.db``, for ``sqlite:////x.db`` ``//x.db``."""
    bounds: Bounds
    extra: Mapping[str, str]
    """Backend-specific parameters, still text, already checked against the backend's names."""


def parse_store_url(
    url: str, *, scheme: str, extra: Mapping[str, str] = {}, defaults: Bounds | None = None
) -> ParsedUrl:
    """Split ``url`` and parse its shared bounds; ``extra`` names the backend's own parameters (with defaults).

    Unknown parameter names, repeated ones, and malformed or negative values raise
    :class:`StoreSettingsError` naming the parameter.
    """
    if not isinstance(url, str):
        raise StoreSettingsError(f"a store URL must be a string, not {type(url).__name__}")
    split = urlsplit(url)
    if split.scheme.lower() != scheme:
        raise StoreSettingsError(f"not a {scheme}:// URL: {url.split('?', 1)[0]!r}")
    if split.fragment:
        raise StoreSettingsError("a store URL takes no #fragment")
    try:
        pairs = parse_qsl(split.query, keep_blank_values=True, strict_parsing=bool(split.query))
    except ValueError:
        raise StoreSettingsError(f"store URL query {split.query!r} is malformed") from None
    seen: dict[str, str] = {}
    for name, value in pairs:
        if name in seen:
            raise StoreSettingsError(f"store parameter {name!r} is given twice")
        if name not in _BOUND_PARSERS and name not in extra:
            known = ", ".join(sorted([*_BOUND_PARSERS, *extra]))
            raise StoreSettingsError(f"unknown {scheme}:// store parameter {name!r} (known: {known})")
        seen[name] = value
    base = defaults or Bounds()
    values = attrs.asdict(base)
    for name, parse in _BOUND_PARSERS.items():
        if name in seen:
            values[name] = parse(name, seen[name])
    rest = {name: seen.get(name, default) for name, default in extra.items()}
    return ParsedUrl(scheme=scheme, netloc=split.netloc, path=split.path, bounds=Bounds(**values), extra=rest)
