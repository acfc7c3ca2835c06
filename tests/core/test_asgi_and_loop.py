"""The shared ASGI helpers and the one background loop.

``read_body``/``answer_json`` are checked at the unit layer with scripted ASGI
messages, then through a real uvicorn server on loopback; the background loop
is the class both the sync client and the testing kit run on.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from eventkit import PayloadTooLargeError
from eventkit._portal import BackgroundLoop, Portal
from eventkit.provider import BodyTooLargeError, answer, answer_json, read_body
from eventkit.testing import AsgiServer
from eventkit.testing import BackgroundLoop as KitBackgroundLoop


def scripted(*messages: dict[str, Any]) -> Any:
    queue = list(messages)

    async def receive() -> Mapping[str, Any]:
        return queue.pop(0)

    return receive


async def test_read_body_joins_the_chunks() -> None:
    receive = scripted(
        {"type": "http.request", "body": b"ab", "more_body": True},
        {"type": "http.request", "body": b"", "more_body": True},
        {"type": "http.request", "body": b"cd"},
    )
    assert await read_body(receive) == b"abcd"


async def test_read_body_is_none_when_the_client_leaves() -> None:
    receive = scripted({"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"})
    assert await read_body(receive) is None


async def test_read_body_stops_at_the_cap_with_a_typed_error() -> None:
    receive = scripted(
        {"type": "http.request", "body": b"12345", "more_body": True},
        {"type": "http.request", "body": b"6", "more_body": True},
        {"type": "never read"},
    )
    with pytest.raises(BodyTooLargeError) as caught:
        await read_body(receive, limit=5)
    assert caught.value.limit == 5
    assert isinstance(caught.value, PayloadTooLargeError)
    assert await read_body(scripted({"type": "http.request", "body": b"12345"}), limit=5) == b"12345"


async def test_answer_sends_length_type_and_extra_headers() -> None:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await answer_json(send, 418, {"a": 1}, headers={"x-extra": "yes"})
    await answer(send, 200, b"hi", content_type="text/plain", headers=[(b"allow", b"POST")])
    assert sent[0] == {
        "type": "http.response.start",
        "status": 418,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"8"), (b"x-extra", b"yes")],
    }
    assert json.loads(sent[1]["body"]) == {"a": 1}
    assert sent[2]["headers"] == [(b"content-type", b"text/plain"), (b"content-length", b"2"), (b"allow", b"POST")]
    assert sent[3] == {"type": "http.response.body", "body": b"hi"}


async def echo_app(scope: Mapping[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    try:
        body = await read_body(receive, limit=16)
    except BodyTooLargeError as exc:
        await answer_json(send, 413, {"error": exc.message})
        return
    if body is not None:
        await answer_json(send, 200, {"length": len(body)})


def test_the_helpers_under_a_real_server() -> None:
    with AsgiServer(echo_app) as server:
        ok = httpx.post(server.url, content=b"x" * 16)
        big = httpx.post(server.url, content=b"x" * 17)
    assert (ok.status_code, ok.json(), ok.headers["content-length"]) == (200, {"length": 16}, str(len(ok.content)))
    assert (big.status_code, big.json()) == (413, {"error": "body over 16 bytes"})


def test_one_loop_class_under_both_names() -> None:
    assert Portal is BackgroundLoop and KitBackgroundLoop is BackgroundLoop


def test_the_loop_runs_coroutines_and_functions_on_its_thread() -> None:
    bg = BackgroundLoop("test-loop", timeout=5, close_timeout=5)
    try:

        async def where() -> str:
            await asyncio.sleep(0)
            return threading.current_thread().name

        assert bg.run(where()) == "test-loop"
        assert bg.call(where()) == "test-loop"
        assert bg.run_sync(lambda: threading.current_thread().name) == "test-loop"

        async def numbers() -> Any:
            for n in range(3):
                yield n

        assert list(bg.iterate(numbers)) == [0, 1, 2]
    finally:
        bg.close()
    assert bg.loop.is_closed() and not bg.thread.is_alive()
    bg.close()  # twice is harmless


def test_close_cancels_what_is_still_running() -> None:
    bg = BackgroundLoop("test-loop", close_timeout=5)
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = bg.run_sync(lambda: bg.loop.create_task(forever()))  # held here, so never collected
    bg.run_sync(lambda: None)  # the task has started
    bg.close()
    assert cancelled.is_set() and task.cancelled()
