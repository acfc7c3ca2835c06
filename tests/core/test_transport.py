"""Retries, backoff, Retry-After, timeouts and secret scrubbing, once for every HTTP provider."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable

import httpx
import pytest
from core_demo_provider import DemoProvider

import eventkit
from eventkit import RateLimitedError, SendTimeoutError, UnavailableError, ValidationError
from eventkit.testing import AsgiServer

TOKEN = "tok-super-secret-value"


def scripted(
    answers: list[Callable[[httpx.Request], httpx.Response]],
) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[min(len(seen), len(answers)) - 1](request)

    return httpx.MockTransport(handler), seen


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(201, json={"id": "evt-1"}, headers={"x-ratelimit-limit": "10", "x-ratelimit-remaining": "9"})


def status(code: int, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(code, json={"message": f"status {code}"}, headers=headers)


def connect(transport: httpx.BaseTransport | httpx.AsyncBaseTransport, **kw: object) -> eventkit.Client:
    kw.setdefault("backoff_initial", 0.001)
    return eventkit.connect(DemoProvider, token=TOKEN, http_transport=transport, environ={}, **kw)


def test_request_on_the_wire() -> None:
    transport, seen = scripted([ok])
    with connect(transport) as kit:
        result = kit.send("hello", {"n": 1}, to="topic:a/b?c")
    (request,) = seen
    assert request.url.raw_path == b"/topics/a%2Fb%3Fc/events"
    assert json.loads(request.content) == {"name": "hello", "data": {"n": 1}}
    assert result.ok and result.id == "evt-1" and result.status == 201 and result.attempts == 1
    assert result.rate_limit is not None and result.rate_limit.remaining == 9


def test_retry_after_is_honoured_then_success() -> None:
    transport, seen = scripted([status(429, **{"retry-after": "0.2"}), ok])
    with connect(transport) as kit:
        started = time.monotonic()
        result = kit.send("hello", {}, to="topic:x")
    assert result.ok and result.attempts == 2 and len(seen) == 2
    assert time.monotonic() - started >= 0.19


def test_attempt_budget_is_respected() -> None:
    transport, seen = scripted([status(503)])
    with connect(transport, max_attempts=4) as kit:
        (result,) = kit.send_many([{"name": "x", "target": "topic:t"}])
    assert not result.ok and isinstance(result.error, UnavailableError)
    assert result.attempts == 4 and len(seen) == 4 and kit.stats["retries"] == 3


def test_retry_after_longer_than_allowed_gives_up() -> None:
    transport, seen = scripted([status(429, **{"retry-after": "120"}), ok])
    with connect(transport, retry_after_max=5) as kit, pytest.raises(RateLimitedError) as caught:
        kit.send("x", {}, to="topic:t")
    assert caught.value.retry_after == 120 and len(seen) == 1


def test_non_retryable_errors_are_not_retried() -> None:
    transport, seen = scripted([status(400)])
    with connect(transport) as kit, pytest.raises(ValidationError):
        kit.send("x", {}, to="topic:t")
    assert len(seen) == 1


def test_connection_refused_is_retried_and_typed() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    transport, seen = scripted([refuse, refuse, ok])
    with connect(transport) as kit:
        result = kit.send("x", {}, to="topic:t")
    assert result.ok and result.attempts == 3 and len(seen) == 3 and not result.possible_duplicate


def test_ambiguous_failures_mark_possible_duplicates_or_stop() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    transport, _ = scripted([timeout, ok])
    with connect(transport) as kit:
        result = kit.send("x", {}, to="topic:t")
    assert result.ok and result.possible_duplicate
    transport, seen = scripted([timeout, ok])
    with connect(transport, retry_ambiguous=False) as kit, pytest.raises(SendTimeoutError) as caught:
        kit.send("x", {}, to="topic:t")
    assert caught.value.maybe_delivered and len(seen) == 1


def test_secrets_are_scrubbed_from_errors() -> None:
    def leak(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            401, json={"message": f"bad token {TOKEN}", "authorization": request.headers["authorization"]}
        )

    transport, _ = scripted([leak])
    with connect(transport) as kit:
        (result,) = kit.send_many([{"name": "x", "target": "topic:t"}])
    error = result.error
    assert error is not None
    shown = str(error) + repr(error) + json.dumps(error.to_dict()) + repr(kit) + repr(kit.provider)
    assert TOKEN not in shown and "***" in shown


def test_non_json_error_body() -> None:
    transport, _ = scripted([lambda r: httpx.Response(429, text="Too Many Requests")])
    with connect(transport, max_attempts=1) as kit, pytest.raises(RateLimitedError) as caught:
        kit.send("x", {}, to="topic:t")
    assert caught.value.body == "Too Many Requests"


def test_validation_happens_before_io() -> None:
    transport, seen = scripted([ok])
    with connect(transport) as kit:
        with pytest.raises(ValidationError) as caught:
            kit.send("much-too-long-name", {"type": "x", "blob": "y" * 100}, to="topic:t")
        rules = {v.rule for v in caught.value.violations}
        assert rules == {"max_length", "reserved", "max_bytes"}
        with pytest.raises(eventkit.UnsupportedTargetError, match="topic:<name>"):
            kit.send("x", {}, to="user:bob")
        with pytest.raises(ValidationError, match=r"'\.\.'"):
            kit.send("x", {}, to="topic:..")
    assert seen == []


def test_send_many_reports_each_event() -> None:
    transport, seen = scripted([ok])
    with connect(transport) as kit:
        results = kit.send_many(
            [
                {"name": "good", "data": {"i": 1}},
                {"name": "bad", "data": {"type": "reserved"}},
                {"name": "", "data": {}},
                eventkit.Event("good2", {"i": 2}),
            ],
            to="topic:t",
            concurrency=3,
        )
    assert [r.ok for r in results] == [True, False, False, True]
    assert results[0].event.name == "good" and results[3].event.name == "good2"
    assert results[1].attempts == 0 and len(seen) == 2


async def test_async_client_retries_and_is_concurrent() -> None:
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(201, json={"id": "x"})

    async with eventkit.connect_async(
        DemoProvider, token=TOKEN, http_transport=httpx.MockTransport(handler), environ={}
    ) as kit:
        results = await kit.send_many([{"name": f"e{i}"} for i in range(40)], to="topic:t", concurrency=8)
    assert all(r.ok for r in results) and peak == 8


async def test_retry_after_pauses_the_whole_client() -> None:
    calls: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        calls.append(time.monotonic())
        if len(calls) == 1:
            return httpx.Response(429, headers={"retry-after": "0.3"})
        return httpx.Response(201, json={})

    async with eventkit.connect_async(
        DemoProvider, token=TOKEN, http_transport=httpx.MockTransport(handler), environ={}
    ) as kit:
        results = await kit.send_many([{"name": f"e{i}"} for i in range(4)], to="topic:t", concurrency=1)
    assert all(r.ok for r in results)
    assert calls[1] - calls[0] >= 0.29 and calls[2] - calls[0] >= 0.29


def test_timeout_against_a_real_slow_server() -> None:
    async def slow_app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        await receive()
        await asyncio.sleep(1.0)
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    with AsgiServer(slow_app) as server:
        kit = eventkit.connect(DemoProvider, token=TOKEN, base_url=server.url, timeout=0.1, max_attempts=1, environ={})
        with kit, pytest.raises(SendTimeoutError):
            kit.send("x", {}, to="topic:t")


def test_connection_reuse_against_a_real_server() -> None:
    peers: set[tuple[str, int]] = set()

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            return
        peers.add(tuple(scope["client"]))
        await receive()
        await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b'{"id": "1"}'})

    with AsgiServer(app) as server, eventkit.connect(DemoProvider, token=TOKEN, base_url=server.url, environ={}) as kit:
        for _ in range(5):
            assert kit.send("x", {}, to="topic:t").ok
    assert len(peers) == 1


def test_injected_http_client_is_used_and_left_open() -> None:
    transport, seen = scripted([ok])
    client = httpx.Client(transport=transport)
    with eventkit.connect(DemoProvider, token=TOKEN, http_client=client, environ={}) as kit:
        kit.send("x", {}, to="topic:t")
    assert len(seen) == 1 and not client.is_closed
    client.close()
