"""The event: what users send and what listeners yield, for every provider."""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any, Mapping

import attrs

from ._errors import ValidationError, Violation
from ._json import JSON, JSONObject, checked_copy, compact_bytes, copy_json, has_surrogate, json_problems


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _new_id() -> str:
    """A random (version 4, RFC 4122) UUID string, as ``str(uuid.uuid4())`` gives, at a third of its cost."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


# Received events without a platform id get ``<random per-process prefix>-<counter>``:
# unique across processes like a uuid4, at a tenth of its cost on a listener's hot path.
_RECEIVED_PREFIX = os.urandom(8).hex()
_received_counter = itertools.count(1)


def _received_id() -> str:
    return f"{_RECEIVED_PREFIX}-{next(_received_counter)}"


def _check_name(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError(violations=[Violation("name", "required", "the event name must be a non-empty string")])
    if has_surrogate(value):
        raise ValidationError(
            violations=[Violation("name", "utf8", "the event name holds a lone surrogate, which cannot be UTF-8")]
        )


def _to_data(value: Any) -> JSONObject:
    return _checked_data(value)[0]


def _data_for(value: Any, event: Event) -> JSONObject:
    """The ``data`` converter: checks, copies and keeps the compact JSON for the codec."""
    data, raw = _checked_data(value)
    object.__setattr__(event, "_data_json", raw)
    return data


_DATA_CONVERTER: Any = attrs.Converter(_data_for, takes_self=True)  # type: ignore[misc,call-overload]
"""Typed ``Any``: mypy's attrs plugin reads only plain converter functions."""


def _checked_data(value: Any) -> tuple[JSONObject, bytes | None]:
    if type(value) is not dict:  # a plain dict skips typing.Mapping's slow isinstance
        if value is None:
            return {}, b"{}"
        if not isinstance(value, Mapping):
            raise ValidationError(
                violations=[Violation("data", "object", f"data must be a mapping, not {type(value).__name__}")]
            )
        value = dict(value)
    fast = checked_copy(value)
    if fast is not None:
        return fast
    problems = json_problems(value)
    if problems:
        raise ValidationError(violations=[Violation("data", "json", p) for p in problems])
    copied: JSONObject = copy_json(value)
    return copied, None


def _to_time(value: Any) -> datetime:
    if isinstance(value, str):
        value = parse_time(value)
    if not isinstance(value, datetime):
        raise ValidationError(
            violations=[Violation("time", "datetime", "time must be a datetime or an ISO 8601 string")]
        )
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _to_meta(value: Any) -> JSONObject:
    return _to_data(value) if value else {}


_FROMISO_TAKES_Z = sys.version_info >= (3, 11)


def parse_time(text: str) -> datetime:
    """ISO 8601 / RFC 3339 with ``Z`` and up to nanosecond fractions (Stream sends 9 digits)."""
    if _FROMISO_TAKES_Z and len(text) <= 27:
        try:  # Python 3.11+ reads "…Z" and up to 6 fraction digits itself: the common case, fast
            parsed = datetime.fromisoformat(text)
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    try:
        text = text.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        head, dot, tail = text.partition(".")
        if dot:
            digits = len(tail) - len(tail.lstrip("0123456789"))
            tail = tail[: min(digits, 6)] + tail[digits:]
            text = f"{head}.{tail}"
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(violations=[Violation("time", "datetime", f"{text!r} is not an ISO 8601 time")]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@attrs.frozen
class DeliveryInfo:
    """How a received event reached this consumer, when it was read from a store.

    Delivery is at-least-once: an event handed out before and not acknowledged
    (its consumer died, or a handler raised) comes again with ``attempts > 1``.
    """

    attempts: int = 1
    """Hand-outs to this consumer group so far, this one included."""
    group: str | None = None
    """The consumer group that read it."""
    entry: str | None = None
    """The store's id of the entry (what ``eventkit dead-letters`` lists)."""
    acknowledge: Callable[[], Awaitable[None]] | None = attrs.field(default=None, eq=False, repr=False)
    give_back: Callable[[str], Awaitable[None]] | None = attrs.field(default=None, eq=False, repr=False)

    async def ack(self) -> None:
        """Acknowledge now, rather than when the next event is asked for (e.g. before leaving the loop)."""
        if self.acknowledge is not None:
            await self.acknowledge()

    async def release(self, error: str) -> None:
        """Not handled: put it back with ``error`` instead of acknowledging it when the next is asked for.

        It is handed out again; past the group's ``max_attempts`` the store moves it to the
        dead letters, with ``error`` (``eventkit dead-letters list``).
        """
        if self.give_back is not None:
            await self.give_back(error)

    @property
    def redelivered(self) -> bool:
        """It was handed out before and not acknowledged: a handler may have seen it already."""
        return self.attempts > 1


@attrs.frozen(eq=True, hash=False)
class Event:
    """A custom event.

    ``name`` and ``data`` are what users mean by "the event"; ``target`` is where it
    was sent, ``source`` where a received one came from, ``meta`` what the platform
    added around it (channel headers, timestamps, ids), and ``raw`` the untouched
    wire value of a received event (never compared, never printed).
    """

    name: str = attrs.field(validator=_check_name)
    _data_json: bytes | None = attrs.field(default=None, init=False, eq=False, repr=False)
    """The data's compact JSON, kept from the check (before ``data``: it sets this)."""
    data: JSONObject = attrs.field(factory=dict, converter=_DATA_CONVERTER)  # type: ignore[misc]
    id: str = attrs.field(factory=_new_id)
    time: datetime = attrs.field(factory=_utcnow, converter=_to_time)
    target: str | None = None
    source: str | None = None
    sender: str | None = None
    provider: str | None = None
    meta: JSONObject = attrs.field(factory=dict, converter=_to_meta)
    raw: Any = attrs.field(default=None, eq=False, repr=False)
    delivery: DeliveryInfo | None = attrs.field(default=None, eq=False, repr=False)
    """Set on events a consumer read from a store (``listen()``, receiver handlers); never compared."""

    @classmethod
    def received(
        cls,
        name: str,
        data: JSONObject,
        *,
        provider: str,
        raw: Any,
        id: str | None = None,
        time: datetime | None = None,
        target: str | None = None,
        source: str | None = None,
        sender: str | None = None,
        meta: JSONObject | None = None,
    ) -> Event:
        """Build an event a decoder produced from the wire.

        Decoders call this with data they built themselves from parsed JSON or
        header strings, so the JSON check and defensive copy are skipped: this is
        the hot path of every listener.
        """
        event = _new(cls)
        _SET_NAME(event, name)
        _SET_DATA_JSON(event, None)
        _SET_DATA(event, data)
        _SET_ID(event, id if id is not None else f"{_RECEIVED_PREFIX}-{next(_received_counter)}")
        _SET_TIME(event, time if time is not None else datetime.now(timezone.utc))
        _SET_TARGET(event, target)
        _SET_SOURCE(event, source)
        _SET_SENDER(event, sender)
        _SET_PROVIDER(event, provider)
        _SET_META(event, meta if meta is not None else {})
        _SET_RAW(event, raw)
        _SET_DELIVERY(event, None)
        return event

    def data_json(self) -> bytes:
        """The data as compact UTF-8 JSON, the form size limits are measured on.

        Computed once per event: the check in the constructor already produced
        it, so the size limit and the codec reuse it instead of walking the
        payload again (``data`` is never mutated after construction).
        """
        raw = self._data_json
        if raw is None:
            raw = compact_bytes(self.data)
            object.__setattr__(self, "_data_json", raw)
        return raw

    def same_payload(self, other: Event) -> bool:
        """Name and data equal: the round-trip promise of every provider."""
        return self.name == other.name and self.data == other.data

    def to_dict(self) -> dict[str, JSON]:
        """The JSON form the CLI prints, one line per event."""
        return {
            "name": self.name,
            "data": self.data,
            "id": self.id,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "target": self.target,
            "source": self.source,
            "sender": self.sender,
            "provider": self.provider,
            "meta": self.meta,
        }

    # CloudEvents 1.0, structured JSON mode, as plain dicts.

    def to_cloudevent(self) -> dict[str, JSON]:
        ce: dict[str, JSON] = {
            "specversion": "1.0",
            "id": self.id,
            "source": self.source or f"eventkit:{self.provider or 'local'}",
            "type": self.name,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json",
            "data": self.data,
        }
        if self.target is not None:
            ce["subject"] = self.target
        if self.sender is not None:
            ce["eventkitsender"] = self.sender
        if self.provider is not None:
            ce["eventkitprovider"] = self.provider
        return ce

    @classmethod
    def from_cloudevent(cls, ce: Mapping[str, Any]) -> Event:
        violations = []
        if ce.get("specversion") != "1.0":
            violations.append(Violation("specversion", "cloudevents", "specversion must be '1.0'"))
        for key in ("id", "source", "type"):
            if not isinstance(ce.get(key), str) or not ce.get(key):
                violations.append(Violation(key, "cloudevents", f"{key} must be a non-empty string"))
        content_type = ce.get("datacontenttype", "application/json")
        if not isinstance(content_type, str) or not (
            content_type.startswith("application/json") or content_type.endswith("+json")
        ):
            violations.append(Violation("datacontenttype", "cloudevents", "only JSON data can become event data"))
        if "data_base64" in ce:
            violations.append(Violation("data_base64", "cloudevents", "binary data is not supported"))
        data = ce.get("data", {})
        if not isinstance(data, Mapping):
            violations.append(Violation("data", "object", "data must be a JSON object"))
        if violations:
            raise ValidationError(violations=violations)
        source = ce["source"]
        provider = ce.get("eventkitprovider")
        return cls(
            name=ce["type"],
            data=data,
            id=ce["id"],
            time=ce.get("time") or _utcnow(),
            target=ce.get("subject"),
            source=None if source == f"eventkit:{provider or 'local'}" else source,
            sender=ce.get("eventkitsender"),
            provider=provider,
        )


# Event.received sets the slots through their descriptors: a frozen class refuses
# setattr, and the descriptors are what object.__setattr__ would look up per call.
_new = object.__new__
(
    _SET_NAME,
    _SET_DATA_JSON,
    _SET_DATA,
    _SET_ID,
    _SET_TIME,
    _SET_TARGET,
    _SET_SOURCE,
    _SET_SENDER,
    _SET_PROVIDER,
    _SET_META,
    _SET_RAW,
    _SET_DELIVERY,
) = (
    Event.__dict__[slot].__set__
    for slot in (
        "name",
        "_data_json",
        "data",
        "id",
        "time",
        "target",
        "source",
        "sender",
        "provider",
        "meta",
        "raw",
        "delivery",
    )
)
