"""The RELAY codec: JSON-RPC 2.0 frames as values, with no socket in sight.

Builds ``signalwire.connect`` / ``calling.user_event`` requests and the ACKs
SignalWire expects, classifies what the server sends, decodes user events and
maps RELAY result codes to eventkit errors. The listener in ``_listen`` only
moves these frames.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping

import attrs

from eventkit.provider import (
    Event,
    JSONObject,
    ProtocolError,
    Receipt,
    ValidationError,
)

from ._errors import result_code_error, rpc_error
from ._settings import SignalWireSettings
from ._wire import (
    BROWSER_EVENT_TYPE,
    PROVIDER,
    USER_EVENT_COMMAND,
    object_violations,
    split_event_object,
    uuid_violations,
)

PROTOCOL_VERSION: JSONObject = {"major": 2, "minor": 0, "revision": 0}
USER_EVENT_TYPES = frozenset({USER_EVENT_COMMAND, BROWSER_EVENT_TYPE})
AUTHORIZATION_STATE = "signalwire.authorization.state"


@attrs.frozen
class Frame:
    """One JSON-RPC 2.0 message: a request/notification (``method``) or a response (``result``/``error``)."""

    raw: JSONObject
    id: str | int | None
    method: str | None
    params: JSONObject
    result: Any = None
    error: JSONObject | None = None

    @property
    def is_request(self) -> bool:
        return self.method is not None


def parse_frame(text: str | bytes) -> Frame:
    """Parse one websocket message; anything that is not JSON-RPC 2.0 is a :class:`ProtocolError`."""
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProtocolError("RELAY frame is not JSON", provider=PROVIDER) from None
    if not isinstance(value, dict) or value.get("jsonrpc") != "2.0":
        raise ProtocolError("RELAY frame is not a JSON-RPC 2.0 object", provider=PROVIDER)
    frame_id = value.get("id")
    if frame_id is not None and (isinstance(frame_id, bool) or not isinstance(frame_id, (str, int))):
        raise ProtocolError("RELAY frame has a bad id", provider=PROVIDER)
    method = value.get("method")
    if method is not None:
        params = value.get("params", {})
        if not isinstance(method, str) or not isinstance(params, dict):
            raise ProtocolError("RELAY request has a bad method or params", provider=PROVIDER)
        return Frame(value, frame_id, method, params)
    error = value.get("error")
    if "result" not in value and not isinstance(error, dict):
        raise ProtocolError("RELAY frame is neither a request nor a response", provider=PROVIDER)
    return Frame(value, frame_id, None, {}, value.get("result"), error if isinstance(error, dict) else None)


def request(method: str, params: Mapping[str, Any], request_id: str | None = None) -> JSONObject:
    return {"jsonrpc": "2.0", "id": request_id or str(uuid.uuid4()), "method": method, "params": dict(params)}


def ack(frame_id: str | int | None) -> JSONObject:
    """The empty result SignalWire expects for every ``signalwire.event``, ``ping`` and ``disconnect``."""
    return {"jsonrpc": "2.0", "id": frame_id, "result": {}}


def method_not_found(frame_id: str | int | None, method: str) -> JSONObject:
    return {"jsonrpc": "2.0", "id": frame_id, "error": {"code": -32601, "message": f"method {method!r} not handled"}}


def connect_request(
    settings: SignalWireSettings,
    *,
    contexts: tuple[str, ...] = (),
    protocol: str | None = None,
    authorization_state: str | None = None,
) -> JSONObject:
    """``signalwire.connect``: project/token (or a JWT), contexts, event ACKs on; on reconnect the ``protocol``."""
    if settings.jwt_token:
        auth: JSONObject = {"jwt_token": settings.jwt_token.reveal()}
    else:
        token = settings.api_token.reveal() if settings.api_token else ""
        auth = {"project": settings.project_id or "", "token": token}
    params: JSONObject = {
        "version": dict(PROTOCOL_VERSION),
        "agent": settings.agent,
        "event_acks": True,
        "authentication": auth,
    }
    if contexts:
        params["contexts"] = list(contexts)
    if protocol:
        params["protocol"] = protocol
    if authorization_state:
        params["authorization_state"] = authorization_state
    return request("signalwire.connect", params)


# User events.


def user_event_request(node_id: str, call_id: str, event: Any) -> JSONObject:
    """``calling.user_event`` on a call this connection controls; every bad input is refused first."""
    violations = [
        *uuid_violations(node_id, "node_id", "node_id"),
        *uuid_violations(call_id, "call_id", "the call id"),
        *object_violations(event),
    ]
    if violations:
        raise ValidationError(violations=violations, provider=PROVIDER)
    return request(USER_EVENT_COMMAND, {"node_id": node_id, "call_id": call_id, "event": dict(event)})


def result_receipt(frame: Frame) -> Receipt:
    """A RELAY command's answer: any ``2xx`` result code is success; others map to errors."""
    if frame.error is not None:
        raise rpc_error(frame.error)
    result = frame.result if isinstance(frame.result, dict) else {}
    code = str(result.get("code", "200"))
    if code.startswith("2"):
        details: JSONObject = {k: v for k, v in result.items() if isinstance(v, (str, int, float))}
        call_id = result.get("call_id")
        return Receipt(
            status=int(code) if code.isdigit() else 200,
            id=call_id if isinstance(call_id, str) else None,
            details=details,
        )
    raise result_code_error(code, result)


def is_user_event(params: Mapping[str, Any]) -> bool:
    # A peer's event_type may be any JSON value; an unhashable one must not escape as a TypeError.
    event_type = params.get("event_type")
    return isinstance(event_type, str) and event_type in USER_EVENT_TYPES


def decode_user_event(params: Mapping[str, Any], name_key: str, raw: Any = None, frame_id: Any = None) -> Event:
    """A user event from a ``signalwire.event``'s params.

    The inner payload is read both ways SignalWire's own demos do: wrapped
    (``params.event`` is the object, beside ``call_id``/``node_id``) or flat
    (``params`` is the object itself, as browser ``user_event`` payloads are).
    """
    inner = params.get("params")
    if not isinstance(inner, dict):
        raise ProtocolError("user event without an object in params", provider=PROVIDER)
    meta: JSONObject = {"event_type": params.get("event_type")}
    for key in ("event_channel", "project_id", "node_id", "timestamp"):
        if isinstance(params.get(key), (str, int, float)):
            meta[key] = params[key]
    call_id: str | None = None
    if isinstance(inner.get("event"), dict):
        obj = inner["event"]
        for key, value in inner.items():
            if key != "event" and isinstance(value, (str, int, float, bool)):
                meta[key] = value
        call_id = inner.get("call_id") if isinstance(inner.get("call_id"), str) else None
    elif "event" in inner:
        raise ProtocolError("user event whose event is not an object", provider=PROVIDER)
    else:
        obj = inner
    name, data = split_event_object(obj, name_key)
    return Event.received(
        name,
        data,
        provider=PROVIDER,
        raw=raw,
        id=str(frame_id) if frame_id is not None else None,
        time=_time(params.get("timestamp")),
        target=f"call:{call_id}" if call_id else None,
        source=f"call:{call_id}" if call_id else None,
        meta=meta,
    )


def _time(value: Any) -> datetime | None:
    """RELAY timestamps are seconds; only Unix-epoch-sized ones are trusted as times."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 1e9 < value < 1e11:
        return datetime.fromtimestamp(value, timezone.utc)
    return None
