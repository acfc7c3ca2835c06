"""The webhook receiver: one ASGI app for every webhook-capable provider.

``POST /webhooks/<provider>`` hands the raw body and headers to that provider's
:class:`WebhookCodec`, which verifies and decodes; the receiver caps the body
size and time before reading it whole, then **appends the events to its store with
the delivery's dedupe key before it answers 2xx**: a 2xx means "held". A repeat of a
delivery (the platform's retry) answers ``200 {"duplicate": true}`` without a
second copy; a full or failing store answers 503 with ``Retry-After`` so the
platform retries later. Handlers (:meth:`WebhookReceiver.on`) and subscriptions
(:meth:`WebhookReceiver.events`) read the store as consumer groups: a handler that
raises is retried with backoff and dead-lettered after ``max_attempts``; a stalled
subscriber leaves events in the store (bounded), never dropped. A bad call gets a
4xx and is counted; nothing a peer sends can stop the receiver.

A store is used from one event loop: the loop that opened it (the ASGI server's,
a consumer's, or the receiver's own background loop for :meth:`~WebhookReceiver.handle_sync`).
Calls arriving on another loop or thread are run on that one.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import threading
import uuid
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    MutableMapping,
    Tuple,
    TypeVar,
    Union,
)

from ._aio import wait_within
from ._asgi import answer, answer_json
from ._codec import WebhookCodec
from ._delivery import default_consumer, records, to_event
from ._errors import AuthenticationError, EventkitError, PayloadTooLargeError
from ._event import Event
from ._logging import Throttle, redact
from ._stats import Counters
from ._store import Store, StoreError, StoreFullError, StoreUnavailableError, open_store
from ._telemetry import Telemetry

if TYPE_CHECKING:
    from ._portal import BackgroundLoop
    from ._provider import ListenContext, Provider

T = TypeVar("T")

log = logging.getLogger("eventkit.webhooks")
_refusals = Throttle(log, interval=60.0)
"""Refused calls are WARNING (a wrong secret must show at the default level), one line a minute per kind."""

Handler = Callable[[Event], Union[Awaitable[None], None]]
ReadinessCheck = Callable[[], Awaitable[Any]]
HEALTH_PATH = "/healthz"
READY_PATH = "/readyz"
# The ASGI spec's types (as asgiref and Starlette spell them), so the receiver mounts anywhere.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = Union[Mapping[str, str], Iterable[Tuple[str, str]]]
"""Request headers in any case: a mapping (Django's ``request.headers``, a dict) or
``(name, value)`` pairs (werkzeug's ``Headers``, Flask's ``request.headers``)."""


def lower_headers(headers: Headers) -> dict[str, str]:
    """Header names lower-cased, repeated names joined with ``", "`` (as the ASGI path does).

    HTTP header names are case-insensitive (RFC 9110 §5.1), and frameworks spell
    them differently (Django and Flask give ``X-Signature``), while every webhook
    codec looks names up in lower case: normalising once here keeps the codecs simple.
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for key, value in pairs:
        k = key.lower()
        out[k] = f"{out[k]}, {value}" if k in out else value
    return out


def _under(path: str, root: str) -> str | None:
    """``path`` with the mount prefix ``root`` taken off, or None if it is not under it."""
    if path == root:
        return ""
    if path.startswith(root + "/"):
        return path[len(root) :]
    return None


class _Deadlines:
    """The body deadlines of the requests being read on one event loop, behind one timer.

    ``asyncio.timeout`` per request costs a timer in the loop's heap, scheduled and
    cancelled each time (about as much as the rest of the ASGI path); here every
    request being read registers its deadline in a dict, and one timer, set for the
    earliest deadline, cancels the tasks whose deadline passed when it fires. Each
    request keeps its exact deadline; :meth:`bring_forward` is what ``drain`` does.
    """

    __slots__ = ("expired", "loop", "reading", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.reading: dict[asyncio.Task[Any], float] = {}
        """Task reading a body -> its deadline (loop time)."""
        self.expired: set[asyncio.Task[Any]] = set()
        """Tasks this cancelled: their ``CancelledError`` means "too slow", not "stop"."""
        self.timer: asyncio.TimerHandle | None = None

    def start(self, task: asyncio.Task[Any], timeout: float) -> None:
        deadline = self.loop.time() + timeout
        self.reading[task] = deadline
        timer = self.timer
        if timer is None:
            self.timer = self.loop.call_at(deadline, self._fire)
        elif deadline < timer.when():  # body_timeout lowered meanwhile
            timer.cancel()
            self.timer = self.loop.call_at(deadline, self._fire)

    def stop(self, task: asyncio.Task[Any]) -> None:
        del self.reading[task]
        if self.expired:
            self.expired.discard(task)

    def timed_out(self, task: asyncio.Task[Any]) -> bool:
        """Whether ``task``'s ``CancelledError`` came from its deadline alone (then it is taken back)."""
        if task not in self.expired:
            return False
        uncancel = getattr(task, "uncancel", None)  # Python >= 3.11 counts cancellations
        return uncancel is None or uncancel() == 0

    def bring_forward(self, deadline: float) -> None:
        """Every body still being read gets at most until ``deadline``."""
        reading = self.reading
        for task, when in reading.items():
            if when > deadline:
                reading[task] = deadline
        if reading and (self.timer is None or self.timer.when() > deadline):
            if self.timer is not None:
                self.timer.cancel()
            self.timer = self.loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self.timer = None
        now = self.loop.time()
        upcoming: float | None = None
        for task, when in self.reading.items():
            if when <= now:
                if task not in self.expired:
                    self.expired.add(task)
                    task.cancel()
            elif upcoming is None or when < upcoming:
                upcoming = when
        if upcoming is not None:
            self.timer = self.loop.call_at(upcoming, self._fire)


class _Reader:
    """One consumer group of the receiver's store, read by one task at a time (a lock)."""

    def __init__(self, receiver: WebhookReceiver, group: str, consumer: str | None = None) -> None:
        self.receiver = receiver
        self.group = group
        self.consumer = consumer or receiver.consumer
        self.lock = asyncio.Lock()

    async def take(self, event: Event, entry: str, attempts: int) -> None:
        raise NotImplementedError

    def room(self) -> int:
        return 64

    def reader_name(self) -> str:
        return self.consumer

    def holds(self, entry: str) -> bool:
        return False

    async def run_once(self) -> None:
        """Hand out what is ready now: new events, released ones whose delay passed, stale ones."""
        await self.run_with(await self.receiver.open())

    async def run_with(self, store: Store) -> None:
        receiver = self.receiver
        async with self.lock:
            room = self.room()
            if room < 1:
                return
            deliveries = await store.read(
                self.group,
                self.reader_name(),
                count=room,
                timeout=0,
                claim_idle=receiver.claim_idle,
                max_attempts=receiver.max_attempts,
            )
            for delivery in deliveries:
                if self.holds(delivery.id):
                    continue
                try:
                    event = to_event(delivery, self.group)
                except StoreError:
                    receiver.stats.incr("undecodable")
                    await store.ack(self.group, [delivery.id])
                    continue
                await self.take(event, delivery.id, delivery.attempts)


class _HandlerGroup(_Reader):
    """A handler as its own consumer group: acknowledged when it returns, released with backoff when it raises."""

    def __init__(self, receiver: WebhookReceiver, handler: Handler) -> None:
        name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
        module = getattr(handler, "__module__", None) or ""
        group = f"handler:{module}.{name}"
        taken = {h.group for h in receiver._handlers}
        if group in taken:  # two lambdas, or one function registered twice: a group each
            group = next(f"{group}#{n}" for n in range(2, len(taken) + 3) if f"{group}#{n}" not in taken)
        super().__init__(receiver, group)
        self.handler = handler

    async def take(self, event: Event, entry: str, attempts: int) -> None:
        store = await self.receiver.open()
        try:
            result = self.handler(event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self.receiver.stats.incr("handler_errors")
            delay = min(self.receiver.retry_max, self.receiver.retry_initial * 2 ** (attempts - 1))
            log.warning(
                "webhook handler %s failed on attempt %d (%s); retrying in %.2fs",
                self.group,
                attempts,
                type(exc).__name__,
                delay,
                exc_info=True,
            )
            await store.release(self.group, entry, delay=delay, error=f"{type(exc).__name__}: {exc}"[:500])
            return
        await store.ack(self.group, [entry])


class Subscription(_Reader):
    """An async iterator of delivered events, read from the store as a consumer group.

    The event in hand is acknowledged when the next one is asked for; up to
    ``queue_size`` events are fetched ahead (pending in the store until then).
    A store hands a consumer name its own pending entries again on every read
    (that is how a restarted process gets its own back at once), which would
    repeat the ones fetched ahead: so each fetch reads under a name of its own
    (the receiver's, a random suffix and a counter). What a stopped subscription
    held is handed to the group's next reader after ``claim_idle``; an entry
    fetched ahead and re-claimed meanwhile is not queued twice.
    """

    def __init__(self, receiver: WebhookReceiver, group: str = "default") -> None:
        super().__init__(receiver, f"receiver:{group}", f"{receiver.consumer}:{uuid.uuid4().hex[:12]}")
        self._reads = 0
        self._ahead: set[str] = set()
        self.queue: asyncio.Queue[Event] = asyncio.Queue(receiver.queue_size)
        self._held: str | None = None
        self._closed = False
        receiver._subscriptions.append(self)
        if receiver._opened:
            # Create the group now, so events appended from here on are kept for it.
            receiver._spawn(self.run_once)

    def room(self) -> int:
        return self.queue.maxsize - self.queue.qsize()

    def reader_name(self) -> str:
        self._reads += 1
        return f"{self.consumer}:{self._reads}"

    def holds(self, entry: str) -> bool:
        return entry in self._ahead or entry == self._held

    async def take(self, event: Event, entry: str, attempts: int) -> None:
        self._ahead.add(entry)
        self.queue.put_nowait(event)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.receiver._on_owner(self._next)

    async def _next(self) -> Event:
        store = await self.receiver.open()
        if self._held is not None:
            await store.ack(self.group, [self._held])
            self._held = None
        while self.queue.empty():
            if self._closed:
                raise StopAsyncIteration
            self.receiver._wake.clear()
            await self.run_once()
            if self.queue.empty():
                try:
                    await asyncio.wait_for(self.receiver._wake.wait(), self.receiver.poll)
                except asyncio.TimeoutError:
                    pass
        event = self.queue.get_nowait()
        self._held = event.delivery.entry if event.delivery is not None else None
        self._ahead.discard(self._held or "")
        return event

    def close(self) -> None:
        """Stop; the event in hand and those fetched ahead stay pending (handed out again later)."""
        self._closed = True
        if self in self.receiver._subscriptions:
            self.receiver._subscriptions.remove(self)


class WebhookReceiver:
    """ASGI application: mount it, or let ``eventkit listen`` serve it with uvicorn.

    Three ways in, one behaviour (see docs/frameworks.md):

    * as an ASGI app, ``app.mount("/hooks", receiver)`` in Starlette/FastAPI or any
      ASGI server: it honours ``root_path`` and answers ``<mount>/<prefix>/<provider>``,
      ``<mount>/healthz`` and ``<mount>/readyz``; body size and time limits apply here;
    * :meth:`handle` from an async view (FastAPI route, Django async view, Quart);
    * :meth:`handle_sync` from a sync view (Django, Flask, any WSGI app).

    ``prefix`` (default ``/webhooks``) is the path under the mount where providers
    answer: ``POST <prefix>/<provider name>``. ``store`` is a URL (default
    ``memory://``, bounded, lost with the process) or an open :class:`Store` shared
    with others (not closed by the receiver). With ``memory://``, ``dedupe_size`` and
    ``dedupe_ttl`` become its ``max_keys`` and ``dedupe_ttl``; for other stores set
    them in the store URL.
    """

    def __init__(
        self,
        providers: Iterable[Provider] | Mapping[str, WebhookCodec] = (),
        *,
        prefix: str = "/webhooks",
        max_body_bytes: int = 1 << 20,
        dedupe_size: int = 100_000,
        dedupe_ttl: float = 24 * 3600.0,
        queue_size: int = 1_000,
        store: str | Store = "memory://",
        consumer: str | None = None,
        claim_idle: float = 30.0,
        max_attempts: int = 5,
        retry_initial: float = 0.5,
        retry_max: float = 60.0,
        retry_after: int = 2,
        handler_wait: float = 2.0,
        body_timeout: float = 20.0,
        max_buffered_bytes: int = 32 << 20,
        readiness: Iterable[ReadinessCheck] = (),
        readiness_timeout: float = 2.0,
    ) -> None:
        stripped = prefix.strip("/")
        self.prefix = f"/{stripped}" if stripped else ""
        """Path under the mount where providers answer (``POST <prefix>/<provider>``); ``""`` for none."""
        self.max_body_bytes = max_body_bytes
        self.body_timeout = body_timeout
        """Seconds for a whole request body to arrive once the head is in (else 408)."""
        self.max_buffered_bytes = max_buffered_bytes
        """Request bytes held at once across every request; past it, new bodies get 503 + Retry-After."""
        self.readiness: list[ReadinessCheck] = list(readiness)
        """Async checks ``/readyz`` runs (a listener's "connected?"...); the store's ``ping`` is always one."""
        self.readiness_timeout = readiness_timeout
        self._buffered = 0
        self._draining = False
        self._deadlines: dict[asyncio.AbstractEventLoop, _Deadlines] = {}
        """Per loop serving requests (one, unless the app is served by several loops)."""
        self._last_deadlines: _Deadlines | None = None
        self.queue_size = max(1, queue_size)
        self.stats = Counters()
        self.consumer = consumer or default_consumer()
        self.claim_idle = claim_idle
        self.max_attempts = max_attempts
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.retry_after = retry_after
        """Seconds a 503 (store full or failing) asks the platform to wait."""
        self.handler_wait = handler_wait
        """Longest a 2xx waits for in-process handlers and subscriptions to take the new events."""
        self.poll = 0.5
        self._codecs: dict[str, WebhookCodec] = {}
        self._handlers: list[_HandlerGroup] = []
        self._subscriptions: list[Subscription] = []
        self._opened = False
        """The store is open here and every reader's group exists."""
        if isinstance(store, Store):
            self._store: Store | None = store
            self._owns_store = False
        else:
            url = store
            if url == "memory://":
                url = f"memory://?max_keys={int(dedupe_size)}&dedupe_ttl={_seconds(dedupe_ttl)}"
            self._store = open_store(url)
            self._owns_store = True
        self._open_lock: asyncio.Lock | None = None
        self._owner: asyncio.AbstractEventLoop | None = None
        """The loop that opened the store: every store call runs there."""
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: BackgroundLoop | None = None
        self._loop_lock = threading.Lock()
        self.telemetry: Telemetry | None = None
        """Records a receive span per stored event (the ``otel`` extra; ``eventkit.Telemetry``)."""
        items = providers.items() if isinstance(providers, Mapping) else ((p.name, p) for p in providers)
        for name, item in items:
            self.mount(name, item)

    @property
    def store(self) -> Store:
        assert self._store is not None
        return self._store

    def mount(self, name: str, provider_or_codec: Provider | WebhookCodec) -> None:
        codec = provider_or_codec if isinstance(provider_or_codec, WebhookCodec) else provider_or_codec.webhook_codec()
        if codec is None:
            raise EventkitError(f"{name} does not receive webhooks", provider=name)
        self._codecs[name] = codec

    @property
    def paths(self) -> list[str]:
        return [f"{self.prefix}/{name}" for name in self._codecs]

    def on(self, handler: Handler) -> Handler:
        """Register a handler (sync or async) for every stored event; usable as a decorator.

        Each handler is its own consumer group (named after the function): it sees
        each event at least once; if it raises, the event is retried with backoff
        and dead-lettered after ``max_attempts`` (``eventkit dead-letters``).
        """
        group = _HandlerGroup(self, handler)
        self._handlers.append(group)
        if self._opened:
            self._spawn(lambda: self._retry_loop(group))
        return handler

    def events(self, group: str = "default") -> Subscription:
        """The stored events, read as consumer group ``group``, until closed.

        A consumer that falls behind leaves events in the store (memory bounded by
        the store's bounds; webhooks get 503 when it is full), never dropped.
        Iterate it on any loop: the store's own loop does the reading.
        """
        return Subscription(self, group)

    async def open(self) -> Store:
        """Open the store (a corrupt or unwritable one raises here) and start the handlers' retry loops."""
        if self._opened:
            return self.store
        if self._open_lock is None:
            self._open_lock = asyncio.Lock()
        async with self._open_lock:
            if not self._opened:
                if self._owns_store:
                    await self.store.open()
                self._owner = asyncio.get_running_loop()
                self._opened = True
                # Every group exists before the first event is appended (a store frees an event
                # once the groups that existed at its append acknowledged it).
                for reader in [*self._subscriptions, *self._handlers]:
                    await reader.run_with(self.store)
                for group in self._handlers:
                    self._tasks.append(asyncio.ensure_future(self._retry_loop(group)))
        return self.store

    async def aclose(self) -> None:
        """Stop the handlers' loops and close a store the receiver opened."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            try:
                await task
            except asyncio.CancelledError:
                pass
        opened, self._opened = self._opened, False
        self._owner = None
        if self._owns_store and opened:
            await self.store.aclose()

    async def _retry_loop(self, group: _HandlerGroup) -> None:
        """Picks up what no request drove: retries after their delay, events pending from before a restart."""
        while True:
            try:
                await group.run_once()
            except StoreError as exc:
                log.warning("webhook handler %s cannot read the store: %s", group.group, exc)
            await asyncio.sleep(self.poll)

    # One loop for the store.

    async def _on_owner(self, make: Callable[[], Awaitable[T]]) -> T:
        """``make()`` awaited on the loop that opened the store (here, when that is this loop)."""
        owner = self._owner
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if owner is None or owner is here:
            return await make()
        if owner.is_closed() or not owner.is_running():
            raise EventkitError("the webhook receiver's event loop has stopped: open it again on a running loop")
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_awaited(make), owner))

    def _spawn(self, make: Callable[[], Awaitable[None]]) -> None:
        """Start a background task on the store's loop, from that loop or any other thread."""
        owner = self._owner
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if owner is None or owner is here:
            self._tasks.append(asyncio.ensure_future(make()))
        elif owner.is_running():
            owner.call_soon_threadsafe(lambda: self._tasks.append(asyncio.ensure_future(make())))

    # The work, independent of ASGI so other frameworks can call it.

    async def handle(self, provider: str, headers: Headers, body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, decode and store one call (dedupe in the same append); the status and JSON body to answer.

        The route for async views (FastAPI, Django async views, Quart): the
        framework has read the body, so its limits apply, not ``max_body_bytes``
        or ``body_timeout``. Header names may come in any case (Django's and
        Flask's ``request.headers`` are Title-Case); they are lower-cased here,
        once, for every codec. A 503 body carries ``retry_after`` (seconds), which
        the ASGI app also sends as ``Retry-After``.
        """
        headers = lower_headers(headers)
        return await self._on_owner(lambda: self._handle(provider, headers, body))

    async def _handle(self, provider: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        codec = self._codecs.get(provider)
        if codec is None:
            self.stats.incr("not_found")
            return 404, {"error": f"no provider {provider!r} here"}
        try:
            delivery = codec.parse_webhook(headers, body)
        except AuthenticationError as exc:
            self.stats.incr("rejected_signature")
            _refusals.warning(f"401:{provider}", "webhook for %s refused (401): %s", provider, exc.message)
            return 401, {"error": "signature verification failed"}
        except PayloadTooLargeError as exc:  # over the cap once decompressed: what the docs promise
            self.stats.incr("rejected_size")
            _refusals.warning(f"413:{provider}", "webhook for %s refused (413): %s", provider, exc.message)
            return 413, {"error": exc.message}
        except EventkitError as exc:
            self.stats.incr("rejected_malformed")
            _refusals.warning(f"400:{provider}", "malformed webhook for %s refused (400): %s", provider, exc.message)
            return 400, {"error": exc.message}
        except Exception:  # a codec bug must not take the receiver down
            self.stats.incr("errors")
            log.exception("webhook codec for %s failed", provider)
            return 500, {"error": "internal error"}
        if not delivery.events:
            self.stats.incr("accepted")
            return 200, {"received": 0}
        try:
            store = self.store if self._opened else await self.open()
            stored = await store.append(records(provider, delivery.events, delivery.dedupe_key))
        except StoreUnavailableError as exc:
            self.stats.incr("store_full" if isinstance(exc, StoreFullError) else "store_unavailable")
            _refusals.warning(f"503:{provider}", "webhook for %s answered 503: %s", provider, exc.message)
            return 503, {
                "error": "store full" if isinstance(exc, StoreFullError) else "store unavailable",
                "retry_after": self.retry_after,
            }
        except StoreError as exc:
            self.stats.incr("store_unavailable")
            log.error("webhook for %s answered 503: the store cannot be used: %s", provider, exc.message)
            return 503, {"error": "store unavailable", "retry_after": self.retry_after}
        kept = sum(stored)
        if kept == 0:
            self.stats.incr("duplicates")
            return 200, {"duplicate": True}
        self.stats.incr_all(("accepted", 1), ("events", kept), ("received", kept))
        if self.telemetry is not None:
            for event, new in zip(delivery.events, stored, strict=True):
                if new:
                    self.telemetry.receive(provider, event, "webhook")
        self._wake.set()
        if self._subscriptions or self._handlers:
            await self._drive()
        return 200, {"received": kept}

    async def _drive(self) -> None:
        """Let in-process handlers and subscriptions take the new events before the answer (bounded)."""
        readers: list[_Reader] = [*self._subscriptions, *self._handlers]
        if not readers:
            return
        task = asyncio.ensure_future(asyncio.gather(*(r.run_once() for r in readers), return_exceptions=True))
        done, _ = await asyncio.wait({task}, timeout=self.handler_wait)
        if task in done:
            for outcome in task.result():
                if isinstance(outcome, Exception):
                    log.warning("webhook consumers could not read the store: %s", outcome)

    def handle_sync(self, provider: str, headers: Headers, body: bytes) -> tuple[int, dict[str, Any]]:
        """:meth:`handle` for sync code: Django and Flask views, any WSGI app.

        Runs on the loop that holds the receiver's store: the ASGI server's or a
        consumer's when one opened it, else the receiver's own loop, in one daemon
        thread started at the first call and stopped by :meth:`close`. WSGI worker
        threads may call it at once, and no loop is created per request (as
        ``asyncio.run`` would, which also cannot run inside a running loop).
        """
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            raise EventkitError(
                "handle_sync() called from a running event loop (the receiver's own loop, a handler?): await handle()"
            )
        headers = lower_headers(headers)
        owner = self._owner
        if owner is not None:
            if owner.is_closed() or not owner.is_running():
                raise EventkitError(
                    "the webhook receiver's store was opened on an event loop that has stopped: "
                    "await receiver.aclose() there, or keep that loop running"
                )
            call = asyncio.run_coroutine_threadsafe(self._handle(provider, headers, body), owner)
            return call.result()
        return self._background().run(self._handle(provider, headers, body))

    def _background(self) -> BackgroundLoop:
        with self._loop_lock:
            if self._loop is None:
                from ._portal import BackgroundLoop

                self._loop = BackgroundLoop("eventkit-webhooks", close_timeout=10)
            return self._loop

    def close(self) -> None:
        """Stop the loop :meth:`handle_sync` runs on, if it was started (calls in flight are cancelled).

        Call it when the web app shuts down. A later :meth:`handle_sync` starts a new loop.
        """
        with self._loop_lock:
            background, self._loop = self._loop, None
        if background is not None:
            if self._owner is not None and self._owner is background.loop:
                background.run(self.aclose())
            background.close()

    # Operations: health, readiness, draining.

    async def ready(self) -> tuple[bool, list[str]]:
        """Whether this receiver should get traffic, and why not: each readiness check must pass.

        A check is an async callable (a store's ``ping``, a listener's "connected?");
        it fails by raising or returning ``False``, and gets ``readiness_timeout`` seconds.
        """
        if self._draining:
            return False, ["shutting down"]
        reasons: list[str] = []
        checks = list(self.readiness)
        if self._opened:
            checks.insert(0, self.store.ping)  # writable, and under its bounds
        for check in checks:
            name = getattr(check, "__qualname__", None) or repr(check)
            try:
                result = await wait_within(check(), self.readiness_timeout)
            except asyncio.TimeoutError:
                reasons.append(f"{name}: no answer within {self.readiness_timeout:g}s")
            except Exception as exc:
                reasons.append(redact(f"{name}: {type(exc).__name__}: {exc}"))
            else:
                if result is False:
                    reasons.append(f"{name}: not ready")
        return not reasons, reasons

    def drain(self, grace: float = 0.0) -> None:
        """Start shutting down: ``/readyz`` answers 503 from now on, and bodies still
        being read after ``grace`` seconds are refused with 503 (the platform retries)."""
        self._draining = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, grace)  # loop time is the monotonic clock on every loop
        for deadlines in list(self._deadlines.values()):
            if deadlines.loop is loop:
                deadlines.bring_forward(deadline)
            elif not deadlines.loop.is_closed():
                deadlines.loop.call_soon_threadsafe(deadlines.bring_forward, deadline)

    @property
    def buffered_bytes(self) -> int:
        """Request bytes held right now, across every request (bounded by ``max_buffered_bytes``)."""
        return self._buffered

    # ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    try:
                        await self.open()
                    except StoreError as exc:
                        await send({"type": "lifespan.startup.failed", "message": exc.message})
                        return
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await self.aclose()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = self._route_path(scope)
        method = scope.get("method")
        if path in (HEALTH_PATH, READY_PATH):
            if method not in ("GET", "HEAD"):
                await answer_json(send, 405, {"error": "GET only"}, headers=[(b"allow", b"GET, HEAD")])
            elif path == HEALTH_PATH:
                await answer_json(send, 200, {"status": "ok"})
            else:
                ok, reasons = await self.ready()
                await answer_json(send, 200 if ok else 503, {"ready": ok, "reasons": reasons})
            return
        name = path[len(self.prefix) + 1 :].strip("/") if path.startswith(self.prefix + "/") else None
        if name is None or name not in self._codecs:
            self.stats.incr("not_found")
            await answer_json(send, 404, {"error": "not found"})
            return
        if method != "POST":
            await answer_json(send, 405, {"error": "POST only"}, headers=[(b"allow", b"POST")])
            return
        if self._draining:
            self.stats.incr("refused_draining")
            await answer_json(send, 503, {"error": "shutting down"}, headers=[(b"retry-after", b"5")])
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", ()):
            k = key.decode("latin-1").lower()
            v = value.decode("latin-1")
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            self.stats.incr("rejected_size")
            _refusals.warning(
                f"size:{name}", "webhook for %s refused (413): body over %d bytes", name, self.max_body_bytes
            )
            await answer_json(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
            return
        if declared is not None and self._buffered + int(declared) > self.max_buffered_bytes:
            await self._busy(send, name)
            return
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        if task is None:  # not run as a task (no ASGI server does that): nothing to cancel, so no deadline
            raise EventkitError("the webhook receiver must run in an asyncio task")
        deadlines = self._last_deadlines
        if deadlines is None or deadlines.loop is not loop:
            deadlines = self._deadlines_for(loop)
        held = 0
        try:
            deadlines.start(task, self.body_timeout)
            try:
                # The whole body usually comes in one message: no copy then.
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                body: bytes | bytearray = message.get("body", b"")
                more = message.get("more_body", False)
                while True:
                    if self._buffered + len(body) - held > self.max_buffered_bytes:
                        await self._busy(send, name)
                        return
                    self._buffered += len(body) - held
                    held = len(body)
                    if held > self.max_body_bytes:
                        self.stats.incr("rejected_size")
                        await answer_json(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
                        return
                    if not more:
                        break
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    if not isinstance(body, bytearray):
                        body = bytearray(body)
                    body += message.get("body", b"")
                    more = message.get("more_body", False)
            except asyncio.CancelledError:
                if not deadlines.timed_out(task):
                    raise
                await self._too_slow(send, name)
                return
            finally:
                deadlines.stop(task)
            data = body if isinstance(body, bytes) else bytes(body)
            owner = self._owner
            if owner is None or owner is loop:  # on the store's loop: no hop
                status, payload = await self._handle(name, headers, data)
            else:
                status, payload = await self._on_owner(lambda: self._handle(name, headers, data))
            if status == 200 and len(payload) == 1 and type(payload.get("received")) is int:
                await answer(send, 200, b'{"received": %d}' % payload["received"])
                return
            retry_after = payload.get("retry_after") if status == 503 else None
            extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
            await answer_json(send, status, payload, headers=extra)
        finally:
            self._buffered -= held

    def _deadlines_for(self, loop: asyncio.AbstractEventLoop) -> _Deadlines:
        deadlines = self._deadlines.get(loop)
        if deadlines is None:
            for old in [old for old in self._deadlines if old.is_closed()]:
                del self._deadlines[old]
            deadlines = self._deadlines[loop] = _Deadlines(loop)
        self._last_deadlines = deadlines
        return deadlines

    def _route_path(self, scope: Scope) -> str:
        """The request path below the mount point.

        Mounted at ``/hooks`` (``root_path="/hooks"``), the receiver must answer
        ``/hooks/webhooks/stream``. ASGI says ``path`` includes ``root_path``
        (Starlette >= 0.33, uvicorn ``--root-path``); older Starlette passed the
        remainder only. Take the prefix off when the path starts with it, unless
        only the path as given routes here (the remainder convention, where the
        remainder happens to start with the mount name).
        """
        path: str = scope.get("path", "") or "/"
        root = str(scope.get("root_path", "") or "").rstrip("/")
        if not root:
            return path
        below = _under(path, root)
        if below is None:
            return path
        below = below or "/"
        if not self._routes(below) and self._routes(path):
            return path
        return below

    def _routes(self, path: str) -> bool:
        return path in (HEALTH_PATH, READY_PATH) or path.startswith(self.prefix + "/")

    async def _too_slow(self, send: Send, name: str) -> None:
        if self._draining:
            self.stats.incr("refused_draining")
            await answer_json(send, 503, {"error": "shutting down"}, headers=[(b"retry-after", b"5")])
            return
        self.stats.incr("timed_out_body")
        _refusals.warning(
            f"timeout:{name}", "webhook for %s refused (408): body not received within %gs", name, self.body_timeout
        )
        await answer_json(send, 408, {"error": "request body timeout"}, headers=[(b"connection", b"close")])

    async def _busy(self, send: Send, name: str) -> None:
        self.stats.incr("refused_busy")
        _refusals.warning(
            "busy",
            "webhook for %s refused (503): %d bytes already buffered (max_buffered_bytes=%d)",
            name,
            self._buffered,
            self.max_buffered_bytes,
        )
        await answer_json(send, 503, {"error": "too busy, retry later"}, headers=[(b"retry-after", b"1")])


async def listen_via_webhooks(provider: Provider, context: ListenContext) -> AsyncIterator[Event]:
    """Serve a receiver for one provider; it stores what it verifies into the listen store.

    Options: ``receiver`` (an existing :class:`WebhookReceiver` to read from
    instead of serving one), ``host`` (default 127.0.0.1), ``port`` (default
    8080; 0 picks a free one), ``on_ready`` (called with the webhook URL),
    ``stop`` (an :class:`asyncio.Event`: once set, the server drains and the
    listener ends; what was acknowledged meanwhile is in the store, so the
    consumer still gets it), ``max_body_bytes``, ``body_timeout``,
    ``max_buffered_bytes`` and ``readiness`` (the receiver's), ``header_timeout``,
    ``keep_alive`` and ``max_connections`` (the server's, see
    :class:`~eventkit._serve.ServerLimits`). The server also answers
    ``GET /healthz`` and ``GET /readyz``, and drains for the ``shutdown_timeout``
    setting when the listener stops.

    With a store sink (every ``listen()``), the receiver appends to that store and
    this iterator yields nothing: the consumer reads the store. Otherwise the
    receiver's subscription is yielded.
    """
    from ._delivery import StoreSink

    options = dict(context.options)
    receiver = options.pop("receiver", None)
    if receiver is not None:
        subscription = receiver.events()
        try:
            async for event in subscription:
                yield event
        finally:
            subscription.close()
        return
    from ._serve import ServerLimits, serve

    host = options.pop("host", "127.0.0.1")
    port = options.pop("port", 8080)
    if isinstance(port, str) and port.strip().isdigit():
        port = int(port)
    on_ready = options.pop("on_ready", None)
    stop: asyncio.Event | None = options.pop("stop", None)
    receiver_options = {
        key: options.pop(key)
        for key in ("max_body_bytes", "body_timeout", "max_buffered_bytes", "readiness")
        if key in options
    }
    limit_options = {
        key: options.pop(key) for key in ("header_timeout", "keep_alive", "max_connections") if key in options
    }
    if options:
        from ._errors import SettingsError

        raise SettingsError(f"unknown listen options {sorted(options)} for webhooks", provider=provider.name)
    shutdown_timeout = getattr(context.transport, "shutdown_timeout", None) or ServerLimits.shutdown_timeout
    limits = ServerLimits(shutdown_timeout=shutdown_timeout, **limit_options)
    sink = context.sink
    store: Store | str = sink.store if isinstance(sink, StoreSink) and sink.store is not None else "memory://"
    receiver = WebhookReceiver([provider], store=store, **receiver_options)
    receiver.stats = context.stats
    receiver.telemetry = sink.telemetry if isinstance(sink, StoreSink) else None
    await receiver.open()
    try:
        subscription = None if isinstance(sink, StoreSink) else receiver.events()
        async with serve(receiver, host, port, limits=limits) as (_server, bound):
            url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}{receiver.prefix}/{provider.name}"
            log.info("listening for %s webhooks on %s", provider.name, url)
            if on_ready is not None:
                on_ready(url)
            if subscription is None:
                # Serve until stopped (or cancelled); the consumer reads the store.
                await (stop.wait() if stop is not None else asyncio.Event().wait())
            else:
                try:
                    async for event in subscription:
                        yield event
                        if stop is not None and stop.is_set():
                            break
                finally:
                    subscription.close()
    finally:
        await receiver.aclose()


def _seconds(value: float) -> str:
    """A duration for a store URL parameter."""
    return f"{max(0, math.ceil(value * 1000))}ms"


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    """``make()`` awaited, as a coroutine ``run_coroutine_threadsafe`` takes."""
    return await make()
