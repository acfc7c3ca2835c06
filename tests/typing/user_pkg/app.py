"""Code as an application developer writes it against eventkit's public API (type-checked, not run)."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette
from starlette.routing import Mount

import eventkit
from eventkit import Event, SendResult, WebhookReceiver


def send_one() -> SendResult:
    with eventkit.connect("memory", routes={"orders": "topic:orders"}) as kit:
        return kit.send("order_ready", {"order": 1}, to="@orders")


async def listen_some() -> list[Event]:
    out: list[Event] = []
    async with eventkit.connect_async("memory") as kit:
        async for event in kit.listen({"order_ready"}):
            out.append(event)
            break
    return out


def both() -> dict[str, SendResult]:
    with eventkit.connect_many(["memory"]) as many:
        return many.send("order_ready", {"order": 1}, to="topic:orders")


receiver = WebhookReceiver()


@receiver.on
async def handle(event: Event) -> None:
    print(event.name)


def mounted() -> tuple[Starlette, httpx.ASGITransport]:
    app = Starlette(routes=[Mount("/hooks", app=receiver)])
    app.mount("/more", receiver)
    return app, httpx.ASGITransport(app=receiver)


def portable() -> bool:
    return eventkit.check("order_ready", {"order": 1}).portable
