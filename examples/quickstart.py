"""A first run with nothing configured: send and receive a typed event through the in-process provider.

Switching vendors is a change of ``connect(...)`` and of the target string; the
rest of this file stays the same, and the same ``OrderReady`` comes back from
every provider (Asterisk's flat strings included).
"""

from __future__ import annotations

import asyncio
from decimal import Decimal

import attrs

import eventkit


@eventkit.event("OrderReady")
@attrs.frozen
class OrderReady:
    order_id: str = attrs.field(metadata=eventkit.key("OrderId"))  # "OrderId" on the wire
    amount: Decimal  # sent as the string "49.99": no float rounding on any platform
    items: int


async def main() -> None:
    async with eventkit.connect_async("memory") as kit:
        ready = asyncio.Event()
        received = kit.listen(OrderReady, on_ready=lambda address: ready.set())
        first = asyncio.ensure_future(received.__anext__())
        await ready.wait()

        order = OrderReady(order_id="1234", amount=Decimal("49.99"), items=3)
        result = await kit.send(order, to="topic:kitchen", sender="till-1")
        print(f"sent     {result.event.name} {result.event.data} to {result.target}: ok={result.ok}")

        typed = await asyncio.wait_for(first, 5)
        print(f"received {typed.value} from {typed.sender} via {typed.provider}")
        assert typed.value == order, "the same typed value comes back"
        await received.aclose()

    report = eventkit.check(OrderReady)
    for verdict in report.verdicts:
        why = verdict.error or "; ".join(str(v) for v in verdict.violations) or "carries every field"
        print(f"check    {verdict.provider:<10} {why}")


if __name__ == "__main__":
    asyncio.run(main())
