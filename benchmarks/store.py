"""Store micro-benchmark: append + read + ack throughput of memory:// and sqlite:// (FULL and NORMAL).

    .venv/bin/python benchmarks/store.py              # 7 interleaved rounds
    .venv/bin/python benchmarks/store.py --quick      # 1 short round: proves the script works
    .venv/bin/python benchmarks/store.py --rounds 5 --events 5000

Two shapes, each a full cycle per event (append it, read it as a group, ack it):

* ``batch 1``: one event at a time, each call awaited before the next: the latency
  path (a SQLite call is a transaction of its own, so FULL pays an fsync per call);
* ``concurrent 100``: 100 producer tasks append one event per call while one
  consumer reads up to 100 at a time and acks them: the webhook-ingest shape, where
  group commit turns many concurrent calls into one transaction.

Rounds are interleaved (memory, sqlite full, sqlite normal, memory, ...) so drift of
the shared machine hits every backend alike. Figures are events/s: min, median, max,
and the ratio of medians to memory:// in the same run. Payloads are 300 bytes, every
record carries a dedupe key (as a webhook's does).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from eventkit._store import Inbound, Store, open_store  # noqa: E402

PAYLOAD = b"x" * 300


def _urls(tmp: Path) -> dict[str, str]:
    return {
        "memory": "memory://?max_events=10000000&max_bytes=4GiB",
        "sqlite FULL": f"sqlite:///{tmp}/full.db?synchronous=full",
        "sqlite NORMAL": f"sqlite:///{tmp}/normal.db?synchronous=normal",
    }


async def _sequential(store: Store, n: int, tag: str) -> float:
    start = time.perf_counter()
    for i in range(n):
        await store.append([Inbound("bench", PAYLOAD, f"{tag}-{i}")])
        got = await store.read("g", "c", count=1, timeout=0)
        await store.ack("g", [d.id for d in got])
    return n / (time.perf_counter() - start)


async def _concurrent(store: Store, n: int, tag: str, width: int = 100) -> float:
    per = n // width

    async def producer(w: int) -> None:
        for i in range(per):
            await store.append([Inbound("bench", PAYLOAD, f"{tag}-{w}-{i}")])

    async def consumer() -> None:
        seen = 0
        while seen < per * width:
            got = await store.read("g", "c", count=100, timeout=5)
            if not got:
                raise RuntimeError("the consumer timed out")
            await store.ack("g", [d.id for d in got])
            seen += len(got)

    start = time.perf_counter()
    await asyncio.gather(consumer(), *(producer(w) for w in range(width)))
    return per * width / (time.perf_counter() - start)


SHAPES: dict[str, Callable[[Store, int, str], Awaitable[float]]] = {
    "batch 1": _sequential,
    "concurrent 100": _concurrent,
}


async def main(rounds: int, events: int, sequential_events: int) -> None:
    with tempfile.TemporaryDirectory(prefix="eventkit-store-bench-") as tmp:
        urls = _urls(Path(tmp))
        stores = {name: open_store(url) for name, url in urls.items()}
        for store in stores.values():
            await store.open()
        rates: dict[tuple[str, str], list[float]] = {}
        try:
            for r in range(rounds):
                for shape, run in SHAPES.items():
                    n = sequential_events if shape == "batch 1" else events
                    for name, store in stores.items():
                        gc.collect()
                        rate = await run(store, n, f"{r}-{shape}")
                        rates.setdefault((shape, name), []).append(rate)
        finally:
            for store in stores.values():
                await store.aclose()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, {rounds} rounds, events/s (append+read+ack)")
    print(f"{'shape':<16}{'store':<15}{'min':>10}{'median':>10}{'max':>10}{'vs memory':>11}")
    for shape in SHAPES:
        reference = statistics.median(rates[(shape, "memory")])
        for name in urls:
            values = rates[(shape, name)]
            median = statistics.median(values)
            print(
                f"{shape:<16}{name:<15}{min(values):>10.0f}{median:>10.0f}{max(values):>10.0f}{median / reference:>10.2f}x"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--events", type=int, default=10_000, help="events per round, concurrent shape")
    parser.add_argument("--sequential-events", type=int, default=1_000, help="events per round, batch-1 shape")
    parser.add_argument("--quick", action="store_true", help="1 short round (figures judge nothing)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.events, args.sequential_events = 1, 1_000, 100
    asyncio.run(main(args.rounds, args.events, args.sequential_events))
