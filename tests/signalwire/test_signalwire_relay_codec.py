"""RELAY frames as values: connect, ACKs, user event decoding, result codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from eventkit_signalwire._codec_relay import (
    ack,
    connect_request,
    decode_user_event,
    parse_frame,
    result_code_error,
    result_receipt,
    rpc_error,
    user_event_request,
)
from eventkit_signalwire._settings import SignalWireSettings

from eventkit import (
    AuthenticationError,
    ConflictError,
    GoneError,
    NotFoundError,
    ProtocolError,
    Secret,
    SettingsError,
    ValidationError,
)

CALL = "5b1c7a52-0f0e-4c1c-9c43-1f6f3b0a9e21"
NODE = "9d3a1c0e-7b2f-4e5d-8a6c-1b2c3d4e5f60"


def test_connect_frame_matches_the_guide() -> None:
    settings = SignalWireSettings(project_id="p", api_token=Secret("tok"), contexts=("office",))
    frame = connect_request(settings, contexts=settings.contexts)
    assert frame["jsonrpc"] == "2.0" and frame["method"] == "signalwire.connect"
    assert frame["params"] == {
        "version": {"major": 2, "minor": 0, "revision": 0},
        "agent": "eventkit-signalwire/0.1",
        "event_acks": True,
        "authentication": {"project": "p", "token": "tok"},
        "contexts": ["office"],
    }
    resumed = connect_request(settings, protocol="signalwire_x", authorization_state="st")
    assert resumed["params"]["protocol"] == "signalwire_x" and resumed["params"]["authorization_state"] == "st"
    jwt = connect_request(SignalWireSettings(jwt_token=Secret("a.b.c")))
    assert jwt["params"]["authentication"] == {"jwt_token": "a.b.c"}


def test_ack_is_an_empty_result() -> None:
    assert ack("e-1") == {"jsonrpc": "2.0", "id": "e-1", "result": {}}


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nope",
        "[]",
        "{}",
        '{"jsonrpc": "1.0", "method": "x"}',
        '{"jsonrpc": "2.0"}',
        '{"jsonrpc": "2.0", "method": 5}',
        '{"jsonrpc": "2.0", "method": "x", "params": []}',
        '{"jsonrpc": "2.0", "id": [1], "result": {}}',
        b"\xff\xfe",
    ],
)
def test_frames_that_are_not_json_rpc_are_protocol_errors(text: Any) -> None:
    with pytest.raises(ProtocolError):
        parse_frame(text)


def _envelope(event_type: str, inner: Any, **extra: Any) -> dict[str, Any]:
    return {"event_type": event_type, "timestamp": 1760000000.5, "params": inner, **extra}


def test_wrapped_flat_and_browser_shapes() -> None:
    wrapped = decode_user_event(
        _envelope("calling.user_event", {"call_id": CALL, "node_id": NODE, "event": {"type": "a", "n": 1}}), "type"
    )
    assert (wrapped.name, wrapped.data, wrapped.source) == ("a", {"n": 1}, f"call:{CALL}")
    assert wrapped.meta["node_id"] == NODE and wrapped.time.year == 2025
    flat = decode_user_event(_envelope("calling.user_event", {"type": "a", "n": 1}), "type")
    browser = decode_user_event(
        {"event_type": "user_event", "params": {"type": "display_content", "title": "T", "format": "code"}}, "type"
    )
    assert (flat.name, flat.data) == ("a", {"n": 1})
    assert (browser.name, browser.data) == ("display_content", {"title": "T", "format": "code"})
    unnamed = decode_user_event(_envelope("calling.user_event", {"myCustomEvent": "Hello"}), "type")
    assert (unnamed.name, unnamed.data) == ("user_event", {"myCustomEvent": "Hello"})
    numeric_type = decode_user_event(_envelope("user_event", {"type": 3}), "type")
    assert (numeric_type.name, numeric_type.data) == ("user_event", {"type": 3})


@pytest.mark.parametrize("inner", ["text", None, [1], {"event": "string"}, {"event": [1]}])
def test_malformed_user_events_are_protocol_errors(inner: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_user_event(_envelope("calling.user_event", inner), "type")


def test_relay_user_event_request_and_validation() -> None:
    frame = user_event_request(NODE, CALL, {"type": "x"})
    assert frame["method"] == "calling.user_event"
    assert frame["params"] == {"node_id": NODE, "call_id": CALL, "event": {"type": "x"}}
    with pytest.raises(ValidationError) as caught:
        user_event_request("n", "c", "x")
    assert [v.rule for v in caught.value.violations] == ["uuid", "uuid", "object"]


def _answer(result: Any = None, error: Any = None) -> Any:
    body: dict[str, Any] = {"jsonrpc": "2.0", "id": "1"}
    body.update({"error": error} if error is not None else {"result": result})
    return parse_frame(json.dumps(body))


def test_result_codes() -> None:
    receipt = result_receipt(_answer({"code": "200", "message": "Event sent", "call_id": CALL}))
    assert receipt.status == 200 and receipt.id == CALL
    for code, cls in (("404", NotFoundError), ("410", GoneError), ("409", ConflictError)):
        with pytest.raises(cls) as caught:
            result_receipt(_answer({"code": code, "message": "m"}))
        assert caught.value.code == code and caught.value.status == int(code)
    assert isinstance(result_code_error("402", {}), eventkit_permission())
    with pytest.raises(AuthenticationError):
        result_receipt(_answer(error={"code": -32401, "message": "Authentication required"}))
    assert isinstance(rpc_error({"code": -32602}), ValidationError)
    assert isinstance(rpc_error({"code": -32601}), ProtocolError)


def eventkit_permission() -> type[Exception]:
    from eventkit import PermissionDeniedError

    return PermissionDeniedError


@pytest.mark.parametrize(
    "kw", [{"max_payload_bytes": -1}, {"contexts": ("bad context",)}, {"relay_url": "https://relay.example"}]
)
def test_bad_settings(kw: dict[str, Any]) -> None:
    with pytest.raises(SettingsError):
        SignalWireSettings(**kw)
