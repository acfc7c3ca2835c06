"""A first run with nothing configured: send and receive through the in-process provider.

Switching vendors is a change of ``connect(...)`` and of the target string; the
rest of this file stays the same.
"""

from __future__ import annotations

import asyncio

import eventkit


async def main() -> None:
    async with eventkit.connect_async("memory") as kit:
        ready = asyncio.Event()
        received = kit.listen(names={"OrderReady"}, on_ready=lambda address: ready.set())
        first = asyncio.ensure_future(received.__anext__())
        await ready.wait()

        result = await kit.send("OrderReady", {"OrderId": "1234", "items": 3}, to="topic:kitchen", sender="till-1")
        print(f"sent     {result.event.name} to {result.target}: ok={result.ok} attempts={result.attempts}")

        event = await asyncio.wait_for(first, 5)
        print(f"received {event.name} {event.data} from {event.sender} via {event.provider}")
        await received.aclose()

    report = eventkit.check("OrderReady", {"OrderId": "1234"}, to="topic:kitchen")
    for verdict in report.verdicts:
        why = verdict.error or "; ".join(str(v) for v in verdict.violations) or "accepted"
        print(f"check    {verdict.provider:<10} {why}")


if __name__ == "__main__":
    asyncio.run(main())
