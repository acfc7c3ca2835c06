"""Pydantic models as event types: duck-typed (model_dump / model_validate), pydantic only a test dependency."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import datetime, timezone
from decimal import Decimal

import pytest

import eventkit
from eventkit import Event, Typed
from eventkit._typed import TypedListen, converter, to_data

pydantic = pytest.importorskip("pydantic", reason="pydantic is a test-only dependency (the dev extra)")


@eventkit.event("Shipment")
class Shipment(pydantic.BaseModel):
    order_id: str = pydantic.Field(alias="OrderId")
    weight: Decimal
    shipped_at: datetime
    parcels: list[int] = pydantic.Field(default_factory=list)


def shipment() -> Shipment:
    return Shipment(OrderId="ORD-7", weight=Decimal("2.125"), shipped_at=datetime(2024, 1, 2, tzinfo=timezone.utc))


def test_a_model_is_sent_in_its_json_mode_with_aliases() -> None:
    assert to_data(shipment()) == {
        "OrderId": "ORD-7",
        "weight": "2.125",
        "shipped_at": "2024-01-02T00:00:00Z",
        "parcels": [],
    }


def test_a_model_is_read_back_with_its_own_validation() -> None:
    back = converter(False).structure(to_data(shipment()), Shipment)
    assert back == shipment()


def test_an_invalid_model_payload_lists_every_field_error() -> None:
    step = TypedListen([Shipment], on_invalid="raw")
    raw = Event("Shipment", {"OrderId": 3, "weight": "heavy"})
    assert step.convert(raw) is raw
    assert step.stats["invalid_events"] == 1
    with pytest.raises(eventkit.InvalidPayloadError) as caught:
        TypedListen([Shipment], on_invalid="dead_letter").convert(raw)
    paths = {v.field for v in caught.value.violations}
    assert paths == {"$.OrderId", "$.weight", "$.shipped_at"}


async def test_a_model_round_trips_through_a_provider() -> None:
    async with eventkit.connect_async("memory", namespace="pydantic-rt", environ={}) as kit:
        ready = asyncio.Event()
        stream = kit.listen(Shipment, on_ready=lambda _: ready.set())
        first = asyncio.ensure_future(stream.__anext__())
        await asyncio.wait_for(ready.wait(), 5)
        await kit.send(shipment(), to="topic:t")
        got = await asyncio.wait_for(first, 5)
        await stream.aclose()
    assert isinstance(got, Typed) and got.value == shipment()


def test_eventkit_never_imports_pydantic() -> None:
    code = "import sys, eventkit, eventkit._typed, eventkit._typed_check; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_check_reports_a_models_aliases() -> None:
    report = eventkit.check(Shipment, providers=["memory"])
    assert [(f.name, f.key) for f in report.fields][:1] == [("order_id", "OrderId")]
    assert report.portable
