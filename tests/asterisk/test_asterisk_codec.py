"""Codec units against Asterisk's shapes (``main/manager.c``, ``rest-api/api-docs/events.json``): AMI action/event, ARI request/response/frame, errors."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from eventkit_asterisk import (
    AriCodec,
    AsteriskSettings,
    ami_error,
    decode_ari_event,
    decode_user_event,
    decode_value,
    encode_action,
    encode_ami,
    encode_value,
)
from eventkit_asterisk._frames import AmiFrame, AmiParser, parse_block
from eventkit_asterisk._settings import settings_from_url
from hypothesis import given
from hypothesis import strategies as st

import eventkit
from eventkit import (
    AppTarget,
    AuthenticationError,
    Event,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    Secret,
    UnavailableError,
    ValidationError,
)
from eventkit.provider import HttpResponse


def test_user_event_action_bytes_match_wire_example_c() -> None:
    event = Event("OrderReady", {"OrderId": "1234", "Note": "a:b c"})
    assert encode_action(encode_ami(event, "42")) == (
        b"Action: UserEvent\r\nActionID: 42\r\nUserEvent: OrderReady\r\nOrderId: 1234\r\nNote: a:b c\r\n\r\n"
    )


def test_decode_action_echo_from_the_capture() -> None:
    frame = parse_block(
        b"Event: UserEvent\nPrivilege: user,all\nUserEvent: OrderConfirmed\nActionID: 42\n"
        b"OrderId: ORD-12345\nAmount: 49.99\nNote: a:b c"
    )
    assert isinstance(frame, AmiFrame)
    event = decode_user_event(frame)
    assert event is not None
    assert event.name == "OrderConfirmed"
    assert event.data == {
        "OrderId": "ORD-12345",
        "Amount": "49.99",
        "Note": "a:b c",
    }  # strings from non-eventkit senders
    assert event.meta == {"Privilege": "user,all", "ActionID": "42"}
    assert event.source == "ami"


def test_decode_dialplan_event_from_the_capture_splits_channel_headers() -> None:
    raw = (
        b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: Local/emit@events-00000000;2\r\nChannelState: 6\r\n"
        b"ChannelStateDesc: Up\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\n"
        b"ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: events\r\nExten: emit\r\n"
        b"Priority: 2\r\nUniqueid: 1795553055.1\r\nLinkedid: 1795553055.0\r\nTimestamp: 1795553055.250000\r\n"
        b"ChanVariable: A=1\r\nChanVariable: B=2\r\n"
        b"UserEvent: OrderReady\r\nOrderId: ORD-1\r\nAmount: 49.99\r\nNote: a:b c\r\nDup: 1\r\nDup: 2\r\n\r\n"
    )
    (frame,) = AmiParser().feed(raw)
    assert isinstance(frame, AmiFrame)
    event = decode_user_event(frame)
    assert event is not None
    assert event.data == {"OrderId": "ORD-1", "Amount": "49.99", "Note": "a:b c", "Dup": ["1", "2"]}
    assert event.source == "channel:1795553055.1"
    assert event.meta["Linkedid"] == "1795553055.0" and event.meta["AccountCode"] == ""
    assert event.meta["ChanVariable"] == ["A=1", "B=2"]
    assert event.time.timestamp() == pytest.approx(1795553055.25)


def test_other_frames_are_not_user_events() -> None:
    for block in (b"Event: FullyBooted\nPrivilege: system,all", b"Response: Success\nActionID: 1", b"Event: UserEvent"):
        frame = parse_block(block)
        assert isinstance(frame, AmiFrame)
        assert decode_user_event(frame) is None


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        max_leaves=8,
    )
)
def test_value_encoding_is_reversible(value: Any) -> None:
    assert decode_value(encode_value(value)) == value


def test_value_encoding_leaves_plain_strings_alone() -> None:
    assert encode_value("49.99") == "49.99"
    assert encode_value(49.99) == "ekjson:49.99"
    assert encode_value("ekjson:1") == 'ekjson:"ekjson:1"'
    assert decode_value("ekjson:{broken") == "ekjson:{broken"


@pytest.mark.parametrize(
    ("message", "cls", "status"),
    [
        ("Permission denied", PermissionDeniedError, 403),
        ("Authentication failed", AuthenticationError, 401),
        ("Too many lines in message or allocation failure", ValidationError, 400),
        ("Failed to parse message: line too long", ValidationError, 400),
        ("Missing action in request", ValidationError, 400),
        (
            "Invalid/unknown command: UserEvent. Use Action: ListCommands to show available commands.",
            UnavailableError,
            501,
        ),
        ("Something new", ProtocolError, None),
    ],
)
def test_ami_error_mapping(message: str, cls: type[Exception], status: int | None) -> None:
    error = ami_error(AmiFrame([("Response", "Error"), ("ActionID", "1"), ("Message", message)]))
    assert type(error) is cls
    assert error.status == status and error.code == message and error.provider == "asterisk"
    assert not error.retryable


def ari_codec(**extra: Any) -> AriCodec:
    settings: dict[str, Any] = {
        "ari_url": "http://localhost:8088",
        "ari_username": "user",
        "ari_password": Secret("password"),
    }
    settings.update(extra)
    return AriCodec(AsteriskSettings(**settings))


def test_ari_request_matches_wire_example_d() -> None:
    event = Event("ChannelAndData", {"Param1": "Value1", "Param2": "Value2"})
    request = ari_codec().encode(event, AppTarget("testsuite", ("channel:testsuite-default-id",)))
    assert request.method == "POST"
    assert request.url == (
        "http://localhost:8088/ari/events/user/ChannelAndData?application=testsuite&source=channel:testsuite-default-id"
    )
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"user:password").decode()
    assert json.loads(request.content) == {"variables": {"Param1": "Value1", "Param2": "Value2"}}


def test_ari_plus_in_name_is_percent_encoded_and_api_key_in_query() -> None:
    codec = ari_codec(ari_username=None, ari_password=None, ari_api_key=Secret("user:p&ss"))
    request = codec.encode(Event("Plus+Sign %2B", {}), AppTarget("my app"))
    assert "/ari/events/user/Plus%2BSign%20%252B?" in request.url
    assert "application=my%20app" in request.url and "api_key=user:p%26ss" in request.url
    assert "Authorization" not in request.headers


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, {"message": "Missing parameter application"}, ValidationError),
        (404, {"message": "Application not found"}, NotFoundError),
        (422, {"message": "Event source was not found"}, ValidationError),
        (413, {"message": "Request body too large"}, PayloadTooLargeError),
        (401, {"message": "Authentication required"}, AuthenticationError),
        (403, {"message": "Write access denied"}, PermissionDeniedError),
        (503, {"message": "Asterisk not booted"}, UnavailableError),
        (429, None, RateLimitedError),
    ],
)
def test_ari_status_mapping(status: int, body: Any, cls: type[Exception]) -> None:
    codec = ari_codec()
    event = Event("E", {})
    request = codec.encode(event, AppTarget("a"))
    content = json.dumps(body).encode() if body is not None else b"slow down"
    with pytest.raises(cls) as caught:
        codec.parse_response(request, HttpResponse(status, {"retry-after": "2"}, content))
    if body is not None:
        assert str(caught.value).startswith(body["message"])
    assert codec.parse_response(request, HttpResponse(204)).status == 204


def test_ari_frame_from_the_appendix() -> None:
    frame = {
        "type": "ChannelUserevent",
        "timestamp": "2026-11-24T20:44:26.525+0000",
        "eventname": "OrderReady",
        "userevent": {
            "OrderId": "ORD-1",
            "Amount": 49.99,
            "Nested": {"a": [1, 2]},
            "Flag": True,
            "Nothing": None,
            "eventname": "OrderReady",
        },
        "asterisk_id": "02:fc:00:00:00:01",
        "application": "eventkit-test",
    }
    event = decode_ari_event(frame)
    assert event is not None
    assert event.data == {"OrderId": "ORD-1", "Amount": 49.99, "Nested": {"a": [1, 2]}, "Flag": True, "Nothing": None}
    assert event.time.isoformat() == "2026-11-24T20:44:26.525000+00:00"
    assert event.source == "app:eventkit-test" and event.meta["asterisk_id"] == "02:fc:00:00:00:01"
    assert decode_ari_event({"type": "StasisStart"}) is None
    with pytest.raises(eventkit.ProtocolError):
        decode_ari_event({"type": "ChannelUserevent"})


def test_ari_channel_source_from_example_e() -> None:
    frame = {
        "type": "ChannelUserevent",
        "eventname": "CanYouSeeMe",
        "timestamp": "2014-05-20T13:15:27.131-0500",
        "userevent": {"eventname": "CanYouSeeMe", "Param1": "Value1"},
        "channel": {"id": "testsuite-default-id;2"},
        "application": "testsuite",
    }
    event = decode_ari_event(frame)
    assert event is not None and event.source == "channel:testsuite-default-id;2"
    assert event.time.utcoffset() is not None and event.time.utcoffset().total_seconds() == -5 * 3600  # type: ignore[union-attr]


def test_ari_validation() -> None:
    with eventkit.connect("asterisk", ari_url="http://127.0.0.1:9", ari_username="u", ari_password="p") as kit:
        assert kit.validate("E", {"eventname": "x"}, to="app:a")
        assert kit.validate("E", {}, to="app:a?source=deviceState:foo")
        assert kit.validate("E", {"k": "a\nb"}, to="app:a?source=channel:c1")
        assert kit.validate("E", {"k": "a\nb"}, to="app:a") == []  # no channel: nothing reaches AMI
        assert kit.validate("E", {"blob": "x" * 41_000}, to="app:a")
        assert kit.validate("E", {"deep": {"n": [1.5, None]}}, to="app:a") == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ami://app:s%40cret@10.0.0.1:5038", {"host": "10.0.0.1", "port": 5038, "username": "app", "secret": "s@cret"}),
        ("amis://app:x@pbx", {"host": "pbx", "username": "app", "secret": "x", "tls": True}),
        (
            "ari://asterisk:pw@127.0.0.1:8088?app=hello",
            {"ari_url": "http://127.0.0.1:8088", "ari_username": "asterisk", "ari_password": "pw", "ari_app": "hello"},
        ),
        ("aris://u:p@pbx/asterisk", {"ari_url": "https://pbx:8088/asterisk", "ari_username": "u", "ari_password": "p"}),
    ],
)
def test_url_forms(url: str, expected: dict[str, Any]) -> None:
    assert settings_from_url(url) == expected


def test_settings_refuse_line_breaks_and_bad_modes() -> None:
    with pytest.raises(eventkit.SettingsError):
        eventkit.connect("asterisk", username="app\r\nAction: Logoff", secret="x")
    with pytest.raises(eventkit.SettingsError):
        eventkit.connect("asterisk", username="app", secret="x", auth="sha1")
    with eventkit.connect("asterisk", username="app", secret="x", tls=True) as kit:
        assert kit.provider.settings.ami_port == 5039
