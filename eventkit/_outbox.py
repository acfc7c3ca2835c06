"""The outbox: ``send`` returns once the event is durably stored; a drainer delivers it.

The transactional-outbox pattern: the event goes to the store first (``queued``),
then a drainer leases it and sends it through the provider's normal sender (with
its retry policy). The store leases at most one item per target at a time, so
events reach each target in the order they were sent. An item whose lease ran out
without an answer (its sender died mid-send) comes back flagged
``possible_duplicate``: the platform may have it already; it keeps its event id so
the receiving side can tell.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import socket
import time
import uuid
from collections.abc import Sequence

from ._errors import EventkitError
from ._event import Event
from ._provider import AsyncSender
from ._results import SendResult
from ._settings import TransportSettings
from ._stats import Counters
from ._store._base import OutboxItem, Outgoing, Store, StoreError
from ._store.codec import decode_event, encode_event
from ._targets import parse_target

log = logging.getLogger("eventkit.outbox")


def owner_name() -> str:
    """Who holds a lease: unique per drainer, so a crashed one's leases simply run out."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Outbox:
    """One provider's outbox on one store, with its drainer task."""

    def __init__(
        self,
        store: Store,
        provider: str,
        sender: AsyncSender,
        policy: TransportSettings,
        stats: Counters,
        *,
        max_attempts: int = 20,
        batch: int | None = None,
        poll: float = 0.25,
        lease: float | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.sender = sender
        self.policy = policy
        self.stats = stats
        self.owner = owner_name()
        self.max_attempts = max_attempts
        self.batch = batch or max(1, policy.concurrency)
        self.poll = poll
        self.lease = lease or max(30.0, (policy.timeout + policy.backoff_max) * (policy.max_attempts + 1))
        """Long enough for one send with all its retries; a shorter one would flag live sends as duplicates."""
        self.results: collections.deque[SendResult] = collections.deque(maxlen=10_000)
        """The latest delivery outcomes (``possible_duplicate`` set where an earlier attempt may have landed)."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def enqueue(self, items: Sequence[tuple[Event, str]]) -> list[str]:
        """Store events to send (durable on return); wakes the drainer."""
        ids = await self.store.enqueue(
            [Outgoing(self.provider, target, encode_event(event)) for event, target in items]
        )
        self.stats.incr("queued", len(ids))
        self._wake.set()
        return ids

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                sent = await self.drain_once()
            except StoreError as exc:
                log.warning("%s outbox cannot read the store: %s", self.provider, exc)
                sent = 0
            if sent == 0:
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll)
                except asyncio.TimeoutError:
                    pass

    async def drain_once(self, *, attempts: int | None = None) -> int:
        """Lease what is due (one per target) and send it; the number of items handled."""
        items = await self.store.lease(self.provider, self.owner, count=self.batch, lease=self.lease)
        if items:
            await asyncio.gather(*(self._deliver(item, attempts) for item in items))
        return len(items)

    async def _deliver(self, item: OutboxItem, attempts: int | None) -> None:
        try:
            event = decode_event(item.payload)
            target = parse_target(item.key)
        except (StoreError, EventkitError) as exc:
            await self.store.fail(item.id, error=f"undecodable outbox item: {exc}", dead=True)
            self.stats.incr("outbox_dead")
            return
        if item.possible_duplicate:
            self.stats.incr("possible_duplicates")
        try:
            result = await self.sender.send(event, target)
        except EventkitError as exc:
            result = SendResult(event=event, target=item.key, provider=self.provider, error=exc, attempts=1)
        if item.possible_duplicate and not result.possible_duplicate:
            import attrs

            result = attrs.evolve(result, possible_duplicate=True)
        self.results.append(result)
        if result.error is None:
            await self.store.complete([item.id])
            self.stats.incr("outbox_delivered")
            return
        error = result.error
        message = f"{type(error).__name__}: {error.message}"[:500]
        maybe = bool(result.possible_duplicate or getattr(error, "maybe_delivered", False))
        limit = attempts if attempts is not None else self.max_attempts
        if not error.retryable or item.attempts >= limit:
            if attempts is not None and error.retryable:
                # One try (eventkit send --outbox): leave it for a later drain.
                await self.store.fail(item.id, error=message, retry_at=time.time(), maybe_delivered=maybe)
                return
            await self.store.fail(item.id, error=message, dead=True, maybe_delivered=maybe)
            self.stats.incr("outbox_dead")
            log.warning("%s outbox gave up on %s to %s: %s", self.provider, event.id, item.key, message)
            return
        delay = min(self.policy.backoff_max * 6, max(self.policy.backoff_initial, 0.05) * 2 ** (item.attempts - 1))
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        await self.store.fail(item.id, error=message, retry_at=time.time() + delay, maybe_delivered=maybe)
        self.stats.incr("outbox_retries")

    async def pending(self) -> int:
        """Items not yet delivered for this provider (dead ones excluded)."""
        return len(await self.store.outbox(self.provider, limit=1_000_000, dead=False))

    async def drain(self, timeout: float | None) -> int:
        """Wait until nothing is pending for this provider, or ``timeout``; the number still pending."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Is anything left? One item answers it: listing them all every tick would compete
            # with the drainer for the store.
            if not await self.store.outbox(self.provider, limit=1, dead=False):
                return 0
            if deadline is not None and time.monotonic() >= deadline:
                return await self.pending()
            self._wake.set()
            await asyncio.sleep(0.02)
