"""Event types the typed tests share: every supported field type, attrs and dataclass flavours."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs

import eventkit


class Status(enum.Enum):
    NEW = "new"
    PAID = "paid"


class Priority(enum.IntEnum):
    LOW = 1
    HIGH = 2


@attrs.frozen
class Line:
    sku: str
    qty: int
    unit_price: Decimal = attrs.field(metadata=eventkit.key("UnitPrice"))


@dataclasses.dataclass(frozen=True)
class Address:
    street: str
    zip_code: str | None = dataclasses.field(default=None, metadata=eventkit.key("Zip"))


@eventkit.event("OrderReady")
@attrs.frozen
class OrderReady:
    order_id: str = attrs.field(metadata=eventkit.key("OrderId"))
    amount: Decimal
    paid: bool
    items: int
    weight: float
    at: datetime
    due: date
    status: Status
    priority: Priority
    note: str | None = None
    lines: list[Line] = attrs.Factory(list)
    tags: dict[str, int] = attrs.Factory(dict)
    address: Address | None = None


@eventkit.event("Refund")
@dataclasses.dataclass(frozen=True)
class Refund:
    order_id: str = dataclasses.field(metadata=eventkit.key("OrderId"))
    amount: Decimal = Decimal("0")


def full_order(**changes: Any) -> OrderReady:
    """One order using every field type, with values that survive every provider's wire."""
    order = OrderReady(
        order_id="ORD-1234",
        amount=Decimal("49.99"),
        paid=True,
        items=3,
        weight=1.25,
        at=datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2))),
        due=date(2024, 5, 7),
        status=Status.PAID,
        priority=Priority.HIGH,
        note="leave at the door",
        lines=[Line("TEA", 2, Decimal("1.10")), Line("CAKE", 1, Decimal("3.00"))],
        tags={"loyalty": 7},
        address=Address("1 Main St", "12345"),
    )
    return attrs.evolve(order, **changes)


def namespace() -> str:
    return f"typed-{uuid.uuid4().hex[:8]}"
