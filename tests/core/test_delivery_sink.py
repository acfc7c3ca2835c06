"""The store sink: a full store holds the listener back (backpressure) instead of buffering or dropping."""

from __future__ import annotations

import asyncio

import eventkit
from eventkit import Event
from eventkit._delivery import StoreSink
from eventkit._stats import Counters
from eventkit._store import open_store


async def test_a_full_store_holds_the_listener_back_until_consumers_catch_up() -> None:
    store = open_store("memory://?max_events=2")
    await store.open()
    stats = Counters()
    sink = StoreSink(store, "demo", stats, retry_initial=0.01, retry_max=0.02)
    await sink.accept([Event("E", {"n": 0})])
    await sink.accept([Event("E", {"n": 1})])
    blocked = asyncio.ensure_future(sink.accept([Event("E", {"n": 2})]))
    await asyncio.sleep(0.1)
    assert not blocked.done() and stats["store_full"] >= 1  # the listener waits: it reads no further
    (first,) = await store.read("demo:default", "c", count=1, timeout=0)
    await store.ack("demo:default", [first.id])
    assert await eventkit.wait_within(blocked, 5) == [True]
    got = await store.read("demo:default", "c", count=5, timeout=0)
    assert len(got) == 2 and stats["received"] == 3
    await store.aclose()


async def test_one_delivery_with_several_events_is_one_atomic_append_with_derived_keys() -> None:
    store = open_store("memory://")
    await store.open()
    sink = StoreSink(store, "demo", Counters())
    events = [Event("E", {"n": n}) for n in range(3)]
    assert await sink.accept(events, dedupe_key="d1") == [True, True, True]
    assert await sink.accept(events, dedupe_key="d1") == [False, False, False]
    await store.aclose()


async def test_two_lambda_handlers_each_see_every_event() -> None:
    import json

    from core_demo_provider import DemoProvider, sign

    provider = DemoProvider(DemoProvider.Settings(token=eventkit.Secret("hook-secret-value")))
    receiver = eventkit.WebhookReceiver([provider])
    first: list[str] = []
    second: list[str] = []
    receiver.on(lambda e: first.append(e.name))
    receiver.on(lambda e: second.append(e.name))
    for n in range(3):
        body = json.dumps({"name": f"e{n}"}).encode()
        await receiver.handle("demo", {"x-signature": sign("hook-secret-value", body), "x-id": str(n)}, body)
    assert first == second == ["e0", "e1", "e2"]
    await receiver.aclose()
