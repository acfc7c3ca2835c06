"""Several replicas on one Redis store: concurrent dedupe, killed consumers and drainers, a Redis restart.

The processes here are real (``redis_support.py`` run as a script) and are killed with
SIGKILL, so nothing of theirs gets to clean up: what survives is what the store kept.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from redis_support import (  # noqa: F401 (fixtures)
    REDIS_SERVER,
    RedisServer,
    delete_prefix,
    make_store_fixture,
    new_prefix,
    redis_url_fixture,
    store_url,
    worker,
)

from eventkit._store import Inbound, Outgoing, StoreUnavailableError
from eventkit._store._redis import RedisStore


def follow(proc: Any) -> queue.Queue[dict[str, Any]]:
    """The worker's JSON lines, as they come, on a queue (read by a thread so the test never blocks on a pipe)."""
    lines: queue.Queue[dict[str, Any]] = queue.Queue()

    def pump() -> None:
        for line in proc.stdout:
            if line.strip():
                lines.put(json.loads(line))

    threading.Thread(target=pump, daemon=True).start()
    return lines


async def test_two_replicas_appending_the_same_retries_store_one_copy(make_store) -> None:
    one = await make_store()
    two = await make_store(prefix=one.prefix)
    keys = [f"delivery-{i}" for i in range(200)]

    async def receive(store: RedisStore, offset: int) -> list[bool]:
        flags = []
        # the two replicas walk the keys from different ends so they collide in the middle
        order = keys if offset == 0 else list(reversed(keys))
        for key in order:
            flags += await store.append([Inbound("stream", key.encode(), key)])
        return flags

    flags_one, flags_two = await asyncio.gather(receive(one, 0), receive(two, 1))
    assert sum(flags_one) + sum(flags_two) == len(keys)
    got = await one.read("g", "c", count=1000, timeout=0)
    assert sorted(d.payload.decode() for d in got) == sorted(keys)


async def test_two_drainers_never_hold_the_same_item(make_store) -> None:
    one = await make_store()
    two = await make_store(prefix=one.prefix)
    ids = await one.enqueue([Outgoing("vonage", f"t{i % 7}", str(i).encode()) for i in range(140)])
    sent: dict[str, list[str]] = defaultdict(list)

    async def drain(store: RedisStore, owner: str) -> None:
        while True:
            items = await store.lease("vonage", owner, count=3, lease=30)
            if not items:
                if (await store.stats()).outbox == 0:
                    return
                await asyncio.sleep(0.01)
                continue
            for item in items:
                sent[item.id].append(owner)
            await asyncio.sleep(0)
            await store.complete([item.id for item in items])

    await asyncio.gather(drain(one, "a"), drain(two, "b"))
    assert sorted(sent) == sorted(ids)
    assert all(len(owners) == 1 for owners in sent.values())


def _wait_for(lines: queue.Queue[dict[str, Any]], key: str, deadline: float) -> list[dict[str, Any]]:
    """The lines up to and including the first with ``key``."""
    taken: list[dict[str, Any]] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {key!r} line from the worker in time")
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            continue
        taken.append(line)
        if key in line:
            return taken


async def test_a_killed_consumer_process_loses_nothing(make_store, redis_url: str) -> None:
    writer = await make_store()
    url = store_url(redis_url, writer.prefix)
    total = 60
    await writer.append([Inbound("stream", str(i).encode(), f"k{i}") for i in range(total)])
    deadline = time.monotonic() + 120
    with worker("consume", url, "g", "doomed", "2", "1.0") as doomed:
        doomed_lines = follow(doomed)
        before = _wait_for(doomed_lines, "held", deadline)
        held = before[-1]["held"]
        assert held, "the doomed consumer holds a batch when it is killed"
        doomed.kill()
        doomed.wait(10)
        acked_by_doomed = {i for line in before for i in line.get("acked", [])}
        assert acked_by_doomed, "the doomed consumer handled some batches first"
        with worker("consume", url, "g", "survivor", "0", "1.0") as survivor:
            lines = follow(survivor)
            acked: set[str] = set()
            seen: dict[str, int] = {}
            while len(acked | acked_by_doomed) < total:
                try:
                    line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
                except queue.Empty:
                    break
                for entry_id, _payload, attempts in line.get("batch", []):
                    seen[entry_id] = attempts
                acked.update(line.get("acked", []))
                if time.monotonic() > deadline:
                    break
            survivor.kill()
    assert len(acked | acked_by_doomed) == total, "every event was handled"
    for entry_id, _payload, _attempts in held:
        assert entry_id in acked, "the killed consumer's pending entries were claimed by the survivor"
        assert seen[entry_id] >= 2, "and flagged redelivered"
    # nothing is left pending in the group
    assert await writer.read("g", "checker", count=100, timeout=0, claim_idle=0) == []


async def test_a_killed_drainer_process_loses_nothing_and_flags_possible_duplicates(
    make_store, redis_url: str, tmp_path: Path
) -> None:
    store = await make_store()
    url = store_url(redis_url, store.prefix)
    ids = await store.enqueue([Outgoing("vonage", f"t{i % 5}", str(i).encode()) for i in range(40)])
    log = tmp_path / "sent.jsonl"
    deadline = time.monotonic() + 120
    with worker("drain", url, "vonage", "doomed", "2", "1.0", str(log)) as doomed:
        held = _wait_for(follow(doomed), "held", deadline)[-1]["held"]
        doomed.kill()
        doomed.wait(10)
    with worker("drain", url, "vonage", "survivor", "0", "1.0", str(log)) as survivor:
        while (await store.stats()).outbox and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        survivor.kill()
    assert (await store.stats()).outbox == 0, "every item was completed"
    sends: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        sends[entry["id"]].append(entry)
    assert sorted(sends, key=int) == sorted(ids, key=int), "every item was sent"
    for item_id, attempts in sends.items():
        for later in attempts[1:]:
            assert later["pd"], f"item {item_id} was sent again without possible_duplicate"
    for item_id in held:
        assert [a["owner"] for a in sends[item_id]] == ["doomed", "survivor"]
        assert sends[item_id][1]["pd"]
    # order per target: each target's items were first sent oldest first
    first_sends: dict[str, list[int]] = defaultdict(list)
    order = [json.loads(line) for line in log.read_text().splitlines()]
    done: set[str] = set()
    for entry in order:
        if entry["id"] not in done:
            done.add(entry["id"])
            first_sends[entry["key"]].append(int(entry["id"]))
    for key, sequence in first_sends.items():
        assert sequence == sorted(sequence), f"target {key} was sent out of order"


async def test_redis_restart_mid_run_is_unavailable_then_loses_nothing_acknowledged() -> None:
    if REDIS_SERVER is None:
        reason = "redis-server is not installed: this test restarts its own Redis"
        if os.environ.get("EVENTKIT_REQUIRE_REDIS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    server = RedisServer(aof=True).start()
    prefix = new_prefix()
    url = store_url(server.url, prefix, socket_timeout=2)
    try:
        store = RedisStore.from_url(url)
        await store.open()
        stored = await store.append([Inbound("stream", f"e{i}".encode(), f"k{i}") for i in range(20)])
        assert all(stored)
        handled = await store.read("g", "c", count=5, timeout=0)
        await store.ack("g", [d.id for d in handled])
        [queued] = await store.enqueue([Outgoing("vonage", "t", b"out")])

        server.kill()
        for _ in range(3):
            with pytest.raises(StoreUnavailableError):
                await store.append([Inbound("stream", b"while-away", "k-away")])
        with pytest.raises(StoreUnavailableError):
            await store.read("g", "c", count=5, timeout=0)

        server.start()  # same port, same directory: the AOF is replayed
        assert await store.append([Inbound("stream", b"after", "k-after")]) == [True]
        assert await store.append([Inbound("stream", b"e3 again", "k3")]) == [False], "dedupe keys survived"
        rest = await store.read("g", "c", count=100, timeout=0, claim_idle=0)
        # what was appended (and not acknowledged by the group) before the crash, and after
        assert sorted(d.payload.decode() for d in rest) == sorted([f"e{i}" for i in range(5, 20)] + ["after"])
        assert [i.id for i in await store.outbox()] == [queued]
        await store.aclose()
    finally:
        server.stop()
