"""What only the memory store promises: acknowledged events leave nothing behind."""

from __future__ import annotations

from eventkit._store import Inbound, Outgoing
from eventkit._store._memory import MemoryStore


async def test_acknowledged_events_leave_no_state_behind() -> None:
    async with MemoryStore.from_url("memory://") as store:
        assert isinstance(store, MemoryStore)
        for group in ("a", "b"):
            assert await store.read(group, "c", timeout=0) == []
        await store.append([Inbound("acme", b"x" * 100, f"k{n}") for n in range(1000)])
        for group in ("a", "b"):
            while batch := await store.read(group, "c", count=64, timeout=0):
                await store.ack(group, [d.id for d in batch])
        assert store._events == {}
        assert store._bytes == 0
        for group in store._groups.values():
            assert (group.entries, dict(group.pending), group.by_consumer, group.dead) == ({}, {}, {}, {})
        ids = await store.enqueue([Outgoing("acme", f"t{n % 3}", b"y") for n in range(30)])
        await store.complete(ids)
        assert store._out == {} and store._out_keys == {}
        stats = await store.stats()
        assert (stats.events, stats.bytes, stats.outbox, stats.dead) == (0, 0, 0, 0)
