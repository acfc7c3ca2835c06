"""The pipelined outbox drainer: order per target across a failure mid-run, stop(), and the held bound.

The first test sends to the Stream emulator over loopback; the others drive
:class:`~eventkit._outbox.Outbox` directly with a recording sender (the unit layer) on a
real SQLite store.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import eventkit
from eventkit._event import Event
from eventkit._outbox import Outbox
from eventkit._results import SendResult
from eventkit._settings import TransportSettings
from eventkit._stats import Counters
from eventkit._store import Store, open_store
from eventkit._targets import Target


async def test_one_target_keeps_exact_order_when_an_item_mid_run_fails_and_is_retried(tmp_path: Path) -> None:
    from eventkit_stream.testing.emulator import StreamEmulator

    total = 400
    with StreamEmulator() as emu:
        async with eventkit.connect_async(
            "stream",
            api_key=emu.api_key,
            api_secret=emu.api_secret,
            base_url=emu.url,
            environ={},
            store=f"sqlite:///{tmp_path / 'outbox.db'}?synchronous=normal",
            outbox=True,
            max_attempts=1,  # the sender does not retry: the 503 reaches the outbox, which schedules a retry
            backoff_initial=0.01,
            concurrency=50,  # runs of up to 100 items: the failure lands inside one
        ) as kit:
            events = [{"name": "ordered", "data": {"n": n}, "target": "channel:messaging:one"} for n in range(total)]
            results = await kit.send_many(events, sender="tommaso")
            assert all(r.queued for r in results)
            while len(emu.events) < 150:
                await asyncio.sleep(0.001)
            emu.fail_next(503)
            assert await kit.drain(60) == 0
            failed = [r for r in kit.outbox_results if r.error is not None]
            retries = kit.stats.get("outbox_retries", 0)
    assert len(failed) == 1, "exactly one send was answered 503"
    assert retries == 1
    # The emulator stored every event once, in exactly the order they were sent: the failed one
    # was retried before any later one went out.
    assert [int(e["n"]) for e in emu.events] == list(range(total))


class RecordingSender:
    """Records each send; blocks on the event whose ``n`` is ``block_at`` until ``release`` is set."""

    def __init__(self, block_at: int | None = None) -> None:
        self.sent: list[int] = []
        self.block_at = block_at
        self.blocked = asyncio.Event()
        self.release = asyncio.Event()
        self.in_flight = 0
        self.most_in_flight = 0

    async def send(self, event: Event, target: Target) -> SendResult:
        n = int(event.data["n"])  # type: ignore[call-overload]
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            if n == self.block_at:
                self.blocked.set()
                await self.release.wait()
            await asyncio.sleep(0)
            self.sent.append(n)
            return SendResult(event=event, target=str(target), provider="memory", attempts=1)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    opened = open_store(f"sqlite:///{tmp_path / 'outbox.db'}?synchronous=normal")
    await opened.open()
    yield opened  # type: ignore[misc]
    await opened.aclose()


def make_events(count: int, targets: int) -> list[tuple[Event, str]]:
    return [
        (Event(name="e", data={"n": n}, target=f"t{n % targets}"), f"channel:messaging:t{n % targets}")
        for n in range(count)
    ]


async def leased(store: Store) -> list[str]:
    return [i.id for i in await store.outbox("memory", limit=100_000) if i.leased_until is not None]


async def test_stop_gives_back_untried_items_and_keeps_the_one_in_flight_leased(store: Store) -> None:
    sender = RecordingSender(block_at=5)
    policy = TransportSettings(concurrency=4)
    outbox = Outbox(store, "memory", sender, policy, Counters(), lease=60)
    ids = await outbox.enqueue(make_events(20, 1))
    outbox.start()
    await asyncio.wait_for(sender.blocked.wait(), 10)
    await outbox.stop()
    assert sender.sent == [0, 1, 2, 3, 4]
    items = {i.id: i for i in await store.outbox("memory", limit=100)}
    # Delivered ones are completed (the completions were flushed by stop()).
    assert not set(ids[:5]) & set(items)
    # The one in flight stays leased: it may have reached the platform.
    assert items[ids[5]].leased_until is not None and items[ids[5]].attempts == 1
    # The rest of the run went back as it was: no attempt counted, no lease.
    for item_id in ids[6:]:
        assert (items[item_id].leased_until, items[item_id].attempts, items[item_id].possible_duplicate) == (
            None,
            0,
            False,
        )


async def test_the_drainer_holds_at_most_twice_its_concurrency(store: Store) -> None:
    sender = RecordingSender(block_at=70)
    policy = TransportSettings(concurrency=4)
    outbox = Outbox(store, "memory", sender, policy, Counters(), lease=60)
    await outbox.enqueue(make_events(400, 10))
    outbox.start()
    try:
        await asyncio.wait_for(sender.blocked.wait(), 10)
        for _ in range(20):  # the other targets keep going while target 0 is stuck
            held = await leased(store)
            assert len(held) <= 2 * policy.concurrency
            await asyncio.sleep(0.01)
        assert sender.most_in_flight <= policy.concurrency
        sender.release.set()
        assert await outbox.drain(30) == 0
    finally:
        sender.release.set()
        await outbox.stop()
    assert sorted(sender.sent) == list(range(400))
    by_target: dict[int, list[int]] = {}
    for n in sender.sent:
        by_target.setdefault(n % 10, []).append(n)
    assert all(ns == sorted(ns) for ns in by_target.values()), "each target's events went in order"


class BrokenSender(RecordingSender):
    """A sender with a bug: its first ``broken`` sends raise something that is not an EventkitError."""

    def __init__(self, broken: int) -> None:
        super().__init__()
        self.broken = broken
        self.calls = 0

    async def send(self, event: Event, target: Target) -> SendResult:
        self.calls += 1
        if self.calls <= self.broken:
            raise RuntimeError("a bug in a plugin")
        return await super().send(event, target)


async def test_a_sender_that_raises_a_bug_neither_stalls_the_drainer_nor_loses_order(store: Store) -> None:
    sender = BrokenSender(broken=3)
    policy = TransportSettings(concurrency=1, backoff_initial=0.01)  # it holds 2 items at most
    outbox = Outbox(store, "memory", sender, policy, Counters(), lease=60)
    await outbox.enqueue(make_events(10, 1))
    try:
        assert await outbox.drain(20) == 0, "the drainer stalled on items a failed run still held"
    finally:
        await outbox.stop()
    assert sender.sent == list(range(10))
    flagged = [r for r in outbox.results if r.error is not None]
    assert len(flagged) == 3 and all(r.possible_duplicate for r in flagged)  # the bug may have sent it
