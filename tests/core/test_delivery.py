"""Durable delivery in the receiver and in listen(): persist then answer, consumer groups, redelivery."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from core_demo_provider import DemoProvider, sign

import eventkit
import eventkit.provider
from eventkit import Event, WebhookReceiver
from eventkit._store import open_store

TOKEN = "hook-secret-value"


@pytest.fixture
def provider() -> DemoProvider:
    return DemoProvider(DemoProvider.Settings(token=eventkit.Secret(TOKEN)))


def call(name: str, delivery: str) -> tuple[dict[str, str], bytes]:
    body = json.dumps({"name": name, "data": {"d": delivery}}).encode()
    return {"x-signature": sign(TOKEN, body), "x-id": delivery}, body


async def test_a_full_store_answers_503_with_retry_after_and_loses_nothing_stored(provider: DemoProvider) -> None:
    receiver = WebhookReceiver([provider], store="memory://?max_events=3", retry_after=7)
    transport = httpx.ASGITransport(app=receiver)
    statuses = []
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for n in range(5):
            headers, body = call("e", f"d{n}")
            r = await client.post("/webhooks/demo", content=body, headers=headers)
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert r.headers["retry-after"] == "7"
    assert statuses == [200, 200, 200, 503, 503]
    assert receiver.stats["store_full"] == 2
    sub = receiver.events()
    got = [(await sub.__anext__()).data["d"] for _ in range(3)]
    assert got == ["d0", "d1", "d2"]
    sub.close()
    await receiver.aclose()


async def test_a_failing_handler_is_retried_then_dead_lettered(provider: DemoProvider) -> None:
    store = open_store("memory://")
    await store.open()
    receiver = WebhookReceiver([provider], store=store, retry_initial=0.01, retry_max=0.02, max_attempts=3)
    receiver.poll = 0.01
    calls: list[int] = []

    def flaky(event: Event) -> None:
        calls.append(event.delivery.attempts if event.delivery else 0)
        raise RuntimeError("database down")

    receiver.on(flaky)
    headers, body = call("e", "only")
    assert (await receiver.handle("demo", headers, body))[0] == 200
    for _ in range(500):
        if await store.dead_letters():
            break
        await eventkit.provider.wait_within(_sleep(0.01), 1)
    (dead,) = await store.dead_letters()
    assert calls == [1, 2, 3]
    assert dead.group is not None and dead.group.startswith("handler:") and "RuntimeError" in (dead.error or "")
    await receiver.aclose()
    await store.aclose()


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def test_dedupe_survives_a_restart_on_sqlite(provider: DemoProvider, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    headers, body = call("e", "captured")
    first = WebhookReceiver([provider], store=url)
    assert await first.handle("demo", headers, body) == (200, {"received": 1})
    await first.aclose()
    second = WebhookReceiver([provider], store=url)
    assert await second.handle("demo", headers, body) == (200, {"duplicate": True})
    await second.aclose()


async def test_listen_redelivers_the_event_a_consumer_did_not_finish(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    async with eventkit.connect_async("memory", namespace="redeliver", store=url, environ={}) as kit:
        ready = eventkit.provider.wait_within
        subscribed = asyncio.Event()
        listener = kit.listen(group="g", consumer="c1", on_ready=lambda _: subscribed.set())
        first = asyncio.ensure_future(listener.__anext__())
        await ready(subscribed.wait(), 5)
        for n in range(3):
            await kit.send("E", {"n": n}, to="topic:t")
        got = [await ready(first, 5), await ready(listener.__anext__(), 5)]
        assert [e.data["n"] for e in got] == [0, 1] and not got[1].delivery.redelivered  # type: ignore[union-attr]
        await listener.aclose()  # type: ignore[attr-defined]  # stops holding n=1, not acknowledged
        again = kit.listen(group="g", consumer="c1")
        redelivered = await ready(again.__anext__(), 5)
        assert redelivered.data["n"] == 1 and redelivered.delivery is not None and redelivered.delivery.redelivered
        assert (await ready(again.__anext__(), 5)).data["n"] == 2
        await again.aclose()  # type: ignore[attr-defined]


async def test_outbox_queues_then_delivers_in_order_and_flags_an_expired_lease(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    got: list[Event] = []
    subscribed = asyncio.Event()
    async with eventkit.connect_async("memory", namespace="outbox", environ={}) as listener_kit:

        async def collect() -> None:
            async for event in listener_kit.listen(on_ready=lambda _: subscribed.set()):
                got.append(event)

        collector = asyncio.ensure_future(collect())
        await eventkit.provider.wait_within(subscribed.wait(), 5)
        # A predecessor leased an item and died mid-send: its lease runs out.
        store = open_store(url)
        await store.open()
        from eventkit._store import Outgoing
        from eventkit._store.codec import encode_event

        crashed = Event("Crashed", {"n": -1}, target="topic:t")
        await store.enqueue([Outgoing("memory", "topic:t", encode_event(crashed))])
        assert len(await store.lease("memory", "dead-process", count=1, lease=0.05)) == 1
        await store.aclose()
        await asyncio.sleep(0.1)
        async with eventkit.connect_async("memory", namespace="outbox", store=url, outbox=True, environ={}) as kit:
            results = [await kit.send("E", {"n": n}, to="topic:t") for n in range(5)]
            assert all(r.queued and r.ok for r in results)
            assert await kit.drain(10) == 0
            flagged = [r for r in kit.outbox_results if r.possible_duplicate]
            assert [r.event.id for r in flagged] == [crashed.id]
        while len(got) < 6:
            await eventkit.provider.wait_within(asyncio.sleep(0.01), 1)
        collector.cancel()
    assert [e.data["n"] for e in got] == [-1, 0, 1, 2, 3, 4]
    assert got[0].id == crashed.id


def test_outbox_needs_a_durable_store() -> None:
    with pytest.raises(eventkit.SettingsError):
        eventkit.connect("memory", outbox=True, environ={})
