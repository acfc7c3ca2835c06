"""The webhook receiver: one ASGI app for every webhook-capable provider.

``POST /webhooks/<provider>`` hands the raw body and headers to that provider's
:class:`WebhookCodec`, which verifies and decodes; the receiver caps the body
size before reading it whole, then **appends the events to its store with the
delivery's dedupe key before it answers 2xx**: a 2xx means "held". A repeat of a
delivery (the platform's retry) answers ``200 {"duplicate": true}`` without a
second copy; a full or failing store answers 503 with ``Retry-After`` so the
platform retries later. Handlers (:meth:`WebhookReceiver.on`) and subscriptions
(:meth:`WebhookReceiver.events`) read the store as consumer groups: a handler that
raises is retried with backoff and dead-lettered after ``max_attempts``; a stalled
subscriber leaves events in the store (bounded), never dropped. A bad call gets a
4xx and is counted; nothing a peer sends can stop the receiver.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import math
import uuid
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Union

from ._codec import WebhookCodec
from ._delivery import default_consumer, records, to_event
from ._errors import AuthenticationError, EventkitError
from ._event import Event
from ._stats import Counters
from ._store import Store, StoreError, StoreFullError, StoreUnavailableError, open_store

if TYPE_CHECKING:
    from ._provider import ListenContext, Provider

log = logging.getLogger("eventkit.webhooks")

Handler = Callable[[Event], Union[Awaitable[None], None]]
Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


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
            receiver._tasks.append(asyncio.ensure_future(self.run_once()))

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

    ``store`` is a URL (default ``memory://``, bounded, lost with the process) or an
    open :class:`Store` shared with others (not closed by the receiver). With
    ``memory://``, ``dedupe_size`` and ``dedupe_ttl`` become its ``max_keys`` and
    ``dedupe_ttl``; for other stores set them in the store URL.
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
    ) -> None:
        self.prefix = "/" + prefix.strip("/")
        self.max_body_bytes = max_body_bytes
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
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
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
            self._tasks.append(asyncio.ensure_future(self._retry_loop(group)))
        return handler

    def events(self, group: str = "default") -> Subscription:
        """The stored events, read as consumer group ``group``, until closed.

        A consumer that falls behind leaves events in the store (memory bounded by
        the store's bounds; webhooks get 503 when it is full), never dropped.
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

    # The work, independent of ASGI so other frameworks can call it.

    async def handle(self, provider: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, decode and store one call (dedupe in the same append), then answer.

        The status and JSON body to answer; a 503 body carries ``retry_after``
        (seconds), which the ASGI app also sends as ``Retry-After``.
        """
        codec = self._codecs.get(provider)
        if codec is None:
            self.stats.incr("not_found")
            return 404, {"error": f"no provider {provider!r} here"}
        try:
            delivery = codec.parse_webhook(headers, body)
        except AuthenticationError as exc:
            self.stats.incr("rejected_signature")
            log.info("webhook for %s refused: %s", provider, exc.message)
            return 401, {"error": "signature verification failed"}
        except EventkitError as exc:
            self.stats.incr("rejected_malformed")
            log.info("malformed webhook for %s: %s", provider, exc.message)
            return 400, {"error": exc.message}
        except Exception:  # a codec bug must not take the receiver down
            self.stats.incr("errors")
            log.exception("webhook codec for %s failed", provider)
            return 500, {"error": "internal error"}
        if not delivery.events:
            self.stats.incr("accepted")
            return 200, {"received": 0}
        try:
            store = await self.open()
            stored = await store.append(records(provider, delivery.events, delivery.dedupe_key))
        except StoreUnavailableError as exc:
            self.stats.incr("store_full" if isinstance(exc, StoreFullError) else "store_unavailable")
            log.warning("webhook for %s answered 503: %s", provider, exc.message)
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
        self.stats.incr("accepted")
        self.stats.incr("events", kept)
        self.stats.incr("received", kept)
        self._wake.set()
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
        path: str = scope.get("path", "")
        name = path[len(self.prefix) + 1 :].strip("/") if path.startswith(self.prefix + "/") else None
        if name is None or name not in self._codecs:
            self.stats.incr("not_found")
            await _answer(send, 404, {"error": "not found"})
            return
        if scope.get("method") != "POST":
            await _answer(send, 405, {"error": "POST only"}, extra=[(b"allow", b"POST")])
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            k = key.decode("latin-1").lower()
            v = value.decode("latin-1")
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            self.stats.incr("rejected_size")
            await _answer(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                self.stats.incr("rejected_size")
                await _answer(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
                return
        status, payload = await self.handle(name, headers, bytes(body))
        retry_after = payload.get("retry_after") if status == 503 else None
        extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
        await _answer(send, status, payload, extra)


def _seconds(value: float) -> str:
    """A duration for a store URL parameter."""
    return f"{max(0, math.ceil(value * 1000))}ms"


async def _answer(send: Send, status: int, payload: Mapping[str, Any], extra: list[tuple[bytes, bytes]] = ()) -> None:  # type: ignore[assignment]
    body = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *extra],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def listen_via_webhooks(provider: Provider, context: ListenContext) -> AsyncIterator[Event]:
    """Serve a receiver for one provider; it stores what it verifies into the listen store.

    Options: ``receiver`` (an existing :class:`WebhookReceiver` to read from
    instead of serving one), ``host`` (default 127.0.0.1), ``port`` (default
    8080; 0 picks a free one), ``on_ready`` (called with the webhook URL),
    ``max_body_bytes``.

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
    from ._serve import serve

    host = options.pop("host", "127.0.0.1")
    port = int(options.pop("port", 8080))
    on_ready = options.pop("on_ready", None)
    max_body = int(options.pop("max_body_bytes", 1 << 20))
    if options:
        from ._errors import SettingsError

        raise SettingsError(f"unknown listen options {sorted(options)} for webhooks", provider=provider.name)
    sink = context.sink
    store: Store | str = sink.store if isinstance(sink, StoreSink) and sink.store is not None else "memory://"
    receiver = WebhookReceiver([provider], max_body_bytes=max_body, store=store)
    receiver.stats = context.stats
    await receiver.open()
    try:
        async with serve(receiver, host, port) as (_server, bound):
            url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}{receiver.prefix}/{provider.name}"
            log.info("listening for %s webhooks on %s", provider.name, url)
            if isinstance(sink, StoreSink):
                if on_ready is not None:
                    on_ready(url)
                await asyncio.Event().wait()  # serve until cancelled; the consumer reads the store
                return
            subscription = receiver.events()
            try:
                if on_ready is not None:
                    on_ready(url)
                async for event in subscription:
                    yield event
            finally:
                subscription.close()
    finally:
        await receiver.aclose()
