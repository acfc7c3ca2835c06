"""One typed event through every vendor's emulator and back, equal on return; AMI dialplan strings to types."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import attrs
import pytest
from eventkit_asterisk.testing.sandbox import AmiSandbox
from typed_support import Priority, Refund, Status, full_order

import eventkit
from eventkit import Typed
from eventkit.testing.sandbox import SANDBOXES, Sandbox, missing_requirements


@pytest.fixture(scope="module", params=sorted(SANDBOXES))
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    cls = SANDBOXES[request.param]
    missing = missing_requirements(cls)
    if missing:
        pytest.skip(f"{cls.name} needs {', '.join(missing)} (pip install 'eventkit-cpaas[all]')")
    with cls() as box:
        yield box


async def typed_round_trip(box: Sandbox, value: Any, *, timeout: float = 10.0, **listen: Any) -> Any:
    """The sandbox's own round-trip steps (connect, listen and wait for ready, send, receive), typed."""
    async with box.connect_async() as kit:
        ready = asyncio.Event()

        def on_ready(address: str) -> None:
            box.on_listening(address)
            ready.set()

        stream = kit.listen(type(value), via=box.listen_via, on_ready=on_ready, **box.listen_options(), **listen)
        first = asyncio.ensure_future(stream.__anext__())
        try:
            waiter = asyncio.ensure_future(ready.wait())
            await asyncio.wait({first, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if not ready.is_set():
                waiter.cancel()
                first.result()
                raise AssertionError(f"{box.name}: the listener did not become ready")
            await kit.send(value, to=box.target, sender=box.sender)
            return await asyncio.wait_for(first, timeout)
        finally:
            first.cancel()
            await stream.aclose()  # type: ignore[attr-defined]


async def test_a_typed_event_comes_back_equal(sandbox: Sandbox) -> None:
    order = full_order()
    got = await typed_round_trip(sandbox, order)
    assert isinstance(got, Typed)
    assert got.value == order, f"{sandbox.name} changed the typed value"
    assert got.provider == sandbox.provider and got.name == "OrderReady"


async def test_a_dataclass_event_with_an_absent_optional_comes_back_equal(sandbox: Sandbox) -> None:
    refund = Refund("R-1", Decimal("0.10"))
    got = await typed_round_trip(sandbox, refund)
    assert got.value == refund


@eventkit.event("OrderReady")
@attrs.frozen
class AmiOrder:
    """What a dialplan author writes against: AMI-style keys, every value plain text on the wire."""

    order_id: str = attrs.field(metadata=eventkit.key("OrderId"))
    amount: Decimal = attrs.field(metadata=eventkit.key("Amount"))
    paid: bool = attrs.field(metadata=eventkit.key("Paid"))
    items: int = attrs.field(metadata=eventkit.key("Items"))
    weight: float = attrs.field(metadata=eventkit.key("Weight"))
    at: datetime = attrs.field(metadata=eventkit.key("At"))
    status: Status = attrs.field(metadata=eventkit.key("Status"))
    priority: Priority = attrs.field(metadata=eventkit.key("Priority"))
    note: str | None = attrs.field(default=None, metadata=eventkit.key("Note"))


DIALPLAN = (
    " same => n,UserEvent(OrderReady,OrderId: 1234,Amount: 49.99,Paid: true,Items: 3,Weight: 1.5,"
    "At: 2024-05-06T07:08:09Z,Status: paid,Priority: 2)"
)


async def test_dialplan_strings_become_the_declared_types() -> None:
    """``UserEvent(OrderReady,Amount: 49.99,...)`` from extensions.conf, read as the typed event over AMI."""
    with AmiSandbox() as box:
        async with box.connect_async() as kit:
            ready = asyncio.Event()
            stream = kit.listen(AmiOrder, via="tcp", on_ready=lambda _: ready.set())
            first = asyncio.ensure_future(stream.__anext__())
            await asyncio.wait_for(ready.wait(), 10)
            box.emulator.dialplan(DIALPLAN)  # type: ignore[attr-defined]
            got = await asyncio.wait_for(first, 10)
            await stream.aclose()  # type: ignore[attr-defined]
    assert got.event.data["Amount"] == "49.99", "AMI carried a string"
    assert got.value == AmiOrder(
        order_id="1234",
        amount=Decimal("49.99"),
        paid=True,
        items=3,
        weight=1.5,
        at=datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc),
        status=Status.PAID,
        priority=Priority.HIGH,
    )
    assert isinstance(got.value.amount, Decimal)
    assert got.source is not None and got.source.startswith("channel:")
    assert isinstance(got.meta["Channel"], str)


async def test_a_dialplan_value_that_does_not_fit_is_counted_not_fatal() -> None:
    with AmiSandbox() as box:
        async with box.connect_async() as kit:
            ready = asyncio.Event()
            stream = kit.listen(Refund, via="tcp", on_invalid="raw", on_ready=lambda _: ready.set())
            first = asyncio.ensure_future(stream.__anext__())
            await asyncio.wait_for(ready.wait(), 10)
            box.emulator.dialplan(" same => n,UserEvent(Refund,OrderId: R-1,amount: a lot)")
            box.emulator.dialplan(" same => n,UserEvent(Refund,OrderId: R-2,amount: 1.5)")
            raw = await asyncio.wait_for(first, 10)
            typed = await asyncio.wait_for(stream.__anext__(), 10)
            await stream.aclose()  # type: ignore[attr-defined]
    assert isinstance(raw, eventkit.Event) and raw.data["amount"] == "a lot"
    assert typed.value == Refund("R-2", Decimal("1.5"))
    assert kit.stats["invalid_events"] == 1
