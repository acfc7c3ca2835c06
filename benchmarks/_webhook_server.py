"""A webhook server in its own process on the other core: eventkit's receiver or a bare ASGI app."""

from __future__ import annotations

import os
import sys
from typing import Any

import uvicorn

SECRET = "bench-secret-0123456789"


async def bare(scope: Any, receive: Any, send: Any) -> None:
    """The reference: reads the body and answers 200 without any work."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def receiver() -> Any:
    from eventkit import Secret, WebhookReceiver, _registry

    cls = _registry.load("stream")
    provider = cls(cls.Settings(api_key="bench-key", api_secret=Secret(SECRET)))
    return WebhookReceiver([provider])


if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    kind, port = sys.argv[1], int(sys.argv[2])
    app = bare if kind == "bare" else receiver()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    print("ready", flush=True)
    server.run()
