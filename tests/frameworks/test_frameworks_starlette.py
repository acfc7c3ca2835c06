"""examples/starlette_app.py under a real uvicorn server on loopback, lifespan on (the consumer task)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from frameworks_support import ENVIRON, order_ids, stream_webhook

import eventkit
from eventkit._portal import BackgroundLoop
from eventkit.testing import free_port

uvicorn = pytest.importorskip("uvicorn", reason="the example runs under uvicorn (extra `server`)")
starlette_app = pytest.importorskip("starlette_app", reason="examples/starlette_app.py needs starlette")


class Served:
    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.loop = BackgroundLoop("uvicorn-example", timeout=30, close_timeout=10)
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, lifespan="on", log_level="warning")
        )
        self.task: asyncio.Future[Any] | None = None

    def start(self) -> None:
        async def start() -> None:
            self.task = asyncio.ensure_future(self.server.serve())
            while not self.server.started:
                if self.task.done():
                    self.task.result()
                await asyncio.sleep(0.01)

        self.loop.run(start())

    def stop(self) -> None:
        async def stop() -> None:
            self.server.should_exit = True
            if self.task is not None:
                await self.task

        try:
            self.loop.run(stop())
        finally:
            self.loop.close()


@pytest.fixture
def served() -> Iterator[tuple[Served, list[eventkit.Event], threading.Event]]:
    receiver = starlette_app.make_receiver(ENVIRON)
    got: list[eventkit.Event] = []
    arrived = threading.Event()

    def on_event(event: eventkit.Event) -> None:
        got.append(event)
        arrived.set()

    served = Served(starlette_app.create_app(receiver, on_event))
    served.start()
    try:
        yield served, got, arrived
    finally:
        served.stop()


def test_mounted_receiver_delivers_a_signed_webhook_and_refuses_a_forged_one(
    served: tuple[Served, list[eventkit.Event], threading.Event],
) -> None:
    server, got, arrived = served
    headers, body = stream_webhook("st-1")
    answer = httpx.post(f"{server.url}/hooks/webhooks/stream", content=body, headers=headers)
    assert answer.status_code == 200 and answer.json() == {"received": 1}
    assert arrived.wait(10)
    assert order_ids(got) == ["st-1"] and got[0].sender == "till-1"

    forged, forged_body = stream_webhook("st-2", secret="forged-secret")
    assert httpx.post(f"{server.url}/hooks/webhooks/stream", content=forged_body, headers=forged).status_code == 401
    assert httpx.get(f"{server.url}/hooks/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{server.url}/hooks/readyz").status_code == 200
    assert httpx.post(f"{server.url}/webhooks/stream", content=body, headers=headers).status_code == 404
    assert order_ids(got) == ["st-1"]


def test_the_async_route_uses_handle(served: tuple[Served, list[eventkit.Event], threading.Event]) -> None:
    server, got, arrived = served
    headers, body = stream_webhook("st-3")
    answer = httpx.post(f"{server.url}/api/stream-webhook", content=body, headers=headers)
    assert answer.json() == {"received": 1}
    assert arrived.wait(10) and order_ids(got) == ["st-3"]
    forged, forged_body = stream_webhook("st-4", secret="forged-secret")
    assert httpx.post(f"{server.url}/api/stream-webhook", content=forged_body, headers=forged).status_code == 401
