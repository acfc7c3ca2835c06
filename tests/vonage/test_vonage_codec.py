"""The send codec against Vonage's documented shapes (create-custom-event page, Nexmo/api-specification), validation before the wire, error mapping.

Unit layer: httpx.MockTransport stands in for Vonage; the integration tests use the emulator.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import httpx
import jwt
import pytest
from eventkit_vonage import VonageCodec
from vonage_support import APPLICATION_ID, CONVERSATION, MEMBER, SIGNATURE_SECRET, public_pem, settings

import eventkit
from eventkit import (
    AuthenticationError,
    ConflictError,
    Event,
    EventkitError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
    UnsupportedTargetError,
    ValidationError,
    parse_target,
)
from eventkit.provider import HttpResponse

TARGET = f"conversation:{CONVERSATION}"

# The v1 create-event answer, as the SDKs' tests stub it (Vonage/vonage-java-sdk ConversationsClientTest.java).
SAMPLE_EVENT_RESPONSE = {
    "id": 100,
    "type": "custom:notification",
    "from": MEMBER,
    "body": {"your": "data"},
    "timestamp": "2020-01-01T14:00:00.00Z",
    "_embedded": {"from_member": {"id": MEMBER}},
    "_links": {"self": {"href": f"https://api.nexmo.com/v1/conversations/{CONVERSATION}/events/100"}},
}


class Recorder:
    """A MockTransport that records requests and answers from a queue (default 201 + sample)."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.answers: list[httpx.Response] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.answers:
            return self.answers.pop(0)
        return httpx.Response(201, json=SAMPLE_EVENT_RESPONSE)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def _connect(recorder: Recorder, **extra: Any) -> eventkit.Client:
    return eventkit.connect(
        "vonage", http_transport=httpx.MockTransport(recorder), backoff_initial=0, **settings(**extra)
    )


def _codec(**extra: Any) -> VonageCodec:
    with eventkit.connect("vonage", **settings(**extra)) as kit:
        assert isinstance(kit.codec, VonageCodec)
        return kit.codec


# Encoding


def test_request_matches_the_documented_shape_byte_for_byte() -> None:
    codec = _codec()
    event = Event("my_event", {"your": "data"}, target=TARGET, sender=MEMBER)
    request = codec.encode(event, parse_target(TARGET))
    assert request.method == "POST"
    assert request.url == f"https://api.nexmo.com/v1/conversations/{CONVERSATION}/events"
    assert not request.url.endswith("/")
    assert request.content == (b'{"type":"custom:my_event","from":"' + MEMBER.encode() + b'","body":{"your":"data"}}')
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Authorization"].startswith("Bearer ")
    token = request.headers["Authorization"].removeprefix("Bearer ")
    claims = jwt.decode(token, public_pem(), algorithms=["RS256"])
    assert claims["application_id"] == APPLICATION_ID


def test_from_is_omitted_without_a_sender_and_unicode_is_sent_as_utf8() -> None:
    request = _codec().encode(Event("poll:question", {"q": "héllo ✓"}, target=TARGET), parse_target(TARGET))
    assert request.content == '{"type":"custom:poll:question","body":{"q":"héllo ✓"}}'.encode()


@pytest.mark.parametrize(
    ("extra", "host"),
    [
        ({}, "https://api.nexmo.com"),
        ({"region": "eu-3"}, "https://api-eu-3.vonage.com"),
        ({"region": "Sydney"}, "https://api-ap-4.vonage.com"),
        ({"base_url": "http://127.0.0.1:9/"}, "http://127.0.0.1:9"),
    ],
)
def test_base_url_and_regions(extra: dict[str, str], host: str) -> None:
    request = _codec(**extra).encode(Event("e", {}, target=TARGET), parse_target(TARGET))
    assert request.url == f"{host}/v1/conversations/{CONVERSATION}/events"


def test_url_form_and_vonage_env_names() -> None:
    environ = {"VONAGE_PRIVATE_KEY": settings()["private_key"], "VONAGE_SIGNATURE_SECRET": SIGNATURE_SECRET}
    with eventkit.connect(f"vonage+http://{APPLICATION_ID}@127.0.0.1:8099", environ=environ) as kit:
        cfg = kit.provider.settings
        assert cfg.application_id == APPLICATION_ID
        assert cfg.api_url == "http://127.0.0.1:8099"
        assert cfg.signature_secret.reveal() == SIGNATURE_SECRET
        assert SIGNATURE_SECRET not in repr(kit) + repr(kit.provider) + repr(cfg)


def test_send_returns_the_event_id_and_timestamp(recorder: Recorder) -> None:
    with _connect(recorder) as kit:
        result = kit.send("notification", {"your": "data"}, to=TARGET, sender=MEMBER)
    assert result.ok and result.status == 201
    assert result.id == "100"
    assert result.receipt is not None
    assert result.receipt.time == datetime(2020, 1, 1, 14, 0, tzinfo=timezone.utc)
    assert result.receipt.details["href"].endswith("/events/100")
    assert len(recorder.requests) == 1
    sent = json.loads(recorder.requests[0].content)
    assert sent == {"type": "custom:notification", "from": MEMBER, "body": {"your": "data"}}


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json=SAMPLE_EVENT_RESPONSE),
        httpx.Response(201, json={"id": 7, "timestamp": "2020-01-01T14:00:00.00Z", "href": "https://h/events/7"}),
        httpx.Response(204),
        httpx.Response(202, text="accepted"),
    ],
)
def test_any_2xx_is_success(recorder: Recorder, answer: httpx.Response) -> None:
    recorder.answers.append(answer)
    with _connect(recorder) as kit:
        result = kit.send("e", {}, to=TARGET)
    assert result.ok and result.status == answer.status_code


def test_token_is_reused_across_sends(recorder: Recorder) -> None:
    with _connect(recorder) as kit:
        for i in range(3):
            kit.send("e", {"i": i}, to=TARGET)
        assert kit.provider.tokens().minted == 1
    assert len({r.headers["authorization"] for r in recorder.requests}) == 1


# Validation: every bad input, nothing sent


@pytest.mark.parametrize(
    ("name", "data", "to", "rule"),
    [
        ("x" * 94, {}, TARGET, "max_length"),  # "custom:" + 94 = 101 characters
        ("bad.name", {}, TARGET, "pattern"),
        ("spa ce", {}, TARGET, "pattern"),
        ("émoji✓", {}, TARGET, "pattern"),
        ("ok", {"blob": "x" * 4090}, TARGET, "max_bytes"),
        ("ok", {"blob": "é" * 2046}, TARGET, "max_bytes"),  # 4092 bytes of UTF-8, 2046 characters
        ("ok", {}, "conversation:not-a-conversation", "conversation_id"),
        ("ok", {}, "conversation:CON-", "conversation_id"),
    ],
)
def test_bad_input_is_refused_before_the_wire(
    recorder: Recorder, name: str, data: dict[str, Any], to: str, rule: str
) -> None:
    with _connect(recorder) as kit:
        with pytest.raises(ValidationError) as caught:
            kit.send(name, data, to=to)
        assert rule in {v.rule for v in caught.value.violations}
    assert recorder.requests == []


def test_limits_are_inclusive() -> None:
    with eventkit.connect("vonage", **settings()) as kit:
        assert kit.validate("x" * 93, {}, to=TARGET) == []
        assert kit.validate("a-b_c:d", {"blob": "x" * (4096 - len('{"blob":""}'))}, to=TARGET) == []
        assert [v.rule for v in kit.validate("ok", {"blob": "x" * (4097 - len('{"blob":""}'))}, to=TARGET)] == [
            "max_bytes"
        ]


def test_oversize_body_is_a_payload_too_large_error(recorder: Recorder) -> None:
    with _connect(recorder) as kit, pytest.raises(PayloadTooLargeError):
        kit.send("ok", {"blob": "x" * 5000}, to=TARGET)
    assert recorder.requests == []


def test_non_object_bodies_are_refused(recorder: Recorder) -> None:
    with _connect(recorder) as kit:
        for data in ([1, 2], "text", 3):
            with pytest.raises(ValidationError):
                kit.send("ok", data, to=TARGET)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            kit.send("ok", {"when": object()}, to=TARGET)
    assert recorder.requests == []


def test_every_violation_is_reported() -> None:
    with eventkit.connect("vonage", **settings()) as kit:
        rules = {v.rule for v in kit.validate("bad.name" + "x" * 100, {"blob": "x" * 5000}, to="conversation:nope")}
    assert {"max_length", "pattern", "max_bytes", "conversation_id"} <= rules


def test_other_targets_are_refused_naming_the_conversation_form(recorder: Recorder) -> None:
    with _connect(recorder) as kit, pytest.raises(UnsupportedTargetError, match="conversation:<CON-id>"):
        kit.send("ok", {}, to="channel:messaging:general")
    assert recorder.requests == []


def test_user_token_needs_a_sender(recorder: Recorder) -> None:
    with _connect(recorder, sub="alice") as kit:
        with pytest.raises(ValidationError, match="from"):
            kit.send("ok", {}, to=TARGET)
        assert kit.send("ok", {}, to=TARGET, sender=MEMBER).ok
    assert len(recorder.requests) == 1


# Error mapping from Vonage's body and status


def _error(status: int, code: str, title: str, detail: str, **extra: Any) -> httpx.Response:
    body = {
        "title": title,
        "type": f"https://developer.nexmo.com/api/conversation#{code}",
        "code": code,
        "detail": detail,
        "instance": "00a5916655d650e920ccf0daf40ef4ee",
        **extra,
    }
    return httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("answer", "cls", "retryable"),
    [
        (
            _error(
                400,
                "http:error:validation-fail",
                "Bad request.",
                "Input validation failure.",
                invalid_parameters=[{"name": "type", "reason": '"type" must match custom:'}],
            ),
            ValidationError,
            False,
        ),
        (
            _error(401, "system:error:invalid-token", "Invalid Token", "You did not provide a valid token."),
            AuthenticationError,
            False,
        ),
        (_error(403, "http:error:forbidden", "Forbidden", "no access"), PermissionDeniedError, False),
        (
            _error(
                404,
                "conversation:error:not-found",
                "Conversation not found.",
                "Conversation does not exist, or you do not have access.",
            ),
            NotFoundError,
            False,
        ),
        (_error(409, "conversation:error:duplicate-name", "Conflict", "dup"), ConflictError, False),
        (_error(413, "http:error:too-large", "Too large", "body"), PayloadTooLargeError, False),
        (_error(429, "http:error:too-many-request", "Too Many Requests", "slow down"), RateLimitedError, True),
        (_error(500, "system:error:internal-error", "Internal Error", "oops"), UnavailableError, True),
        (httpx.Response(503, text="<html>gateway</html>"), UnavailableError, True),
    ],
)
def test_error_mapping(recorder: Recorder, answer: httpx.Response, cls: type[EventkitError], retryable: bool) -> None:
    recorder.answers.append(answer)
    with _connect(recorder, max_attempts=1) as kit:
        (result,) = kit.send_many([Event("e", {}, target=TARGET)])
    error = result.error
    assert isinstance(error, cls)
    assert error.status == answer.status_code
    assert error.retryable is retryable
    assert error.provider == "vonage"
    body = answer.json() if answer.headers.get("content-type") == "application/json" else None
    if body is not None:
        assert error.code == body["code"]
        assert body["title"] in error.message and body["detail"] in error.message
        assert error.body["instance"] == body["instance"]


def test_invalid_parameters_become_violations() -> None:
    codec = _codec()
    response = HttpResponse(
        400,
        {"content-type": "application/json"},
        json.dumps(
            {
                "title": "Bad request.",
                "code": "http:error:validation-fail",
                "detail": "Input validation failure.",
                "invalid_parameters": [{"name": "body", "reason": '"body" too large'}, {"name": "type"}, "junk"],
            }
        ).encode(),
    )
    with pytest.raises(ValidationError) as caught:
        codec.parse_response(codec.encode(Event("e", {}, target=TARGET), parse_target(TARGET)), response)
    assert [(v.field, v.message) for v in caught.value.violations] == [
        ("body", '"body" too large'),
        ("type", "invalid"),
    ]


def test_code_falls_back_to_type_and_non_json_errors_keep_status() -> None:
    codec = _codec()
    request = codec.encode(Event("e", {}, target=TARGET), parse_target(TARGET))
    with pytest.raises(NotFoundError) as caught:
        codec.parse_response(request, HttpResponse(404, {}, b'{"type": "conversation:error:not-found"}'))
    assert caught.value.code == "conversation:error:not-found"
    with pytest.raises(EventkitError, match="HTTP 418"):
        codec.parse_response(request, HttpResponse(418, {}, b"teapot"))


def test_retry_after_is_read_from_a_429(recorder: Recorder) -> None:
    recorder.answers.append(
        httpx.Response(429, headers={"Retry-After": "0.05"}, json={"code": "http:error:too-many-request"})
    )
    with _connect(recorder, max_attempts=2) as kit:
        result = kit.send("e", {}, to=TARGET)
    assert result.ok and result.attempts == 2


def test_errors_never_show_the_secrets(recorder: Recorder) -> None:
    pem = settings()["private_key"]
    recorder.answers.append(
        httpx.Response(401, json={"title": "bad", "detail": f"echo {SIGNATURE_SECRET}", "key": pem})
    )
    with _connect(recorder, max_attempts=1) as kit:
        (result,) = kit.send_many([Event("e", {}, target=TARGET)])
    assert result.error is not None
    shown = str(result.error) + repr(result.error) + json.dumps(result.error.to_dict())
    assert SIGNATURE_SECRET not in shown
    assert pem.splitlines()[1] not in shown
