"""``memory://``: the bounded in-process store behind every ``listen()`` without a store URL.

It keeps the contract of :mod:`eventkit._store._base` with plain Python structures,
each call costing O(1) amortised (or O(count)) so that the default path of every
listener stays cheap:

* events live in a dict by sequence number; each carries ``refs``, the number of
  groups that have not acknowledged it yet. When that reaches 0 the event is freed
  (at once with the default ``retention=0``, else by a heap ordered by age);
* a group is a cursor (the next sequence number it has not seen) plus a dict of the
  entries it handed out and not acknowledged, with an ordered dict of pending ones by
  hand-out time (claims scan only from its idle end), a per-consumer index and a heap
  of released entries by their not-before time;
* dedupe keys expire in insertion order, swept from the front of a deque.

Nothing survives the process (``durable = False``).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections import OrderedDict, deque
from collections.abc import Iterator, Sequence

from .._aio import wait_within
from ._base import (
    DeadLetter,
    Delivery,
    Inbound,
    OutboxItem,
    Outgoing,
    Store,
    StoreError,
    StoreFullError,
    StoreSettingsError,
    StoreStats,
    check_count,
    check_delay,
    check_optional_time,
    check_read_args,
    deal_runs,
    format_id,
    full_inbox,
    parse_id,
)
from ._url import Bounds, parse_count, parse_store_url

_PENDING, _DELAYED, _DEAD = 0, 1, 2


class _Event:
    __slots__ = ("appended_at", "payload", "provider", "refs", "seq")

    def __init__(self, seq: int, provider: str, payload: bytes, appended_at: float, refs: int) -> None:
        self.seq = seq
        self.provider = provider
        self.payload = payload
        self.appended_at = appended_at
        self.refs = refs


class _Entry:
    """One event handed out by a group and not acknowledged: pending, delayed (released) or dead."""

    __slots__ = ("at", "attempts", "consumer", "error", "state")

    def __init__(self, consumer: str | None, at: float) -> None:
        self.consumer = consumer
        self.state = _PENDING
        self.attempts = 0
        self.at = at
        """Pending: handed out at; delayed: not before; dead: dead since."""
        self.error: str | None = None


class _Group:
    __slots__ = ("by_consumer", "cursor", "dead", "delayed", "entries", "pending")

    def __init__(self, cursor: int) -> None:
        self.cursor = cursor
        self.entries: dict[int, _Entry] = {}
        self.pending: OrderedDict[int, None] = OrderedDict()
        """Pending seqs in hand-out order: the idle ones are at the front."""
        self.by_consumer: dict[str, dict[int, None]] = {}
        self.delayed: list[tuple[float, int]] = []
        """Heap of (not before, seq); stale pairs (acked or re-delivered since) are skipped when popped."""
        self.dead: dict[int, None] = {}


class _OutItem:
    __slots__ = (
        "attempts",
        "created",
        "dead",
        "key",
        "last_error",
        "leased_until",
        "not_before",
        "owner",
        "payload",
        "possible_duplicate",
        "provider",
        "seq",
    )

    def __init__(self, seq: int, provider: str, key: str, payload: bytes, created: float) -> None:
        self.seq = seq
        self.provider = provider
        self.key = key
        self.payload = payload
        self.created = created
        self.attempts = 0
        self.possible_duplicate = False
        self.last_error: str | None = None
        self.leased_until: float | None = None
        self.owner: str | None = None
        self.not_before: float | None = None
        self.dead = False

    def leasable(self, now: float) -> bool:
        """Neither under a live lease nor waiting for its not-before time."""
        if self.leased_until is not None and self.leased_until > now:
            return False
        return self.not_before is None or self.not_before <= now

    def view(self) -> OutboxItem:
        return OutboxItem(
            id=format_id(self.seq),
            provider=self.provider,
            key=self.key,
            payload=self.payload,
            attempts=self.attempts,
            possible_duplicate=self.possible_duplicate,
            created=self.created,
            last_error=self.last_error,
            leased_until=self.leased_until,
        )


class MemoryStore(Store):
    """The in-process store: bounded by ``max_events`` and ``max_bytes``, lost when the process exits."""

    durable = False

    DEFAULT_BOUNDS = Bounds(max_events=100_000, max_bytes=256 * 1024**2, retention=0.0, dedupe_ttl=3 * 86400.0)
    """Defaults for ``memory://``: a listener nobody reads from stops at 100k events / 256 MiB instead of growing."""

    DEFAULT_MAX_KEYS = 500_000
    """Dedupe keys remembered at most (about 85 MB): past it the oldest are forgotten before their TTL.

    Forgetting a key early can only let a platform's late redelivery through as a
    duplicate (delivery is at-least-once anyway); it never loses an event. Without this
    bound a busy listener would hold every key for ``dedupe_ttl`` (3 days) in memory.
    """

    def __init__(
        self, bounds: Bounds | None = None, *, max_keys: int = DEFAULT_MAX_KEYS, url: str = "memory://"
    ) -> None:
        if isinstance(max_keys, bool) or not isinstance(max_keys, int) or max_keys < 0:
            raise StoreSettingsError(f"max_keys must be a whole number >= 0, not {max_keys!r}")
        self.bounds = bounds or self.DEFAULT_BOUNDS
        self.max_keys = max_keys
        self.keys_forgotten = 0
        """Dedupe keys dropped before their TTL because ``max_keys`` was reached."""
        self._url = url
        self._opened = False
        self._closed = False
        self._next_seq = 1
        self._events: dict[int, _Event] = {}
        self._bytes = 0
        self._retained: list[tuple[float, int]] = []
        self._dedupe: dict[tuple[str, str], float] = {}
        self._dedupe_order: deque[tuple[float, tuple[str, str]]] = deque()
        self._groups: dict[str, _Group] = {}
        self._dead_count = 0
        self._out: dict[int, _OutItem] = {}
        self._out_seq = 1
        self._out_keys: dict[str, dict[str, deque[int]]] = {}
        """provider -> key -> live (not dead) item seqs in order."""
        self._out_dead = 0
        self._wakeup = asyncio.Event()
        self._waiting = 0

    @classmethod
    def from_url(cls, url: str) -> MemoryStore:
        parsed = parse_store_url(
            url, scheme="memory", extra={"max_keys": str(cls.DEFAULT_MAX_KEYS)}, defaults=cls.DEFAULT_BOUNDS
        )
        if parsed.netloc or parsed.path.strip("/"):
            raise StoreSettingsError(f"memory:// takes no host or path, only parameters: {url.split('?', 1)[0]!r}")
        return cls(parsed.bounds, max_keys=parse_count("max_keys", parsed.extra["max_keys"]), url=url)

    @property
    def url(self) -> str:
        return self._url

    async def open(self) -> None:
        if self._closed:
            raise StoreError("this store is closed")
        self._opened = True

    async def aclose(self) -> None:
        self._closed = True
        self._wakeup.set()

    def _check(self) -> None:
        if self._closed:
            raise StoreError("this store is closed")
        if not self._opened:
            raise StoreError("the store is not open: await store.open() or use `async with`")

    async def ping(self) -> None:
        self._check()
        if self.bounds.retention > 0:
            self._sweep_retained(time.time())
        problem = full_inbox(self.bounds, len(self._events), self._bytes)
        if problem:
            raise StoreFullError(f"the memory store {problem}")

    async def stats(self) -> StoreStats:
        self._check()
        return StoreStats(
            events=len(self._events),
            bytes=self._bytes,
            outbox=len(self._out),
            dead=self._dead_count + self._out_dead,
        )

    # Inbox

    def _sweep_dedupe(self, now: float) -> None:
        order = self._dedupe_order
        while order and order[0][0] <= now:
            expires, key = order.popleft()
            if self._dedupe.get(key) == expires:
                del self._dedupe[key]

    def _forget_keys(self) -> None:
        order = self._dedupe_order
        while len(self._dedupe) > self.max_keys and order:
            expires, key = order.popleft()
            if self._dedupe.get(key) == expires:
                del self._dedupe[key]
                self.keys_forgotten += 1

    def _sweep_retained(self, now: float) -> None:
        cutoff = now - self.bounds.retention
        heap = self._retained
        while heap and heap[0][0] <= cutoff:
            _, seq = heapq.heappop(heap)
            event = self._events.get(seq)
            if event is not None and event.refs == 0:
                self._free(event)

    def _free(self, event: _Event) -> None:
        del self._events[event.seq]
        self._bytes -= len(event.payload)

    def _unref(self, seq: int, now: float) -> None:
        event = self._events.get(seq)
        if event is None:
            return
        event.refs -= 1
        if event.refs == 0:
            if self.bounds.retention <= 0:
                self._free(event)
            else:
                heapq.heappush(self._retained, (event.appended_at, seq))

    async def append(self, records: Sequence[Inbound]) -> list[bool]:
        self._check()
        now = time.time()
        order = self._dedupe_order
        if order and order[0][0] <= now:
            self._sweep_dedupe(now)
        if self.bounds.retention > 0:
            self._sweep_retained(now)
        if len(records) == 1:
            return [self._append_one(records[0], now)]
        results: list[bool] = []
        batch_keys: set[tuple[str, str]] = set()
        new = 0
        new_bytes = 0
        dedupe = self._dedupe
        for record in records:
            key = record.dedupe_key
            if key is not None:
                k = (record.provider, key)
                if k in dedupe or k in batch_keys:
                    results.append(False)
                    continue
                batch_keys.add(k)
            results.append(True)
            new += 1
            new_bytes += len(record.payload)
        if not new:
            return results
        max_events, max_bytes = self.bounds.max_events, self.bounds.max_bytes
        if max_events and len(self._events) + new > max_events:
            raise StoreFullError(f"the memory store holds {len(self._events)} events, its bound is {max_events}")
        if max_bytes and self._bytes + new_bytes > max_bytes:
            raise StoreFullError(f"the memory store holds {self._bytes} bytes, its bound is {max_bytes}")
        refs = len(self._groups)
        expires = now + self.bounds.dedupe_ttl
        events = self._events
        for record, stored in zip(records, results, strict=True):
            if not stored:
                continue
            seq = self._next_seq
            self._next_seq = seq + 1
            events[seq] = _Event(seq, record.provider, record.payload, now, refs)
            if record.dedupe_key is not None:
                k = (record.provider, record.dedupe_key)
                dedupe[k] = expires
                self._dedupe_order.append((expires, k))
        if self.max_keys and len(dedupe) > self.max_keys:
            self._forget_keys()
        self._bytes += new_bytes
        self._wake()
        return results

    def _append_one(self, record: Inbound, now: float) -> bool:
        """:meth:`append` of one record (a webhook, a socket frame): the same checks, less bookkeeping."""
        key = record.dedupe_key
        dedupe = self._dedupe
        if key is not None:
            k = (record.provider, key)
            if k in dedupe:
                return False
        size = len(record.payload)
        events = self._events
        max_events, max_bytes = self.bounds.max_events, self.bounds.max_bytes
        if max_events and len(events) + 1 > max_events:
            raise StoreFullError(f"the memory store holds {len(events)} events, its bound is {max_events}")
        if max_bytes and self._bytes + size > max_bytes:
            raise StoreFullError(f"the memory store holds {self._bytes} bytes, its bound is {max_bytes}")
        seq = self._next_seq
        self._next_seq = seq + 1
        events[seq] = _Event(seq, record.provider, record.payload, now, len(self._groups))
        if key is not None:
            expires = now + self.bounds.dedupe_ttl
            dedupe[k] = expires
            self._dedupe_order.append((expires, k))
            if self.max_keys and len(dedupe) > self.max_keys:
                self._forget_keys()
        self._bytes += size
        if self._waiting:
            self._wake()
        return True

    def _wake(self) -> None:
        if not self._waiting:
            return  # nobody to wake: skip making a new Event on every append
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def _group(self, name: str) -> _Group:
        group = self._groups.get(name)
        if group is None:
            # A new group starts at the oldest event still held and holds a reference on each.
            group = _Group(min(self._events, default=self._next_seq))
            for event in self._events.values():
                event.refs += 1
            self._groups[name] = group
        return group

    def _hand_out(
        self, group: _Group, seq: int, entry: _Entry, consumer: str, now: float, max_attempts: int, out: list[Delivery]
    ) -> None:
        """Count an attempt and deliver, or move to the dead letters when attempts would exceed ``max_attempts``."""
        self._detach(group, seq, entry)
        if entry.attempts + 1 > max_attempts:
            entry.state = _DEAD
            entry.at = now
            entry.consumer = None
            group.dead[seq] = None
            self._dead_count += 1
            return
        event = self._events[seq]
        entry.attempts += 1
        entry.state = _PENDING
        entry.at = now
        entry.consumer = consumer
        group.pending[seq] = None
        group.by_consumer.setdefault(consumer, {})[seq] = None
        out.append(Delivery(format_id(seq), event.provider, event.payload, entry.attempts, event.appended_at))

    def _detach(self, group: _Group, seq: int, entry: _Entry) -> None:
        """Take an entry out of the index of its current state (delayed heap pairs go stale instead)."""
        if entry.state == _PENDING:
            group.pending.pop(seq, None)
            if entry.consumer is not None:
                mine = group.by_consumer.get(entry.consumer)
                if mine is not None:
                    mine.pop(seq, None)
                    if not mine:
                        del group.by_consumer[entry.consumer]
        elif entry.state == _DEAD and seq in group.dead:
            del group.dead[seq]
            self._dead_count -= 1

    def _collect(self, name: str, consumer: str, count: int, claim_idle: float, max_attempts: int) -> list[Delivery]:
        group = self._group(name)
        now = time.time()
        out: list[Delivery] = []
        entries = group.entries
        # 1. This consumer's own pending entries (a restarted process reclaims them at once).
        mine = group.by_consumer.get(consumer)
        if mine:
            for seq in list(itertools.islice(mine, count)):
                self._hand_out(group, seq, entries[seq], consumer, now, max_attempts, out)
        # 2. Entries pending with any consumer for longer than claim_idle (oldest hand-out first).
        if len(out) < count and group.pending:
            idle_before = now - claim_idle
            taken: list[int] = []
            mine_now = group.by_consumer.get(consumer, {})
            for seq in group.pending:
                if len(out) + len(taken) >= count or entries[seq].at > idle_before:
                    break
                if seq not in mine_now:  # not one step 1 just handed out again (claim_idle=0)
                    taken.append(seq)
            for seq in taken:
                self._hand_out(group, seq, entries[seq], consumer, now, max_attempts, out)
        # 3. Released entries whose not-before time has come.
        heap = group.delayed
        while len(out) < count and heap and heap[0][0] <= now:
            not_before, seq = heapq.heappop(heap)
            entry = entries.get(seq)
            if entry is None or entry.state != _DELAYED or entry.at != not_before:
                continue
            self._hand_out(group, seq, entry, consumer, now, max_attempts, out)
        # 4. New entries from the cursor.
        events = self._events
        while len(out) < count and group.cursor < self._next_seq:
            seq = group.cursor
            group.cursor = seq + 1
            if seq not in events:
                continue  # freed before this group existed (every older group had acknowledged it)
            entry = _Entry(None, now)
            entries[seq] = entry
            self._hand_out(group, seq, entry, consumer, now, max_attempts, out)
        return out

    def _next_due(self, name: str, claim_idle: float) -> float | None:
        group = self._groups[name]
        due: float | None = None
        if group.pending:
            due = group.entries[next(iter(group.pending))].at + claim_idle
        if group.delayed:
            first = group.delayed[0][0]
            due = first if due is None else min(due, first)
        return due

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
        check_read_args(group, consumer, count, timeout, claim_idle, max_attempts)
        self._check()
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while True:
            wakeup = self._wakeup
            out = self._collect(group, consumer, count, claim_idle, max_attempts)
            if out:
                return out
            wait: float | None = None
            due = self._next_due(group, claim_idle)
            if due is not None:
                wait = max(0.0, due - time.time()) + 0.001
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                wait = remaining if wait is None else min(wait, remaining)
            self._waiting += 1
            try:
                if wait is None:
                    await wakeup.wait()
                else:
                    try:
                        await wait_within(wakeup.wait(), wait)
                    except asyncio.TimeoutError:
                        pass
            finally:
                self._waiting -= 1
            self._check()

    def _entry(self, group: str, id: str) -> tuple[_Group, int, _Entry] | None:
        seq = parse_id(id)
        g = self._groups.get(group)
        if g is None:
            return None
        entry = g.entries.get(seq)
        return None if entry is None else (g, seq, entry)

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        self._check()
        seqs = [parse_id(i) for i in ids]
        g = self._groups.get(group)
        if g is None:
            return
        now = time.time()
        for seq in seqs:
            entry = g.entries.pop(seq, None)
            if entry is None:
                continue
            self._detach(g, seq, entry)
            entry.state = -1  # stale heap pairs see it is gone
            self._unref(seq, now)

    async def release(self, group: str, id: str, *, delay: float, error: str | None = None) -> None:
        check_delay("delay", delay)
        self._check()
        found = self._entry(group, id)
        if found is None:
            return
        g, seq, entry = found
        if entry.state != _PENDING:
            return
        self._detach(g, seq, entry)
        entry.state = _DELAYED
        entry.consumer = None
        entry.at = time.time() + delay
        entry.error = error
        heapq.heappush(g.delayed, (entry.at, seq))
        if delay <= 0:
            self._wake()

    async def dead_letters(self, group: str | None = None, *, limit: int = 100) -> list[DeadLetter]:
        self._check()
        found: list[DeadLetter] = []
        for name, g in self._groups.items():
            if group is not None and name != group:
                continue
            for seq in g.dead:
                entry = g.entries[seq]
                event = self._events[seq]
                found.append(
                    DeadLetter(
                        id=format_id(seq),
                        provider=event.provider,
                        payload=event.payload,
                        attempts=entry.attempts,
                        error=entry.error,
                        at=entry.at,
                        group=name,
                    )
                )
        found.sort(key=lambda d: (d.at, d.id))
        return found[:limit]

    async def replay(self, group: str | None = None, ids: Sequence[str] | None = None) -> int:
        self._check()
        wanted = None if ids is None else {parse_id(i) for i in ids}
        now = time.time()
        moved = 0
        for name, g in self._groups.items():
            if group is not None and name != group:
                continue
            for seq in [s for s in g.dead if wanted is None or s in wanted]:
                entry = g.entries[seq]
                self._detach(g, seq, entry)
                entry.state = _DELAYED
                entry.attempts = 0
                entry.at = now
                heapq.heappush(g.delayed, (now, seq))
                moved += 1
        if moved:
            self._wake()
        return moved

    # Outbox

    async def enqueue(self, items: Sequence[Outgoing]) -> list[str]:
        self._check()
        max_events, max_bytes = self.bounds.max_events, self.bounds.max_bytes
        size = sum(len(i.payload) for i in items)
        if max_events and len(self._out) + len(items) > max_events:
            raise StoreFullError(f"the memory outbox holds {len(self._out)} items, its bound is {max_events}")
        if max_bytes and self._bytes + size > max_bytes:
            raise StoreFullError(f"the memory store holds {self._bytes} bytes, its bound is {max_bytes}")
        now = time.time()
        ids: list[str] = []
        for item in items:
            seq = self._out_seq
            self._out_seq += 1
            self._out[seq] = _OutItem(seq, item.provider, item.key, item.payload, now)
            self._out_keys.setdefault(item.provider, {}).setdefault(item.key, deque()).append(seq)
            ids.append(format_id(seq))
        self._bytes += size
        return ids

    async def lease(self, provider: str, owner: str, *, count: int, lease: float, per_key: int = 1) -> list[OutboxItem]:
        check_delay("lease", lease)
        check_count("count", count)
        check_count("per_key", per_key)
        self._check()
        now = time.time()
        queues = [q for q in self._out_keys.get(provider, {}).values() if self._out[q[0]].leasable(now)]
        queues.sort(key=lambda q: q[0])  # oldest head first
        runs = deal_runs([self._run(q, per_key, now) for q in queues[:count]], count)
        leased: list[OutboxItem] = []
        for run in runs:
            for item in run:
                if item.leased_until is not None:
                    item.possible_duplicate = True  # the previous lease ran out without complete() or fail()
                item.attempts += 1
                item.leased_until = now + lease
                item.owner = owner
                item.not_before = None
                leased.append(item.view())
        return leased

    def _run(self, queue: deque[int], per_key: int, now: float) -> Iterator[_OutItem]:
        """A key's leasable run: consecutive items from its head, up to ``per_key``."""
        for seq in itertools.islice(queue, per_key):
            item = self._out[seq]
            if not item.leasable(now):
                return
            yield item

    async def unlease(self, owner: str, ids: Sequence[str]) -> None:
        self._check()
        for seq in [parse_id(i) for i in ids]:
            item = self._out.get(seq)
            if item is None or item.dead or item.leased_until is None or item.owner != owner:
                continue
            item.attempts = max(0, item.attempts - 1)
            item.leased_until = None
            item.owner = None

    def _unqueue(self, item: _OutItem) -> None:
        keys = self._out_keys.get(item.provider)
        if keys is None:
            return
        queue = keys.get(item.key)
        if queue is None:
            return
        try:
            queue.remove(item.seq)  # almost always the head: O(1) in practice
        except ValueError:
            return
        if not queue:
            del keys[item.key]
            if not keys:
                del self._out_keys[item.provider]

    def _requeue(self, item: _OutItem) -> None:
        queue = self._out_keys.setdefault(item.provider, {}).setdefault(item.key, deque())
        position = len(queue)
        while position > 0 and queue[position - 1] > item.seq:
            position -= 1
        queue.insert(position, item.seq)

    def _drop(self, item: _OutItem) -> None:
        del self._out[item.seq]
        self._bytes -= len(item.payload)
        if item.dead:
            self._out_dead -= 1
        else:
            self._unqueue(item)

    async def complete(self, ids: Sequence[str]) -> None:
        self._check()
        for seq in [parse_id(i) for i in ids]:
            item = self._out.get(seq)
            if item is not None:
                self._drop(item)

    async def fail(
        self, id: str, *, error: str, retry_at: float | None = None, dead: bool = False, maybe_delivered: bool = False
    ) -> None:
        check_optional_time("retry_at", retry_at)
        self._check()
        item = self._out.get(parse_id(id))
        if item is None:
            return
        item.last_error = error
        item.leased_until = None
        item.owner = None
        item.possible_duplicate = maybe_delivered
        item.not_before = retry_at
        if dead and not item.dead:
            item.dead = True
            self._out_dead += 1
            self._unqueue(item)

    async def outbox(
        self, provider: str | None = None, *, limit: int = 100, dead: bool | None = None
    ) -> list[OutboxItem]:
        self._check()
        found: list[OutboxItem] = []
        for item in self._out.values():  # dict order is enqueue order
            if len(found) >= limit:
                break
            if provider is not None and item.provider != provider:
                continue
            if dead is not None and item.dead != dead:
                continue
            found.append(item.view())
        return found

    async def retry_dead(self, provider: str | None = None, ids: Sequence[str] | None = None) -> int:
        self._check()
        wanted = None if ids is None else {parse_id(i) for i in ids}
        moved = 0
        for item in list(self._out.values()):
            if not item.dead or (provider is not None and item.provider != provider):
                continue
            if wanted is not None and item.seq not in wanted:
                continue
            item.dead = False
            item.not_before = None
            item.leased_until = None
            item.owner = None
            self._out_dead -= 1
            self._requeue(item)
            moved += 1
        return moved

    async def purge(self, provider: str | None = None, ids: Sequence[str] | None = None) -> int:
        self._check()
        wanted = None if ids is None else {parse_id(i) for i in ids}
        doomed = [
            item
            for item in self._out.values()
            if (provider is None or item.provider == provider) and (wanted is None or item.seq in wanted)
        ]
        for item in doomed:
            self._drop(item)
        return len(doomed)


__all__ = ["MemoryStore"]
