"""Stream's error answers mapped to eventkit errors, from status and structured body."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest
from eventkit_stream._errors import error_from_response

import eventkit
from eventkit import (
    AuthenticationError,
    EventkitError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
    ValidationError,
)
from eventkit.provider import HttpResponse

SECRET = "errors-secret-0123456789abcdef-0123456789abcdef"


def stream_error(status: int, code: int, message: str = "boom", **extra: Any) -> bytes:
    return json.dumps(
        {
            "code": code,
            "message": message,
            "StatusCode": status,
            "duration": "0.00ms",
            "more_info": "https://getstream.io/chat/docs/api_errors_response",
            "details": [],
            **extra,
        }
    ).encode()


@pytest.mark.parametrize(
    ("status", "code", "cls", "retryable"),
    [
        (400, 4, ValidationError, False),
        (400, 18, ValidationError, False),
        (401, 2, AuthenticationError, False),
        (401, 43, AuthenticationError, False),
        (403, 17, PermissionDeniedError, False),
        (404, 16, NotFoundError, False),
        (413, 22, PayloadTooLargeError, False),
        (429, 9, RateLimitedError, True),
        (500, -1, UnavailableError, True),
        (503, -1, UnavailableError, True),
    ],
)
def test_status_and_code(status: int, code: int, cls: type[EventkitError], retryable: bool) -> None:
    error = error_from_response(HttpResponse(status, {}, stream_error(status, code)))
    assert type(error) is cls
    assert (error.status, error.code, error.retryable, error.provider) == (status, code, retryable, "stream")
    assert error.body["StatusCode"] == status
    assert f"code {code}" in error.message


def test_code_decides_only_when_the_status_has_no_class() -> None:
    error = error_from_response(HttpResponse(420, {}, stream_error(420, 9)))
    assert isinstance(error, RateLimitedError) and error.status == 420
    header_too_large = error_from_response(HttpResponse(431, {}, stream_error(431, 24)))
    assert type(header_too_large) is EventkitError


def test_unrecoverable_is_never_retried() -> None:
    error = error_from_response(HttpResponse(500, {}, stream_error(500, -1, unrecoverable=True)))
    assert isinstance(error, UnavailableError) and error.retryable is False


def test_exception_fields_become_violations() -> None:
    body = stream_error(400, 4, exception_fields={"type": "type is required"})
    error = error_from_response(HttpResponse(400, {}, body))
    assert isinstance(error, ValidationError)
    assert [(v.field, v.rule, v.message) for v in error.violations] == [("type", "platform", "type is required")]


def test_429_waits_until_x_ratelimit_reset() -> None:
    now = time.time()
    headers = {"x-ratelimit-reset": str(int(now) + 3), "x-ratelimit-limit": "10000", "x-ratelimit-remaining": "0"}
    error = error_from_response(HttpResponse(429, headers, stream_error(429, 9)))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is not None and 1.5 < error.retry_after <= 3.1


def test_non_json_edge_429() -> None:
    error = error_from_response(HttpResponse(429, {"retry-after": "2"}, b"Too Many Requests"))
    assert isinstance(error, RateLimitedError) and error.retryable
    assert error.retry_after == 2.0 and error.code is None
    assert "edge" in error.message


def test_reset_header_does_not_delay_a_5xx() -> None:
    headers = {"x-ratelimit-reset": str(int(time.time()) + 50)}
    assert error_from_response(HttpResponse(503, headers, stream_error(503, -1))).retry_after is None
    assert error_from_response(HttpResponse(503, {"retry-after": "1"}, b"")).retry_after == 1.0


def test_garbage_bodies_still_map_by_status() -> None:
    for body in (b"", b"[1,2]", b'{"code": "x", "message": 5}', b"\xff\xfe"):
        error = error_from_response(HttpResponse(404, {}, body))
        assert isinstance(error, NotFoundError)


def test_errors_through_the_client_scrub_the_secret() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, content=stream_error(401, 5, message=f"bad secret {SECRET}"))

    with (
        eventkit.connect(
            "stream", environ={}, api_key="key", api_secret=SECRET, http_transport=httpx.MockTransport(answer)
        ) as kit,
        pytest.raises(AuthenticationError) as caught,
    ):
        kit.send("ping", {}, to="user:u")
    shown = str(caught.value) + repr(caught.value) + json.dumps(caught.value.to_dict())
    assert SECRET not in shown and "***" in shown


def test_retry_on_429_then_success_exposes_rate_limit() -> None:
    answers = [
        httpx.Response(429, text="slow down", headers={"Retry-After": "0.05"}),
        httpx.Response(
            201,
            json={"duration": "1ms"},
            headers={"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": "1704067260"},
        ),
    ]

    def answer(request: httpx.Request) -> httpx.Response:
        return answers.pop(0)

    with eventkit.connect(
        "stream", environ={}, api_key="key", api_secret=SECRET, http_transport=httpx.MockTransport(answer)
    ) as kit:
        result = kit.send("ping", {}, to="user:u")
    assert result.attempts == 2 and result.rate_limit is not None
    assert (result.rate_limit.limit, result.rate_limit.remaining) == (60, 59)


def test_the_server_token_is_scrubbed_like_the_secret() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(400, content=stream_error(400, 4, message=f"token {request.headers['authorization']}"))

    with eventkit.connect(
        "stream", environ={}, api_key="key", api_secret=SECRET, http_transport=httpx.MockTransport(answer)
    ) as kit:
        assert any(s.reveal() == kit.provider.codec()._token for s in kit.provider.secrets())  # type: ignore[attr-defined]
        result = kit.send_many([{"name": "ping", "target": "user:u"}])[0]
    assert result.error is not None and seen
    assert seen[0] not in str(result.error) + json.dumps(result.error.to_dict())
