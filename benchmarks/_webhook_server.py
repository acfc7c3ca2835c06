"""A webhook server in its own process on the other core: eventkit's receiver, a bare ASGI app or a minimal receiver."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sys
from typing import Any

import uvicorn

SECRET = "bench-secret-0123456789"
KEY = SECRET.encode()


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


async def minimal(scope: Any, receive: Any, send: Any) -> None:
    """A second reference: what a hand-written receiver minimally does (HMAC check, JSON parse), nothing kept."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    signature = next((v for k, v in scope["headers"] if k == b"x-signature"), b"")
    expected = hmac.new(KEY, body, hashlib.sha256).hexdigest().encode()
    ok = hmac.compare_digest(expected, signature) and isinstance(json.loads(body), dict)
    answer = b'{"received": 1}' if ok else b'{"error": "bad signature"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200 if ok else 401,
            "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))],
        }
    )
    await send({"type": "http.response.body", "body": answer})


def receiver() -> Any:
    from eventkit import Secret, WebhookReceiver, _registry

    cls = _registry.load("stream")
    provider = cls(cls.Settings(api_key="bench-key", api_secret=Secret(SECRET)))
    return WebhookReceiver([provider])


if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    kind, port = sys.argv[1], int(sys.argv[2])
    app = {"bare": bare, "minimal": minimal}.get(kind) or receiver()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    print("ready", flush=True)
    server.run()
