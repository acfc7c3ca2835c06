"""The ``memory`` provider: in-process send and listen, for tests and examples.

It registers through the ``eventkit.providers`` entry point like every other
provider. Events sent to a namespace reach every listener on that namespace in
this process, across threads and event loops. It accepts every built-in target
kind, so code written for a vendor can be exercised against it unchanged.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, AsyncIterator

import attrs

from eventkit.provider import (
    Capabilities,
    Codec,
    Counters,
    Event,
    Limits,
    ListenContext,
    ListenMode,
    PayloadModel,
    Policy,
    Provider,
    Receipt,
    RetryLoop,
    SendResult,
    Target,
    TargetForm,
    Violation,
    from_status,
    setting,
)

_FORMS = (
    TargetForm("topic", "topic:<name>", "a named in-process topic"),
    TargetForm("call", "call:<id>", "stands in for a SignalWire call"),
    TargetForm("channel", "channel:<type>:<id>", "stands in for a Stream channel"),
    TargetForm("user", "user:<id>", "stands in for a Stream user"),
    TargetForm("conversation", "conversation:<id>", "stands in for a Vonage conversation"),
    TargetForm("ami", "ami", "stands in for Asterisk AMI"),
    TargetForm("app", "app:<name>", "stands in for an Asterisk ARI application"),
)


@attrs.frozen
class MemorySettings:
    namespace: str = setting("default", help="listeners on the same namespace receive each other's events")
    max_payload_bytes: int | None = setting(help="refuse data larger than this (compact JSON); unlimited by default")
    max_keys: int | None = setting(help="refuse data with more top-level keys than this; unlimited by default")
    queue_size: int = setting(0, help="per-listener queue bound; 0 is unbounded")


class _Subscriber:
    __slots__ = ("loop", "queue")

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Event]) -> None:
        self.loop = loop
        self.queue = queue


class Hub:
    """One namespace: its listeners, and faults injected for tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: list[_Subscriber] = []
        self._faults: list[tuple[int, float | None]] = []
        self.dropped = 0

    def subscribe(self, queue_size: int) -> _Subscriber:
        sub = _Subscriber(asyncio.get_running_loop(), asyncio.Queue(queue_size))
        with self._lock:
            self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: _Subscriber) -> None:
        with self._lock:
            if sub in self._subscribers:
                self._subscribers.remove(sub)

    def fail_next(self, status: int, *, times: int = 1, retry_after: float | None = None) -> None:
        """Make the next ``times`` sends fail as a platform answering ``status`` would."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * times)

    def take_fault(self) -> tuple[int, float | None] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def publish(self, event: Event) -> int:
        with self._lock:
            subscribers = list(self._subscribers)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for sub in subscribers:
            if sub.loop is running:
                self._put(sub.queue, event)
            elif not sub.loop.is_closed():
                sub.loop.call_soon_threadsafe(self._put, sub.queue, event)
        return len(subscribers)

    def _put(self, queue: asyncio.Queue[Event], event: Event) -> None:
        try:
            queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1


_hubs: dict[str, Hub] = {}
_hubs_lock = threading.Lock()


def hub(namespace: str = "default") -> Hub:
    with _hubs_lock:
        found = _hubs.get(namespace)
        if found is None:
            found = _hubs[namespace] = Hub()
        return found


class MemoryCodec:
    """Validation only: the in-process wire is the Event itself."""

    def __init__(self, settings: MemorySettings) -> None:
        self.settings = settings

    def validate(self, event: Event, target: Target) -> list[Violation]:
        return []


class _MemorySender:
    """Publishes to the namespace's hub under the core retry policy (faults are retried like any platform's)."""

    def __init__(self, provider: MemoryProvider, transport: Policy, stats: Counters) -> None:
        self.provider = provider
        self.hub = hub(provider.settings.namespace)
        self.loop = RetryLoop(provider.name, transport, stats, redactor=provider.redactor)

    def attempt(self, event: Event, target: Target) -> Receipt:
        fault = self.hub.take_fault()
        if fault is not None:
            status, retry_after = fault
            raise from_status(status, f"injected fault {status}", provider="memory", retry_after=retry_after)
        delivered = Event.received(
            event.name,
            event.data,
            provider="memory",
            raw=event,
            id=event.id,
            time=event.time,
            target=str(target),
            source=f"memory:{self.provider.settings.namespace}",
            sender=event.sender,
        )
        listeners = self.hub.publish(delivered)
        return Receipt(status=200, id=event.id, details={"listeners": listeners})

    def send(self, event: Event, target: Target) -> SendResult:
        return self.loop.run(event, target, lambda: self.attempt(event, target))

    def close(self) -> None:
        pass


class _AsyncMemorySender:
    def __init__(self, sync: _MemorySender) -> None:
        self.sync = sync

    async def send(self, event: Event, target: Target) -> SendResult:
        async def attempt() -> Receipt:
            return self.sync.attempt(event, target)

        return await self.sync.loop.arun(event, target, attempt)

    async def aclose(self) -> None:
        pass


class MemoryProvider(Provider):
    name = "memory"
    Settings = MemorySettings
    capabilities = Capabilities(
        targets=_FORMS,
        listen=(ListenMode.IN_PROCESS,),
        payload=PayloadModel.JSON,
        description="In-process events for tests and examples; no network.",
    )

    def limits(self) -> Limits:
        return Limits(max_payload_bytes=self.settings.max_payload_bytes, max_keys=self.settings.max_keys)

    def codec(self) -> Codec:
        return MemoryCodec(self.settings)

    def open_sync_sender(self, transport: Policy, stats: Counters, codec: Codec) -> _MemorySender:
        return _MemorySender(self, transport, stats)

    def open_async_sender(self, transport: Policy, stats: Counters, codec: Codec) -> _AsyncMemorySender:
        return _AsyncMemorySender(_MemorySender(self, transport, stats))

    def listen(self, context: ListenContext) -> AsyncIterator[Event]:
        if context.via is not ListenMode.IN_PROCESS:
            return super().listen(context)
        return self._listen(context)

    async def _listen(self, context: ListenContext) -> AsyncIterator[Event]:
        sub = hub(self.settings.namespace).subscribe(self.settings.queue_size)
        ready: Any = context.options.get("on_ready")
        if ready is not None:
            ready(f"memory:{self.settings.namespace}")
        try:
            while True:
                event = await sub.queue.get()
                context.stats.incr("received")
                yield event
        finally:
            hub(self.settings.namespace).unsubscribe(sub)
