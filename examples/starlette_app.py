"""Stream webhooks in a Starlette app (FastAPI is the same): the receiver mounted under ``/hooks``.

Run it (the ``server`` extra brings uvicorn)::

    STREAM_API_KEY=... STREAM_API_SECRET=... uvicorn --factory examples.starlette_app:main --port 8000

and give Stream the webhook URL ``https://<your host>/hooks/webhooks/stream``. The mount answers
``/hooks/healthz`` and ``/hooks/readyz`` too. ``POST /api/stream-webhook`` shows the other way
in, ``await receiver.handle(...)`` from your own async route.

With FastAPI, the receiver and the lifespan are the same::

    app = FastAPI(lifespan=lifespan)
    app.mount("/hooks", receiver)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Union

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

import eventkit

log = logging.getLogger("example.starlette")
OnEvent = Callable[[eventkit.Event], Union[Awaitable[None], None]]


def make_receiver(environ: Mapping[str, str] | None = None) -> eventkit.WebhookReceiver:
    """A receiver for Stream, its settings from ``STREAM_API_KEY`` / ``STREAM_API_SECRET``."""
    kit = eventkit.connect("stream", environ=environ)
    return eventkit.WebhookReceiver([kit.provider])


def log_event(event: eventkit.Event) -> None:
    log.info("%s from %s to %s: %s", event.name, event.sender, event.target, event.data)


def create_app(receiver: eventkit.WebhookReceiver, on_event: OnEvent = log_event) -> Starlette:
    """The app: the receiver mounted at ``/hooks``, one consumer task for as long as the app runs."""

    async def consume() -> None:
        async for event in receiver.events():
            try:
                result = on_event(event)
                if result is not None:
                    await result
            except Exception:  # one bad event must not end the consumer
                log.exception("handling %s failed", event.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Subscribe before serving, so no event acknowledged from now on is missed.
        consumer = asyncio.ensure_future(consume())
        await asyncio.sleep(0)
        try:
            yield
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer

    async def stream_webhook(request: Request) -> JSONResponse:
        # Your own route: Starlette reads the body, so cap it yourself if it matters (see docs/frameworks.md).
        status, payload = await receiver.handle("stream", request.headers, await request.body())
        return JSONResponse(payload, status_code=status)

    return Starlette(
        routes=[
            Route("/api/stream-webhook", stream_webhook, methods=["POST"]),
            Mount("/hooks", app=receiver),
        ],
        lifespan=lifespan,
    )


def main() -> Starlette:
    """The factory uvicorn calls (``--factory``)."""
    logging.basicConfig(level=logging.INFO)
    return create_app(make_receiver())


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(main(), host="127.0.0.1", port=8000)
