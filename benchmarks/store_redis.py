"""The Redis store's append, read and ack throughput, each as a ratio to raw redis-py in the same run.

    .venv/bin/python benchmarks/store_redis.py                 # 7 interleaved rounds
    .venv/bin/python benchmarks/store_redis.py --quick         # 1 short round: proves the script works
    .venv/bin/python benchmarks/store_redis.py --url redis://127.0.0.1:6379/15 --rounds 9

Cases, in events per second:

* ``append x1``: ``store.append([one record])`` with a dedupe key, one call after the other
  (pipeline depth 1: one round trip per event). Reference: one raw ``XADD`` per event.
* ``append x100``: batches of 100 records in one ``append`` (one script call per batch).
  Reference: 100 raw ``XADD`` in one pipeline.
* ``append x1, 16 tasks``: sixteen tasks appending one record each (what one receiver
  under load does). Reference: sixteen tasks doing raw ``XADD``.
* ``read+ack x1``: ``read(count=1)`` then ``ack`` per event. Reference: raw
  ``XREADGROUP COUNT 1`` then ``XACK``.
* ``read+ack x100``: ``read(count=100)`` then one ``ack`` of the 100. Reference: raw
  ``XREADGROUP COUNT 100`` then ``XACK`` of the 100.

Every round runs every case once, in turn (interleaved), on fresh keys, so a slow moment
of the machine hits subject and reference alike. Printed: median, min and max per case
and the ratio of medians. Nothing is asserted: the figures go to ``docs/replicas.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eventkit._store import Inbound  # noqa: E402
from eventkit._store._redis import RedisStore  # noqa: E402

PAYLOAD = b'{"type":"friendship_request","data":{"text":"Hey there, long time no see!"},"sender":"bench-bot"}' * 2


async def _clean(client: Any, pattern: str) -> None:
    keys = [k async for k in client.scan_iter(match=pattern, count=1000)]
    for i in range(0, len(keys), 500):
        await client.delete(*keys[i : i + 500])


class Bench:
    def __init__(self, url: str, events: int) -> None:
        import redis.asyncio as aioredis

        self.url = url
        self.events = events
        self.raw = aioredis.from_url(url)

    async def store(self) -> RedisStore:
        store = RedisStore.from_url(
            f"{self.url}?prefix=bench:{uuid.uuid4().hex[:8]}:&max_events=100000000&max_bytes=8GiB"
        )
        await store.open()
        return store

    async def done(self, store: RedisStore) -> None:
        await _clean(self.raw, "{" + store.prefix + "}*")
        await store.aclose()

    # subjects

    async def append_one(self) -> float:
        store = await self.store()
        n = self.events
        start = time.perf_counter()
        for i in range(n):
            await store.append([Inbound("stream", PAYLOAD, f"d{i}")])
        rate = n / (time.perf_counter() - start)
        await self.done(store)
        return rate

    async def append_batch(self) -> float:
        store = await self.store()
        n = self.events * 10
        start = time.perf_counter()
        for b in range(0, n, 100):
            await store.append([Inbound("stream", PAYLOAD, f"d{i}") for i in range(b, b + 100)])
        rate = n / (time.perf_counter() - start)
        await self.done(store)
        return rate

    async def append_tasks(self) -> float:
        store = await self.store()
        n, width = self.events * 2, 16

        async def task(w: int) -> None:
            for i in range(w, n, width):
                await store.append([Inbound("stream", PAYLOAD, f"d{i}")])

        start = time.perf_counter()
        await asyncio.gather(*(task(w) for w in range(width)))
        rate = n / (time.perf_counter() - start)
        await self.done(store)
        return rate

    async def _filled(self, n: int) -> RedisStore:
        store = await self.store()
        await store.read("g", "c", timeout=0)
        for b in range(0, n, 500):
            await store.append([Inbound("stream", PAYLOAD) for _ in range(min(500, n - b))])
        return store

    async def read_ack(self, count: int) -> float:
        n = self.events * (10 if count > 1 else 1)
        store = await self._filled(n)
        got = 0
        start = time.perf_counter()
        while got < n:
            batch = await store.read("g", "c", count=count, timeout=0, claim_idle=3600)
            await store.ack("g", [d.id for d in batch])
            got += len(batch)
        rate = n / (time.perf_counter() - start)
        await self.done(store)
        return rate

    # references: raw redis-py on the same server

    async def raw_xadd_one(self) -> float:
        key = f"bench-raw:{uuid.uuid4().hex}"
        n = self.events
        start = time.perf_counter()
        for _ in range(n):
            await self.raw.xadd(key, {"p": "stream", "d": PAYLOAD, "t": repr(time.time())})
        rate = n / (time.perf_counter() - start)
        await self.raw.delete(key)
        return rate

    async def raw_xadd_batch(self) -> float:
        key = f"bench-raw:{uuid.uuid4().hex}"
        n = self.events * 10
        start = time.perf_counter()
        for _ in range(0, n, 100):
            pipe = self.raw.pipeline(transaction=False)
            for _ in range(100):
                pipe.xadd(key, {"p": "stream", "d": PAYLOAD, "t": repr(time.time())})
            await pipe.execute()
        rate = n / (time.perf_counter() - start)
        await self.raw.delete(key)
        return rate

    async def raw_xadd_tasks(self) -> float:
        key = f"bench-raw:{uuid.uuid4().hex}"
        n, width = self.events * 2, 16

        async def task(w: int) -> None:
            for _ in range(w, n, width):
                await self.raw.xadd(key, {"p": "stream", "d": PAYLOAD, "t": repr(time.time())})

        start = time.perf_counter()
        await asyncio.gather(*(task(w) for w in range(width)))
        rate = n / (time.perf_counter() - start)
        await self.raw.delete(key)
        return rate

    async def raw_read_ack(self, count: int) -> float:
        key = f"bench-raw:{uuid.uuid4().hex}"
        n = self.events * (10 if count > 1 else 1)
        await self.raw.xgroup_create(key, "g", id="0", mkstream=True)
        for b in range(0, n, 500):
            pipe = self.raw.pipeline(transaction=False)
            for _ in range(min(500, n - b)):
                pipe.xadd(key, {"p": "stream", "d": PAYLOAD, "t": repr(time.time())})
            await pipe.execute()
        got = 0
        start = time.perf_counter()
        while got < n:
            reply = await self.raw.xreadgroup("g", "c", {key: ">"}, count=count)
            ids = [entry_id for _s, entries in reply for entry_id, _f in entries]
            await self.raw.xack(key, "g", *ids)
            got += len(ids)
        rate = n / (time.perf_counter() - start)
        await self.raw.delete(key)
        return rate


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--events", type=int, default=2000, help="events per depth-1 case (x10 for batches)")
    parser.add_argument("--quick", action="store_true", help="one short round: proves the script works")
    args = parser.parse_args()
    rounds, events = (1, 200) if args.quick else (args.rounds, args.events)
    bench = Bench(args.url, events)
    try:
        await bench.raw.ping()
    except Exception as exc:
        raise SystemExit(f"no Redis at {args.url}: {exc}") from None
    cases: list[tuple[str, Callable[[], Awaitable[float]], Callable[[], Awaitable[float]]]] = [
        ("append x1", bench.append_one, bench.raw_xadd_one),
        ("append x100", bench.append_batch, bench.raw_xadd_batch),
        ("append x1, 16 tasks", bench.append_tasks, bench.raw_xadd_tasks),
        ("read+ack x1", lambda: bench.read_ack(1), lambda: bench.raw_read_ack(1)),
        ("read+ack x100", lambda: bench.read_ack(100), lambda: bench.raw_read_ack(100)),
    ]
    figures: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name, _s, _r in cases}
    for _ in range(rounds):
        for name, subject, reference in cases:
            gc.collect()
            figures[name][0].append(await subject())
            gc.collect()
            figures[name][1].append(await reference())
    await bench.raw.aclose()
    print(f"Redis store vs raw redis-py, {rounds} interleaved round(s), events/s (median [min..max])")
    print(f"{'case':24} {'eventkit RedisStore':>30} {'raw redis-py':>30} {'ratio':>7}")
    for name, (ours, raw) in figures.items():
        m, r = statistics.median(ours), statistics.median(raw)
        print(
            f"{name:24} {m:>12,.0f} [{min(ours):>7,.0f}..{max(ours):>7,.0f}] "
            f"{r:>12,.0f} [{min(raw):>7,.0f}..{max(raw):>7,.0f}] {m / r:>7.2f}"
        )
    if args.quick:
        print("quick mode: one short round, the figures judge nothing")


if __name__ == "__main__":
    asyncio.run(main())
