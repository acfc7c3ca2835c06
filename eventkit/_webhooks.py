"""The webhook receiver: one ASGI app for every webhook-capable provider.

``POST /webhooks/<provider>`` hands the raw body and headers to that provider's
:class:`WebhookCodec`, which verifies and decodes; the receiver caps the body
size before reading it whole, drops repeats of one delivery (the platform's
retries), and delivers events to handlers and ``listen()`` consumers. A bad call
gets a 4xx and is counted; nothing a peer sends can stop the receiver.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import threading
import time
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
    Union,
)

from ._aio import wait_within
from ._asgi import answer_json
from ._codec import WebhookCodec
from ._errors import AuthenticationError, EventkitError, PayloadTooLargeError
from ._event import Event
from ._logging import Throttle, redact
from ._stats import Counters

if TYPE_CHECKING:
    from ._portal import BackgroundLoop
    from ._provider import ListenContext, Provider

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


class _Seen:
    """Bounded memory of delivery ids, with a time to live.

    Locked: :meth:`WebhookReceiver.handle_sync` checks on the receiver's loop
    thread while the ASGI app or :meth:`~WebhookReceiver.handle` may check on another.
    """

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._ids: collections.OrderedDict[str, float] = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, key: str) -> bool:
        """True the first time ``key`` is seen within the TTL."""
        now = time.monotonic()
        with self._lock:
            seen = self._ids.get(key)
            if seen is not None and now - seen < self.ttl:
                return False
            self._ids[key] = now
            self._ids.move_to_end(key)
            while len(self._ids) > self.size:
                self._ids.popitem(last=False)
            return True


class _LoopQueue(asyncio.Queue[Event]):
    """A subscription's queue, fed from any thread.

    The consumer awaits on its own loop, while :meth:`WebhookReceiver.handle_sync`
    delivers on the receiver's background loop (another thread): an
    ``asyncio.Queue`` is not thread-safe, so a put from elsewhere hops onto the
    consumer's loop with ``call_soon_threadsafe``. The queue binds to the loop
    running when it was created, or else to the loop of its first ``get``.
    """

    def __init__(self, maxsize: int, on_drop: Callable[[], None]) -> None:
        super().__init__(maxsize)
        self._on_drop = on_drop
        self._bind = threading.Lock()
        try:
            self._owner: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._owner = None

    def bind(self) -> None:
        if self._owner is None:
            with self._bind:
                self._owner = asyncio.get_running_loop()

    def put_nowait(self, item: Event) -> None:
        with self._bind:
            owner = self._owner
            try:
                here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
            except RuntimeError:
                here = None
            if owner is None or owner is here:
                # Nobody awaits an unbound queue yet (binding takes this lock), so a plain put is safe.
                super().put_nowait(item)
                return
        if owner.is_closed():
            self._on_drop()
            return
        owner.call_soon_threadsafe(self._put_or_drop, item)

    def _put_or_drop(self, item: Event) -> None:
        try:
            super().put_nowait(item)
        except asyncio.QueueFull:
            self._on_drop()


class Subscription:
    """An async iterator of delivered events; registered when created.

    Events come whichever way the call arrived (the ASGI app, :meth:`~WebhookReceiver.handle`
    or :meth:`~WebhookReceiver.handle_sync` from a WSGI thread); iterate on one event loop.
    """

    def __init__(self, receiver: WebhookReceiver) -> None:
        self._receiver = receiver
        self.queue: _LoopQueue = _LoopQueue(receiver.queue_size, lambda: receiver.stats.incr("dropped"))
        receiver._queues.append(self.queue)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        self.queue.bind()
        return await self.queue.get()

    def close(self) -> None:
        if self.queue in self._receiver._queues:
            self._receiver._queues.remove(self.queue)


class WebhookReceiver:
    """ASGI application: mount it, or let ``eventkit listen`` serve it with uvicorn.

    Three ways in, one behaviour (see docs/frameworks.md):

    * as an ASGI app, ``app.mount("/hooks", receiver)`` in Starlette/FastAPI or any
      ASGI server: it honours ``root_path`` and answers ``<mount>/<prefix>/<provider>``,
      ``<mount>/healthz`` and ``<mount>/readyz``; body size and time limits apply here;
    * :meth:`handle` from an async view (FastAPI route, Django async view, Quart);
    * :meth:`handle_sync` from a sync view (Django, Flask, any WSGI app).

    ``prefix`` (default ``/webhooks``) is the path under the mount where providers
    answer: ``POST <prefix>/<provider name>``.
    """

    def __init__(
        self,
        providers: Iterable[Provider] | Mapping[str, WebhookCodec] = (),
        *,
        prefix: str = "/webhooks",
        max_body_bytes: int = 1 << 20,
        dedupe_size: int = 100_000,
        dedupe_ttl: float = 24 * 3600.0,
        queue_size: int = 10_000,
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
        """Async checks ``/readyz`` runs (a store's ``ping``...); append to plug one in."""
        self.readiness_timeout = readiness_timeout
        self._buffered = 0
        self._draining = False
        self._readers: set[Any] = set()
        self.queue_size = queue_size
        self.stats = Counters()
        self._codecs: dict[str, WebhookCodec] = {}
        self._handlers: list[Handler] = []
        self._queues: list[asyncio.Queue[Event]] = []
        self._seen = _Seen(dedupe_size, dedupe_ttl)
        self._loop: BackgroundLoop | None = None
        self._loop_lock = threading.Lock()
        items = providers.items() if isinstance(providers, Mapping) else ((p.name, p) for p in providers)
        for name, item in items:
            self.mount(name, item)

    def mount(self, name: str, provider_or_codec: Provider | WebhookCodec) -> None:
        codec = provider_or_codec if isinstance(provider_or_codec, WebhookCodec) else provider_or_codec.webhook_codec()
        if codec is None:
            raise EventkitError(f"{name} does not receive webhooks", provider=name)
        self._codecs[name] = codec

    @property
    def paths(self) -> list[str]:
        return [f"{self.prefix}/{name}" for name in self._codecs]

    def on(self, handler: Handler) -> Handler:
        """Register a handler (sync or async) for every delivered event; usable as a decorator."""
        self._handlers.append(handler)
        return handler

    def events(self) -> Subscription:
        """Every event delivered from now on (subscribed at once), until closed.

        A consumer that falls ``queue_size`` events behind loses the newest ones,
        counted as ``dropped``, rather than growing without bound.
        """
        return Subscription(self)

    # The work, independent of ASGI so other frameworks can call it.

    async def handle(self, provider: str, headers: Headers, body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, decode, dedupe and deliver one call; the status and JSON body to answer.

        The route for async views (FastAPI, Django async views, Quart): the
        framework has read the body, so its limits apply, not ``max_body_bytes``
        or ``body_timeout``. Header names may come in any case (Django's and
        Flask's ``request.headers`` are Title-Case); they are lower-cased here,
        once, for every codec. Answer with the status and JSON body returned.
        """
        headers = lower_headers(headers)
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
        if delivery.dedupe_key is not None and not self._seen.add(f"{provider}\0{delivery.dedupe_key}"):
            self.stats.incr("duplicates")
            return 200, {"duplicate": True}
        self.stats.incr("accepted")
        for event in delivery.events:
            await self._deliver(event)
        return 200, {"received": len(delivery.events)}

    def handle_sync(self, provider: str, headers: Headers, body: bytes) -> tuple[int, dict[str, Any]]:
        """:meth:`handle` for sync code: Django and Flask views, any WSGI app.

        Runs :meth:`handle` on the receiver's own event loop, in one daemon thread
        started at the first call and stopped by :meth:`close`: WSGI worker threads
        may call it at once, while the same receiver also serves as an ASGI app or
        through :meth:`handle` elsewhere, and no loop is created per request (as
        ``asyncio.run`` would, which also cannot run inside a running loop).
        Handlers registered with :meth:`on` run on that loop for these calls;
        :meth:`events` consumers get the events on their own loop.
        """
        background = self._background()
        if threading.current_thread() is background.thread:
            raise EventkitError("handle_sync() called from the receiver's own loop (a handler?): await handle()")
        return background.run(self.handle(provider, headers, body))

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
            background.close()

    async def _deliver(self, event: Event) -> None:
        self.stats.incr("events")
        for queue in self._queues:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.stats.incr("dropped")
        for handler in self._handlers:
            try:
                result = handler(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                self.stats.incr("handler_errors")
                log.exception("webhook handler %r failed", handler)

    # Operations: health, readiness, draining.

    async def ready(self) -> tuple[bool, list[str]]:
        """Whether this receiver should get traffic, and why not: each readiness check must pass.

        A check is an async callable (a store's ``ping``, a listener's "connected?");
        it fails by raising or returning ``False``, and gets ``readiness_timeout`` seconds.
        """
        if self._draining:
            return False, ["shutting down"]
        reasons: list[str] = []
        for check in list(self.readiness):
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
        deadline = loop.time() + max(0.0, grace)
        for timer in list(self._readers):
            when = timer.when()
            if when is None or when > deadline:
                timer.reschedule(deadline)

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
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
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
        for key, value in scope.get("headers", []):
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
        held = 0
        try:
            body = bytearray()
            more = True
            try:
                async with self._deadline() as timer:
                    while more:
                        if timer is None:  # Python 3.10
                            message = await asyncio.wait_for(receive(), self.body_timeout)
                        else:
                            message = await receive()
                        if message["type"] == "http.disconnect":
                            return
                        chunk = message.get("body", b"")
                        if self._buffered + len(chunk) > self.max_buffered_bytes:
                            await self._busy(send, name)
                            return
                        self._buffered += len(chunk)
                        held += len(chunk)
                        body += chunk
                        more = message.get("more_body", False)
                        if len(body) > self.max_body_bytes:
                            self.stats.incr("rejected_size")
                            await answer_json(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
                            return
            except asyncio.TimeoutError:
                await self._too_slow(send, name)
                return
            status, payload = await self.handle(name, headers, bytes(body))
            await answer_json(send, status, payload)
        finally:
            self._buffered -= held

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

    @contextlib.asynccontextmanager
    async def _deadline(self) -> AsyncIterator[Any]:
        """``body_timeout`` for reading one body, which :meth:`drain` can bring forward."""
        if not hasattr(asyncio, "timeout"):  # Python 3.10: per read; the server's shutdown timeout is the backstop
            yield None
            return
        async with asyncio.timeout(self.body_timeout) as timer:
            self._readers.add(timer)
            try:
                yield timer
            finally:
                self._readers.discard(timer)

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
    """Serve a receiver for one provider and yield what it delivers.

    Options: ``receiver`` (an existing :class:`WebhookReceiver` to read from
    instead of serving one), ``host`` (default 127.0.0.1), ``port`` (default
    8080; 0 picks a free one), ``on_ready`` (called with the webhook URL),
    ``stop`` (an :class:`asyncio.Event`: once set, the server drains and the
    iterator ends after yielding what was acknowledged meanwhile),
    ``max_body_bytes``, ``body_timeout``, ``max_buffered_bytes`` and ``readiness``
    (the receiver's), ``header_timeout``, ``keep_alive`` and ``max_connections``
    (the server's, see :class:`~eventkit._serve.ServerLimits`). The server also
    answers ``GET /healthz`` and ``GET /readyz``, and drains for the
    ``shutdown_timeout`` setting when the listener stops.
    """
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
    receiver = WebhookReceiver([provider], **receiver_options)
    receiver.stats = context.stats
    subscription = receiver.events()
    try:
        async with serve(receiver, host, port, limits=limits) as (_server, bound):
            url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}{receiver.prefix}/{provider.name}"
            log.info("listening for %s webhooks on %s", provider.name, url)
            if on_ready is not None:
                on_ready(url)
            while stop is None or not stop.is_set():
                event = await _next(subscription, stop)
                if event is None:
                    break
                yield event
        # Drained: what was acknowledged during the drain is still handed over.
        while not subscription.queue.empty():
            yield subscription.queue.get_nowait()
    finally:
        subscription.close()


async def _next(subscription: Subscription, stop: asyncio.Event | None) -> Event | None:
    """The next delivered event, or ``None`` once ``stop`` is set."""
    if stop is None:
        return await subscription.queue.get()
    getting = asyncio.ensure_future(subscription.queue.get())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({getting, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not getting.done():
            getting.cancel()
    if getting.done() and not getting.cancelled():
        return getting.result()
    return None
