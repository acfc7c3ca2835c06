"""The store contract: where received events, consumer positions and the outbox live.

Every listener hands each verified event to a store *before* the platform gets its
2xx or ACK; consumers read from it as groups and acknowledge; senders with an
outbox put events here first and a drainer delivers them. Backends are chosen by
URL (``memory://``, ``sqlite:///path``, ``redis://host:port/db``); callers see only
this interface, so a backend can be swapped without touching them.

The store moves opaque bytes: eventkit serialises an :class:`~eventkit.Event` once
(``eventkit._store.codec``) and a backend never looks inside. Times are wall-clock
seconds (``time.time()``), so they mean the same thing to every process on a store.

Semantics every backend keeps (the shared test suite in ``tests/store`` checks them):

Inbox
  * :meth:`Store.append` stores records atomically with their dedupe keys: a record
    whose ``dedupe_key`` is already held for its provider (within ``dedupe_ttl``) is
    not stored again and reported ``False``. When it returns, the records are durable
    (for ``memory://``: held in this process). When the store is over a bound it raises
    :class:`StoreFullError` and stores none of the batch; when it cannot write, it
    raises :class:`StoreUnavailableError`. It never stores part of a batch.
  * A group is created by its first :meth:`Store.read` and starts at the oldest event
    the store still holds (events received before any consumer existed are not lost).
  * :meth:`Store.read` first hands back entries that are pending for too long: entries
    delivered to *any* consumer of the group and not acknowledged within ``claim_idle``
    seconds, and entries pending for *this* consumer name (a restarted process reclaims
    its own at once). Then new entries. Each hand-out counts an attempt; an entry whose
    attempts would exceed ``max_attempts`` moves to the group's dead letters instead.
  * :meth:`Store.ack` marks entries handled for a group; :meth:`Store.release` puts one
    back with a not-before time (a handler failed; retried after ``delay``).
    Acknowledging a dead letter's id discards it (the way to drop a dead letter for good).
    Ids a group does not hold (never handed out, already acknowledged) are ignored by
    ``ack``, ``release`` and ``replay``; a string that is no id of the store at all is a
    :class:`StoreSettingsError`.
  * A dead letter keeps its event held (counted in :class:`StoreStats` and the bounds)
    until it is replayed and acknowledged, or acknowledged. Its ``attempts`` are the
    hand-outs made (``max_attempts``), its ``error`` the last ``release`` error (or ``None``);
    :meth:`Store.dead_letters` lists oldest dead first.
  * An event may be deleted once every group that existed when it was appended has
    acknowledged it (or dead-lettered it), and it is older than ``retention``.
    Unacknowledged events are never deleted to make room: the store refuses new
    ones instead (:class:`StoreFullError`), which listeners turn into 503 / backpressure.
    Events appended while no group exists are held until a group has read and
    acknowledged them. ``max_events`` bounds inbox entries (and, separately, outbox
    items); ``max_bytes`` bounds inbox and outbox payloads together.

Outbox
  * :meth:`Store.enqueue` stores events to send, durable on return, in order per
    ``(provider, key)`` (the key is the target).
  * :meth:`Store.lease` hands out, for one provider, a *run* per key: up to ``per_key``
    consecutive items of the key in id order, starting at its head (the oldest
    undelivered item: order per target) and stopping at the first item that is leased by
    a live lease or waiting for its ``not_before``; a key whose head is leased or waiting
    gives nothing. At most ``count`` items in all, spread over the ready keys in rounds:
    every ready key's first item before any key's second, and so on (so one key's
    backlog does not starve the others); within a round, keys go oldest head first on
    SQLite and memory, by readiness on Redis. One lease is one transaction, so two owners
    never hold the same item. Items come back grouped by key, each run in id order.
    Leasing counts an attempt on each item and records that a send may be under way; an
    item whose previous lease expired without :meth:`Store.complete`, :meth:`Store.fail`
    or :meth:`Store.unlease` (its sender died) comes back with ``possible_duplicate=True``.
    ``fail(..., maybe_delivered=True)`` keeps that flag for the next attempt;
    ``maybe_delivered=False`` clears it.
  * :meth:`Store.unlease` gives back items an owner leased and never attempted (the rest
    of a run after a failed item, or what a stopping drainer did not get to): each goes
    back as it was before the lease: its attempt uncounted, its lease cleared, its
    ``possible_duplicate`` flag as the lease left it. Items not leased by that owner any
    more (completed, failed, taken over after the lease ran out) are left alone.
  * :meth:`Store.complete` removes delivered items; :meth:`Store.fail` either schedules
    another attempt (``retry_at``) or, with ``dead=True``, moves the item to the dead
    state (listed, purgeable, never leased again unless retried by a user). A dead item
    leaves its key's order: the next item of that key can be leased. ``retry_dead``
    puts it back in its original place (by id) with its attempts kept.

Ids are strings that sort in append order within one store (:func:`format_id`).
Caller errors (a NaN timeout, ``count=0``, a negative delay, an unknown URL parameter)
raise :class:`StoreSettingsError` before any I/O.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from typing import ClassVar, Protocol, TypeVar

import attrs

from .._errors import EventkitError, SettingsError

T = TypeVar("T")


class StoreError(EventkitError):
    """The store cannot be used: a bad URL, a corrupt or unwritable file (raised at open)."""


class StoreSettingsError(StoreError, SettingsError):
    """A store URL or argument is malformed (unknown parameter, NaN, negative, bad unit): found before any I/O.

    Both a :class:`StoreError` (what store callers catch) and a
    :class:`~eventkit.SettingsError` (what configuration code catches).
    """


class StoreUnavailableError(StoreError):
    """The store failed while running; nothing was written. Safe to retry later."""

    retryable_by_default = True


class StoreFullError(StoreUnavailableError):
    """The store is at its count or byte bound; nothing was written. Retry after consumers catch up."""


@attrs.frozen
class Inbound:
    """One received event, serialised, with the key that identifies the platform's delivery."""

    provider: str
    payload: bytes
    dedupe_key: str | None = None


@attrs.frozen
class Delivery:
    """One inbox entry handed to a consumer of a group."""

    id: str
    """The store's id of the entry (opaque; sorts in append order within one store)."""
    provider: str
    payload: bytes
    attempts: int
    """Hand-outs to this group so far, this one included."""
    appended_at: float

    @property
    def redelivered(self) -> bool:
        return self.attempts > 1


@attrs.frozen
class DeadLetter:
    """An inbox entry a group gave up on, or an outbox item that will not be sent."""

    id: str
    provider: str
    payload: bytes
    attempts: int
    error: str | None
    at: float
    group: str | None = None
    """The consumer group (inbox), ``None`` for the outbox."""
    key: str | None = None
    """The target (outbox), ``None`` for the inbox."""


@attrs.frozen
class Outgoing:
    """One event to send through the outbox."""

    provider: str
    key: str
    """The ordering key: the target the event goes to."""
    payload: bytes


@attrs.frozen
class OutboxItem:
    """One outbox entry, as listed or leased."""

    id: str
    provider: str
    key: str
    payload: bytes
    attempts: int
    """Attempts started so far (a lease counts one)."""
    possible_duplicate: bool
    """An earlier attempt may have reached the platform (its sender died, or it failed ambiguously)."""
    created: float
    last_error: str | None = None
    leased_until: float | None = None


@attrs.frozen
class StoreStats:
    events: int
    """Inbox entries held."""
    bytes: int
    """Payload bytes held in the inbox and outbox."""
    outbox: int
    """Outbox items not yet delivered (dead ones included)."""
    dead: int
    """Dead letters (inbox, all groups) plus dead outbox items."""


class Store(abc.ABC):
    """A durable (or, for ``memory://``, bounded in-process) home for events. Async; one per event loop."""

    durable: ClassVar[bool] = True
    """False where a process exit loses what is held (``memory://``); the docs and results say so."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """The store's URL with any password masked."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect or create; a corrupt, unreadable or unwritable store raises :class:`StoreError` here."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Flush and release; further calls raise :class:`StoreError`."""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @abc.abstractmethod
    async def ping(self) -> None:
        """Raise :class:`StoreUnavailableError` unless the store can take a write now (readiness).

        A store at its ``max_events`` or ``max_bytes`` bound raises :class:`StoreFullError`.
        """

    @abc.abstractmethod
    async def stats(self) -> StoreStats: ...

    # Inbox

    @abc.abstractmethod
    async def append(self, records: Sequence[Inbound]) -> list[bool]:
        """Store a batch atomically with its dedupe keys; per record, ``True`` if stored, ``False`` if a duplicate."""

    @abc.abstractmethod
    async def read(
        self,
        group: str,
        consumer: str,
        *,
        count: int = 1,
        timeout: float | None = None,
        claim_idle: float = 30.0,
        max_attempts: int = 5,
    ) -> list[Delivery]:
        """Up to ``count`` entries for this consumer; waits up to ``timeout`` seconds (``None``: forever) for one."""

    @abc.abstractmethod
    async def ack(self, group: str, ids: Sequence[str]) -> None:
        """The entries are handled by this group."""

    @abc.abstractmethod
    async def release(self, group: str, id: str, *, delay: float, error: str | None = None) -> None:
        """Put an entry back for another attempt no sooner than ``delay`` seconds from now."""

    @abc.abstractmethod
    async def dead_letters(self, group: str | None = None, *, limit: int = 100) -> list[DeadLetter]:
        """Inbox dead letters of a group (all groups when ``None``), oldest first."""

    @abc.abstractmethod
    async def replay(self, group: str | None = None, ids: Sequence[str] | None = None) -> int:
        """Move dead letters back to pending with their attempts reset; the number moved."""

    # Outbox

    @abc.abstractmethod
    async def enqueue(self, items: Sequence[Outgoing]) -> list[str]:
        """Store events to send, durable on return; their ids."""

    @abc.abstractmethod
    async def lease(self, provider: str, owner: str, *, count: int, lease: float, per_key: int = 1) -> list[OutboxItem]:
        """The next items to send for ``provider`` (a run of up to ``per_key`` per key), leased to ``owner`` for ``lease`` seconds."""

    @abc.abstractmethod
    async def unlease(self, owner: str, ids: Sequence[str]) -> None:
        """Give back items ``owner`` leased and never attempted, as they were before the lease."""

    @abc.abstractmethod
    async def complete(self, ids: Sequence[str]) -> None:
        """The items reached the platform: remove them."""

    @abc.abstractmethod
    async def fail(
        self, id: str, *, error: str, retry_at: float | None = None, dead: bool = False, maybe_delivered: bool = False
    ) -> None:
        """An attempt failed: try again at ``retry_at`` (wall clock), or with ``dead`` give up on the item."""

    @abc.abstractmethod
    async def outbox(
        self, provider: str | None = None, *, limit: int = 100, dead: bool | None = None
    ) -> list[OutboxItem]:
        """Outbox items, oldest first; ``dead`` filters to dead (True) or live (False) ones."""

    @abc.abstractmethod
    async def retry_dead(self, provider: str | None = None, ids: Sequence[str] | None = None) -> int:
        """Dead outbox items back to pending, attempts kept; the number moved."""

    @abc.abstractmethod
    async def purge(self, provider: str | None = None, ids: Sequence[str] | None = None) -> int:
        """Delete outbox items (all of a provider's when ``ids`` is None); the number deleted."""


# Helpers every backend shares (additions to the contract, no behaviour of their own).

_ID_WIDTH = 16


def format_id(seq: int) -> str:
    """An entry id from a store's sequence number: zero-padded so ids sort as strings in append order."""
    return f"{seq:0{_ID_WIDTH}d}"


def parse_id(id: str) -> int:
    """The sequence number behind an id :func:`format_id` made; anything else is a :class:`StoreSettingsError`."""
    if not isinstance(id, str) or not id.isdigit() or not id.isascii():
        raise StoreSettingsError(f"{id!r} is not an id from this store")
    return int(id)


def _finite(name: str, value: float, *, minimum: float = 0.0) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not (value >= minimum)
        or value == float("inf")
    ):
        raise StoreSettingsError(f"{name} must be a finite number >= {minimum:g}, not {value!r}")


def check_read_args(
    group: str, consumer: str, count: int, timeout: float | None, claim_idle: float, max_attempts: int
) -> None:
    """The caller errors of :meth:`Store.read`, raised before any I/O on every backend."""
    if not isinstance(group, str) or not group:
        raise StoreSettingsError("group must be a non-empty string")
    if not isinstance(consumer, str) or not consumer:
        raise StoreSettingsError("consumer must be a non-empty string")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise StoreSettingsError(f"count must be an int >= 1, not {count!r}")
    if timeout is not None:
        _finite("timeout", timeout)
    _finite("claim_idle", claim_idle)
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise StoreSettingsError(f"max_attempts must be an int >= 1, not {max_attempts!r}")


def full_inbox(bounds: _HasBounds, events: int, size: int) -> str | None:
    """Why the inbox cannot take one more event (for :meth:`Store.ping`), or ``None``."""
    if bounds.max_events and events >= bounds.max_events:
        return f"holds {events} events, its bound is {bounds.max_events}"
    if bounds.max_bytes and size >= bounds.max_bytes:
        return f"holds {size} bytes, its bound is {bounds.max_bytes}"
    return None


class _HasBounds(Protocol):
    @property
    def max_events(self) -> int: ...
    @property
    def max_bytes(self) -> int: ...


def check_count(name: str, value: int) -> None:
    """A count argument (``count``, ``per_key``): an int of at least 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StoreSettingsError(f"{name} must be an int >= 1, not {value!r}")


def deal_runs(runs: Sequence[Iterator[T]], count: int) -> list[list[T]]:
    """Take up to ``count`` items from leasable runs (one per key, in the order keys are served), in rounds.

    Each iterator yields its key's leasable items in id order and stops where the run
    stops (``per_key`` reached, or an item leased or not yet due). Round one takes every
    run's first item, round two every run's second, and so on, until ``count`` items are
    taken: the spread :meth:`Store.lease` promises. Items are pulled only as they are
    taken, so a backend reads at most one item per key it does not hand out. The result
    keeps a prefix of each run (order per key); runs that gave nothing are dropped.
    """
    taken: list[list[T]] = [[] for _ in runs]
    live = list(range(len(runs)))
    left = count
    while left > 0 and live:
        still: list[int] = []
        for index in live:
            if left == 0:
                break
            item = next(runs[index], None)
            if item is None:
                continue
            taken[index].append(item)
            left -= 1
            still.append(index)
        live = still
    return [run for run in taken if run]


def check_delay(name: str, value: float) -> None:
    """A delay or lease length: finite and not negative."""
    _finite(name, value)


def check_optional_time(name: str, value: float | None) -> None:
    if value is not None:
        _finite(name, value)
