"""Wire facts shared by the REST codec, the RELAY codec and SWML rendering.

SignalWire carries a user event as one JSON object (``event``). eventkit's
event name travels inside that object under ``name_key`` (``type`` by default,
the convention SignalWire's AI Chat API and web components route on), so a
received object splits back into exactly the name and data that were sent.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

from eventkit.provider import JSONObject, Violation

PROVIDER = "signalwire"
USER_EVENT_COMMAND = "calling.user_event"
BROWSER_EVENT_TYPE = "user_event"
DEFAULT_EVENT_NAME = "user_event"
"""The name a received event gets when its object carries no string under ``name_key``."""

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")


def is_uuid(value: object) -> bool:
    """SignalWire call and node ids are canonical, hyphenated UUIDs (the REST spec's ``format: uuid``)."""
    return isinstance(value, str) and _UUID.match(value) is not None


def uuid_violations(value: object, field: str, what: str) -> list[Violation]:
    if is_uuid(value):
        return []
    return [Violation(field, "uuid", f"{what} must be a UUID like 3fa85f64-5717-4562-b3fc-2c963f66afa6", PROVIDER)]


def object_violations(value: object, field: str = "event") -> list[Violation]:
    """SignalWire's schemas type ``event`` as an object: nothing else may go on the wire."""
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return []
    return [Violation(field, "object", f"the event must be a JSON object, not {type(value).__name__}", PROVIDER)]


def event_object(name: str, data: Mapping[str, Any], name_key: str) -> JSONObject:
    """The object SignalWire carries for an eventkit event: the name under ``name_key``, then the data."""
    if not name_key:
        return dict(data)
    return {name_key: name, **data}


def name_key_violations(data: Mapping[str, Any], name_key: str) -> list[Violation]:
    if name_key and name_key in data:
        return [
            Violation(
                f"data.{name_key}",
                "reserved",
                f"{name_key!r} carries the event name on SignalWire (setting name_key); rename the key",
                PROVIDER,
            )
        ]
    return []


def split_event_object(obj: Mapping[str, Any], name_key: str) -> tuple[str, JSONObject]:
    """Name and data from a received event object (the inverse of :func:`event_object`)."""
    data = dict(obj)
    if name_key:
        name = data.get(name_key)
        if isinstance(name, str) and name:
            del data[name_key]
            return name, data
    return DEFAULT_EVENT_NAME, data
