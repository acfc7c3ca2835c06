"""RELAY events ACKed during the handshake are held even when the connect then answers an error (issue 12)."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import eventkit
import eventkit.provider

PROJECT = "4d1e1a4a-7b2a-4c9d-8d0b-2f6c1e9a0b11"


def user_event_frame(n: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": str(uuid.uuid4()),
        "method": "signalwire.event",
        "params": {
            "event_type": "calling.user_event",
            "event_channel": f"signalwire_{PROJECT}",
            "timestamp": 1.0,
            "project_id": PROJECT,
            "node_id": "node",
            "params": {"call_id": "c", "node_id": "node", "event": {"type": "Handshake", "n": n}},
        },
    }


async def test_events_acked_before_a_refused_connect_are_delivered() -> None:
    from websockets.asyncio.server import ServerConnection, serve

    acked: list[str] = []
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        first = connections == 1
        connect = json.loads(await ws.recv())
        assert connect["method"] == "signalwire.connect"
        frames = [user_event_frame(n) for n in range(4)] if first else []
        for frame in frames:
            await ws.send(json.dumps(frame))
            answer = json.loads(await ws.recv())
            assert answer["id"] == frame["id"] and "result" in answer
            acked.append(frame["id"])
        if first:
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": connect["id"], "error": {"code": -32000, "message": "busy"}})
            )
        else:
            await ws.send(
                json.dumps({"jsonrpc": "2.0", "id": connect["id"], "result": {"protocol": "p", "identity": "i"}})
            )
        await ws.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        kit = eventkit.connect_async(
            "signalwire",
            project_id=PROJECT,
            api_token="token",
            space="example.signalwire.com",
            relay_url=f"ws://127.0.0.1:{port}",
            environ={},
            backoff_initial=0.01,
            backoff_max=0.02,
            timeout=5.0,
        )
        got: list[Any] = []

        async def collect() -> None:
            listener = kit.listen(via="websocket")
            async for event in listener:
                got.append(event.data.get("n"))
                if len(got) == 4:
                    break
            while connections < 2:  # the refused connect was retried
                await asyncio.sleep(0.01)
            await listener.aclose()  # type: ignore[attr-defined]

        async with kit:
            await eventkit.provider.wait_within(collect(), 10)
        assert len(acked) == 4
        assert sorted(got) == [0, 1, 2, 3]
        assert kit.stats["received"] == 4
        assert kit.stats["connect_failures"] >= 1
