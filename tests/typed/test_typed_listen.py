"""listen(OrderReady) through the in-process provider: typed values, envelopes, invalid payloads."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typed_support import OrderReady, Refund, full_order, namespace

import eventkit
from eventkit import ConfigurationError, Event, InvalidPayloadError, Typed
from eventkit._store import open_store
from eventkit._store.codec import decode_event


async def _started(stream: AsyncIterator[Any], ready: asyncio.Event) -> asyncio.Future[Any]:
    first = asyncio.ensure_future(stream.__anext__())
    await asyncio.wait({first, asyncio.ensure_future(ready.wait())}, return_when=asyncio.FIRST_COMPLETED)
    assert ready.is_set(), "the listener never became ready"
    return first


async def _collect(stream: AsyncIterator[Any], first: asyncio.Future[Any], count: int) -> list[Any]:
    got = [await asyncio.wait_for(first, 5)]
    while len(got) < count:
        got.append(await asyncio.wait_for(stream.__anext__(), 5))
    return got


async def test_listen_yields_the_value_and_its_envelope() -> None:
    async with eventkit.connect_async("memory", namespace=namespace(), environ={}) as kit:
        ready = asyncio.Event()
        stream = kit.listen(OrderReady, on_ready=lambda _: ready.set())
        first = await _started(stream, ready)
        order = full_order()
        result = await kit.send(order, to="topic:orders", sender="till-1")
        (typed,) = await _collect(stream, first, 1)
        await stream.aclose()
    assert isinstance(typed, Typed)
    assert typed.value == order
    assert typed.event.id == result.event.id == typed.id
    assert (typed.name, typed.provider, typed.sender) == ("OrderReady", "memory", "till-1")
    assert typed.source is not None and typed.time == typed.event.time and typed.meta == typed.event.meta


async def test_several_types_and_only_those() -> None:
    async with eventkit.connect_async("memory", namespace=namespace(), environ={}) as kit:
        ready = asyncio.Event()
        stream = kit.listen((OrderReady, Refund), on_ready=lambda _: ready.set())
        first = await _started(stream, ready)
        await kit.send("Other", {"x": 1}, to="topic:t")
        results = await kit.send_many([full_order(), Refund("R-9", Decimal("2.50"))], to="topic:t")
        assert all(r.ok for r in results)
        got = await _collect(stream, first, 2)
        await stream.aclose()
    assert [type(t.value) for t in got] == [OrderReady, Refund]
    assert got[1].value == Refund("R-9", Decimal("2.50"))


async def test_an_invalid_payload_is_counted_logged_once_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="eventkit.typed")
    async with eventkit.connect_async("memory", namespace=namespace(), environ={}) as kit:
        ready = asyncio.Event()
        stream = kit.listen(Refund, on_ready=lambda _: ready.set())
        first = await _started(stream, ready)
        for n in range(3):
            await kit.send("Refund", {"OrderId": n, "amount": "lots"}, to="topic:t")  # same shape: one log line
        await kit.send("Refund", {"amount": "1"}, to="topic:t")  # another shape: logged too
        await kit.send(Refund("R-ok"), to="topic:t")
        (typed,) = await _collect(stream, first, 1)
        await stream.aclose()
    assert typed.value == Refund("R-ok")
    assert kit.stats["invalid_events"] == 4
    lines = [r.getMessage() for r in caplog.records if r.name == "eventkit.typed"]
    assert len(lines) == 2
    assert "$.order_id" in lines[0] and "$.amount" in lines[0] and "skipped" in lines[0]
    assert "lots" not in lines[0], "values stay out of the log"
    assert "required field missing @ $.order_id" in lines[1]


async def test_raw_mode_yields_the_untyped_event() -> None:
    async with eventkit.connect_async("memory", namespace=namespace(), environ={}) as kit:
        ready = asyncio.Event()
        stream = kit.listen(Refund, on_invalid="raw", on_ready=lambda _: ready.set())
        first = await _started(stream, ready)
        await kit.send("Refund", {"OrderId": 5}, to="topic:t")
        await kit.send(Refund("R-1"), to="topic:t")
        got = await _collect(stream, first, 2)
        await stream.aclose()
    assert isinstance(got[0], Event) and got[0].data == {"OrderId": 5}
    assert isinstance(got[1], Typed) and got[1].value == Refund("R-1")
    assert kit.stats["invalid_events"] == 1


async def test_dead_letter_mode_hands_an_invalid_payload_to_the_dead_letters(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    async with eventkit.connect_async("memory", namespace=namespace(), store=url, environ={}) as kit:
        ready = asyncio.Event()
        stream = kit.listen(Refund, on_invalid="dead_letter", max_attempts=2, on_ready=lambda _: ready.set())
        first = await _started(stream, ready)
        await kit.send("Refund", {"OrderId": 5}, to="topic:t")
        await kit.send(Refund("R-1"), to="topic:t")
        got = await asyncio.wait_for(first, 10)  # the invalid one is given back, the valid one comes
        await stream.aclose()
    assert isinstance(got, Typed) and got.value == Refund("R-1")
    async with open_store(url) as store:
        (dead,) = await store.dead_letters("memory:default")
    assert decode_event(dead.payload).data == {"OrderId": 5}
    assert dead.error is not None and "$.order_id" in dead.error


def test_without_a_store_the_dead_letter_mode_raises_the_hook_exception() -> None:
    step = eventkit._typed.TypedListen([Refund], on_invalid="dead_letter")
    with pytest.raises(InvalidPayloadError) as caught:
        step.convert(Event("Refund", {"OrderId": 5}, provider="memory"))
    error = caught.value
    assert error.event.data == {"OrderId": 5} and error.type is Refund
    assert {v.field for v in error.violations} == {"$.order_id"} and error.provider == "memory"


def test_the_per_event_step_for_a_store_consumer() -> None:
    step = eventkit._typed.TypedListen([Refund], on_invalid="dead_letter")
    good = Event("Refund", {"OrderId": "R-1"})
    converted = step.convert(good)
    assert isinstance(converted, Typed) and converted.value == Refund("R-1")
    assert step.convert(Event("Other", {})) is None
    with pytest.raises(InvalidPayloadError):
        step.convert(Event("Refund", {}))
    assert step.stats["invalid_events"] == 1


def test_the_sync_client_listens_for_types_too() -> None:
    ready = threading.Event()
    with eventkit.connect("memory", namespace=namespace(), environ={}) as kit:
        events = kit.listen(OrderReady, on_ready=lambda _: ready.set())
        assert ready.wait(5)
        kit.send("OrderReady", {"OrderId": 1}, to="topic:t")  # invalid: skipped
        kit.send(full_order(), to="topic:t")
        typed = next(events)
        events.close()  # type: ignore[attr-defined]
    assert typed.value == full_order()
    assert kit.stats["invalid_events"] == 1


@pytest.mark.parametrize(
    ("names", "options"),
    [
        (["OrderReady", OrderReady], {}),
        ({"OrderReady"}, {"on_invalid": "raw"}),
        (OrderReady, {"on_invalid": "explode"}),
        (int, {}),
    ],
)
def test_listen_refuses_what_it_cannot_honour(names: Any, options: dict[str, Any]) -> None:
    with eventkit.connect("memory", environ={}) as kit, pytest.raises(ConfigurationError):
        kit.listen(names, **options)


def test_two_types_cannot_claim_one_event_name() -> None:
    import attrs

    @eventkit.event("Refund")
    @attrs.frozen
    class OtherRefund:
        order_id: str

    with eventkit.connect("memory", environ={}) as kit, pytest.raises(ConfigurationError, match="both declare"):
        kit.listen([Refund, OtherRefund])


def test_send_many_refuses_a_bad_typed_item_and_sends_the_rest() -> None:
    with eventkit.connect("memory", namespace=namespace(), environ={}) as kit:
        results = kit.send_many([Refund("R-1"), full_order(amount=1.5), Refund("R-2")], to="topic:t")
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1].error, eventkit.ValidationError)
    assert results[2].event.data == {"OrderId": "R-2", "amount": "0"}


async def test_lenient_can_be_asked_for_on_a_json_provider() -> None:
    wire = {**eventkit._typed.to_data(full_order()), "items": "3", "paid": "true"}
    async with eventkit.connect_async("memory", namespace=namespace(), environ={}) as kit:
        ready = asyncio.Event()
        stream = kit.listen(OrderReady, lenient=True, on_ready=lambda _: ready.set())
        first = await _started(stream, ready)
        await kit.send("OrderReady", wire, to="topic:t")
        (typed,) = await _collect(stream, first, 1)
        await stream.aclose()
    assert typed.value == full_order()
    strict = eventkit._typed.TypedListen([OrderReady], on_invalid="raw")
    event = Event("OrderReady", wire)
    assert strict.convert(event) is event, "on a JSON provider a string is not an int"
