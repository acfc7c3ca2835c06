"""The receiver's ASGI path called directly: body deadlines behind one timer, drain, chunked bodies."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from core_demo_provider import DemoProvider, sign

import eventkit
from eventkit import WebhookReceiver

TOKEN = "hook-secret-value"


def _receiver(**options: Any) -> WebhookReceiver:
    return WebhookReceiver([DemoProvider(DemoProvider.Settings(token=eventkit.Secret(TOKEN)))], **options)


def _scope(body: bytes, **extra: str) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json"), (b"x-signature", sign(TOKEN, body).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    return {"type": "http", "method": "POST", "path": "/webhooks/demo", "root_path": "", "headers": headers}


class Call:
    """One ASGI call: what it sent back, and a ``receive`` fed from a queue (stalls when it is empty)."""

    def __init__(self) -> None:
        self.incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return await self.incoming.get()

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[bytes, bytes]:
        return dict(self.sent[0]["headers"])

    @property
    def json(self) -> Any:
        return json.loads(self.sent[1]["body"])


async def test_stalled_bodies_each_get_408_at_their_own_deadline() -> None:
    receiver = _receiver(body_timeout=0.2)
    first, second = Call(), Call()
    body = json.dumps({"name": "Ping"}).encode()
    one = asyncio.ensure_future(receiver(_scope(body), first.receive, first.send))
    await asyncio.sleep(0.1)
    two = asyncio.ensure_future(receiver(_scope(body), second.receive, second.send))
    await asyncio.wait_for(one, 5)
    assert first.status == 408 and first.json == {"error": "request body timeout"}
    assert not two.done() and second.sent == []  # its own deadline is later
    await asyncio.wait_for(two, 5)
    assert second.status == 408
    assert receiver.stats["timed_out_body"] == 2
    assert receiver.buffered_bytes == 0


async def test_a_timed_out_task_is_not_left_cancelled() -> None:
    receiver = _receiver(body_timeout=0.05)
    call = Call()

    async def request() -> str:
        await receiver(_scope(b"{}"), call.receive, call.send)
        task = asyncio.current_task()
        assert task is not None
        if hasattr(task, "cancelling"):
            assert task.cancelling() == 0
        await asyncio.sleep(0)  # would raise CancelledError if a cancellation were still pending
        return "went on"

    assert await asyncio.wait_for(request(), 5) == "went on"
    assert call.status == 408


async def test_a_cancelled_request_stays_cancelled() -> None:
    receiver = _receiver(body_timeout=5)
    call = Call()
    task = asyncio.ensure_future(receiver(_scope(b"{}"), call.receive, call.send))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert call.sent == []  # no 408 for a cancellation that was not the deadline
    assert receiver.buffered_bytes == 0


async def test_drain_brings_the_deadline_of_a_body_being_read_forward() -> None:
    receiver = _receiver(body_timeout=30)
    call = Call()
    task = asyncio.ensure_future(receiver(_scope(b"{}"), call.receive, call.send))
    await asyncio.sleep(0.05)
    receiver.drain(grace=0.1)
    await asyncio.wait_for(task, 5)
    assert call.status == 503 and call.headers[b"retry-after"] == b"5"
    assert call.json == {"error": "shutting down"}
    assert receiver.stats["refused_draining"] == 1


async def test_a_body_in_several_messages_is_read_whole_and_its_bytes_given_back() -> None:
    receiver = _receiver()
    call = Call()
    body = json.dumps({"name": "Ping", "data": {"n": 1}}).encode()
    for start in range(0, len(body), 5):
        chunk = body[start : start + 5]
        await call.incoming.put({"type": "http.request", "body": chunk, "more_body": start + 5 < len(body)})
    await asyncio.wait_for(receiver(_scope(body, **{"x-delivery": "1"}), call.receive, call.send), 5)
    assert call.status == 200 and call.json == {"received": 1}
    assert call.headers[b"content-length"] == str(len(call.sent[1]["body"])).encode()
    assert receiver.buffered_bytes == 0
    await receiver.aclose()


async def test_a_body_over_the_cap_in_pieces_is_413() -> None:
    receiver = _receiver(max_body_bytes=10)
    call = Call()
    await call.incoming.put({"type": "http.request", "body": b"x" * 8, "more_body": True})
    await call.incoming.put({"type": "http.request", "body": b"x" * 8, "more_body": True})
    await asyncio.wait_for(receiver(_scope(b"x" * 16), call.receive, call.send), 5)
    assert call.status == 413
    assert receiver.stats["rejected_size"] == 1 and receiver.buffered_bytes == 0
