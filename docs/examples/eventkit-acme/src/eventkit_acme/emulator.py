"""A loopback Acme Rooms: the REST endpoint plus signed webhooks, for tests and the conformance suite.

It runs on eventkit's :class:`~eventkit.testing.AsgiServer` (uvicorn on
127.0.0.1, port 0), records what it received, and can be told to fail the
next request with a status, shaped as Acme shapes its errors.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from typing import Any

import httpx

from eventkit.testing import AsgiServer, answer_json, read_body

from . import sign


class AcmeEmulator:
    def __init__(self, api_key: str = "acme-test-key", webhook_secret: str = "acme-test-webhook-secret") -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.webhook_url: str | None = None
        """Where each accepted event is posted, signed (the application's webhook URL)."""
        self.requests = 0
        """Send requests that reached the emulator, refused ones included."""
        self.events: list[dict[str, Any]] = []
        self._faults: list[tuple[int, float | None]] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            # A plain coroutine function: uvicorn would take a bound method for ASGI 2.
            await self._app(scope, receive, send)

        self.server = AsgiServer(app)

    @property
    def url(self) -> str:
        return self.server.url

    def start(self) -> AcmeEmulator:
        self.server.start()
        return self

    def close(self) -> None:
        self.server.close()

    def fail_next(self, status: int, retry_after: float | None = None) -> None:
        with self._lock:
            self._faults.append((status, retry_after))

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if body is None:
            return
        status, headers, answer = self._handle(scope, body)
        await answer_json(send, status, answer, headers=headers)

    def _handle(self, scope: dict[str, Any], body: bytes) -> tuple[int, list[tuple[bytes, bytes]], Any]:
        parts = scope["path"].strip("/").split("/")
        if scope["method"] != "POST" or len(parts) != 4 or parts[:2] != ["v1", "rooms"] or parts[3] != "events":
            return 404, [], {"error": {"code": "not_found", "message": "no such endpoint"}}
        with self._lock:
            self.requests += 1
            fault = self._faults.pop(0) if self._faults else None
        if fault is not None:
            status, retry_after = fault
            extra = [(b"retry-after", f"{retry_after:g}".encode())] if retry_after is not None else []
            return status, extra, {"error": {"code": f"e{status}", "message": "injected by the emulator"}}
        headers = dict(scope["headers"])
        if headers.get(b"authorization") != f"Bearer {self.api_key}".encode():
            return 401, [], {"error": {"code": "unauthorized", "message": "bad API key"}}
        try:
            payload = json.loads(body)
        except ValueError:
            return 400, [], {"error": {"code": "bad_json", "message": "the body is not JSON"}}
        event = {"id": next(self._ids), "room": parts[2], **payload}
        self.events.append(event)
        if self.webhook_url:
            task = asyncio.ensure_future(self._deliver(self.webhook_url, event))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return 201, [], {"id": event["id"]}

    def webhook_call(
        self, event: dict[str, Any], delivery_id: str, *, secret: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of the webhook call Acme posts for ``event`` (``secret``: sign with another key)."""
        body = json.dumps(event).encode()
        headers = {
            "content-type": "application/json",
            "x-acme-signature": sign(self.webhook_secret if secret is None else secret, body),
            "x-acme-delivery": delivery_id,
        }
        return headers, body

    async def _deliver(self, url: str, event: dict[str, Any]) -> None:
        headers, body = self.webhook_call(event, f"delivery-{event['id']}")
        async with httpx.AsyncClient() as client:
            await client.post(url, content=body, headers=headers)
