"""The bounds every store URL shares: ``max_events``, ``max_bytes``, ``retention``, ``dedupe_ttl``.

One parser so ``memory://``, ``sqlite:///...`` and ``redis://...`` read the same names
the same way (``max_bytes=1GiB``, ``retention=7d``); a backend takes the
:class:`Bounds` and the query parameters that are not bounds (its own, such as
Redis's ``prefix``, or ones it passes to its driver, such as ``ssl_ca_certs``).
A bad value is a :class:`StoreError` naming the parameter, raised before any I/O.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import attrs

from .._settings import mask_url
from ._base import StoreError

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "m": 1000**2,
    "mb": 1000**2,
    "g": 1000**3,
    "gb": 1000**3,
    "t": 1000**4,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_DURATION_UNITS = {"": 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_NUMBER = re.compile(r"^\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*$")

BOUND_NAMES = ("max_events", "max_bytes", "retention", "dedupe_ttl")


@attrs.frozen
class Bounds:
    """What a store may hold and for how long. Defaults suit one service on one machine."""

    max_events: int = 1_000_000
    """Inbox entries held (acknowledged ones still inside ``retention`` count); beyond it appends are refused."""
    max_bytes: int = 1024**3
    """Payload bytes held (inbox and outbox); beyond it appends and enqueues are refused."""
    retention: float = 3600.0
    """Seconds an event every group acknowledged is still kept (for inspection and late groups)."""
    dedupe_ttl: float = 3 * 86400.0
    """Seconds a dedupe key is remembered: longer than any platform's retry window."""


def parse_size(text: str, name: str = "size") -> int:
    """``1048576``, ``512MB``, ``1GiB`` -> bytes."""
    match = _NUMBER.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise StoreError(f"{name}={text!r} is not a size (e.g. 1000000, 512MB, 1GiB)")
    value = int(float(match.group(1)) * _SIZE_UNITS[unit])
    if value <= 0:
        raise StoreError(f"{name}={text!r} must be more than 0")
    return value


def parse_duration(text: str, name: str = "duration") -> float:
    """``30``, ``500ms``, ``15m``, ``7d`` -> seconds."""
    match = _NUMBER.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _DURATION_UNITS:
        raise StoreError(f"{name}={text!r} is not a duration (e.g. 30, 500ms, 15m, 7d)")
    return float(match.group(1)) * _DURATION_UNITS[unit]


def parse_count(text: str, name: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise StoreError(f"{name}={text!r} is not a whole number") from None
    if value <= 0:
        raise StoreError(f"{name}={text!r} must be more than 0")
    return value


def split_store_url(url: str, *, defaults: Bounds | None = None) -> tuple[str, Bounds, dict[str, str]]:
    """``(url without the bound parameters, bounds, the other query parameters)``.

    Each bound parameter may appear once; the other parameters keep their order.
    """
    try:
        parts = urlsplit(url)
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise StoreError(f"store URL {mask_url(url)!r} cannot be parsed") from None
    bounds = defaults or Bounds()
    seen: set[str] = set()
    rest: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen or (key in rest and key in BOUND_NAMES):
            raise StoreError(f"store URL parameter {key!r} is given twice")
        if key == "max_events":
            changes[key] = parse_count(value, key)
        elif key == "max_bytes":
            changes[key] = parse_size(value, key)
        elif key in ("retention", "dedupe_ttl"):
            changes[key] = parse_duration(value, key)
        else:
            if key in rest:
                raise StoreError(f"store URL parameter {key!r} is given twice")
            rest[key] = value
            continue
        seen.add(key)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", parts.fragment))
    return base, attrs.evolve(bounds, **changes), rest
