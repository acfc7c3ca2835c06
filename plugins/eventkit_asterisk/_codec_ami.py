"""AMI user events, sans-I/O: validate and encode the ``UserEvent`` action, decode
the ``Event: UserEvent`` frame, and map ``Response: Error`` to eventkit errors.

Facts from Asterisk's ``main/manager.c`` (framing, ``astman_send_response_full``,
``action_userevent``), ``main/stasis.c`` (``multi_user_event_to_ami``) and
https://docs.asterisk.org/Asterisk_16_Documentation/API_Documentation/AMI_Actions/UserEvent
(Asterisk 12 and later).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from eventkit.provider import (
    JSON,
    Event,
    JSONObject,
    Violation,
)

from ._frames import AmiFrame
from ._values import MARKER, decode_value, encode_value
from ._wire import (
    FIXED_ACTION_LINES,
    MAX_ACTION_LINES,
    MAX_AMI_KEYS,
    MAX_LINE_CONTENT,
    PROVIDER,
    RESERVED_KEYS,
)

_FORBIDDEN = re.compile("[\r\n\x00]")


def _has_control(text: str) -> bool:
    return _FORBIDDEN.search(text) is not None


def key_violations(key: str, where: str = "data") -> list[Violation]:
    """What is wrong with ``key`` as an AMI header name (shared with the dialplan)."""
    field = f"{where}.{key}"
    out = []
    if not key:
        out.append(Violation(field, "header_name", "an empty key cannot be an AMI header", PROVIDER))
    elif ":" in key:
        out.append(Violation(field, "header_name", "':' ends an AMI header name; keys cannot contain it", PROVIDER))
    if _has_control(key):
        out.append(Violation(field, "line_break", "keys cannot contain CR, LF or NUL", PROVIDER))
    if key != key.strip():
        out.append(Violation(field, "header_name", "keys cannot start or end with whitespace", PROVIDER))
    if key.lower() in RESERVED_KEYS:
        out.append(Violation(field, "reserved", f"{key!r} is a header Asterisk uses itself", PROVIDER))
    return out


def duplicate_key_violations(data: JSONObject) -> list[Violation]:
    seen: dict[str, str] = {}
    out = []
    for key in data:
        lowered = key.lower()
        if lowered in seen:
            out.append(
                Violation(
                    f"data.{key}",
                    "duplicate",
                    f"{key!r} and {seen[lowered]!r} are one AMI header (names ignore case)",
                    PROVIDER,
                )
            )
        else:
            seen[lowered] = key
    return out


def validate_ami(event: Event) -> list[Violation]:
    out: list[Violation] = []
    if _has_control(event.name):
        out.append(Violation("name", "line_break", "the name cannot contain CR, LF or NUL", PROVIDER))
    name_line = len(f"UserEvent: {event.name}".encode())
    if name_line > MAX_LINE_CONTENT:
        out.append(
            Violation(
                "name", "max_length", f"'UserEvent: <name>' is {name_line} bytes, over {MAX_LINE_CONTENT}", PROVIDER
            )
        )
    if len(event.data) > MAX_AMI_KEYS:
        out.append(
            Violation(
                "data",
                "max_keys",
                f"{len(event.data)} keys; an AMI action holds {MAX_ACTION_LINES} lines, "
                f"{FIXED_ACTION_LINES} of them fixed, so at most {MAX_AMI_KEYS} keys",
                PROVIDER,
            )
        )
    out.extend(duplicate_key_violations(event.data))
    for key, value in event.data.items():
        out.extend(key_violations(key))
        if isinstance(value, str) and _has_control(value):
            out.append(Violation(f"data.{key}", "line_break", "AMI cannot carry CR, LF or NUL in a value", PROVIDER))
            continue
        size = len(f"{key}: {encode_value(value)}".encode())
        if size > MAX_LINE_CONTENT:
            out.append(
                Violation(
                    f"data.{key}",
                    "max_line_bytes",
                    f"the header line is {size} bytes; Asterisk reads at most {MAX_LINE_CONTENT} per line",
                    PROVIDER,
                )
            )
    return out


def encode_ami(event: Event, action_id: str) -> list[tuple[str, str]]:
    """The ``UserEvent`` action's headers, ``Action`` first (Asterisk 12 drops the first header)."""
    headers = [("Action", "UserEvent"), ("ActionID", action_id), ("UserEvent", event.name)]
    headers.extend((key, encode_value(value)) for key, value in event.data.items())
    return headers


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromtimestamp(float(value), timezone.utc)
    except (ValueError, OverflowError, OSError):
        return None


def decode_user_event(frame: AmiFrame, raw: object = None) -> Event | None:
    """An ``Event: UserEvent`` frame as an event; ``None`` for any other frame.

    Headers before ``UserEvent:`` are the platform's (Privilege, Timestamp,
    channel snapshot) and go to ``meta``; those after it are the body, except
    the echoed ``ActionID``. A repeated header becomes a list.

    This is a listener's hot path: the common frame (no repeated header, no
    encoded value) is built with C-level ``dict`` calls, and only frames that
    need it take the header-by-header path.
    """
    keys = frame.keys
    if keys is not None and keys[0] == "Event":
        if frame.values[0] != "UserEvent":  # type: ignore[index]
            return None
        event = _decode_fast(keys, frame.values, frame if raw is None else raw)  # type: ignore[arg-type]
        if event is not None:
            return event
    headers = frame.headers
    if not headers or headers[0][1] != "UserEvent" or headers[0][0].lower() != "event":
        return None
    split = _name_index(headers)
    if split is None:
        return None
    name = headers[split][1]
    platform = headers[1:split]
    body = headers[split + 1 :]
    meta: JSONObject = dict(platform)
    if len(meta) != len(platform):
        meta = {}
        for key, value in platform:
            _put(meta, key, value)
    data: JSONObject = dict(body)
    if len(data) != len(body) or any(k[0] in "aA" and k.lower() in _NOT_DATA for k in data):
        data = {}
        repeated: set[str] = set()
        for key, value in body:
            if key.lower() in _NOT_DATA:
                _put(meta, key, value)
            elif key not in data:
                data[key] = value
            elif key in repeated:
                data[key].append(value)  # type: ignore[union-attr]
            else:
                repeated.add(key)
                data[key] = [data[key], value]
    if any(_encoded(v) for v in data.values()):
        data = {k: _decode(v) for k, v in data.items()}
    uniqueid = meta.get("Uniqueid")
    timestamp = meta.get("Timestamp")
    return Event.received(
        name,
        data,
        provider=PROVIDER,
        raw=raw if raw is not None else frame,
        time=_timestamp(timestamp) if isinstance(timestamp, str) else None,
        target="ami",
        source=f"channel:{uniqueid}" if isinstance(uniqueid, str) and uniqueid else "ami",
        meta=meta,
    )


_NOT_DATA = frozenset(("actionid", "action"))


def _decode_fast(keys: list[str], values: list[str], raw: object) -> Event | None:
    """The common frame from the parser's name and value lists, with C-level calls only.

    ``None`` (a repeated header, no exact ``UserEvent`` name) leaves the frame to
    the header-by-header path, which handles every case.
    """
    try:
        split = keys.index("UserEvent")
    except ValueError:
        return None
    meta: JSONObject = dict(zip(keys[1:split], values[1:split], strict=True))
    body_keys = keys[split + 1 :]
    body_values = values[split + 1 :]
    data: JSONObject = dict(zip(body_keys, body_values, strict=True))
    if len(meta) != split - 1 or len(data) != len(body_keys):
        return None
    if "ction" in "".join(body_keys).lower():  # ActionID (the echoed correlation id) or Action
        for key in body_keys:
            if key.lower() in _NOT_DATA:
                _put(meta, key, data.pop(key))  # type: ignore[arg-type]
    if MARKER in "\n".join(body_values):
        data = {k: _decode(v) for k, v in data.items()}
    uniqueid = meta.get("Uniqueid")
    timestamp = meta.get("Timestamp")
    return Event.received(
        values[split],
        data,
        provider=PROVIDER,
        raw=raw,
        time=_timestamp(timestamp) if isinstance(timestamp, str) else None,
        target="ami",
        source=f"channel:{uniqueid}" if isinstance(uniqueid, str) and uniqueid else "ami",
        meta=meta,
    )


def _decode(value: JSON) -> JSON:
    if isinstance(value, str):
        return decode_value(value)
    return (
        [decode_value(item) if isinstance(item, str) else item for item in value] if isinstance(value, list) else value
    )


def _encoded(value: object) -> bool:
    if isinstance(value, str):
        return value.startswith(MARKER)
    return isinstance(value, list) and any(isinstance(i, str) and i.startswith(MARKER) for i in value)


def _name_index(headers: list[tuple[str, str]]) -> int | None:
    for index, (key, _) in enumerate(headers):
        if key == "UserEvent":  # Asterisk's own spelling: the common case, no lower() per header
            return index
    for index, (key, _) in enumerate(headers):
        if key.lower() == "userevent":
            return index
    return None


def _put(meta: JSONObject, key: str, value: str) -> None:
    if key in meta:
        previous = meta[key]
        meta[key] = [*previous, value] if isinstance(previous, list) else [previous, value]  # type: ignore[list-item]
    else:
        meta[key] = value


# Responses
