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
import inspect
import logging
import time
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping, Union

from ._asgi import BodyTooLargeError, answer_json, read_body
from ._codec import WebhookCodec
from ._errors import AuthenticationError, EventkitError
from ._event import Event
from ._stats import Counters

if TYPE_CHECKING:
    from ._provider import ListenContext, Provider

log = logging.getLogger("eventkit.webhooks")

Handler = Callable[[Event], Union[Awaitable[None], None]]
# The ASGI spec's types (as asgiref and Starlette spell them), so the receiver mounts anywhere.
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class _Seen:
    """Bounded memory of delivery ids, with a time to live."""

    def __init__(self, size: int, ttl: float) -> None:
        self.size = size
        self.ttl = ttl
        self._ids: collections.OrderedDict[str, float] = collections.OrderedDict()

    def add(self, key: str) -> bool:
        """True the first time ``key`` is seen within the TTL."""
        now = time.monotonic()
        seen = self._ids.get(key)
        if seen is not None and now - seen < self.ttl:
            return False
        self._ids[key] = now
        self._ids.move_to_end(key)
        while len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True


class Subscription:
    """An async iterator of delivered events; registered when created."""

    def __init__(self, receiver: WebhookReceiver) -> None:
        self._receiver = receiver
        self.queue: asyncio.Queue[Event] = asyncio.Queue(receiver.queue_size)
        receiver._queues.append(self.queue)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Event:
        return await self.queue.get()

    def close(self) -> None:
        if self.queue in self._receiver._queues:
            self._receiver._queues.remove(self.queue)


class WebhookReceiver:
    """ASGI application: mount it, or let ``eventkit listen`` serve it with uvicorn."""

    def __init__(
        self,
        providers: Iterable[Provider] | Mapping[str, WebhookCodec] = (),
        *,
        prefix: str = "/webhooks",
        max_body_bytes: int = 1 << 20,
        dedupe_size: int = 100_000,
        dedupe_ttl: float = 24 * 3600.0,
        queue_size: int = 10_000,
    ) -> None:
        self.prefix = "/" + prefix.strip("/")
        self.max_body_bytes = max_body_bytes
        self.queue_size = queue_size
        self.stats = Counters()
        self._codecs: dict[str, WebhookCodec] = {}
        self._handlers: list[Handler] = []
        self._queues: list[asyncio.Queue[Event]] = []
        self._seen = _Seen(dedupe_size, dedupe_ttl)
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

    async def handle(self, provider: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Verify, decode, dedupe and deliver one call; the status and JSON body to answer."""
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
        if delivery.dedupe_key is not None and not self._seen.add(f"{provider}\0{delivery.dedupe_key}"):
            self.stats.incr("duplicates")
            return 200, {"duplicate": True}
        self.stats.incr("accepted")
        for event in delivery.events:
            await self._deliver(event)
        return 200, {"received": len(delivery.events)}

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
        path: str = scope.get("path", "")
        name = path[len(self.prefix) + 1 :].strip("/") if path.startswith(self.prefix + "/") else None
        if name is None or name not in self._codecs:
            self.stats.incr("not_found")
            await answer_json(send, 404, {"error": "not found"})
            return
        if scope.get("method") != "POST":
            await answer_json(send, 405, {"error": "POST only"}, headers=[(b"allow", b"POST")])
            return
        headers: dict[str, str] = {}
        for key, value in scope.get("headers", []):
            k = key.decode("latin-1").lower()
            v = value.decode("latin-1")
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
            self.stats.incr("rejected_size")
            await answer_json(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
            return
        try:
            body = await read_body(receive, self.max_body_bytes)
        except BodyTooLargeError:
            self.stats.incr("rejected_size")
            await answer_json(send, 413, {"error": f"body over {self.max_body_bytes} bytes"})
            return
        if body is None:
            return
        status, payload = await self.handle(name, headers, body)
        await answer_json(send, status, payload)


async def listen_via_webhooks(provider: Provider, context: ListenContext) -> AsyncIterator[Event]:
    """Serve a receiver for one provider and yield what it delivers.

    Options: ``receiver`` (an existing :class:`WebhookReceiver` to read from
    instead of serving one), ``host`` (default 127.0.0.1), ``port`` (default
    8080; 0 picks a free one), ``on_ready`` (called with the webhook URL).
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
    from ._serve import serve

    host = options.pop("host", "127.0.0.1")
    port = int(options.pop("port", 8080))
    on_ready = options.pop("on_ready", None)
    max_body = int(options.pop("max_body_bytes", 1 << 20))
    if options:
        from ._errors import SettingsError

        raise SettingsError(f"unknown listen options {sorted(options)} for webhooks", provider=provider.name)
    receiver = WebhookReceiver([provider], max_body_bytes=max_body)
    receiver.stats = context.stats
    async with serve(receiver, host, port) as (_server, bound):
        url = f"http://{host if ':' not in host else f'[{host}]'}:{bound}{receiver.prefix}/{provider.name}"
        log.info("listening for %s webhooks on %s", provider.name, url)
        subscription = receiver.events()
        try:
            if on_ready is not None:
                on_ready(url)
            async for event in subscription:
                yield event
        finally:
            subscription.close()
