"""The outbox: ``send`` returns once the event is durably stored; a drainer delivers it.

The transactional-outbox pattern: the event goes to the store first (``queued``),
then a drainer leases it and sends it through the provider's normal sender (with
its retry policy). An item whose lease ran out without an answer (its sender died
mid-send) comes back flagged ``possible_duplicate``: the platform may have it
already; it keeps its event id so the receiving side can tell.

How the drainer keeps order per target and still moves (``docs/delivery.md``):

* **Runs.** It leases *runs*: up to a few consecutive items of a target, from the
  target's head, in one store transaction (:meth:`Store.lease` with ``per_key``). One
  task sends a run in order, one item after the other; the targets' runs go
  concurrently, up to ``concurrency`` at once. While a run is leased the target's
  head is leased, so no other drainer (and no other run of this one) touches the
  target: events reach each target in the order they were sent.
* **A failure ends the run.** When an item fails and will be retried, the rest of its
  run is given back untried (:meth:`Store.unlease`), so nothing after it is sent
  before it. An item that is dead leaves its target's order (as the store says) and
  the run goes on.
* **No barrier.** A run's slot is refilled by a new lease as soon as the run ends;
  leases are for free slots and room, never a wait for a whole batch.
* **Completions are pipelined.** A delivered item's id goes to a completer that
  removes delivered items with one :meth:`Store.complete` at a time (the ids that
  piled up meanwhile: one SQLite group commit or one Redis script for many items);
  the next send does not wait for it. A crash before the completion commits makes
  the item come back flagged ``possible_duplicate``: the same as a crash between a
  send and its completion always did.
* **Bounded.** At most ``2 * concurrency`` items are held (leased and not yet
  completed, failed or given back): after a crash those are all that can come back
  flagged ``possible_duplicate`` (leased but unsent ones included: the store cannot
  tell them apart, so they are flagged too).
* **Lease time.** A run's items share one lease; an item after the first of its run
  is only sent while at least half of the lease is left (else the rest of the run is
  given back and leased afresh), so a slow run never sends an item another drainer
  may take over meanwhile.
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
from enum import Enum

import attrs

from ._aio import wait_within
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


class _Outcome(Enum):
    DELIVERED = 1
    """Sent: its id waits for the completer."""
    SETTLED = 2
    """Dead (or left for a later drain by a one-try drain): its target's order goes on."""
    RETRY = 3
    """Failed and scheduled again: the rest of its run must wait for it."""


class _Run:
    """One target's leased items, sent in order by one task."""

    __slots__ = ("items", "tried")

    def __init__(self, items: list[OutboxItem]) -> None:
        self.items = items
        self.tried = 0
        """Items whose attempt has started (the one in flight included): the rest are untried."""


def _runs(items: Sequence[OutboxItem]) -> list[_Run]:
    by_key: dict[str, list[OutboxItem]] = {}
    for item in items:
        by_key.setdefault(item.key, []).append(item)
    return [_Run(run) for run in by_key.values()]


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
        concurrency: int | None = None,
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
        self.concurrency = max(1, concurrency or policy.concurrency)
        """Targets sent to at once (one run each); the transport's ``concurrency`` by default."""
        self.held_limit = 2 * self.concurrency
        """Items held at most (leased, not yet completed, failed or given back): what a crash can flag."""
        self.poll = poll
        self.lease = lease or max(30.0, (policy.timeout + policy.backoff_max) * (policy.max_attempts + 1))
        """Long enough for one send with all its retries; a shorter one would flag live sends as duplicates."""
        self.results: collections.deque[SendResult] = collections.deque(maxlen=10_000)
        """The latest delivery outcomes (``possible_duplicate`` set where an earlier attempt may have landed)."""
        self._kick = asyncio.Event()
        """Wakes the leasing loop: something changed (an enqueue, a slot or room freed up)."""
        self._maybe_ready = True
        """Something may have become leasable since the last lease: an enqueue, a target this
        drainer no longer holds, the poll interval passed (retries coming due, other drainers'
        leases running out), or the last lease was cut short by the room left."""
        self._task: asyncio.Task[None] | None = None
        self._held = 0
        self._held_by_key: collections.Counter[str] = collections.Counter()
        self._waiting: collections.deque[_Run] = collections.deque()
        """Leased runs waiting for a free slot."""
        self._running: dict[asyncio.Task[None], _Run] = {}
        self._done: list[tuple[str, str]] = []
        """Delivered items (id, key) whose completion is not committed yet."""
        self._completer: asyncio.Task[None] | None = None
        self._stopping = False

    async def enqueue(self, items: Sequence[tuple[Event, str]]) -> list[str]:
        """Store events to send (durable on return); wakes the drainer."""
        ids = await self.store.enqueue(
            [Outgoing(self.provider, target, encode_event(event)) for event, target in items]
        )
        self.stats.incr("queued", len(ids))
        self.wake()
        return ids

    def wake(self) -> None:
        """Items were enqueued for this provider by other means (the bridge's own transaction): lease them."""
        self._maybe_ready = True
        self._kick.set()

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        """Stop sending: flush the completions, give back what was leased and not tried.

        An item whose send was under way stays leased: it may have reached the
        platform, so it comes back flagged ``possible_duplicate`` once its lease runs out.
        """
        self._stopping = True
        task, self._task = self._task, None
        running, waiting = dict(self._running), list(self._waiting)
        self._running.clear()  # taken over here: their done callbacks leave them alone
        self._waiting.clear()
        tasks = [*running, *([task] if task is not None else [])]
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except asyncio.CancelledError:
                pass
        untried = [item.id for run in running.values() for item in run.items[run.tried :]]
        untried += [item.id for run in waiting for item in run.items]
        try:
            await asyncio.gather(self._give_back_ids(untried), self._flush())
        finally:
            self._held = 0
            self._held_by_key.clear()
            self._maybe_ready = True
            self._stopping = False

    # Leasing and slots

    def _room(self) -> int:
        return self.held_limit - self._held

    def _has_free_slot(self) -> bool:
        return len(self._running) + len(self._waiting) < self.concurrency

    async def _lease(self) -> list[OutboxItem]:
        """Lease runs for the room left (the store deals them over the ready targets) and hold them."""
        room = self._room()
        items = await self.store.lease(self.provider, self.owner, count=room, lease=self.lease, per_key=room)
        self._held += len(items)
        self._held_by_key.update(item.key for item in items)
        if len(items) == room:
            self._maybe_ready = True  # cut short by the room: more may be ready
        return items

    async def _run(self) -> None:
        while True:
            self._kick.clear()
            if self._maybe_ready and self._has_free_slot() and self._room() > 0:
                self._maybe_ready = False
                try:
                    items = await self._lease()
                except StoreError as exc:
                    log.warning("%s outbox cannot read the store: %s", self.provider, exc)
                    items = []
                self._waiting.extend(_runs(items))
                self._start_runs()
                if items:
                    continue
            try:
                await wait_within(self._kick.wait(), self.poll)
            except asyncio.TimeoutError:
                self._maybe_ready = True

    def _start_runs(self) -> None:
        while self._waiting and len(self._running) < self.concurrency and not self._stopping:
            run = self._waiting.popleft()
            task = asyncio.ensure_future(self._send_run(run, None))
            self._running[task] = run
            task.add_done_callback(self._run_ended)

    def _run_ended(self, task: asyncio.Task[None]) -> None:
        if self._running.pop(task, None) is None:
            return  # stop() took it over
        if not task.cancelled() and task.exception() is not None:
            log.error("%s outbox run failed", self.provider, exc_info=task.exception())
        self._start_runs()
        self._kick.set()

    async def drain_once(self, *, attempts: int | None = None) -> int:
        """Lease what is due (runs per target), send it and commit the outcomes; the number of items leased.

        ``attempts=1`` is one try (``eventkit send --outbox``): an item that fails and
        could be retried is left for a later drain instead of being scheduled.
        """
        if self._room() <= 0:
            return 0
        items = await self._lease()
        slots = asyncio.Semaphore(self.concurrency)

        async def one(run: _Run) -> None:
            async with slots:
                await self._send_run(run, attempts)

        await asyncio.gather(*(one(run) for run in _runs(items)))
        await self._flush()
        return len(items)

    # Sending

    async def _send_run(self, run: _Run, attempts: int | None) -> None:
        for index, item in enumerate(run.items):
            if self._stopping or (index > 0 and not self._time_left(item)):
                await self._give_back(run.items[index:])
                return
            run.tried = index + 1
            outcome = await self._deliver(item, attempts)
            if outcome is _Outcome.RETRY:
                await self._give_back(run.items[index + 1 :])
                return

    def _time_left(self, item: OutboxItem) -> bool:
        """At least half the lease is left: enough for one send before another drainer may take the item."""
        return item.leased_until is None or item.leased_until - time.time() >= self.lease / 2

    async def _deliver(self, item: OutboxItem, attempts: int | None) -> _Outcome:
        try:
            event = decode_event(item.payload)
            target = parse_target(item.key)
        except (StoreError, EventkitError) as exc:
            await self._fail(item, error=f"undecodable outbox item: {exc}", dead=True)
            self.stats.incr("outbox_dead")
            return _Outcome.SETTLED
        if item.possible_duplicate:
            self.stats.incr("possible_duplicates")
        try:
            result = await self.sender.send(event, target)
        except EventkitError as exc:
            result = SendResult(event=event, target=item.key, provider=self.provider, error=exc, attempts=1)
        except Exception as exc:  # a bug in a sender: the item must not stay held (the drainer would stall)
            log.error(
                "%s outbox: the sender raised %s on %s", self.provider, type(exc).__name__, event.id, exc_info=exc
            )
            bug = EventkitError(
                f"the sender raised {type(exc).__name__}", provider=self.provider, retryable=True, maybe_delivered=True
            )
            result = SendResult(
                event=event, target=item.key, provider=self.provider, error=bug, attempts=1, possible_duplicate=True
            )
        if item.possible_duplicate and not result.possible_duplicate:
            result = attrs.evolve(result, possible_duplicate=True)
        self.results.append(result)
        if result.error is None:
            self._completed(item)
            return _Outcome.DELIVERED
        error = result.error
        message = f"{type(error).__name__}: {error.message}"[:500]
        maybe = bool(result.possible_duplicate or getattr(error, "maybe_delivered", False))
        limit = attempts if attempts is not None else self.max_attempts
        if not error.retryable or item.attempts >= limit:
            if attempts is not None and error.retryable:
                # One try (eventkit send --outbox): leave it for a later drain, and the rest of its
                # target's run with it.
                await self._fail(item, error=message, retry_at=time.time(), maybe_delivered=maybe)
                return _Outcome.RETRY
            await self._fail(item, error=message, dead=True, maybe_delivered=maybe)
            self.stats.incr("outbox_dead")
            log.warning("%s outbox gave up on %s to %s: %s", self.provider, event.id, item.key, message)
            return _Outcome.SETTLED
        delay = min(self.policy.backoff_max * 6, max(self.policy.backoff_initial, 0.05) * 2 ** (item.attempts - 1))
        if error.retry_after is not None:
            delay = max(delay, error.retry_after)
        await self._fail(item, error=message, retry_at=time.time() + delay, maybe_delivered=maybe)
        self.stats.incr("outbox_retries")
        return _Outcome.RETRY

    # Settling held items: fail, give back, complete

    def _release(self, keys: Sequence[str]) -> None:
        """These items are settled (completed, failed or given back): room, and maybe a free target."""
        self._held = max(0, self._held - len(keys))
        for key in keys:
            self._held_by_key[key] -= 1
            if self._held_by_key[key] <= 0:
                del self._held_by_key[key]
                self._maybe_ready = True  # this drainer no longer holds the target: its next items may be due
        self._kick.set()

    def _release_at_expiry(self, items: Sequence[OutboxItem]) -> None:
        """The store did not take our word: the items stay leased (held) until their lease runs out."""
        loop = asyncio.get_running_loop()
        for item in items:
            left = 0.0 if item.leased_until is None else max(0.0, item.leased_until - time.time())
            loop.call_later(left, self._release, [item.key])

    async def _fail(
        self,
        item: OutboxItem,
        *,
        error: str,
        retry_at: float | None = None,
        dead: bool = False,
        maybe_delivered: bool = False,
    ) -> None:
        try:
            await self.store.fail(item.id, error=error, retry_at=retry_at, dead=dead, maybe_delivered=maybe_delivered)
        except StoreError as exc:
            log.warning("%s outbox cannot record a failed attempt of %s: %s", self.provider, item.id, exc)
            self._release_at_expiry([item])
            return
        self._release([item.key])

    async def _give_back(self, items: Sequence[OutboxItem]) -> None:
        if not items:
            return
        try:
            await self.store.unlease(self.owner, [item.id for item in items])
        except StoreError as exc:
            log.warning("%s outbox cannot give back %d untried items: %s", self.provider, len(items), exc)
            self._release_at_expiry(items)
            return
        self._release([item.key for item in items])

    async def _give_back_ids(self, ids: list[str]) -> None:
        if not ids:
            return
        try:
            await self.store.unlease(self.owner, ids)
        except StoreError as exc:
            log.warning("%s outbox cannot give back %d untried items: %s", self.provider, len(ids), exc)

    def _completed(self, item: OutboxItem) -> None:
        self._done.append((item.id, item.key))
        if self._completer is None:
            self._completer = asyncio.ensure_future(self._complete_loop())

    async def _complete_loop(self) -> None:
        """Commit completions one ``complete`` at a time, each with every id delivered meanwhile."""
        try:
            while self._done:
                done, self._done = self._done, []
                try:
                    await self.store.complete([id for id, _ in done])
                except StoreError as exc:
                    self._done[:0] = done
                    if self._stopping:
                        log.warning(
                            "%s outbox cannot record %d deliveries (they come back flagged possible_duplicate): %s",
                            self.provider,
                            len(done),
                            exc,
                        )
                        self._done.clear()
                        return
                    log.warning("%s outbox cannot record deliveries yet: %s", self.provider, exc)
                    await asyncio.sleep(self.poll)
                    continue
                self.stats.incr("outbox_delivered", len(done))
                self._release([key for _, key in done])
        finally:
            self._completer = None

    async def _flush(self) -> None:
        """Wait until every delivered item's completion is committed (or, stopping, given up on)."""
        while self._done or self._completer is not None:
            if self._completer is None:
                self._completer = asyncio.ensure_future(self._complete_loop())
            await asyncio.shield(self._completer)

    # Waiting for an empty outbox

    async def pending(self) -> int:
        """Items not yet delivered for this provider (dead ones excluded)."""
        return len(await self.store.outbox(self.provider, limit=1_000_000, dead=False))

    async def drain(self, timeout: float | None) -> int:
        """Wait until nothing is pending for this provider, or ``timeout``; the number still pending."""
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            # Is anything left? One item answers it: listing them all every tick would compete
            # with the drainer for the store. Delivered items count until their completion commits.
            if not await self.store.outbox(self.provider, limit=1, dead=False):
                return 0
            if deadline is not None and time.monotonic() >= deadline:
                return await self.pending()
            await asyncio.sleep(0.02)
