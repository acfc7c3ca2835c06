"""Seeded fault injection for the HTTP emulators: an ASGI wrapper around any of them.

A :class:`FaultPlan` decides, per send request and from its own seeded random
generator, whether the platform misbehaves and how:

* ``rate_limited``: 429 with ``Retry-After`` (seconds drawn from ``retry_after``);
* ``unavailable``: 503;
* ``slow``: the platform stores the event, then answers after ``slow`` seconds
  (past the client's timeout, so the answer is lost);
* ``drop_before``: the connection drops before the platform sees the request;
* ``drop_after``: the platform stores the event, then the connection drops
  mid-answer.

The wrapper records what the platform *stored* (the wrapped emulator answered
2xx) by a fingerprint of method, path and body, which eventkit keeps the same
across the retries of one send, so a test can count platform-side duplicates
and check each follows a lost answer. Only ``slow`` and ``drop_after`` lose an
answer after the platform stored the event; the others can never duplicate.

>>> plan = FaultPlan(rate=0.3, seed=7)                   # doctest: +SKIP
>>> emulator = StreamEmulator(faults=plan).start()       # doctest: +SKIP
>>> plan.injected, plan.stored                           # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

import attrs

from .._asgi import read_body

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Any, Any, Any], Awaitable[None]]
Matcher = Callable[[str, str], bool]

KINDS = ("rate_limited", "unavailable", "slow", "drop_before", "drop_after")
ANSWER_LOST_AFTER_STORE = frozenset({"slow", "drop_after"})
"""Faults after which the platform has the event but the client never hears so."""


class DroppedConnection(Exception):
    """Raised inside the ASGI app after the response started: the server closes the socket mid-answer."""


class _QuietDrops(logging.Filter):
    """Keeps injected drops out of uvicorn's error log (they are the point, not a bug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


_quiet = _QuietDrops()
logging.getLogger("uvicorn.error").addFilter(_quiet)


@attrs.frozen
class Arrival:
    """One send request as it reached the emulator: its fingerprint, when, and which fault it met."""

    fingerprint: str
    at: float
    fault: str | None
    retry_after: float | None


@attrs.define
class FaultPlan:
    """What fraction of send requests fail, how, and what the platform saw and stored.

    ``kinds`` are drawn uniformly among the faulty requests. The generator is
    seeded, so the sequence of decisions is the same run to run (which request
    gets which decision depends on arrival order under concurrency).
    """

    rate: float = 0.3
    seed: int = 0
    kinds: tuple[str, ...] = KINDS
    retry_after: tuple[float, float] = (0.0, 1.0)
    """Range of the ``Retry-After`` seconds on injected 429s (one decimal)."""
    slow: float = 0.5
    """How late a ``slow`` answer comes; keep it well past the client's timeout."""
    injected: Counter[str] = attrs.field(factory=Counter)
    stored: Counter[str] = attrs.field(factory=Counter)
    """Fingerprint -> how many times the platform stored that request."""
    arrivals: list[Arrival] = attrs.field(factory=list)
    requests: dict[str, bytes] = attrs.field(factory=dict)
    """Fingerprint -> the request line and body it stands for (tests find their events in it)."""
    _rng: random.Random = attrs.field(init=False)
    _lock: threading.Lock = attrs.field(init=False, factory=threading.Lock)

    def __attrs_post_init__(self) -> None:
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"fault kinds must be among {KINDS}, not {sorted(unknown)}")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be within [0, 1]")
        self._rng = random.Random(self.seed)

    def decide(self, fingerprint: str, request: bytes = b"") -> tuple[str | None, float | None]:
        with self._lock:
            self.requests.setdefault(fingerprint, request)
            kind = self._rng.choice(self.kinds) if self._rng.random() < self.rate else None
            retry_after = None
            if kind == "rate_limited":
                low, high = self.retry_after
                retry_after = round(self._rng.uniform(low, high), 1)
            if kind is not None:
                self.injected[kind] += 1
            self.arrivals.append(Arrival(fingerprint, time.monotonic(), kind, retry_after))
        return kind, retry_after

    def record_stored(self, fingerprint: str) -> None:
        with self._lock:
            self.stored[fingerprint] += 1

    @property
    def duplicates(self) -> int:
        """Extra copies the platform stored (a request stored three times counts two)."""
        return sum(n - 1 for n in self.stored.values() if n > 1)

    def attempts(self) -> Counter[str]:
        """Fingerprint -> how many requests of it reached the emulator."""
        return Counter(a.fingerprint for a in self.arrivals)

    def faults_of(self, fingerprint: str) -> list[str | None]:
        return [a.fault for a in self.arrivals if a.fingerprint == fingerprint]


def fingerprint(method: str, path: str, body: bytes) -> str:
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()[:32]


def _json_answer(status: int, message: str, headers: Mapping[str, str]) -> tuple[Message, Message]:
    content = json.dumps({"message": message}).encode()
    out = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    out += [(k.encode(), v.encode()) for k, v in headers.items()]
    return (
        {"type": "http.response.start", "status": status, "headers": out},
        {"type": "http.response.body", "body": content},
    )


class FaultInjector:
    """ASGI middleware: runs ``plan`` on the HTTP requests ``matches(method, path)`` selects."""

    def __init__(self, app: App, plan: FaultPlan, matches: Matcher) -> None:
        self.app = app
        self.plan = plan
        self.matches = matches

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.matches(scope.get("method", ""), scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)
        if body is None:
            return
        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        target = raw_path.decode("latin-1") + ("?" + query.decode("latin-1") if query else "")
        key = fingerprint(scope["method"], target, body)
        kind, retry_after = self.plan.decide(key, f"{scope['method']} {target}\n".encode("latin-1") + body)
        if kind == "rate_limited":
            start, content = _json_answer(429, "injected rate limit", {"retry-after": f"{retry_after:g}"})
            await send(start)
            await send(content)
            return
        if kind == "unavailable":
            start, content = _json_answer(503, "injected outage", {})
            await send(start)
            await send(content)
            return
        if kind == "drop_before":
            await _drop(send)
        status, captured = await self._run_app(scope, body)
        if 200 <= status < 300:
            self.plan.record_stored(key)
        if kind == "drop_after":
            await _drop(send)
        if kind == "slow":
            try:
                await asyncio.sleep(self.plan.slow)
            except asyncio.CancelledError:
                return  # the server shut down while this answer was held back: nobody is waiting for it
        for message in captured:
            await send(message)

    async def _run_app(self, scope: Scope, body: bytes) -> tuple[int, list[Message]]:
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                await asyncio.Event().wait()  # nothing more: the app would wait for a disconnect
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await self.app(scope, replay, capture)
        status = next((m["status"] for m in captured if m["type"] == "http.response.start"), 500)
        return int(status), captured


async def _drop(send: Send) -> None:
    """Start an answer promising a body, then fail: uvicorn closes the socket mid-response."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
    raise DroppedConnection()


def wrap(app: App, plan: FaultPlan | None, matches: Matcher) -> App:
    """``app`` under ``plan`` when there is one (emulators call this at construction)."""
    return app if plan is None else FaultInjector(app, plan, matches)
