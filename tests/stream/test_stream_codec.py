"""The Stream send codec against Stream's request shapes (GetStream/protocol ``openapi/chat-openapi.yaml``) (no sockets)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from eventkit_stream import StreamProvider, StreamSettings
from eventkit_stream._codec import CLIENT_ID, StreamCodec
from eventkit_stream._tokens import server_token, user_token

import eventkit
from eventkit import ChannelTarget, Event, UserTarget, ValidationError
from eventkit.provider import HttpResponse

KEY, SECRET = "YOUR_API_KEY", "s3cr3t-api-secret-0123456789abcdef-xyz"


def codec(**overrides: Any) -> StreamCodec:
    return StreamCodec(StreamSettings(api_key=KEY, api_secret=eventkit.Secret(SECRET), **overrides))


def test_server_token_is_hs256_over_server_true_as_in_the_note() -> None:
    token = server_token(SECRET)
    header, payload, _sig = token.split(".")
    # The note's example gives these two segments verbatim.
    assert header == "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    assert payload == "eyJzZXJ2ZXIiOnRydWV9"
    assert jwt.decode(token, SECRET, algorithms=["HS256"]) == {"server": True}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "another-secret-0123456789abcdef-0123456789", algorithms=["HS256"])


def test_user_token_carries_only_user_id_unless_asked() -> None:
    assert jwt.decode(user_token(SECRET, "john"), SECRET, algorithms=["HS256"]) == {"user_id": "john"}
    claims = jwt.decode(user_token(SECRET, "john", exp=4102444800, iat=1700000000), SECRET, algorithms=["HS256"])
    assert claims == {"user_id": "john", "exp": 4102444800, "iat": 1700000000}


def test_channel_event_request_matches_the_note() -> None:
    event = Event("friendship_request", {"text": "Hey there, long time no see!"}, sender="server-bot")
    request = codec().encode(event, ChannelTarget("messaging", "general"))
    assert request.method == "POST"
    assert request.url == "https://chat.stream-io-api.com/channels/messaging/general/event?api_key=YOUR_API_KEY"
    assert request.content == (
        b'{"event":{"type":"friendship_request","text":"Hey there, long time no see!","user":{"id":"server-bot"}}}'
    )
    note_body = '{"event": {"type": "friendship_request", "text": "Hey there, long time no see!", "user": {"id": "server-bot"}}}'
    assert request.json() == json.loads(note_body)
    headers = request.headers
    assert headers["stream-auth-type"] == "jwt"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Stream-Client"] == CLIENT_ID == f"eventkit-{eventkit.__version__}"
    assert not headers["Authorization"].startswith("Bearer")
    assert jwt.decode(headers["Authorization"], SECRET, algorithms=["HS256"]) == {"server": True}


def test_user_event_request_matches_the_note() -> None:
    event = Event("friendship_request", {"text": "Tommaso wants to be your friend"})
    request = codec().encode(event, UserTarget("tommaso"))
    assert request.url == "https://chat.stream-io-api.com/users/tommaso/event?api_key=YOUR_API_KEY"
    assert request.content == b'{"event":{"type":"friendship_request","text":"Tommaso wants to be your friend"}}'


def test_server_token_is_minted_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    original = jwt.encode

    def counting(*args: Any, **kwargs: Any) -> str:
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(jwt, "encode", counting)
    c = codec()
    first = c.encode(Event("a", {}, sender="u"), ChannelTarget("messaging", "general"))
    second = c.encode(Event("b", {}, sender="u"), UserTarget("x"))
    assert first.headers["Authorization"] == second.headers["Authorization"]
    assert len(calls) == 1


@pytest.mark.parametrize(
    ("target", "path"),
    [
        (ChannelTarget("messaging", "a/b"), "/channels/messaging/a%2Fb/event"),
        (ChannelTarget("messaging", "x?y#z"), "/channels/messaging/x%3Fy%23z/event"),
        (ChannelTarget("team/../admin", "g"), "/channels/team%2F..%2Fadmin/g/event"),
        (UserTarget("../users"), "/users/..%2Fusers/event"),
        (UserTarget("ann%2F"), "/users/ann%252F/event"),
    ],
)
def test_ids_cannot_change_the_path(target: Any, path: str) -> None:
    request = codec().encode(Event("e", {}, sender="u"), target)
    assert request.url == f"https://chat.stream-io-api.com{path}?api_key=YOUR_API_KEY"


def test_dot_ids_are_violations_not_paths() -> None:
    violations = codec().validate(Event("e", {}, sender="u"), UserTarget(".."))
    assert [v.rule for v in violations] == ["path"]


def test_base_url_setting_is_used_and_trailing_slash_ignored() -> None:
    request = codec(base_url="http://127.0.0.1:9/").encode(Event("e", {}), UserTarget("u"))
    assert request.url == "http://127.0.0.1:9/users/u/event?api_key=YOUR_API_KEY"


def test_missing_sender_cannot_be_encoded_even_if_validation_is_skipped() -> None:
    with pytest.raises(ValidationError):
        codec().encode(Event("e", {}), ChannelTarget("messaging", "general"))


def test_success_receipt_reads_time_and_rate_limit_headers() -> None:
    c = codec()
    request = c.encode(Event("e", {}, sender="u"), ChannelTarget("messaging", "general"))
    body = {
        "event": {"type": "e", "cid": "messaging:general", "created_at": "2024-01-01T00:00:00.123456789Z"},
        "duration": "1.23ms",
    }
    response = HttpResponse(
        201,
        {"x-ratelimit-limit": "10000, 10000", "x-ratelimit-remaining": "9999", "x-ratelimit-reset": "1704067260"},
        json.dumps(body).encode(),
    )
    receipt = c.parse_response(request, response)
    assert receipt.status == 201
    assert receipt.time is not None and receipt.time.microsecond == 123456
    assert receipt.details == {
        "duration": "1.23ms",
        "cid": "messaging:general",
        "created_at": body["event"]["created_at"],
    }
    assert receipt.rate_limit is not None
    assert (receipt.rate_limit.limit, receipt.rate_limit.remaining) == (10000, 9999)
    assert receipt.rate_limit.reset is not None and int(receipt.rate_limit.reset.timestamp()) == 1704067260


def test_user_event_success_has_only_duration() -> None:
    c = codec()
    request = c.encode(Event("e", {}), UserTarget("u"))
    receipt = c.parse_response(request, HttpResponse(201, {}, b'{"duration":"0.5ms"}'))
    assert receipt.details == {"duration": "0.5ms"} and receipt.rate_limit is None and receipt.time is None


def test_settings_from_env_and_url() -> None:
    env = {"STREAM_API_KEY": "k", "STREAM_API_SECRET": "sec-from-env", "STREAM_CHAT_URL": "http://127.0.0.1:1"}
    with eventkit.connect("stream", environ=env) as kit:
        settings: StreamSettings = kit.provider.settings
        assert settings.api_key == "k" and settings.secret == "sec-from-env"
        assert settings.base_url == "http://127.0.0.1:1"
        assert "sec-from-env" not in repr(kit.provider) + repr(settings)
    with eventkit.connect("stream+http://key:pa55word@127.0.0.1:8080?max_payload_bytes=100", environ={}) as kit:
        settings = kit.provider.settings
        assert (settings.api_key, settings.secret, settings.base_url) == ("key", "pa55word", "http://127.0.0.1:8080")
        assert settings.max_payload_bytes == 100
        assert "pa55word" not in repr(kit)


def test_missing_credentials_are_refused_before_io() -> None:
    with pytest.raises(eventkit.MissingCredentialsError) as caught:
        eventkit.connect("stream", environ={}, api_key="k")
    assert "api_secret" in str(caught.value)


@pytest.mark.parametrize("bad", [{"max_payload_bytes": 0}, {"watch": "messaging"}, {"health_timeout": 0}])
def test_bad_settings_are_settings_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(eventkit.SettingsError):
        eventkit.connect("stream", environ={}, api_key="k", api_secret="s", **bad)


def test_import_stays_light() -> None:
    import subprocess
    import sys

    code = "import sys, eventkit_stream; print(any(m in sys.modules for m in ('jwt', 'websockets', 'httpx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # httpx comes with eventkit itself; jwt and websockets must not.
    code2 = "import sys, eventkit_stream; print('jwt' in sys.modules, 'websockets' in sys.modules)"
    out2 = subprocess.run([sys.executable, "-c", code2], capture_output=True, text=True, check=True).stdout
    assert out.strip() in ("True", "False")
    assert out2.split() == ["False", "False"]
    assert StreamProvider.name == "stream"


def _b64(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def test_note_segments_decode_to_what_the_note_says() -> None:
    assert _b64("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9") == {"alg": "HS256", "typ": "JWT"}
    assert _b64("eyJzZXJ2ZXIiOnRydWV9") == {"server": True}
