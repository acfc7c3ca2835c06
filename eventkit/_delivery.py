"""Durable delivery: listeners write into a store, consumers read it as groups and acknowledge.

:class:`StoreSink` is the sink a listener hands its events to: it appends them to
the store with their dedupe key, and when the store is full or failing it waits
(with backoff) until the append succeeds, so a socket listener stops reading its
socket instead of buffering (backpressure). Nothing is acknowledged to a platform
before ``accept`` returns.

:func:`consume` is the other side: it reads a consumer group and yields events
flagged with their :class:`~eventkit.DeliveryInfo`, acknowledging an event when the
consumer asks for the next one. An event handed out and not acknowledged (the
consumer stopped, the process died) is handed out again, ``redelivered``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
from collections.abc import AsyncIterator, Sequence
from typing import Any

import attrs

from ._event import DeliveryInfo, Event
from ._stats import Counters
from ._store._base import Delivery, Inbound, Store, StoreError, StoreFullError, StoreUnavailableError
from ._store.codec import decode_event, encode_event
from ._telemetry import Telemetry

log = logging.getLogger("eventkit.delivery")

DEFAULT_GROUP = "default"


def default_consumer() -> str:
    """The host name: stable across restarts, so a restarted consumer reclaims its own pending events at once."""
    return socket.gethostname() or "eventkit"


def group_name(provider: str, group: str) -> str:
    """Groups are per provider: several providers can share one store without reading each other's events."""
    return f"{provider}:{group}"


def records(provider: str, events: Sequence[Event], dedupe_key: str | None) -> list[Inbound]:
    """One platform delivery as store records; its dedupe key marks the first and, suffixed, the others."""
    out = []
    for index, event in enumerate(events):
        key = dedupe_key if dedupe_key is None or index == 0 else f"{dedupe_key}#{index}"
        out.append(Inbound(provider, encode_event(event), key))
    return out


class StoreSink:
    """Appends what a listener received; waits out a full or failing store (backpressure, never a drop)."""

    def __init__(
        self,
        store: Store | None,
        provider: str,
        stats: Counters,
        *,
        retry_initial: float = 0.05,
        retry_max: float = 2.0,
        telemetry: Telemetry | None = None,
        via: str = "",
    ) -> None:
        self.store = store
        self.provider = provider
        self.stats = stats
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.telemetry = telemetry
        """Records a receive span per stored event (the ``otel`` extra; None: off)."""
        self.via = via

    async def accept(self, events: Sequence[Event], *, dedupe_key: str | None = None) -> list[bool]:
        if not events:
            return []
        if self.store is None:
            raise StoreError("the listener's store is not open yet")
        batch = records(self.provider, events, dedupe_key)
        failures = 0
        while True:
            try:
                stored = await self.store.append(batch)
                break
            except StoreUnavailableError as exc:
                failures += 1
                self.stats.incr("store_full" if isinstance(exc, StoreFullError) else "store_unavailable")
                ceiling = min(self.retry_max, self.retry_initial * 2 ** min(failures - 1, 30))
                if failures == 1:
                    log.warning(
                        "%s listener paused: %s (reading resumes when the store takes events)", self.provider, exc
                    )
                await asyncio.sleep(random.uniform(ceiling / 2, ceiling))
        if failures:
            log.info("%s listener resumed after %d refused appends", self.provider, failures)
        kept = sum(stored)
        self.stats.incr("received", kept)
        if kept < len(stored):
            self.stats.incr("duplicates", len(stored) - kept)
        if self.telemetry is not None:
            for event, new in zip(events, stored, strict=True):
                if new:
                    self.telemetry.receive(self.provider, event, self.via)
        return stored


@attrs.frozen
class GroupOptions:
    """How a consumer reads: its group, its name, when to claim others' stale events, when to give up."""

    group: str = DEFAULT_GROUP
    consumer: str = attrs.field(factory=default_consumer)
    claim_idle: float = 30.0
    max_attempts: int = 5
    poll: float = 1.0
    """Longest wait in one read, so a released or stale entry is picked up within it."""


def to_event(delivery: Delivery, group: str, store: Store | None = None, released: set[str] | None = None) -> Event:
    """The stored event with how it was delivered; ``released`` collects the entries given back."""
    event = decode_event(delivery.payload)
    acknowledge = give_back = None
    if store is not None:

        async def acknowledge() -> None:
            await store.ack(group, [delivery.id])

        async def give_back(error: str) -> None:
            if released is not None:
                released.add(delivery.id)
            await store.release(group, delivery.id, delay=0, error=error)

    info = DeliveryInfo(
        attempts=delivery.attempts, group=group, entry=delivery.id, acknowledge=acknowledge, give_back=give_back
    )
    object.__setattr__(event, "delivery", info)
    return event


async def consume(
    store: Store,
    provider: str,
    options: GroupOptions,
    names: frozenset[str] | None = None,
    producer: asyncio.Future[Any] | None = None,
    stats: Counters | None = None,
) -> AsyncIterator[Event]:
    """Yield the group's events; each is acknowledged when the consumer asks for the next one.

    Leaving the loop (``break``, an exception, closing the iterator) does not
    acknowledge the event in hand: it stays pending and is handed out again.
    ``producer`` is the listener writing into the store: its error ends this
    iterator with that error.
    """
    group = group_name(provider, options.group)
    held: str | None = None
    released: set[str] = set()
    """Entries the consumer gave back (``event.delivery.release``): not acknowledged on next."""
    finished = False
    while True:
        if held is not None and held not in released:
            await store.ack(group, [held])
        held = None
        released.clear()
        if producer is not None and producer.done():
            producer.result()  # a listener error ends the consumer with it
            producer, finished = None, True  # it ended: hand out what it stored, then stop
        read = asyncio.ensure_future(
            store.read(
                group,
                options.consumer,
                count=1,
                timeout=options.poll,
                claim_idle=options.claim_idle,
                max_attempts=options.max_attempts,
            )
        )
        if producer is not None:
            waiting: set[asyncio.Future[Any]] = {read, producer}
            try:
                await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            except BaseException:
                read.cancel()
                raise
            if not read.done():
                read.cancel()
                try:
                    await read
                except (asyncio.CancelledError, StoreError):
                    pass
                continue
        deliveries = await read
        if finished and not deliveries:
            return
        for delivery in deliveries:
            if delivery.provider != provider:
                await store.ack(group, [delivery.id])
                continue
            try:
                event = to_event(delivery, group, store, released)
            except StoreError:
                if stats is not None:
                    stats.incr("undecodable")
                await store.ack(group, [delivery.id])
                continue
            if names is not None and event.name not in names:
                await store.ack(group, [delivery.id])
                continue
            if stats is not None and delivery.attempts > 1:
                stats.incr("redelivered")
            held = delivery.id
            yield event
