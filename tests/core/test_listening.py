"""The core listener pipeline: one reconnect loop (formula, counters, log lines) and the sink hand-off."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from eventkit import AuthenticationError, Backoff, Event, ListenContext, Reconnector, UnavailableError
from eventkit._capabilities import ListenMode
from eventkit._listening import QueueSink, sink_only, through_sink
from eventkit._settings import resolve_transport
from eventkit._stats import Counters


def context(**options: Any) -> ListenContext:
    policy = resolve_transport("test", {"backoff_initial": 0.01, "backoff_max": 0.04}, environ={})
    return ListenContext(names=None, via=ListenMode.WEBSOCKET, transport=policy, stats=Counters(), options=options)


def test_backoff_is_immediate_after_a_drop_then_doubles_up_to_the_maximum() -> None:
    backoff = Backoff(0.1, 0.5)
    assert backoff.delay(0) == 0.0
    for failures, ceiling in [(1, 0.1), (2, 0.2), (3, 0.4), (4, 0.5), (9, 0.5)]:
        for _ in range(20):
            assert ceiling / 2 <= backoff.delay(failures) <= ceiling


async def test_counters_and_log_lines_are_the_same_for_every_session_kind(caplog: pytest.LogCaptureFixture) -> None:
    ctx = context()
    ready: list[str] = []
    loop = Reconnector(ctx, "demo", retry_on=(UnavailableError,), on_ready=ready.append)
    script = ["fail", "fail", "ok-lost", "ok-lost", "fatal"]

    async def session(connected: Any) -> None:
        step = script.pop(0)
        if step == "fail":
            raise UnavailableError("refused")
        if step == "fatal":
            raise AuthenticationError("bad secret")
        connected("demo://host")
        await ctx.sink.accept([Event("Seen", {})])
        raise UnavailableError("dropped")

    with caplog.at_level(logging.INFO, logger="eventkit.listening"), pytest.raises(AuthenticationError):
        await loop.run(session)
    stats = ctx.stats.snapshot()
    assert stats["reconnects"] == 4
    assert stats["connect_failures"] == 2
    assert stats["resubscribed"] == 1
    assert stats["received"] == 2
    assert ready == ["demo://host"]  # once, unless the listener asks for every session
    levels = [(r.levelno, r.getMessage().split(" (")[0]) for r in caplog.records]
    assert levels.count((logging.WARNING, "demo listener could not connect")) == 2
    assert levels.count((logging.WARNING, "demo listener lost its session")) == 2
    assert (logging.INFO, "demo listener connected to demo://host") in levels
    assert (logging.INFO, "demo listener reconnected to demo://host") in levels


async def test_a_full_sink_stops_the_reader_instead_of_buffering() -> None:
    ctx = ListenContext(
        names=None, via=ListenMode.WEBSOCKET, transport=context().transport, stats=Counters(), sink=QueueSink(size=2)
    )
    handed = 0

    async def run() -> None:
        nonlocal handed
        while True:
            await ctx.sink.accept([Event("E", {"n": handed})])
            handed += 1

    task = asyncio.ensure_future(run())
    for _ in range(50):
        await asyncio.sleep(0)
    assert handed == 2  # the third accept waits for the consumer
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_through_sink_yields_in_order_filters_names_and_raises_the_listener_error() -> None:
    ctx = ListenContext(
        names=frozenset({"keep"}), via=ListenMode.WEBSOCKET, transport=context().transport, stats=Counters()
    )

    async def run() -> None:
        for n in range(5):
            await ctx.sink.accept([Event("keep" if n % 2 == 0 else "skip", {"n": n})])
        raise AuthenticationError("revoked")

    got: list[int] = []
    with pytest.raises(AuthenticationError):
        async for event in through_sink(sink_only(run), ctx):
            got.append(int(event.data["n"]))  # type: ignore[call-overload]
    assert got == [0, 2, 4]


async def test_a_yielding_listener_is_pumped_into_the_sink() -> None:
    ctx = context()

    async def source() -> Any:
        for n in range(3):
            yield Event("E", {"n": n})

    got = [event.data["n"] async for event in through_sink(source(), ctx)]
    assert got == [0, 1, 2]
    assert ctx.stats["received"] == 3


async def test_a_listener_that_ends_ends_listen_after_its_events() -> None:
    from eventkit._delivery import GroupOptions, StoreSink, consume
    from eventkit._store import open_store

    store = open_store("memory://")
    await store.open()
    sink = StoreSink(store, "demo", Counters())

    async def finite() -> None:
        for n in range(3):
            await sink.accept([Event("E", {"n": n})])

    producer = asyncio.ensure_future(finite())
    source = consume(store, "demo", GroupOptions(consumer="c", poll=0.05), producer=producer)
    got = [event.data["n"] async for event in source]
    assert got == [0, 1, 2]
    await store.aclose()
