"""Events as store payloads: one compact JSON form for every backend.

The form is :meth:`eventkit.Event.to_dict` as compact UTF-8 JSON, with the fields
that are ``None`` (and an empty ``meta``) left out to keep stored rows small. The
time keeps its offset and microseconds, so a decoded event compares equal to the
encoded one (``id``, ``time``, ``provider``, ``source``, ``sender``, ``target``
and ``meta`` included).

``raw``, the untouched wire value of a received event, is **not stored**: it can be
large, may hold what the platform sent around the event (signatures, envelopes),
and is never compared. A decoded event has ``raw=None``.
"""

from __future__ import annotations

import json
from typing import Any

from .._errors import ValidationError
from .._event import Event, parse_time
from .._json import compact_bytes
from ._base import StoreError

_OPTIONAL = ("target", "source", "sender", "provider")


def encode_event(event: Event) -> bytes:
    """The stored form of ``event`` (compact JSON, ``raw`` left out)."""
    form: dict[str, Any] = {
        "name": event.name,
        "data": event.data,
        "id": event.id,
        "time": event.time.isoformat().replace("+00:00", "Z"),
    }
    for field in _OPTIONAL:
        value = getattr(event, field)
        if value is not None:
            form[field] = value
    if event.meta:
        form["meta"] = event.meta
    return compact_bytes(form)


def decode_event(payload: bytes) -> Event:
    """The event :func:`encode_event` stored; a payload that is not one raises :class:`StoreError`."""
    try:
        form = json.loads(payload)
        name = form["name"]
        data = form["data"]
        if not isinstance(name, str) or not isinstance(data, dict) or not isinstance(form["id"], str):
            raise TypeError("name, data or id of the wrong type")
        meta = form.get("meta") or {}
        if not isinstance(meta, dict):
            raise TypeError("meta is not an object")
        # The payload was a valid Event when encoded: skip the JSON walk (this is every consumer's hot path).
        return Event.received(
            name,
            data,
            provider=form.get("provider"),
            raw=None,
            id=form["id"],
            time=parse_time(form["time"]),
            target=form.get("target"),
            source=form.get("source"),
            sender=form.get("sender"),
            meta=meta,
        )
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise StoreError(f"a stored payload is not an eventkit event ({type(exc).__name__}: {exc})") from None
