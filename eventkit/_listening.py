"""The listener pipeline: one reconnect loop for every socket listener, one sink for every received event.

Each socket listener (AMI, ARI, RELAY, the Stream websocket) only knows how to run
*one* session: connect, subscribe, read frames, decode. Everything around a session
is here, written once: when to reconnect and how long to wait (one formula from the
connection's backoff settings), what is counted (``reconnects``, ``connect_failures``,
``resubscribed``, ``received``, ``dropped_frames``) and what is logged (WARNING for a
failed connect or a lost session, INFO for a (re)connect), the same for every provider.

Every decoded event is handed to ``context.sink`` and the listener awaits it *before*
it acknowledges the frame to the platform or reads the next one. The sink is where the
durable store sits: when :meth:`Sink.accept` returns, the event is held, so an ACK or a
2xx means "held", and a sink that cannot take more makes the listener stop reading
(backpressure) instead of buffering without bound.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import attrs

from ._errors import AuthenticationError, PermissionDeniedError, UnavailableError
from ._event import Event
from ._logging import Throttle
from ._stats import Counters

if TYPE_CHECKING:
    from ._provider import ListenContext
    from ._settings import TransportSettings

log = logging.getLogger("eventkit.listening")


class Sink(Protocol):
    """Where a listener hands what it received; ``accept`` returns once the events are held."""

    async def accept(self, events: Sequence[Event], *, dedupe_key: str | None = None) -> list[bool]:
        """Hold ``events`` (one platform delivery); per event, ``False`` if it repeats a delivery already held."""
        ...


class QueueSink:
    """An in-process, bounded hand-off from a listener to its consumer.

    ``accept`` waits while ``size`` events are waiting (backpressure on the socket);
    nothing is dropped. Used where no store is configured on the listening side.
    """

    def __init__(self, stats: Counters | None = None, size: int = 1000) -> None:
        self.stats = stats if stats is not None else Counters()
        self.queue: asyncio.Queue[Event] = asyncio.Queue(max(1, size))

    async def accept(self, events: Sequence[Event], *, dedupe_key: str | None = None) -> list[bool]:
        for event in events:
            await self.queue.put(event)
            self.stats.incr("received")
        return [True] * len(events)

    async def get(self) -> Event:
        return await self.queue.get()


@attrs.frozen
class Backoff:
    """How long to wait before a reconnect: immediately after a lost session, then doubling with jitter.

    Reconnecting at once after a drop matters for platforms without replay (Asterisk):
    what happens while disconnected is gone. Only failed connects back off, from
    ``initial`` doubling up to ``maximum``, each wait drawn from the upper half of its
    ceiling so that many listeners restarted together spread out.
    """

    initial: float
    maximum: float

    @classmethod
    def from_policy(cls, policy: TransportSettings) -> Backoff:
        return cls(policy.backoff_initial, policy.backoff_max)

    def delay(self, failures: int) -> float:
        """The wait before the next attempt after ``failures`` consecutive failed connects."""
        if failures <= 0:
            return 0.0
        ceiling = min(self.maximum, max(self.initial, 0.01) * (2 ** (failures - 1)))
        return random.uniform(ceiling / 2, ceiling)


Connected = Callable[[str], None]
"""Called by a session once it is subscribed, with the address to report (no secrets)."""
Session = Callable[[Connected], Awaitable[None]]
"""Runs one connection until it is lost (returns or raises)."""

_ALWAYS_FATAL: tuple[type[BaseException], ...] = (AuthenticationError, PermissionDeniedError)


def _ends_listener(exc: BaseException) -> bool:
    """A closed or broken store ends the listener; an unavailable or full one is waited out by the sink."""
    from ._store._base import StoreError, StoreUnavailableError

    return isinstance(exc, StoreError) and not isinstance(exc, StoreUnavailableError)


class Reconnector:
    """Runs a listener's sessions one after another until cancelled or a fatal error."""

    def __init__(
        self,
        context: ListenContext,
        provider: str,
        *,
        retry_on: tuple[type[BaseException], ...],
        fatal: tuple[type[BaseException], ...] = (),
        backoff: Backoff | None = None,
        on_ready: Callable[[str], Any] | None = None,
        ready_every_session: bool = False,
    ) -> None:
        self.context = context
        self.provider = provider
        self.stats = context.stats
        self.retry_on = retry_on
        self.fatal = (*_ALWAYS_FATAL, *fatal)
        self.backoff = backoff or Backoff.from_policy(context.transport)
        self.on_ready = on_ready if on_ready is not None else context.options.get("on_ready")
        self.ready_every_session = ready_every_session
        """Call ``on_ready`` after every (re)subscription, not only the first (AMI reports each login)."""
        self.sessions = 0
        self._warnings = Throttle(log, interval=30.0)
        """Connect failures are WARNING (an operator must see them at the default level), at most one
        line every 30 s during an outage, with the count held back; each lost session is a line of its own."""
        self.max_outage: float | None = getattr(context.transport, "max_outage", None)
        """Seconds without a session after which the listener gives up (``UnavailableError``); None: never."""

    def dropped(self, what: str, reason: str = "") -> None:
        """A frame the peer sent that cannot be used: counted and logged, never fatal."""
        self.stats.incr("dropped_frames")
        log.info("%s listener dropped %s%s", self.provider, what, f": {reason}" if reason else "")

    async def run(self, session: Session) -> None:
        failures = 0
        attempts = 0
        outage_since: float | None = None
        while True:
            attempts += 1
            if attempts > 1:
                self.stats.incr("reconnects")
            connected = False

            def ready(address: str) -> None:
                nonlocal connected, failures, outage_since
                connected = True
                failures = 0
                outage_since = None
                self.sessions += 1
                if self.sessions > 1:
                    self.stats.incr("resubscribed")
                    log.info("%s listener reconnected to %s", self.provider, address)
                else:
                    log.info("%s listener connected to %s", self.provider, address)
                if self.on_ready is not None and (self.sessions == 1 or self.ready_every_session):
                    self.on_ready(address)

            try:
                await session(ready)
                reason = "closed by the peer"
            except self.fatal:
                raise
            except self.retry_on as exc:
                if _ends_listener(exc):
                    raise
                reason = _reason(exc)
            if connected:
                log.warning("%s listener lost its session (%s); reconnecting", self.provider, reason)
                await asyncio.sleep(0)
                continue
            failures += 1
            self.stats.incr("connect_failures")
            now = time.monotonic()
            outage_since = now if outage_since is None else outage_since
            delay = self.backoff.delay(failures)
            if self.max_outage is not None:
                if now - outage_since >= self.max_outage:
                    raise UnavailableError(
                        f"{self.provider} listener gave up: no connection for {self.max_outage:g}s "
                        f"(max_outage); last: {reason}",
                        provider=self.provider,
                    )
                delay = max(0.0, min(delay, outage_since + self.max_outage - now))
            self._warnings.warning(
                "connect",
                "%s listener could not connect (%s); retrying in %.2fs",
                self.provider,
                reason,
                delay,
            )
            await asyncio.sleep(delay)


def _reason(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    if not isinstance(message, str):
        message = str(exc)
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


async def pump(source: AsyncIterator[Event], sink: Sink) -> None:
    """Hand what a listener yields to the sink: the path for providers that yield instead of calling the sink."""
    try:
        async for event in source:
            await sink.accept([event])
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def through_sink(source: AsyncIterator[Event], context: ListenContext) -> AsyncIterator[Event]:
    """Run a listener as the producer and yield what reaches its in-process sink.

    ``source`` is what the provider's ``listen`` returned: built-in listeners hand
    their events to the sink themselves and yield nothing; a listener that yields
    has its events handed to the sink here. Either way the consumer reads the sink,
    and an error that ends the listener ends this iterator with that error.
    """
    sink = context.sink
    if not isinstance(sink, QueueSink):
        raise TypeError("through_sink reads a QueueSink")
    producer: asyncio.Future[None] = asyncio.ensure_future(pump(source, sink))
    try:
        while True:
            if sink.queue.empty() and producer.done():
                producer.result()
                return
            getter = asyncio.ensure_future(sink.get())
            waiting: set[asyncio.Future[Any]] = {getter, producer}
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not getter.done():
                    getter.cancel()
            if getter.done() and not getter.cancelled():
                event = getter.result()
                if context.names is None or event.name in context.names:
                    yield event
    finally:
        await stop_producer(producer)


async def stop_producer(producer: asyncio.Future[None]) -> None:
    """Cancel a listener's producer task and wait for it to end.

    Its own error has already reached the consumer (or the consumer left first), so
    only a cancellation of the caller itself propagates from here.
    """
    if not producer.done():
        producer.cancel()
    try:
        await producer
    except asyncio.CancelledError:
        if not producer.cancelled():
            raise
    except Exception:
        pass


async def sink_only(run: Callable[[], Awaitable[None]]) -> AsyncIterator[Event]:
    """A listener that hands everything to ``context.sink``: an iterator that yields nothing and ends with ``run``."""
    await run()
    return
    yield  # an async generator, for the Provider.listen contract
