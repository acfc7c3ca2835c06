"""The webhook receiver under a real uvicorn server on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from core_demo_provider import DemoProvider, sign

import eventkit
from eventkit import Event, WebhookReceiver
from eventkit.provider import WebhookDelivery
from eventkit.testing import AsgiServer

TOKEN = "hook-secret-value"


@pytest.fixture
def provider() -> DemoProvider:
    return DemoProvider(DemoProvider.Settings(token=eventkit.Secret(TOKEN)))


@pytest.fixture
def served(provider: DemoProvider) -> Iterator[tuple[WebhookReceiver, str, list[Event]]]:
    receiver = WebhookReceiver([provider], max_body_bytes=1024)
    got: list[Event] = []
    receiver.on(got.append)
    with AsgiServer(receiver) as server:
        yield receiver, f"{server.url}/webhooks/demo", got


def post(url: str, payload: dict, token: str = TOKEN, **headers: str) -> httpx.Response:
    body = json.dumps(payload).encode()
    return httpx.post(url, content=body, headers={"x-signature": sign(token, body), **headers})


def test_verified_calls_are_delivered_and_repeats_dropped(served: tuple[WebhookReceiver, str, list[Event]]) -> None:
    receiver, url, got = served
    assert post(url, {"name": "a", "data": {"x": 1}}, **{"x-id": "d1"}).json() == {"received": 1}
    assert post(url, {"name": "a", "data": {"x": 1}}, **{"x-id": "d1"}).json() == {"duplicate": True}
    assert post(url, {"name": "b"}, **{"x-id": "d2"}).status_code == 200
    assert [e.name for e in got] == ["a", "b"] and got[0].data == {"x": 1}
    assert receiver.stats["duplicates"] == 1


def test_forged_calls_get_401_and_nothing_is_delivered(served: tuple[WebhookReceiver, str, list[Event]]) -> None:
    receiver, url, got = served
    assert post(url, {"name": "a"}, token="wrong").status_code == 401
    body = json.dumps({"name": "a"}).encode()
    assert httpx.post(url, content=body).status_code == 401
    assert got == [] and receiver.stats["rejected_signature"] == 2


def test_forged_call_does_not_poison_dedupe(served: tuple[WebhookReceiver, str, list[Event]]) -> None:
    _, url, got = served
    assert post(url, {"name": "a"}, token="wrong", **{"x-id": "same"}).status_code == 401
    assert post(url, {"name": "a"}, **{"x-id": "same"}).json() == {"received": 1}
    assert len(got) == 1


def test_malformed_and_oversize_bodies(served: tuple[WebhookReceiver, str, list[Event]]) -> None:
    receiver, url, got = served
    body = b"{not json"
    assert httpx.post(url, content=body, headers={"x-signature": sign(TOKEN, body)}).status_code == 400
    big = b"x" * 2048
    assert httpx.post(url, content=big).status_code == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"y" * 256

    assert httpx.post(url, content=chunks()).status_code == 413
    assert got == [] and receiver.stats["rejected_size"] == 2


def test_routing(served: tuple[WebhookReceiver, str, list[Event]]) -> None:
    _, url, _ = served
    assert httpx.get(url).status_code == 405
    assert httpx.post(url.replace("/demo", "/other"), content=b"{}").status_code == 404
    assert httpx.post(url.rsplit("/webhooks", 1)[0] + "/elsewhere", content=b"{}").status_code == 404


def test_a_crashing_codec_or_handler_does_not_stop_the_receiver(provider: DemoProvider) -> None:
    class Broken:
        def parse_webhook(self, headers: object, body: bytes) -> WebhookDelivery:
            raise RuntimeError("bug")

    receiver = WebhookReceiver({"broken": Broken(), "demo": provider.webhook_codec()})
    calls: list[str] = []

    def bad_handler(event: Event) -> None:
        calls.append(event.name)
        raise ValueError("handler bug")

    receiver.on(bad_handler)
    with AsgiServer(receiver) as server:
        assert httpx.post(f"{server.url}/webhooks/broken", content=b"{}").status_code == 500
        assert post(f"{server.url}/webhooks/demo", {"name": "after"}).status_code == 200
        assert post(f"{server.url}/webhooks/demo", {"name": "again"}).status_code == 200
    assert calls == ["after", "again"] and receiver.stats["handler_errors"] == 2 and receiver.stats["errors"] == 1


async def test_async_handlers_and_subscriptions(provider: DemoProvider) -> None:
    receiver = WebhookReceiver([provider], queue_size=2)
    seen: list[str] = []

    async def handler(event: Event) -> None:
        seen.append(event.name)

    receiver.on(handler)
    sub = receiver.events()
    body = json.dumps({"name": "x"}).encode()
    for i in range(3):
        status, _ = await receiver.handle("demo", {"x-signature": sign(TOKEN, body), "x-id": str(i)}, body)
        assert status == 200
    assert seen == ["x", "x", "x"]
    assert (await sub.__anext__()).name == "x" and receiver.stats["dropped"] == 1
    sub.close()


def test_listen_via_webhook_through_the_facade() -> None:
    got: list[Event] = []
    ready = threading.Event()
    urls: list[str] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    def consume() -> None:
        async def run() -> None:
            async with eventkit.connect_async(DemoProvider, token=TOKEN, environ={}) as kit:
                async for event in kit.listen(names={"wanted"}, port=0, on_ready=on_ready):
                    got.append(event)
                    return

        asyncio.run(run())

    thread = threading.Thread(target=consume)
    thread.start()
    assert ready.wait(10)
    assert post(urls[0], {"name": "unwanted"}).status_code == 200
    assert post(urls[0], {"name": "wanted", "data": {"k": "v"}}).status_code == 200
    thread.join(10)
    assert [e.name for e in got] == ["wanted"] and got[0].data == {"k": "v"}


def test_listen_modes_are_checked() -> None:
    with eventkit.connect(DemoProvider, token=TOKEN, environ={}) as kit:
        with pytest.raises(eventkit.CapabilityError, match="webhook"):
            kit.listen(via="websocket")
        with pytest.raises(eventkit.CapabilityError, match="unknown listen mode"):
            kit.listen(via="pigeon")
