"""ASGI helpers shared by the webhook receiver, plugin ASGI apps and every emulator.

Reading a request body and answering with JSON were written once per app; the
one copy here keeps the body cap and the client-went-away case the same
everywhere. Pure asyncio and the ASGI message shapes: no server is imported.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Dict, Union

from ._errors import PayloadTooLargeError

# Loose on purpose: apps type their own callables with Mapping or MutableMapping messages.
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Dict[str, Any]], Awaitable[None]]
Headers = Union[Mapping[str, str], Iterable[tuple[bytes, bytes]]]


class BodyTooLargeError(PayloadTooLargeError):
    """A request body grew past the reader's cap (answer 413); the rest is left unread."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"body over {limit} bytes")
        self.limit = limit


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole request body, or ``None`` if the client disconnected first.

    Raises :class:`BodyTooLargeError` as soon as more than ``limit`` bytes have
    arrived, so an oversized body is never held whole in memory.
    """
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if limit is not None and len(body) > limit:
            raise BodyTooLargeError(limit)
        if not message.get("more_body", False):
            return bytes(body)


_JSON = b"application/json"


def _header_pairs(headers: Headers) -> list[tuple[bytes, bytes]]:
    if isinstance(headers, Mapping):
        return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    return list(headers)


async def answer(
    send: Send, status: int, body: bytes, *, content_type: str = "application/json", headers: Headers = ()
) -> None:
    """One complete HTTP response: status, content type and length, extra headers, body."""
    kind = _JSON if content_type == "application/json" else content_type.encode("latin-1")
    pairs = [(b"content-type", kind), (b"content-length", b"%d" % len(body))]
    if headers:
        pairs += _header_pairs(headers)
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": body})


async def answer_json(send: Send, status: int, payload: Any, headers: Headers = ()) -> None:
    """:func:`answer` with ``payload`` as JSON (``json.dumps`` defaults)."""
    await answer(send, status, json.dumps(payload).encode(), headers=headers)
