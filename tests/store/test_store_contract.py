"""The store contract (``eventkit/_store/_base.py``), run against every backend in ``conftest.STORE_KINDS``.

Time-based behaviour (TTL, claim_idle, leases, delays, retention) uses short
durations and sleeps past them; nothing here asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable

import pytest

from eventkit._store import (
    Inbound,
    OutboxItem,
    Outgoing,
    Store,
    StoreError,
    StoreFullError,
    StoreSettingsError,
    open_store,
)

MakeStore = Callable[..., Awaitable[Store]]


def rec(n: int, key: str | None = None, provider: str = "acme") -> Inbound:
    return Inbound(provider=provider, payload=f"event-{n}".encode(), dedupe_key=key)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds (a sweep may run after the call that made it possible)."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"never happened: {what}")


# Inbox: append and dedupe


async def test_append_read_ack_round_trip(make_store: MakeStore) -> None:
    store = await make_store()
    before = time.time()
    assert await store.append([rec(1), rec(2), rec(3)]) == [True, True, True]
    got = await store.read("g", "c1", count=10, timeout=0)
    assert [d.payload for d in got] == [b"event-1", b"event-2", b"event-3"]
    assert [d.id for d in got] == sorted(d.id for d in got)
    assert all(d.provider == "acme" and d.attempts == 1 and not d.redelivered for d in got)
    assert all(before - 1 <= d.appended_at <= time.time() + 1 for d in got)
    await store.ack("g", [d.id for d in got])
    assert await store.read("g", "c1", count=10, timeout=0) == []


async def test_dedupe_within_ttl(make_store: MakeStore) -> None:
    store = await make_store()
    assert await store.append([rec(1, "k1"), rec(2, "k1"), rec(3, None), rec(4, None)]) == [True, False, True, True]
    assert await store.append([rec(5, "k1")]) == [False]
    assert await store.append([rec(6, "k1", provider="other")]) == [True]
    got = await store.read("g", "c", count=10, timeout=0)
    assert [d.payload for d in got] == [b"event-1", b"event-3", b"event-4", b"event-6"]
    assert (await store.stats()).events == 4


async def test_dedupe_key_survives_acknowledgement(make_store: MakeStore) -> None:
    store = await make_store()
    assert await store.append([rec(1, "k")]) == [True]
    got = await store.read("g", "c", timeout=0)
    await store.ack("g", [got[0].id])
    assert await store.append([rec(2, "k")]) == [False]


async def test_dedupe_after_ttl(make_store: MakeStore) -> None:
    store = await make_store(dedupe_ttl="0.2s")
    assert await store.append([rec(1, "k")]) == [True]
    await asyncio.sleep(0.35)
    assert await store.append([rec(2, "k")]) == [True]
    assert await store.append([rec(3, "k")]) == [False]


# Inbox: bounds


async def test_full_batch_is_refused_whole(make_store: MakeStore) -> None:
    store = await make_store(max_events=3)
    assert await store.append([rec(1), rec(2)]) == [True, True]
    with pytest.raises(StoreFullError):
        await store.append([rec(3, "k3"), rec(4, "k4")])
    assert (await store.stats()).events == 2
    # Nothing of the refused batch was kept, not even its dedupe keys.
    assert await store.append([rec(3, "k3")]) == [True]
    got = await store.read("g", "c", count=10, timeout=0)
    assert [d.payload for d in got] == [b"event-1", b"event-2", b"event-3"]


async def test_duplicates_do_not_count_against_the_bound(make_store: MakeStore) -> None:
    store = await make_store(max_events=2)
    assert await store.append([rec(1, "k1"), rec(2, "k2")]) == [True, True]
    assert await store.append([rec(1, "k1")]) == [False]


async def test_byte_bound(make_store: MakeStore) -> None:
    store = await make_store(max_bytes="100B")
    assert await store.append([Inbound("acme", b"x" * 60)]) == [True]
    with pytest.raises(StoreFullError):
        await store.append([Inbound("acme", b"y" * 30), Inbound("acme", b"z" * 30)])
    stats = await store.stats()
    assert (stats.events, stats.bytes) == (1, 60)


async def test_ping_reports_a_full_store(make_store: MakeStore) -> None:
    store = await make_store(max_events=2)
    await store.append([rec(1)])
    await store.ping()
    await store.append([rec(2)])
    with pytest.raises(StoreFullError):
        await store.ping()


async def test_unacknowledged_events_are_never_deleted_for_room(make_store: MakeStore) -> None:
    store = await make_store(max_events=2)
    await store.append([rec(1), rec(2)])
    delivered = await store.read("g", "c", count=2, timeout=0)
    assert len(delivered) == 2
    with pytest.raises(StoreFullError):
        await store.append([rec(3)])
    # Acknowledging makes room.
    await store.ack("g", [d.id for d in delivered])

    async def room() -> bool:
        try:
            return await store.append([rec(3)]) == [True]
        except StoreFullError:
            return False

    await eventually(room, "acknowledged events make room")


# Inbox: groups and consumers


async def test_group_starts_at_oldest_held_event(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1), rec(2)])
    await store.append([rec(3)])
    got = await store.read("late", "c", count=10, timeout=0)
    assert [d.payload for d in got] == [b"event-1", b"event-2", b"event-3"]


async def test_groups_are_independent(make_store: MakeStore) -> None:
    store = await make_store()
    assert await store.read("b", "c", timeout=0) == []  # b exists before the events arrive
    await store.append([rec(1), rec(2)])
    a = await store.read("a", "c", count=10, timeout=0)
    await store.ack("a", [d.id for d in a])
    b = await store.read("b", "c", count=10, timeout=0)
    assert [d.payload for d in a] == [d.payload for d in b] == [b"event-1", b"event-2"]


async def test_consumers_sharing_a_group_get_disjoint_entries(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(n) for n in range(10)])
    first = await store.read("g", "c1", count=4, timeout=0)
    second = await store.read("g", "c2", count=10, timeout=0)
    assert len(first) == 4 and len(second) == 6
    assert {d.id for d in first}.isdisjoint(d.id for d in second)
    assert {d.payload for d in first} | {d.payload for d in second} == {f"event-{n}".encode() for n in range(10)}


async def test_idle_entries_are_claimed_by_another_consumer(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1)])
    (taken,) = await store.read("g", "c1", timeout=0, claim_idle=0.2)
    assert await store.read("g", "c2", timeout=0, claim_idle=0.2) == []
    await asyncio.sleep(0.3)
    (claimed,) = await store.read("g", "c2", timeout=0, claim_idle=0.2)
    assert (claimed.id, claimed.attempts, claimed.redelivered) == (taken.id, 2, True)
    # Now it is c2's: c1 does not get it back by waiting, only after another idle period.
    assert await store.read("g", "c3", timeout=0, claim_idle=10) == []


async def test_own_pending_entries_come_back_at_once(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1), rec(2)])
    first = await store.read("g", "c1", count=1, timeout=0, claim_idle=60)
    again = await store.read("g", "c1", count=2, timeout=0, claim_idle=60)
    assert [(d.id, d.attempts) for d in again] == [(first[0].id, 2), (again[1].id, 1)]
    assert again[1].payload == b"event-2"


async def test_one_read_never_hands_out_an_entry_twice(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(n) for n in range(4)])
    first = await store.read("g", "c1", count=2, timeout=0)
    other = await store.read("g", "c2", count=1, timeout=0)
    again = await store.read("g", "c1", count=10, timeout=0, claim_idle=0)
    ids = [d.id for d in again]
    assert len(ids) == len(set(ids)) == 4
    assert {d.id for d in first} | {d.id for d in other} <= set(ids)


async def test_dead_letter_after_max_attempts_and_replay(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1), rec(2)])
    for attempt in (1, 2):
        got = await store.read("g", "c", count=1, timeout=0, max_attempts=2)
        assert [(d.payload, d.attempts) for d in got] == [(b"event-1", attempt)]
    # The third hand-out would exceed max_attempts: event-1 is dead-lettered, event-2 comes instead.
    got = await store.read("g", "c", count=1, timeout=0, max_attempts=2)
    assert [(d.payload, d.attempts) for d in got] == [(b"event-2", 1)]
    await store.ack("g", [got[0].id])
    (dead,) = await store.dead_letters("g")
    assert (dead.payload, dead.attempts, dead.group, dead.provider, dead.key) == (b"event-1", 2, "g", "acme", None)
    assert await store.dead_letters("other") == []
    assert [d.id for d in await store.dead_letters()] == [dead.id]
    assert (await store.stats()).dead == 1
    assert await store.read("g", "c", count=5, timeout=0, max_attempts=2) == []

    assert await store.replay("g", [dead.id]) == 1
    assert await store.dead_letters("g") == []
    (back,) = await store.read("g", "c", count=5, timeout=0, max_attempts=2)
    assert (back.id, back.payload, back.attempts) == (dead.id, b"event-1", 1)


async def test_dead_letter_keeps_the_last_error_and_ack_discards_it(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1)])
    (got,) = await store.read("g", "c", timeout=0, max_attempts=1)
    await store.release("g", got.id, delay=0, error="handler failed: boom")
    assert await store.read("g", "c", timeout=0, max_attempts=1) == []
    (dead,) = await store.dead_letters()
    assert (dead.id, dead.error, dead.attempts) == (got.id, "handler failed: boom", 1)
    await store.ack("g", [dead.id])
    assert await store.dead_letters() == []
    assert (await store.stats()).dead == 0
    assert await store.replay() == 0


async def test_replay_all_groups(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1)])
    for group in ("a", "b"):
        await store.read(group, "c", timeout=0, max_attempts=1)
        assert await store.read(group, "c", timeout=0, max_attempts=1) == []
    assert {d.group for d in await store.dead_letters()} == {"a", "b"}
    assert await store.replay() == 2
    for group in ("a", "b"):
        (back,) = await store.read(group, "c", timeout=0, max_attempts=1)
        assert back.attempts == 1


async def test_release_with_delay(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1)])
    (got,) = await store.read("g", "c", timeout=0)
    await store.release("g", got.id, delay=0.3, error="try later")
    assert await store.read("g", "c", timeout=0) == []
    assert await store.read("g", "other", timeout=0, claim_idle=0) == []
    (again,) = await store.read("g", "c", timeout=5)
    assert (again.id, again.attempts) == (got.id, 2)


async def test_release_without_delay_is_available_at_once(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1)])
    (got,) = await store.read("g", "c1", timeout=0)
    await store.release("g", got.id, delay=0)
    (again,) = await store.read("g", "c2", timeout=0)
    assert (again.id, again.attempts) == (got.id, 2)


async def test_read_waits_for_an_append(make_store: MakeStore) -> None:
    store = await make_store()
    reader = asyncio.create_task(store.read("g", "c", count=5, timeout=10))
    await asyncio.sleep(0.1)
    assert not reader.done()
    await store.append([rec(1)])
    got = await reader
    assert [d.payload for d in got] == [b"event-1"]


async def test_read_timeout_returns_nothing(make_store: MakeStore) -> None:
    store = await make_store()
    assert await store.read("g", "c", timeout=0.1) == []


# Inbox: retention and deletion


async def test_event_deleted_only_after_every_group_acknowledged(make_store: MakeStore) -> None:
    store = await make_store()
    await store.read("a", "c", timeout=0)  # both groups exist before the append
    await store.read("b", "c", timeout=0)
    await store.append([rec(1)])
    (a,) = await store.read("a", "c", timeout=0)
    await store.ack("a", [a.id])
    await store.ping()
    assert (await store.stats()).events == 1
    (b,) = await store.read("b", "c", timeout=0)
    assert b.id == a.id
    await store.ack("b", [b.id])

    async def gone() -> bool:
        await store.ping()
        return (await store.stats()).events == 0

    await eventually(gone, "the event is deleted once both groups acknowledged it")
    assert (await store.stats()).bytes == 0


async def test_events_before_any_group_are_kept(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1)])
    await store.ping()
    await asyncio.sleep(0.05)
    await store.ping()
    assert (await store.stats()).events == 1


async def test_retention_keeps_acknowledged_events_for_late_groups(make_store: MakeStore) -> None:
    store = await make_store(retention="0.4s")
    await store.append([rec(1)])
    (a,) = await store.read("a", "c", timeout=0)
    await store.ack("a", [a.id])
    late = await store.read("late", "c", count=5, timeout=0)
    assert [d.payload for d in late] == [b"event-1"]
    await store.ack("late", [late[0].id])
    await asyncio.sleep(0.5)

    async def gone() -> bool:
        await store.append([])
        await store.append([rec(99)])  # any write lets a backend sweep
        return (await store.stats()).events == 1

    await eventually(gone, "acknowledged events older than retention are deleted")


# Outbox


def out(key: str, n: int, provider: str = "acme") -> Outgoing:
    return Outgoing(provider=provider, key=key, payload=f"{key}-{n}".encode())


async def test_outbox_one_item_per_key_in_order(make_store: MakeStore) -> None:
    store = await make_store()
    ids = await store.enqueue([out("A", 1), out("A", 2), out("B", 1), out("A", 3)])
    assert len(set(ids)) == 4 and ids == sorted(ids)
    await store.enqueue([out("C", 1, provider="other")])
    first = await store.lease("acme", "w1", count=10, lease=30)
    assert [i.payload for i in first] == [b"A-1", b"B-1"]
    assert all(i.attempts == 1 and not i.possible_duplicate and i.leased_until is not None for i in first)
    assert await store.lease("acme", "w2", count=10, lease=30) == []
    await store.complete([first[0].id])
    (second,) = await store.lease("acme", "w2", count=10, lease=30)
    assert second.payload == b"A-2"
    await store.complete([second.id, first[1].id])
    assert [i.payload for i in await store.lease("acme", "w1", count=10, lease=30)] == [b"A-3"]
    assert [i.payload for i in await store.outbox()] == [b"A-3", b"C-1"]
    assert [i.payload for i in await store.outbox("other")] == [b"C-1"]


async def test_outbox_lease_count(make_store: MakeStore) -> None:
    store = await make_store()
    await store.enqueue([out(k, 1) for k in "ABCDE"])
    leased = await store.lease("acme", "w", count=2, lease=30)
    assert [i.key for i in leased] == ["A", "B"]


def runs_of(items: list[OutboxItem]) -> list[tuple[str, list[bytes]]]:
    """Leased items as (key, payloads) runs, in the order the store returned them."""
    runs: list[tuple[str, list[bytes]]] = []
    for item in items:
        if runs and runs[-1][0] == item.key:
            runs[-1][1].append(item.payload)
        else:
            runs.append((item.key, [item.payload]))
    return runs


async def test_lease_runs_per_key_in_order_up_to_per_key(make_store: MakeStore) -> None:
    store = await make_store()
    await store.enqueue([out("A", n) for n in range(1, 6)] + [out("B", 1), out("B", 2)])
    leased = await store.lease("acme", "w1", count=10, lease=30, per_key=3)
    assert runs_of(leased) == [("A", [b"A-1", b"A-2", b"A-3"]), ("B", [b"B-1", b"B-2"])]
    assert all(i.attempts == 1 and not i.possible_duplicate and i.leased_until is not None for i in leased)
    # A's head is leased: A gives nothing (not even A-4, which is free), and B is empty.
    assert await store.lease("acme", "w2", count=10, lease=30, per_key=10) == []
    await store.complete([i.id for i in leased[:3]])
    rest = await store.lease("acme", "w2", count=10, lease=30, per_key=10)
    assert runs_of(rest) == [("A", [b"A-4", b"A-5"])]


async def test_lease_count_is_dealt_over_keys_in_rounds(make_store: MakeStore) -> None:
    store = await make_store()
    # Heads in id order A, B, C; five items each.
    await store.enqueue([out(k, n) for n in range(1, 6) for k in "ABC"])
    leased = await store.lease("acme", "w", count=7, lease=30, per_key=5)
    assert len(leased) == 7
    assert runs_of(leased) == [
        ("A", [b"A-1", b"A-2", b"A-3"]),
        ("B", [b"B-1", b"B-2"]),
        ("C", [b"C-1", b"C-2"]),
    ]
    # count below the number of ready keys: one item each for the first keys served
    store = await make_store()
    await store.enqueue([out(k, n) for n in range(1, 3) for k in "ABC"])
    leased = await store.lease("acme", "w", count=2, lease=30, per_key=5)
    assert runs_of(leased) == [("A", [b"A-1"]), ("B", [b"B-1"])]


async def test_a_run_stops_at_a_leased_item(make_store: MakeStore) -> None:
    store = await make_store()
    a1, a2, a3, _a4 = await store.enqueue([out("A", n) for n in range(1, 5)])
    await store.lease("acme", "w1", count=10, lease=30, per_key=3)
    await store.unlease("w1", [a1])  # A-1 free again, A-2 and A-3 still leased by w1
    leased = await store.lease("acme", "w2", count=10, lease=30, per_key=10)
    assert [i.id for i in leased] == [a1]  # nothing after A-2 is handed out ahead of it
    await store.complete([a1])
    assert await store.lease("acme", "w2", count=10, lease=30, per_key=10) == []  # head A-2 is w1's
    await store.complete([a2, a3])
    assert [i.payload for i in await store.lease("acme", "w2", count=10, lease=30, per_key=10)] == [b"A-4"]


async def test_a_run_stops_at_an_item_not_yet_due(make_store: MakeStore) -> None:
    store = await make_store()
    a1, a2, a3 = await store.enqueue([out("A", n) for n in range(1, 4)])
    await store.lease("acme", "w", count=10, lease=30, per_key=3)
    await store.fail(a2, error="503", retry_at=time.time() + 30)
    await store.unlease("w", [a1, a3])
    assert [i.id for i in await store.lease("acme", "w", count=10, lease=30, per_key=10)] == [a1]
    await store.complete([a1])
    assert await store.lease("acme", "w", count=10, lease=30, per_key=10) == []  # head A-2 waits


async def test_two_owners_never_lease_the_same_item(make_store: MakeStore) -> None:
    store = await make_store()
    ids = await store.enqueue([out(f"k{n % 6}", n) for n in range(90)])
    held: dict[str, str] = {}
    for _ in range(40):
        got = await asyncio.gather(
            *(store.lease("acme", owner, count=5, lease=30, per_key=3) for owner in ("w1", "w2", "w3"))
        )
        for owner, items in zip(("w1", "w2", "w3"), got, strict=True):
            for item in items:
                assert item.id not in held, f"{item.id} leased to {held.get(item.id)} and {owner}"
                held[item.id] = owner
        await store.complete([i.id for items in got for i in items])
        if len(held) == len(ids):
            break
    assert sorted(held) == sorted(ids)


async def test_unlease_puts_items_back_as_they_were(make_store: MakeStore) -> None:
    store = await make_store()
    a1, a2 = await store.enqueue([out("A", 1), out("A", 2)])
    await store.lease("acme", "w1", count=10, lease=0.2, per_key=2)
    await asyncio.sleep(0.3)
    again = await store.lease("acme", "w2", count=10, lease=30, per_key=2)  # w1's lease ran out
    assert [(i.id, i.attempts, i.possible_duplicate) for i in again] == [(a1, 2, True), (a2, 2, True)]
    await store.unlease("w1", [a1, a2])  # w1 lost them: its give-back changes nothing
    assert await store.lease("acme", "w3", count=10, lease=30, per_key=2) == []
    await store.unlease("w2", [a1, a2])
    listed = await store.outbox("acme")
    assert [(i.id, i.attempts, i.possible_duplicate, i.leased_until) for i in listed] == [
        (a1, 1, True, None),
        (a2, 1, True, None),
    ]
    back = await store.lease("acme", "w3", count=10, lease=30, per_key=2)
    assert [(i.id, i.attempts, i.possible_duplicate) for i in back] == [(a1, 2, True), (a2, 2, True)]
    # Completed, failed or never-leased items are left alone.
    (b1,) = await store.enqueue([out("B", 1)])
    await store.complete([a1])
    await store.fail(a2, error="503", retry_at=time.time() + 30)
    await store.unlease("w3", [a1, a2, b1])
    assert [(i.id, i.attempts, i.last_error) for i in await store.outbox("acme")] == [(a2, 2, "503"), (b1, 0, None)]
    assert [i.id for i in await store.lease("acme", "w", count=10, lease=30, per_key=2)] == [b1]


async def test_unlease_of_a_fresh_lease_keeps_the_flag_clear(make_store: MakeStore) -> None:
    store = await make_store()
    (a1,) = await store.enqueue([out("A", 1)])
    await store.lease("acme", "w", count=1, lease=30)
    await store.unlease("w", [a1])
    (again,) = await store.lease("acme", "w", count=1, lease=30)
    assert (again.id, again.attempts, again.possible_duplicate) == (a1, 1, False)


async def test_expired_lease_comes_back_as_possible_duplicate(make_store: MakeStore) -> None:
    store = await make_store()
    (item_id,) = await store.enqueue([out("A", 1)])
    (first,) = await store.lease("acme", "w1", count=1, lease=0.2)
    assert first.id == item_id
    await asyncio.sleep(0.3)
    (again,) = await store.lease("acme", "w2", count=1, lease=30)
    assert (again.id, again.attempts, again.possible_duplicate) == (item_id, 2, True)


async def test_fail_maybe_delivered_and_retry_at(make_store: MakeStore) -> None:
    store = await make_store()
    (item_id,) = await store.enqueue([out("A", 1)])
    await store.lease("acme", "w", count=1, lease=30)
    await store.fail(item_id, error="timeout after send", maybe_delivered=True)
    (again,) = await store.lease("acme", "w", count=1, lease=30)
    assert (again.possible_duplicate, again.attempts, again.last_error) == (True, 2, "timeout after send")
    await store.fail(item_id, error="503 before send", maybe_delivered=False, retry_at=time.time() + 0.3)
    assert await store.lease("acme", "w", count=1, lease=30) == []
    await asyncio.sleep(0.4)
    (third,) = await store.lease("acme", "w", count=1, lease=30)
    assert (third.possible_duplicate, third.attempts, third.last_error) == (False, 3, "503 before send")


async def test_dead_outbox_items_retry_and_purge(make_store: MakeStore) -> None:
    store = await make_store()
    a1, a2, b1 = await store.enqueue([out("A", 1), out("A", 2), out("B", 1)])
    await store.lease("acme", "w", count=10, lease=30)
    await store.fail(a1, error="400 invalid", dead=True)
    # A dead head does not block its key.
    leased = await store.lease("acme", "w", count=10, lease=30)
    assert [i.id for i in leased] == [a2]
    dead = await store.outbox(dead=True)
    assert [(i.id, i.last_error) for i in dead] == [(a1, "400 invalid")]
    assert [i.id for i in await store.outbox(dead=False)] == [a2, b1]
    stats = await store.stats()
    assert (stats.outbox, stats.dead) == (3, 1)
    assert await store.retry_dead("acme") == 1
    assert await store.outbox(dead=True) == []
    await store.complete([a2, b1])
    (back,) = await store.lease("acme", "w", count=10, lease=30)
    assert (back.id, back.attempts) == (a1, 2)
    await store.fail(a1, error="still invalid", dead=True)
    assert await store.retry_dead("other") == 0
    assert await store.purge("acme", [a1]) == 1
    assert await store.purge("acme") == 0
    stats = await store.stats()
    assert (stats.outbox, stats.dead, stats.bytes) == (0, 0, 0)


async def test_purge_everything_of_a_provider(make_store: MakeStore) -> None:
    store = await make_store()
    await store.enqueue([out("A", 1), out("B", 1), out("C", 1, provider="other")])
    assert await store.purge("acme") == 2
    assert [i.provider for i in await store.outbox()] == ["other"]


async def test_outbox_byte_bound(make_store: MakeStore) -> None:
    store = await make_store(max_bytes=10)
    await store.enqueue([Outgoing("acme", "A", b"x" * 8)])
    with pytest.raises(StoreFullError):
        await store.enqueue([Outgoing("acme", "A", b"y" * 3)])
    assert len(await store.outbox()) == 1


# Stats, lifecycle and caller errors


async def test_stats_count_events_bytes_outbox(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([Inbound("acme", b"abc"), Inbound("acme", b"defgh", "k")])
    await store.enqueue([Outgoing("acme", "t", b"12345678")])
    stats = await store.stats()
    assert (stats.events, stats.bytes, stats.outbox, stats.dead) == (2, 16, 1, 0)


async def test_closed_store_raises(make_store: MakeStore) -> None:
    store = await make_store()
    await store.aclose()
    with pytest.raises(StoreError):
        await store.append([rec(1)])
    with pytest.raises(StoreError):
        await store.read("g", "c", timeout=0)


async def test_close_wakes_a_waiting_reader(make_store: MakeStore) -> None:
    store = await make_store()
    reader = asyncio.create_task(store.read("g", "c", timeout=30))
    await asyncio.sleep(0.05)
    await store.aclose()
    with pytest.raises(StoreError):
        await reader


BAD_READS = [
    {"count": 0},
    {"count": 1.5},
    {"timeout": -1},
    {"timeout": math.nan},
    {"claim_idle": math.inf},
    {"max_attempts": 0},
]


@pytest.mark.parametrize(
    "kwargs", BAD_READS, ids=[next(iter(k)) + "=" + repr(next(iter(k.values()))) for k in BAD_READS]
)
async def test_bad_read_arguments(make_store: MakeStore, kwargs: dict[str, float]) -> None:
    store = await make_store()
    with pytest.raises(StoreSettingsError):
        await store.read("g", "c", **kwargs)  # type: ignore[arg-type]


async def test_bad_delays_and_ids(make_store: MakeStore) -> None:
    store = await make_store()
    await store.append([rec(1)])
    (got,) = await store.read("g", "c", timeout=0)
    with pytest.raises(StoreSettingsError):
        await store.release("g", got.id, delay=math.nan)
    with pytest.raises(StoreSettingsError):
        await store.lease("acme", "w", count=1, lease=-1)
    with pytest.raises(StoreSettingsError):
        await store.ack("g", ["not an id"])
    with pytest.raises(StoreSettingsError):
        await store.lease("acme", "w", count=1, lease=1, per_key=0)
    with pytest.raises(StoreSettingsError):
        await store.unlease("w", ["not an id"])


BAD_URL_PARAMS = [
    "max_events=-1",
    "max_events=1.5",
    "max_bytes=NaN",
    "max_bytes=10XB",
    "retention=inf",
    "retention=-1s",
    "dedupe_ttl=3 days",
    "max_event=5",
    "max_events=1&max_events=2",
]


@pytest.mark.parametrize("query", BAD_URL_PARAMS)
def test_bad_url_parameters(store_url_factory: Callable[..., str], query: str) -> None:
    url = store_url_factory()
    with pytest.raises(StoreSettingsError):
        open_store(f"{url}{'&' if '?' in url else '?'}{query}")
