"""The store contract (``eventkit/_store/_base.py``) on a real Redis: inbox, groups, dead letters, outbox, bounds."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis_support import make_store_fixture, new_prefix, redis_url_fixture  # noqa: F401 (fixtures)

from eventkit._store import (
    Inbound,
    Outgoing,
    StoreError,
    StoreFullError,
    StoreSettingsError,
    StoreUnavailableError,
    open_store,
)
from eventkit._store._redis import RedisStore


def rec(payload: str, key: str | None = None, provider: str = "stream") -> Inbound:
    return Inbound(provider=provider, payload=payload.encode(), dedupe_key=key)


def payloads(deliveries: list) -> list[str]:  # type: ignore[type-arg]
    return [d.payload.decode() for d in deliveries]


# Append and dedupe


async def test_append_stores_new_records_and_reports_duplicates(make_store) -> None:
    store = await make_store()
    assert await store.append([rec("a", "k1"), rec("b", "k1"), rec("c"), rec("d", "k2")]) == [True, False, True, True]
    assert await store.append([rec("a again", "k1"), rec("e", "k3")]) == [False, True]
    got = await store.read("g", "c1", count=10, timeout=0)
    assert payloads(got) == ["a", "c", "d", "e"]
    assert [d.provider for d in got] == ["stream"] * 4
    assert all(d.attempts == 1 and not d.redelivered for d in got)
    assert got[0].appended_at <= got[-1].appended_at <= time.time()


async def test_dedupe_keys_are_per_provider(make_store) -> None:
    store = await make_store()
    assert await store.append([rec("a", "same", "stream"), rec("b", "same", "vonage")]) == [True, True]
    assert await store.append([rec("c", "same", "vonage")]) == [False]


async def test_dedupe_key_expires_after_dedupe_ttl(make_store) -> None:
    store = await make_store(dedupe_ttl="1s")
    assert await store.append([rec("a", "k")]) == [True]
    assert await store.append([rec("a", "k")]) == [False]
    await asyncio.sleep(1.2)
    assert await store.append([rec("a", "k")]) == [True]


async def test_dedupe_survives_a_new_store_instance(make_store) -> None:
    first = await make_store()
    await first.append([rec("a", "k")])
    second = await make_store(prefix=first.prefix)
    assert await second.append([rec("a", "k")]) == [False]


async def test_full_by_count_refuses_the_whole_batch_and_writes_nothing(make_store) -> None:
    store = await make_store(max_events=3)
    assert await store.append([rec("a", "k1"), rec("b", "k2")]) == [True, True]
    with pytest.raises(StoreFullError) as info:
        await store.append([rec("c", "k3"), rec("d", "k4")])
    assert info.value.retryable
    assert (await store.stats()).events == 2
    # nothing of the refused batch was written: its dedupe keys were not taken either
    assert await store.append([rec("c", "k3")]) == [True]
    # a batch of duplicates only needs no room
    assert await store.append([rec("a", "k1")]) == [False]


async def test_full_by_bytes(make_store) -> None:
    store = await make_store(max_bytes=10)
    assert await store.append([rec("12345")]) == [True]
    with pytest.raises(StoreFullError):
        await store.append([rec("123456")])
    stats = await store.stats()
    assert (stats.events, stats.bytes) == (1, 5)


async def test_unacknowledged_events_are_never_deleted_to_make_room(make_store) -> None:
    store = await make_store(max_events=2, retention=0, trim_interval=0)
    await store.append([rec("a"), rec("b")])
    got = await store.read("g", "c", count=1, timeout=0)
    await store.ack("g", [d.id for d in got])
    # "a" is acknowledged by the only group: deleted to make room; "b" is not
    assert await store.append([rec("c")]) == [True]
    with pytest.raises(StoreFullError):
        await store.append([rec("d")])
    assert payloads(await store.read("g", "c", count=10, timeout=0)) == ["b", "c"]


async def test_events_are_kept_for_retention_after_every_group_acked(make_store) -> None:
    store = await make_store(retention="1h", trim_interval=0)
    await store.append([rec("a"), rec("b")])
    got = await store.read("g", "c", count=10, timeout=0)
    await store.ack("g", [d.id for d in got])
    await store.append([rec("c")])
    assert (await store.stats()).events == 3


async def test_trim_waits_for_every_group(make_store) -> None:
    store = await make_store(retention=0, trim_interval=0)
    await store.read("g1", "c", timeout=0)
    await store.read("g2", "c", timeout=0)
    await store.append([rec("a"), rec("b")])
    got = await store.read("g1", "c", count=10, timeout=0)
    await store.ack("g1", [d.id for d in got])
    assert (await store.stats()).events == 2  # g2 has not even read them
    got2 = await store.read("g2", "c", count=1, timeout=0)
    await store.ack("g2", [d.id for d in got2])
    assert (await store.stats()).events == 1
    assert payloads(await store.read("g2", "c", count=10, timeout=0)) == ["b"]


async def test_nothing_is_trimmed_before_the_first_group(make_store) -> None:
    store = await make_store(retention=0, trim_interval=0)
    await store.append([rec("a")])
    await store.append([rec("b")])
    assert (await store.stats()).events == 2
    assert payloads(await store.read("late", "c", count=10, timeout=0)) == ["a", "b"]


# Groups and reading


async def test_a_group_starts_at_the_oldest_event_held_and_groups_are_independent(make_store) -> None:
    store = await make_store()
    await store.append([rec("before-any-consumer")])
    assert payloads(await store.read("g1", "c", count=10, timeout=0)) == ["before-any-consumer"]
    await store.append([rec("second")])
    assert payloads(await store.read("g1", "c2", count=10, timeout=0)) == ["second"]
    assert payloads(await store.read("g2", "c", count=10, timeout=0)) == ["before-any-consumer", "second"]


async def test_read_respects_count_and_returns_empty_after_timeout(make_store) -> None:
    store = await make_store()
    await store.append([rec(str(i)) for i in range(5)])
    assert payloads(await store.read("g", "c", count=2, timeout=0)) == ["0", "1"]
    assert payloads(await store.read("g", "d", count=2, timeout=0)) == ["2", "3"]
    assert payloads(await store.read("g", "e", count=5, timeout=0)) == ["4"]
    assert await store.read("g", "f", count=5, timeout=0.2) == []


async def test_a_waiting_read_gets_an_event_appended_meanwhile(make_store) -> None:
    reader = await make_store()
    writer = await make_store(prefix=reader.prefix)
    await reader.read("g", "c", timeout=0)  # the group exists

    async def later() -> None:
        await asyncio.sleep(0.2)
        await writer.append([rec("late")])

    task = asyncio.create_task(later())
    got = await reader.read("g", "c", count=1, timeout=10)
    await task
    assert payloads(got) == ["late"]


async def test_own_pending_comes_back_at_once_flagged_redelivered(make_store) -> None:
    store = await make_store()
    await store.append([rec("a"), rec("b")])
    first = await store.read("g", "c1", count=1, timeout=0)
    again = await store.read("g", "c1", count=1, timeout=0, claim_idle=3600)
    assert [d.id for d in again] == [d.id for d in first]
    assert again[0].attempts == 2 and again[0].redelivered


async def test_others_pending_is_claimed_only_after_claim_idle(make_store) -> None:
    store = await make_store()
    await store.append([rec("a")])
    taken = await store.read("g", "dead-consumer", count=1, timeout=0)
    assert await store.read("g", "c2", count=1, timeout=0, claim_idle=3600) == []
    await asyncio.sleep(0.05)
    claimed = await store.read("g", "c2", count=1, timeout=0, claim_idle=0.01)
    assert [d.id for d in claimed] == [taken[0].id]
    assert claimed[0].attempts == 2
    # now it is c2's: the first consumer does not get it back as its own
    assert await store.read("g", "dead-consumer", count=1, timeout=0, claim_idle=3600) == []


async def test_acked_entries_are_not_handed_out_again(make_store) -> None:
    store = await make_store()
    await store.append([rec("a"), rec("b")])
    got = await store.read("g", "c", count=2, timeout=0)
    await store.ack("g", [got[0].id])
    await asyncio.sleep(0.02)
    again = await store.read("g", "other", count=5, timeout=0, claim_idle=0.001)
    assert payloads(again) == ["b"]


async def test_release_holds_an_entry_until_its_not_before(make_store) -> None:
    store = await make_store()
    await store.append([rec("a")])
    got = await store.read("g", "c", timeout=0)
    await store.release("g", got[0].id, delay=2, error="handler failed")
    assert await store.read("g", "c", timeout=0, claim_idle=0) == []
    assert await store.read("g", "other", timeout=0, claim_idle=0) == []
    back = await store.read("g", "other", timeout=10, claim_idle=3600)
    assert [d.id for d in back] == [got[0].id]
    assert back[0].attempts == 2


async def test_release_with_no_delay_is_handed_out_again_at_once(make_store) -> None:
    store = await make_store()
    await store.append([rec("a")])
    got = await store.read("g", "c", timeout=0)
    await store.release("g", got[0].id, delay=0)
    back = await store.read("g", "other", timeout=0, claim_idle=3600)
    assert payloads(back) == ["a"] and back[0].attempts == 2


async def test_entries_past_max_attempts_become_dead_letters_and_replay_brings_them_back(make_store) -> None:
    store = await make_store()
    await store.append([rec("poison"), rec("fine")])
    for attempt in (1, 2):
        got = await store.read("g", "c", count=1, timeout=0, max_attempts=2)
        assert payloads(got) == ["poison"] and got[0].attempts == attempt
        await store.release("g", got[0].id, delay=0, error=f"failure {attempt}")
    rest = await store.read("g", "c", count=5, timeout=0, max_attempts=2)
    assert payloads(rest) == ["fine"]
    await store.ack("g", [d.id for d in rest])
    dead = await store.dead_letters("g")
    assert [(d.payload, d.attempts, d.error, d.group, d.provider) for d in dead] == [
        (b"poison", 2, "failure 2", "g", "stream")
    ]
    assert [d.payload for d in await store.dead_letters()] == [b"poison"]
    assert (await store.stats()).dead == 1
    # another group is not affected by g's dead letter
    assert payloads(await store.read("other", "c", count=5, timeout=0)) == ["poison", "fine"]

    assert await store.replay("g", [dead[0].id]) == 1
    assert await store.dead_letters("g") == []
    again = await store.read("g", "c", count=5, timeout=0, max_attempts=2)
    assert payloads(again) == ["poison"] and again[0].attempts == 1
    # the replay is meant for g only
    assert await store.read("other", "c2", count=5, timeout=0, claim_idle=3600) == []


async def test_dead_letter_without_error_and_replay_all(make_store) -> None:
    store = await make_store()
    await store.append([rec("x")])
    await store.read("g", "c", timeout=0, max_attempts=1)
    assert await store.read("g", "c", timeout=0, max_attempts=1) == []
    [dead] = await store.dead_letters()
    assert dead.error is None and dead.attempts == 1
    assert await store.replay() == 1
    assert await store.replay() == 0


# Outbox


def out(key: str, payload: str, provider: str = "vonage") -> Outgoing:
    return Outgoing(provider=provider, key=key, payload=payload.encode())


async def test_lease_hands_out_the_oldest_item_per_key(make_store) -> None:
    store = await make_store()
    ids = await store.enqueue([out("t1", "a"), out("t1", "b"), out("t2", "c"), out("t1", "d", provider="stream")])
    assert len(set(ids)) == 4
    leased = await store.lease("vonage", "d1", count=10, lease=30)
    assert sorted(i.payload for i in leased) == [b"a", b"c"]
    assert all(i.attempts == 1 and not i.possible_duplicate and i.leased_until for i in leased)
    # the heads are leased: a second drainer gets nothing for vonage
    assert await store.lease("vonage", "d2", count=10, lease=30) == []
    await store.complete([i.id for i in leased if i.key == "t1"])
    nxt = await store.lease("vonage", "d2", count=10, lease=30)
    assert [i.payload for i in nxt] == [b"b"]
    assert [i.payload for i in await store.lease("stream", "d2", count=10, lease=30)] == [b"d"]


async def test_an_expired_lease_comes_back_flagged_possible_duplicate(make_store) -> None:
    store = await make_store()
    [item_id] = await store.enqueue([out("t", "a")])
    await store.lease("vonage", "crashed", count=1, lease=0.1)
    await asyncio.sleep(0.25)
    [again] = await store.lease("vonage", "d2", count=1, lease=30)
    assert (again.id, again.attempts, again.possible_duplicate) == (item_id, 2, True)


async def test_fail_schedules_a_retry_and_sets_or_clears_possible_duplicate(make_store) -> None:
    store = await make_store()
    [item_id] = await store.enqueue([out("t", "a")])
    await store.lease("vonage", "d", count=1, lease=30)
    await store.fail(item_id, error="timeout", retry_at=time.time() + 1.5, maybe_delivered=True)
    assert await store.lease("vonage", "d", count=1, lease=30) == []
    await asyncio.sleep(1.6)
    [again] = await store.lease("vonage", "d", count=1, lease=30)
    assert (again.attempts, again.possible_duplicate, again.last_error) == (2, True, "timeout")
    await store.fail(item_id, error="400", maybe_delivered=False)
    [third] = await store.lease("vonage", "d", count=1, lease=30)
    assert (third.attempts, third.possible_duplicate) == (3, False)


async def test_dead_items_step_aside_are_listed_retried_and_purged(make_store) -> None:
    store = await make_store()
    first, second = await store.enqueue([out("t", "a"), out("t", "b")])
    await store.lease("vonage", "d", count=1, lease=30)
    await store.fail(first, error="rejected", dead=True)
    [nxt] = await store.lease("vonage", "d", count=1, lease=30)
    assert nxt.id == second
    assert [i.id for i in await store.outbox(dead=True)] == [first]
    assert [i.id for i in await store.outbox(dead=False)] == [second]
    assert [i.id for i in await store.outbox()] == [first, second]
    stats = await store.stats()
    assert (stats.outbox, stats.dead) == (2, 1)
    await store.complete([second])
    assert await store.retry_dead("vonage") == 1
    [back] = await store.lease("vonage", "d", count=1, lease=30)
    assert (back.id, back.attempts, back.last_error) == (first, 2, "rejected")
    await store.fail(first, error="again", dead=True)
    assert await store.purge("vonage", [first]) == 1
    assert await store.outbox() == []
    assert (await store.stats()).outbox == 0


async def test_retried_dead_item_keeps_its_place_in_order(make_store) -> None:
    store = await make_store()
    first, _second, _third = await store.enqueue([out("t", "a"), out("t", "b"), out("t", "c")])
    await store.lease("vonage", "d", count=1, lease=30)
    await store.fail(first, error="x", dead=True)
    assert await store.retry_dead(ids=[first]) == 1
    [head] = await store.lease("vonage", "d", count=1, lease=30)
    assert head.id == first


async def test_outbox_lists_oldest_first_by_provider_and_purges_a_provider(make_store) -> None:
    store = await make_store()
    ids = await store.enqueue([out("t", "a"), out("u", "b", provider="stream"), out("t", "c")])
    assert [i.id for i in await store.outbox("vonage")] == [ids[0], ids[2]]
    assert [i.id for i in await store.outbox(limit=2)] == ids[:2]
    assert await store.purge("vonage") == 2
    assert [i.id for i in await store.outbox()] == [ids[1]]


async def test_enqueue_past_max_bytes_is_refused_whole(make_store) -> None:
    store = await make_store(max_bytes=4)
    await store.enqueue([out("t", "ab")])
    with pytest.raises(StoreFullError):
        await store.enqueue([out("t", "c"), out("t", "de")])
    assert len(await store.outbox()) == 1
    assert (await store.stats()).bytes == 2


# Settings, URL, errors


def test_url_parameters_and_masked_password() -> None:
    store = open_store("redis://user:hunter2@127.0.0.1:6379/15?prefix=app:&max_events=10&max_bytes=1KiB&retention=2m")
    assert isinstance(store, RedisStore)
    assert (store.prefix, store.bounds.max_events, store.bounds.max_bytes, store.bounds.retention) == (
        "app:",
        10,
        1024,
        120.0,
    )
    assert "hunter2" not in store.url and "hunter2" not in repr(store)
    assert "***" in store.url


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0?max_events=-1",
        "redis://127.0.0.1:6379/0?max_event=5",
        "redis://127.0.0.1:6379/0?ssl_ca_cert=/typo",
        "memcached://127.0.0.1:11211",
        "redis://127.0.0.1:6379/0?max_bytes=lots",
        "redis://127.0.0.1:6379/0?retention=soon",
        "redis://127.0.0.1:6379/0?prefix={x}",
        "redis://127.0.0.1:6379/0?max_events=1&max_events=2",
        "redis://127.0.0.1:notaport/0",
    ],
)
def test_bad_urls_are_store_errors_before_any_io(url: str) -> None:
    with pytest.raises(StoreError):
        open_store(url)


async def test_unreachable_server_at_open_is_a_store_error_without_the_password(redis_url: str) -> None:
    from redis_support import free_port

    store = open_store(f"redis://:hunter2@127.0.0.1:{free_port()}/0?socket_connect_timeout=1")
    with pytest.raises(StoreError) as info:
        await store.open()
    assert "cannot connect" in str(info.value)
    assert "hunter2" not in str(info.value) and "hunter2" not in repr(info.value)


async def test_a_server_gone_mid_run_is_store_unavailable(redis_url: str) -> None:
    from redis_support import RedisServer

    server = RedisServer().start()
    try:
        store = open_store(server.url + "?prefix=gone:&socket_timeout=2")
        await store.open()
        await store.append([rec("a")])
        server.kill()
        for call in (
            lambda: store.append([rec("b")]),
            lambda: store.read("g", "c", timeout=0),
            lambda: store.ack("g", ["00000000000001000000"]),
            lambda: store.enqueue([out("t", "x")]),
            lambda: store.lease("vonage", "d", count=1, lease=1),
            store.ping,
            store.stats,
        ):
            with pytest.raises(StoreUnavailableError) as info:
                await call()
            assert info.value.retryable
        await store.aclose()
    finally:
        server.stop()


async def test_bad_arguments_are_settings_errors_before_any_io() -> None:
    store = RedisStore("redis://127.0.0.1:1/0")  # never opened: any I/O would be a StoreError
    with pytest.raises(StoreSettingsError):
        await store.read("g", "c", count=0)
    with pytest.raises(StoreSettingsError):
        await store.read("", "c")
    with pytest.raises(StoreSettingsError):
        await store.read("g", "c", max_attempts=0)
    with pytest.raises(StoreSettingsError):
        await store.append([b"raw"])  # type: ignore[list-item]
    with pytest.raises(StoreSettingsError):
        await store.ack("g", "1-0")
    with pytest.raises(StoreSettingsError):
        await store.ack("g", ["1-0"])  # a Redis stream id is not one of the store's ids
    with pytest.raises(StoreSettingsError):
        await store.complete(["x"])
    with pytest.raises(StoreSettingsError):
        await store.lease("vonage", "d", count=1, lease=0)
    with pytest.raises(StoreSettingsError):
        await store.release("g", "00000000000000000001", delay=-1)


async def test_closed_or_unopened_store_raises_store_error(make_store) -> None:
    with pytest.raises(StoreError, match="not open"):
        await RedisStore("redis://127.0.0.1:1/0").stats()
    store = await make_store()
    await store.ping()
    await store.aclose()
    with pytest.raises(StoreError, match="closed"):
        await store.append([rec("a")])
    with pytest.raises(StoreError, match="closed"):
        await store.open()


async def test_stats_count_events_bytes_outbox_and_dead(make_store) -> None:
    store = await make_store()
    await store.append([rec("abc"), rec("de")])
    await store.enqueue([out("t", "xyz")])
    stats = await store.stats()
    assert (stats.events, stats.bytes, stats.outbox, stats.dead) == (2, 8, 1, 0)


async def test_prefixes_keep_stores_apart(make_store) -> None:
    one = await make_store(prefix=new_prefix())
    two = await make_store(prefix=new_prefix())
    await one.append([rec("a", "k")])
    assert await two.append([rec("a", "k")]) == [True]
    assert payloads(await two.read("g", "c", count=5, timeout=0)) == ["a"]
    assert (await one.stats()).events == 1


async def test_rediss_with_a_password_works_and_never_shows_the_password(redis_url: str) -> None:
    pytest.importorskip("cryptography")
    from redis_support import RedisServer, store_url

    server = RedisServer(password="hunter2", tls=True).start()
    try:
        store = open_store(store_url(server.url, "tls:"))
        assert store.url.startswith("rediss://:***@127.0.0.1:")
        assert "hunter2" not in repr(store)
        async with store:
            assert await store.append([rec("over tls", "k")]) == [True]
            assert payloads(await store.read("g", "c", timeout=0)) == ["over tls"]

        wrong = open_store(store_url(server.url.replace("hunter2", "letmein"), "tls:"))
        with pytest.raises(StoreError) as info:
            await wrong.open()
        assert "letmein" not in str(info.value) and "letmein" not in wrong.url

        # TLS without the server's CA: the certificate is refused at open
        untrusted = open_store(f"rediss://:hunter2@127.0.0.1:{server.port}/0?prefix=tls:")
        with pytest.raises(StoreError) as info:
            await untrusted.open()
        assert "hunter2" not in str(info.value)

        plain = open_store(f"redis://:hunter2@127.0.0.1:{server.port}/0?prefix=tls:&socket_timeout=2")
        with pytest.raises(StoreError):
            await plain.open()
    finally:
        server.stop()


async def test_ack_and_release_of_unknown_entries_or_groups_change_nothing(make_store) -> None:
    store = await make_store(trim_interval=0)
    await store.ack("never-read", ["00000000000001000000"])
    await store.release("never-read", "00000000000001000000", delay=1)
    await store.append([rec("a")])
    got = await store.read("g", "c", timeout=0)
    await store.ack("g", [got[0].id])
    await store.release("g", got[0].id, delay=0)  # acknowledged already: not put back
    assert await store.read("g", "c", timeout=0, claim_idle=0) == []


async def test_a_group_lost_by_the_server_is_made_again(make_store, redis_url: str) -> None:
    import redis.asyncio as aioredis

    store = await make_store()
    await store.append([rec("a")])
    assert payloads(await store.read("g", "c", timeout=0)) == ["a"]
    raw = aioredis.from_url(redis_url)
    await raw.xgroup_destroy("{" + store.prefix + "}events", "g")
    await raw.aclose()
    assert payloads(await store.read("g", "c", timeout=0)) == ["a"]


async def test_a_dead_letter_stays_without_holding_back_later_events(make_store) -> None:
    store = await make_store(max_events=3, trim_interval=0)
    await store.append([rec("poison")])
    await store.read("g", "c", timeout=0, max_attempts=1)
    assert await store.read("g", "c", timeout=0, max_attempts=1) == []  # now a dead letter
    for n in range(6):  # more than max_events go through while the dead letter is held
        await store.append([rec(f"e{n}")])
        got = await store.read("g", "c", count=5, timeout=0, max_attempts=1)
        assert payloads(got) == [f"e{n}"]
        await store.ack("g", [d.id for d in got])
    assert [d.payload for d in await store.dead_letters("g")] == [b"poison"]
    assert (await store.stats()).events == 1


async def test_provider_and_key_pairs_never_collide(make_store) -> None:
    store = await make_store()
    assert await store.append([rec("a", "b:c", provider="x"), rec("b", "c", provider="x:b")]) == [True, True]
    await store.enqueue([out("b:c", "1", provider="x"), out("c", "2", provider="x:b")])
    assert [i.payload for i in await store.lease("x", "d", count=5, lease=30)] == [b"1"]
    assert [i.payload for i in await store.lease("x:b", "d", count=5, lease=30)] == [b"2"]


async def test_large_batches_append_read_and_ack(make_store) -> None:
    store = await make_store(trim_interval=0)
    records = [rec(str(n), f"k{n}") for n in range(12_000)]
    assert all(await store.append(records))
    got = await store.read("g", "c", count=12_000, timeout=0)
    assert len(got) == 12_000
    await store.ack("g", [d.id for d in got])
    assert await store.read("g", "c", timeout=0, claim_idle=0) == []
    assert (await store.stats()).events == 0
