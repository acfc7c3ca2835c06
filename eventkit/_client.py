"""The facade: ``connect`` / ``connect_async`` and the two clients.

Both clients do the same thing in the same order: parse the target, validate
(every violation, before any I/O), then hand the event to the provider's
sender, which returns one result per event.
"""

from __future__ import annotations

import asyncio
import os
import threading
from typing import (
    TYPE_CHECKING,
    Any,
    AsyncIterator,
    Iterable,
    Iterator,
    Literal,
    Mapping,
    Sequence,
    TypeVar,
    Union,
    overload,
)

import attrs

from . import _registry, _typed, _wiring
from ._capabilities import ListenMode
from ._codec import Codec
from ._config import provider_section
from ._delivery import DEFAULT_GROUP, GroupOptions, StoreSink, consume, default_consumer
from ._errors import (
    CapabilityError,
    EventkitError,
    MissingCredentialsError,
    SettingsError,
    UnsupportedTargetError,
    ValidationError,
)
from ._event import Event
from ._listening import pump, stop_producer
from ._outbox import Outbox
from ._provider import AsyncSender, ListenContext, Provider, SyncSender
from ._results import SendResult
from ._routes import is_route, parse_routes, resolve_route
from ._settings import (
    TRANSPORT_FIELDS,
    Policy,
    credentials_hint,
    env_name,
    info_of,
    is_url,
    mask_url,
    resolve,
    resolve_transport,
    split_transport,
)
from ._stats import Counters
from ._store import Store, open_store
from ._targets import Target, parse_target
from ._telemetry import telemetry_from
from ._typed import Typed, TypedInstance

if TYPE_CHECKING:  # threads and the portal load when first used, not on `import eventkit`
    from concurrent.futures import ThreadPoolExecutor

    from ._portal import Portal

EventLike = Union[Event, Mapping[str, Any], TypedInstance]
"""An Event, its fields as a mapping, or a typed event instance (``@eventkit.event``)."""
T = TypeVar("T")
T2 = TypeVar("T2")
_Strict = Literal["skip", "dead_letter"]


ProviderRef = Union[str, "type[Provider]"]


def _open(
    name_or_url: ProviderRef, settings: Mapping[str, Any], environ: Mapping[str, str] | None
) -> tuple[Provider, Policy, str, dict[str, str]]:
    settings = dict(settings)
    routes_given = settings.pop("routes", None)
    config = settings.pop("config", None)
    transport_kwargs, provider_kwargs = split_transport(settings)
    from_url: dict[str, Any] = {}
    cls: type[Provider]
    if isinstance(name_or_url, type) and issubclass(name_or_url, Provider):
        cls = name_or_url
        shown = cls.name
    elif not isinstance(name_or_url, str) or not name_or_url:
        raise SettingsError("connect() needs a provider name, a URL or a Provider class")
    elif is_url(name_or_url):
        scheme = name_or_url.split("://", 1)[0]
        cls = _registry.for_scheme(scheme)
        from_url = cls.settings_from_url(name_or_url)
        transport_from_url = {k: from_url.pop(k) for k in list(from_url) if k in TRANSPORT_FIELDS}
        transport_kwargs = {**transport_from_url, **transport_kwargs}
        shown = mask_url(name_or_url)
    else:
        cls = _registry.load(name_or_url)
        shown = cls.name
    env = os.environ if environ is None else environ
    secret_names = frozenset(f.name for f in attrs.fields(cls.Settings) if info_of(f).secret)
    from_config = provider_section(cls.name, config, env, secret_names)
    routes_from_config = from_config.pop("routes", None)
    transport_from_config, from_config = split_transport(from_config)
    if routes_given is None:
        routes_given = env.get(env_name(cls.name, "routes")) or routes_from_config
    routes = parse_routes(routes_given, cls.name)
    provider_settings = resolve(
        cls.Settings, cls.name, kwargs=provider_kwargs, from_url=from_url, environ=env, from_config=from_config
    )
    transport = resolve_transport(cls.name, transport_kwargs, environ=env, from_config=transport_from_config)
    provider = cls(provider_settings)
    missing = provider.missing_credentials()
    if missing:
        hints = credentials_hint(cls.Settings, cls.name, missing)
        raise MissingCredentialsError(f"{cls.name} needs {hints}", provider=cls.name)
    return provider, transport, shown, routes


def _delivery_settings(store: str | None, outbox: bool) -> str:
    """The store URL, checked before any I/O (a malformed URL raises ``StoreSettingsError`` here)."""
    url = store if store is not None else "memory://"
    if not isinstance(url, str) or not url:
        raise SettingsError("store must be a store URL: memory://, sqlite:///path/to/events.db or redis://host/db")
    probe = open_store(url)
    if outbox and not probe.durable:
        raise SettingsError(
            f"outbox=True needs a durable store (sqlite:///path or redis://...), not {probe.url}: "
            "a queued result promises the event survives the process"
        )
    return url


def _lease(value: float | None) -> float | None:
    if value is not None and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
        raise SettingsError(f"outbox_lease must be a positive number of seconds, not {value!r}")
    return value


def connect(
    name_or_url: ProviderRef,
    *,
    environ: Mapping[str, str] | None = None,
    store: str | None = None,
    outbox: bool = False,
    outbox_lease: float | None = None,
    **settings: Any,
) -> Client:
    """A blocking client for one provider: ``connect("stream", api_key=..., api_secret=...)``.

    ``store`` (URL, default ``memory://``) holds received events until consumers
    acknowledge them and, with ``outbox=True``, events to send until delivered.
    ``outbox_lease`` is how long a drainer holds an item it is sending before
    another drainer may take it over (default: the policy's longest send, at
    least 30 s): after a crash, pending sends resume once it has passed.
    """
    url = _delivery_settings(store, outbox)
    provider, transport, shown, routes = _open(name_or_url, settings, environ)
    return Client(provider, transport, shown, routes, store=url, outbox=outbox, outbox_lease=_lease(outbox_lease))


def connect_async(
    name_or_url: ProviderRef,
    *,
    environ: Mapping[str, str] | None = None,
    store: str | None = None,
    outbox: bool = False,
    outbox_lease: float | None = None,
    **settings: Any,
) -> AsyncClient:
    """An async client; use it with ``async with`` so its connections close. ``store``/``outbox`` as :func:`connect`."""
    url = _delivery_settings(store, outbox)
    provider, transport, shown, routes = _open(name_or_url, settings, environ)
    return AsyncClient(provider, transport, shown, routes, store=url, outbox=outbox, outbox_lease=_lease(outbox_lease))


class _Base:
    def __init__(
        self,
        provider: Provider,
        transport: Policy,
        shown: str,
        routes: Mapping[str, str] | None = None,
        *,
        store: str = "memory://",
        outbox: bool = False,
        outbox_lease: float | None = None,
    ) -> None:
        self.provider = provider
        self.routes: Mapping[str, str] = dict(routes or {})
        """Route name (without ``@``) to this provider's target."""
        self.transport = transport
        self.url = shown
        """How this client was named, with any secret masked."""
        self.stats = Counters()
        self.codec: Codec = provider.codec()
        self.store_url = store
        self.outbox = outbox
        self.outbox_lease = outbox_lease
        self._store: Store | None = None
        self._store_lock: asyncio.Lock | None = None
        self._outbox: Outbox | None = None

    @property
    def name(self) -> str:
        return self.provider.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    def make_event(
        self,
        event: EventLike | str,
        data: Mapping[str, Any] | None = None,
        *,
        to: str | None = None,
        sender: str | None = None,
        id: str | None = None,
    ) -> Event:
        if not isinstance(event, (Event, str, Mapping)):
            event = _typed.to_event(event, data)
            data = None
        if isinstance(event, Event):
            if data is not None:
                raise ValidationError("give data inside the Event, not beside it")
            changes: dict[str, Any] = {}
            if to is not None:
                changes["target"] = to
            if sender is not None:
                changes["sender"] = sender
            if id is not None:
                changes["id"] = id
            if changes:
                event = attrs.evolve(event, **changes)
            return event
        if isinstance(event, Mapping):
            fields = dict(event)
            fields.setdefault("target", to)
            fields.setdefault("sender", sender)
            return Event(**fields)
        kwargs: dict[str, Any] = {"name": event, "data": data, "target": to, "sender": sender}
        if id is not None:
            kwargs["id"] = id
        return Event(**kwargs)

    def prepare(self, event: Event) -> Target:
        """Parse and validate; raises with every violation, before any I/O."""
        if event.target is None:
            raise ValidationError("no target: pass to=... or set Event.target")
        target = parse_target(self.resolve_target(event.target))
        violations = self.provider.validate(event, target, self.codec)
        if violations:
            cls = UnsupportedTargetError if any(v.rule == "target" for v in violations) else ValidationError
            from ._errors import PayloadTooLargeError

            if all(v.rule == "max_bytes" for v in violations):
                cls = PayloadTooLargeError
            raise cls(violations=violations, provider=self.name)
        return target

    def resolve_target(self, to: str) -> str:
        """``to`` itself, or the target a route (``@name``) means for this provider."""
        return resolve_route(to, self.routes, self.name) if is_route(to) else to

    def validate(
        self,
        event: EventLike | str,
        data: Mapping[str, Any] | None = None,
        *,
        to: str | None = None,
        sender: str | None = None,
    ) -> list[Any]:
        """Every violation ``send`` would raise, without sending."""
        try:
            ev = self.make_event(event, data, to=to, sender=sender)
            self.prepare(ev)
        except ValidationError as exc:
            return list(exc.violations)
        return []

    def _prepare_item(
        self, item: EventLike, to: str | None, sender: str | None
    ) -> tuple[Event, Target | EventkitError]:
        """One ``send_many`` item as (event, target), or (event, the error refusing it)."""
        try:
            ev = self.make_event(item, to=to, sender=sender)
        except EventkitError as exc:
            return Event.received("(invalid)", {}, provider=self.name, raw=item, target=to), exc
        try:
            return ev, self.prepare(ev)
        except EventkitError as exc:
            return ev, exc

    def _failed(self, event: Event, error: EventkitError) -> SendResult:
        if error.provider is None:
            error.provider = self.name
        self.stats.incr("rejected")
        return SendResult(event=event, target=str(event.target), provider=self.name, error=error, attempts=0)

    def _typed_listen(self, names: Any, options: dict[str, Any]) -> tuple[Any, _typed.TypedListen | None]:
        payload = self.provider.capabilities.payload
        return _typed.typed_listen(names, options, payload=payload, stats=self.stats, provider=self.name)

    async def _shared_store(self) -> Store:
        """The client's store, opened once on the loop that uses it (``memory://`` is private per listen)."""
        if self._store is None:
            if self._store_lock is None:
                self._store_lock = asyncio.Lock()
            async with self._store_lock:
                if self._store is None:
                    store = open_store(self.store_url)
                    await store.open()
                    self._store = store
        return self._store

    async def _open_outbox(self, sender: AsyncSender) -> Outbox:
        if self._outbox is None:
            store = await self._shared_store()
            if self._outbox is None:
                self._outbox = Outbox(store, self.name, sender, self.transport, self.stats, lease=self.outbox_lease)
        self._outbox.start()
        return self._outbox

    def _queued(self, event: Event) -> SendResult:
        return SendResult(event=event, target=str(event.target), provider=self.name, attempts=0, queued=True)

    async def _close_store(self) -> None:
        store, self._store = self._store, None
        if store is not None:
            await store.aclose()

    async def _listen_events(
        self, context: ListenContext, group: GroupOptions, source: AsyncIterator[Event] | None = None
    ) -> AsyncIterator[Event]:
        """The listener writes into the store (through the sink); this reads it as a consumer group."""
        sink = context.sink
        assert isinstance(sink, StoreSink)
        candidate = open_store(self.store_url)
        private = candidate if not candidate.durable else None
        if private is not None:
            await private.open()
            store = private
        else:
            store = await self._shared_store()
        sink.store = store
        if source is None:
            source = _wiring.listen(self.provider, context)
        producer: asyncio.Future[None] = asyncio.ensure_future(pump(source, sink))
        try:
            async for event in consume(store, self.name, group, context.names, producer, self.stats):
                yield event
        finally:
            await stop_producer(producer)
            if private is not None:
                await private.aclose()

    def _group_options(self, options: dict[str, Any]) -> GroupOptions:
        group = options.pop("group", None) or DEFAULT_GROUP
        consumer = options.pop("consumer", None) or default_consumer()
        claim_idle = float(options.pop("claim_idle", 30.0))
        max_attempts = int(options.pop("max_attempts", 5))
        if not isinstance(group, str) or not isinstance(consumer, str):
            raise SettingsError("group and consumer must be strings", provider=self.name)
        if not claim_idle >= 0 or max_attempts < 1:
            raise SettingsError("claim_idle must be >= 0 and max_attempts >= 1", provider=self.name)
        return GroupOptions(group=group, consumer=consumer, claim_idle=claim_idle, max_attempts=max_attempts)

    def _listen_context(
        self, names: Iterable[str] | str | None, via: str | ListenMode | None, options: Mapping[str, Any]
    ) -> ListenContext:
        modes = self.provider.capabilities.listen
        if not modes:
            raise CapabilityError(f"{self.name} does not listen", provider=self.name)
        if via is None:
            mode = self.provider.default_listen_mode() or modes[0]
        else:
            try:
                mode = ListenMode(via)
            except ValueError:
                raise CapabilityError(
                    f"unknown listen mode {via!r} (one of {', '.join(m.value for m in ListenMode)})", provider=self.name
                ) from None
            if mode not in modes:
                raise CapabilityError(
                    f"{self.name} cannot listen via {mode.value} (it listens via {', '.join(m.value for m in modes)})",
                    provider=self.name,
                )
        if isinstance(names, str):
            names = [names]
        return ListenContext(
            names=frozenset(names) if names is not None else None,
            via=mode,
            transport=self.transport,
            stats=self.stats,
            options=dict(options),
            sink=StoreSink(
                None, self.name, self.stats, telemetry=telemetry_from(self.transport.telemetry), via=mode.value
            ),
        )


class AsyncClient(_Base):
    """Async client for one provider. ``async with eventkit.connect_async(...) as kit:``."""

    def __init__(
        self,
        provider: Provider,
        transport: Policy,
        shown: str,
        routes: Mapping[str, str] | None = None,
        **delivery: Any,
    ) -> None:
        super().__init__(provider, transport, shown, routes, **delivery)
        self._sender: AsyncSender | None = None
        self._closed = False

    def _get_sender(self) -> AsyncSender:
        if self._closed:
            raise CapabilityError("this client is closed", provider=self.name)
        if self._sender is None:
            self._sender = _wiring.open_async_sender(self.provider, self.transport, self.stats, self.codec)
        return self._sender

    async def send(
        self,
        event: EventLike | str,
        data: Mapping[str, Any] | None = None,
        *,
        to: str | None = None,
        sender: str | None = None,
        id: str | None = None,
    ) -> SendResult:
        """Send one event; raises the typed error if it fails, returns the result if it lands.

        With ``outbox=True`` it returns once the event is durably in the outbox
        (``result.queued``); a drainer delivers it (:meth:`drain` waits for that).
        """
        ev = self.make_event(event, data, to=to, sender=sender, id=id)
        target = self.prepare(ev)
        if self.outbox:
            outbox = await self._open_outbox(self._get_sender())
            await outbox.enqueue([(ev, str(ev.target))])
            return self._queued(ev)
        result = await self._get_sender().send(ev, target)
        return result.raise_for_error()

    async def drain(self, timeout: float | None = None) -> int:
        """Wait until this provider's outbox is empty (or ``timeout`` seconds); the number still pending."""
        if not self.outbox:
            return 0
        outbox = await self._open_outbox(self._get_sender())
        return await outbox.drain(timeout)

    @property
    def outbox_results(self) -> list[SendResult]:
        """The latest outcomes of outbox deliveries (``possible_duplicate`` flags the ones that may repeat)."""
        return list(self._outbox.results) if self._outbox is not None else []

    async def send_many(
        self,
        events: Iterable[EventLike],
        *,
        to: str | None = None,
        sender: str | None = None,
        concurrency: int | None = None,
    ) -> list[SendResult]:
        """Send many events, at most ``concurrency`` in flight; one result per event, in order.

        Nothing raises for a single event: a bad one gets a failed result and the
        others are still sent.
        """
        import asyncio

        limit = concurrency or self.transport.concurrency
        sender_ = self._get_sender()
        prepared = [self._prepare_item(item, to, sender) for item in events]
        if self.outbox:
            outbox = await self._open_outbox(sender_)
            good = [ev for ev, target in prepared if not isinstance(target, EventkitError)]
            await outbox.enqueue([(ev, str(ev.target)) for ev in good])
            return [
                self._failed(ev, target) if isinstance(target, EventkitError) else self._queued(ev)
                for ev, target in prepared
            ]
        results: list[SendResult | None] = [None] * len(prepared)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(prepared)):
            queue.put_nowait(index)

        async def worker() -> None:
            while True:
                try:
                    index = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                ev, target = prepared[index]
                if isinstance(target, EventkitError):
                    results[index] = self._failed(ev, target)
                    continue
                try:
                    results[index] = await sender_.send(ev, target)
                except EventkitError as exc:
                    results[index] = self._failed(ev, exc)

        await asyncio.gather(*(worker() for _ in range(min(limit, len(prepared)) or 1)))
        return [r for r in results if r is not None]

    @overload
    def listen(
        self, names: type[T], *, via: str | ListenMode | None = ..., on_invalid: _Strict = ..., **options: Any
    ) -> AsyncIterator[Typed[T]]: ...
    @overload
    def listen(
        self, names: type[T], *, via: str | ListenMode | None = ..., on_invalid: Literal["raw"], **options: Any
    ) -> AsyncIterator[Typed[T] | Event]: ...
    @overload
    def listen(
        self,
        names: tuple[type[T], type[T2]],
        *,
        via: str | ListenMode | None = ...,
        on_invalid: _Strict = ...,
        **options: Any,
    ) -> AsyncIterator[Typed[T | T2]]: ...
    @overload
    def listen(
        self,
        names: Sequence[type[Any]],
        *,
        via: str | ListenMode | None = ...,
        on_invalid: _Strict = ...,
        **options: Any,
    ) -> AsyncIterator[Typed[Any]]: ...
    @overload
    def listen(
        self,
        names: type[Any] | Sequence[type[Any]],
        *,
        via: str | ListenMode | None = ...,
        on_invalid: Literal["raw"],
        **options: Any,
    ) -> AsyncIterator[Typed[Any] | Event]: ...
    @overload
    def listen(
        self, names: Iterable[str] | str | None = ..., *, via: str | ListenMode | None = ..., **options: Any
    ) -> AsyncIterator[Event]: ...
    def listen(self, names: Any = None, *, via: str | ListenMode | None = None, **options: Any) -> AsyncIterator[Any]:
        """Received events, filtered by ``names``, until the consumer stops iterating.

        The listener stores each event before the platform's ACK; this reads the
        store as consumer group ``group`` (default ``"default"``) under the name
        ``consumer`` (default: the host name). An event is acknowledged when the
        next one is asked for; one not acknowledged comes again, flagged
        ``event.delivery.redelivered`` (after ``claim_idle`` seconds for another
        consumer, at once for the same name); after ``max_attempts`` it is
        dead-lettered. Given event types (``listen(OrderReady)``), yields
        :class:`Typed` values instead.
        """
        options = dict(options)
        names, typed = self._typed_listen(names, options)
        group = self._group_options(options)
        context = self._listen_context(names, via, options)
        events = self._listen_events(context, group, _wiring.listen(self.provider, context))
        return typed.wrap(events) if typed is not None else events

    async def aclose(self) -> None:
        self._closed = True
        if self._outbox is not None:
            outbox, self._outbox = self._outbox, None
            await outbox.stop()  # what is leased and unsent comes back to the next drainer
        if self._sender is not None:
            sender, self._sender = self._sender, None
            await sender.aclose()
        await self._close_store()

    async def __aenter__(self) -> AsyncClient:
        if self.outbox:  # deliver what a crashed predecessor left in the outbox
            await self._open_outbox(self._get_sender())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Client(_Base):
    """Blocking client for one provider. ``with eventkit.connect(...) as kit:``."""

    def __init__(
        self,
        provider: Provider,
        transport: Policy,
        shown: str,
        routes: Mapping[str, str] | None = None,
        **delivery: Any,
    ) -> None:
        super().__init__(provider, transport, shown, routes, **delivery)
        self._sender: SyncSender | None = None
        self._portal: Portal | None = None
        self._async_sender: AsyncSender | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._executor: ThreadPoolExecutor | None = None
        self._executor_width = 0
        if self.outbox:  # deliver what a crashed predecessor left in the outbox
            self._sync_outbox()

    def _get_portal(self) -> Portal:
        if self._portal is None:
            from ._portal import Portal

            self._portal = Portal()
        return self._portal

    def _sync_outbox(self) -> Outbox:
        """The outbox and its drainer, on the background loop (started with the client)."""
        with self._lock:
            if self._closed:
                raise CapabilityError("this client is closed", provider=self.name)
            portal = self._get_portal()
            if self._async_sender is None:

                async def opener() -> AsyncSender:
                    return self.provider.open_async_sender(self.transport, self.stats, self.codec)

                self._async_sender = portal.call(opener())
            sender = self._async_sender
        return portal.call(self._open_outbox(sender))

    def drain(self, timeout: float | None = None) -> int:
        """Wait until this provider's outbox is empty (or ``timeout`` seconds); the number still pending."""
        if not self.outbox:
            return 0
        outbox = self._sync_outbox()
        return self._get_portal().call(outbox.drain(timeout))

    @property
    def outbox_results(self) -> list[SendResult]:
        """The latest outcomes of outbox deliveries (``possible_duplicate`` flags the ones that may repeat)."""
        return list(self._outbox.results) if self._outbox is not None else []

    def _send_one(self, event: Event, target: Target) -> SendResult:
        with self._lock:
            if self._closed:
                raise CapabilityError("this client is closed", provider=self.name)
            if self._sender is None and self._async_sender is None:
                native = _wiring.open_sync_sender(self.provider, self.transport, self.stats, self.codec)
                if native is not None:
                    self._sender = native
                else:
                    portal = self._get_portal()

                    async def opener() -> AsyncSender:
                        return _wiring.open_async_sender(self.provider, self.transport, self.stats, self.codec)

                    self._async_sender = portal.call(opener())
        if self._sender is not None:
            return self._sender.send(event, target)
        assert self._async_sender is not None and self._portal is not None
        return self._portal.call(self._async_sender.send(event, target))

    def send(
        self,
        event: EventLike | str,
        data: Mapping[str, Any] | None = None,
        *,
        to: str | None = None,
        sender: str | None = None,
        id: str | None = None,
    ) -> SendResult:
        """Send one event; raises the typed error if it fails, returns the result if it lands."""
        ev = self.make_event(event, data, to=to, sender=sender, id=id)
        target = self.prepare(ev)
        if self.outbox:
            outbox = self._sync_outbox()
            self._get_portal().call(outbox.enqueue([(ev, str(ev.target))]))
            return self._queued(ev)
        return self._send_one(ev, target).raise_for_error()

    def send_many(
        self,
        events: Iterable[EventLike],
        *,
        to: str | None = None,
        sender: str | None = None,
        concurrency: int | None = None,
    ) -> list[SendResult]:
        """Like :meth:`AsyncClient.send_many`, with a thread pool of ``concurrency`` workers."""
        limit = concurrency or self.transport.concurrency
        if self.outbox:
            outbox = self._sync_outbox()
            prepared = [self._prepare_item(item, to, sender) for item in events]
            good = [ev for ev, target in prepared if not isinstance(target, EventkitError)]
            self._get_portal().call(outbox.enqueue([(ev, str(ev.target)) for ev in good]))
            return [
                self._failed(ev, target) if isinstance(target, EventkitError) else self._queued(ev)
                for ev, target in prepared
            ]

        def one(item: EventLike) -> SendResult:
            ev, target = self._prepare_item(item, to, sender)
            if isinstance(target, EventkitError):
                return self._failed(ev, target)
            try:
                return self._send_one(ev, target)
            except EventkitError as exc:
                return self._failed(ev, exc)

        items = list(events)
        if limit <= 1 or len(items) <= 1:
            return [one(item) for item in items]
        width = min(limit, len(items))
        pool = self._get_executor(width)
        if pool is None:  # closed: each event gets its "client is closed" result
            return [one(item) for item in items]
        if width >= self._executor_width:
            return list(pool.map(one, items))
        # Fewer in flight than the client's threads: ``width`` workers each take the next item.
        results: list[SendResult | None] = [None] * len(items)
        cursor = iter(range(len(items)))
        cursor_lock = threading.Lock()

        def worker() -> None:
            while True:
                with cursor_lock:
                    index = next(cursor, None)
                if index is None:
                    return
                results[index] = one(items[index])

        for future in [pool.submit(worker) for _ in range(width)]:
            future.result()
        return [r for r in results if r is not None]

    def _get_executor(self, width: int) -> ThreadPoolExecutor | None:
        """The client's one thread pool for ``send_many``, made on first use and grown, never per call.

        Every thread reuses the engine's pooled connections, so repeated calls
        open no new sockets once the pool is warm.
        """
        with self._lock:
            if self._closed:
                return None
            if self._executor is None or width > self._executor_width:
                from concurrent.futures import ThreadPoolExecutor

                old, self._executor = (
                    self._executor,
                    ThreadPoolExecutor(max_workers=width, thread_name_prefix="eventkit-send"),
                )
                self._executor_width = width
                if old is not None:
                    old.shutdown(wait=False)
            return self._executor

    @overload
    def listen(
        self, names: type[T], *, via: str | ListenMode | None = ..., on_invalid: _Strict = ..., **options: Any
    ) -> Iterator[Typed[T]]: ...
    @overload
    def listen(
        self, names: type[T], *, via: str | ListenMode | None = ..., on_invalid: Literal["raw"], **options: Any
    ) -> Iterator[Typed[T] | Event]: ...
    @overload
    def listen(
        self,
        names: tuple[type[T], type[T2]],
        *,
        via: str | ListenMode | None = ...,
        on_invalid: _Strict = ...,
        **options: Any,
    ) -> Iterator[Typed[T | T2]]: ...
    @overload
    def listen(
        self,
        names: Sequence[type[Any]],
        *,
        via: str | ListenMode | None = ...,
        on_invalid: _Strict = ...,
        **options: Any,
    ) -> Iterator[Typed[Any]]: ...
    @overload
    def listen(
        self,
        names: type[Any] | Sequence[type[Any]],
        *,
        via: str | ListenMode | None = ...,
        on_invalid: Literal["raw"],
        **options: Any,
    ) -> Iterator[Typed[Any] | Event]: ...
    @overload
    def listen(
        self, names: Iterable[str] | str | None = ..., *, via: str | ListenMode | None = ..., **options: Any
    ) -> Iterator[Event]: ...
    def listen(self, names: Any = None, *, via: str | ListenMode | None = None, **options: Any) -> Iterator[Any]:
        """A blocking iterator of received events (the listener runs on a background loop)."""
        options = dict(options)
        names, typed = self._typed_listen(names, options)
        group = self._group_options(options)
        context = self._listen_context(names, via, options)

        def events() -> AsyncIterator[Any]:
            source = self._listen_events(context, group)
            return typed.wrap(source) if typed is not None else source

        return self._get_portal().iterate(events)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sender, self._sender = self._sender, None
            async_sender, self._async_sender = self._async_sender, None
            executor, self._executor = self._executor, None
            outbox, self._outbox = self._outbox, None
        if executor is not None:
            executor.shutdown(wait=True)
        if sender is not None:
            sender.close()
        if self._portal is not None:
            if outbox is not None:
                self._portal.call(outbox.stop())
            if async_sender is not None:
                self._portal.call(async_sender.aclose())
            self._portal.call(self._close_store())
            self._portal.close()
            self._portal = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
