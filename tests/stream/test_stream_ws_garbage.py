"""Garbage from Stream's websocket never ends ``listen()`` (issue 19, finding 6).

Vendor fact: Stream's ``/connect`` socket answers with a first frame that is a ``health.check``
carrying ``connection_id`` (OAS ``HealthCheckEvent``; GetStream/stream-chat-js ``connection.ts``
waits for it), or an ``{"error": {...}}`` frame. Anything else is a peer's garbage. A first frame of
2,000 nested ``[`` used to end ``listen()`` with ``RecursionError`` (``_handshake`` caught only
``ValueError``). Now it is a failed session that reconnects; a bad later frame is dropped and counted.

The peer is a real websockets server on loopback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from eventkit_stream._codec import connection_id
from eventkit_stream._wire import decode_frame

import eventkit
from eventkit import AuthenticationError, ProtocolError, RateLimitedError

pytest.importorskip("websockets", reason="the Stream websocket listener needs eventkit-cpaas[websockets]")

SECRET = "ws-garbage-secret-0123456789abcdef-0123456789"
DEEP = "[" * 2000
HEALTH = json.dumps({"type": "health.check", "connection_id": "conn-2", "cid": "*", "me": {"id": "listener"}})
EVENT = json.dumps({"type": "order_ready", "user": {"id": "listener"}, "order": "A-1"})


class Peer:
    """Serves one scripted list of frames per connection, in order; the last script repeats."""

    def __init__(self, scripts: list[list[str]]) -> None:
        self.scripts = scripts
        self.connections = 0
        self.url = ""

    async def handler(self, ws: Any) -> None:
        script = self.scripts[min(self.connections, len(self.scripts) - 1)]
        self.connections += 1
        for frame in script:
            await ws.send(frame)
        await ws.wait_closed()


async def _serve(peer: Peer) -> AsyncIterator[Any]:
    from websockets.asyncio.server import serve

    async with serve(peer.handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        peer.url = f"ws://127.0.0.1:{port}"
        yield server


async def _first_event(peer: Peer) -> tuple[eventkit.Event, eventkit.AsyncClient]:
    settings = dict(
        api_key="key",
        api_secret=SECRET,
        base_url="http://127.0.0.1:9",
        ws_url=peer.url,
        listen_user="listener",
        reconnect_initial=0.01,
        reconnect_max=0.05,
        environ={},
    )
    async with eventkit.connect_async("stream", **settings) as kit:
        async for event in kit.listen(via="websocket"):
            return event, kit
    raise AssertionError("listen() ended without an event")


@pytest.mark.parametrize("first", [DEEP, "not json", '{"type": "health.check"}', "[]", '"\\ud800"'])
async def test_a_garbage_first_frame_reconnects_instead_of_ending_listen(first: str) -> None:
    peer = Peer([[first], [HEALTH, EVENT]])
    async for _ in _serve(peer):
        event, kit = await asyncio.wait_for(_first_event(peer), 30)
    assert event.name == "order_ready" and event.data == {"order": "A-1"}
    assert peer.connections == 2
    assert kit.stats["connect_failures"] >= 1


async def test_a_garbage_later_frame_is_dropped_and_counted() -> None:
    peer = Peer([[HEALTH, DEEP, "{", json.dumps({"no": "type"}), EVENT]])
    async for _ in _serve(peer):
        event, kit = await asyncio.wait_for(_first_event(peer), 30)
    assert event.name == "order_ready"
    assert kit.stats["dropped_frames"] == 3
    assert peer.connections == 1


def test_first_frame_decoding_gives_only_typed_errors() -> None:
    assert connection_id(HEALTH) == "conn-2"
    assert connection_id(HEALTH.encode()) == "conn-2"
    for garbage in (DEEP, DEEP.encode(), b"\xff\xfe", "null", "[]", '{"connection_id": 5}'):
        with pytest.raises(ProtocolError):
            connection_id(garbage)
    refused = json.dumps({"error": {"code": 43, "message": "signature invalid", "StatusCode": 401}})
    with pytest.raises(AuthenticationError) as caught:
        connection_id(refused)
    assert not caught.value.retryable
    with pytest.raises(RateLimitedError):
        connection_id(json.dumps({"error": {"code": 9, "message": "slow", "StatusCode": 429}}))
    # A StatusCode that is no HTTP status (true, 10**30, 1) is read as 401: refused credentials.
    for odd in (True, 10**30, 1, "401"):
        with pytest.raises(AuthenticationError):
            connection_id(json.dumps({"error": {"StatusCode": odd}}))
    with pytest.raises(ProtocolError):
        decode_frame(DEEP, source="stream:ws:me")
    assert decode_frame(HEALTH, source="stream:ws:me") is None
