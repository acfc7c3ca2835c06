"""``sqlite:///path.db``: the embedded durable store (stdlib :mod:`sqlite3`, WAL, one writer thread).

Why this shape:

* **One writer thread, group commit.** Every call (``append``, ``read``, ``ack``,
  ``enqueue`` ...) becomes an operation on a queue. The thread takes everything
  queued, runs it in ONE ``BEGIN IMMEDIATE`` transaction (each operation inside its
  own savepoint, so one failing call does not undo the others) and resolves each
  caller's future after ``COMMIT``. With ``synchronous=FULL`` a commit is one fsync of
  the WAL, so 100 concurrent appends cost one fsync instead of 100. ``store.commits``
  counts transactions.
* **No row per group on append.** A group is a cursor (the next sequence number it
  has not seen) plus rows in ``entries`` only for what it handed out and not yet
  acknowledged (pending, released, dead). An append writes the event row and its
  dedupe key row; a read writes one entry row per hand-out; an ack deletes it.
* **Deletion by sweep.** Events every group has passed and acknowledged (and older
  than ``retention``) are deleted in small batches at most every ``sweep_interval``,
  together with expired dedupe keys, inside a normal batch's transaction.
* **Other processes.** SQLite's write lock serialises writers of several processes
  (``busy_timeout``); a ``read`` waiting for events wakes at once on an append in this
  process and polls every ``poll_interval`` for appends by others. It never spins.

Durability: ``synchronous=full`` (the default) syncs the WAL on every commit: what a
call returned survives power loss. ``synchronous=normal`` syncs only at checkpoints:
a process crash loses nothing, but a power loss or OS crash can lose the last
commits before the next checkpoint (SQLite's documented WAL trade-off).
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, ClassVar
from urllib.parse import unquote

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
    StoreUnavailableError,
    check_count,
    check_delay,
    check_optional_time,
    check_read_args,
    deal_runs,
    format_id,
    full_inbox,
    parse_id,
)
from ._url import Bounds, parse_duration, parse_store_url

SCHEMA_VERSION = 1
_APPLICATION_ID = 0x45564B31  # "EVK1": marks the file as an eventkit store for tools like `file`

_SCHEMA = """
CREATE TABLE totals (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    next_seq INTEGER NOT NULL,
    events INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    outbox INTEGER NOT NULL,
    next_out INTEGER NOT NULL
);
INSERT INTO totals VALUES (1, 1, 0, 0, 0, 1);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    payload BLOB NOT NULL,
    appended_at REAL NOT NULL
);
-- Rows in insertion order, so (with one dedupe_ttl) in expiry order: the sweep deletes from
-- the front and needs no index on expires (which would double the cost of every append).
CREATE TABLE dedupe (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    key TEXT NOT NULL,
    expires REAL NOT NULL,
    UNIQUE (provider, key)
);
CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    cursor INTEGER NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE entries (
    grp INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    state INTEGER NOT NULL,  -- 0 pending (at = handed out), 1 released (at = not before), 2 dead (at = since)
    consumer TEXT,
    attempts INTEGER NOT NULL,
    at REAL NOT NULL,
    error TEXT,
    PRIMARY KEY (grp, seq)
) WITHOUT ROWID;
CREATE INDEX entries_due ON entries (grp, state, at);
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    key TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    dup INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    leased_until REAL,
    owner TEXT,
    not_before REAL,
    dead INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_live ON outbox (provider, key, id) WHERE dead = 0;
CREATE INDEX outbox_dead ON outbox (provider, id) WHERE dead = 1;
"""

_SYNCHRONOUS = ("full", "normal", "extra")
_INSERT_EVENT = "INSERT INTO events (seq, provider, payload, appended_at) VALUES (?, ?, ?, ?)"
_FIRST_HEAD = (
    "SELECT key, id FROM outbox INDEXED BY outbox_live WHERE provider = ? AND dead = 0 ORDER BY key, id LIMIT 1"
)
_NEXT_HEAD = "SELECT key, id FROM outbox INDEXED BY outbox_live WHERE provider = ? AND dead = 0 AND key > ? ORDER BY key, id LIMIT 1"
_LEASABLE = "SELECT id, attempts, dup, leased_until, not_before FROM outbox"
_RUN = _LEASABLE + " INDEXED BY outbox_live WHERE provider = ? AND key = ? AND dead = 0 AND id > ? ORDER BY id LIMIT ?"
_LOOKUP_KEY = "SELECT id, expires FROM dedupe WHERE provider = ? AND key = ?"
_INSERT_KEY = "INSERT INTO dedupe (provider, key, expires) VALUES (?, ?, ?)"
# rowcount 1: a key not held before (the common case, one statement).
_CLAIM_KEY = "INSERT OR IGNORE INTO dedupe (provider, key, expires) VALUES (?, ?, ?)"


def _leasable(row: tuple[Any, ...] | None, now: float) -> bool:
    """An outbox row (``_LEASABLE``) neither under a live lease nor waiting for its not-before time."""
    if row is None:
        return False
    _, _, _, leased_until, not_before = row
    if leased_until is not None and leased_until > now:
        return False
    return not_before is None or not_before <= now


def _run(
    conn: sqlite3.Connection, provider: str, key: str, head: tuple[Any, ...], per_key: int, now: float
) -> Iterator[tuple[Any, ...]]:
    """A key's leasable run from its head: rows read in growing chunks as they are taken (``deal_runs``)."""
    yield head
    last, left, chunk = head[0], per_key - 1, 4
    while left > 0:
        rows = conn.execute(_RUN, (provider, key, last, min(chunk, left))).fetchall()
        for row in rows:
            if not _leasable(row, now):
                return
            yield row
        if len(rows) < min(chunk, left):
            return
        last, left, chunk = rows[-1][0], left - len(rows), chunk * 2


def _claim_key(conn: sqlite3.Connection, provider: str, key: str, expires: float, now: float) -> bool:
    """Hold ``key`` until ``expires``; False when it is already held and not expired (a duplicate)."""
    if conn.execute(_CLAIM_KEY, (provider, key, expires)).rowcount == 1:
        return True
    held = conn.execute(_LOOKUP_KEY, (provider, key)).fetchone()
    if held is not None and held[1] > now:
        return False
    # Expired but not swept yet: a new row (at the end, so the sweep's order stays by expiry).
    conn.execute("DELETE FROM dedupe WHERE provider = ? AND key = ?", (provider, key))
    conn.execute(_INSERT_KEY, (provider, key, expires))
    return True


_CHECKS = ("quick", "none")
_SWEEP_LIMIT = 5000


class _Ctx:
    """What one batch's operations share: the time and the running totals (written back once per batch)."""

    __slots__ = ("bytes", "events", "next_out", "next_seq", "now", "outbox")

    def __init__(self, now: float, row: tuple[int, int, int, int, int]) -> None:
        self.now = now
        self.next_seq, self.events, self.bytes, self.outbox, self.next_out = row

    def snapshot(self) -> tuple[int, int, int, int, int]:
        return (self.next_seq, self.events, self.bytes, self.outbox, self.next_out)

    def restore(self, row: tuple[int, int, int, int, int]) -> None:
        self.next_seq, self.events, self.bytes, self.outbox, self.next_out = row


Op = Callable[[sqlite3.Connection, _Ctx], Any]


class _Writer:
    """The one thread that owns the connection; runs queued operations in batches, one transaction each."""

    def __init__(self, store: SqliteStore, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self.queue: queue.SimpleQueue[tuple[Op, asyncio.Future[Any]] | None] = queue.SimpleQueue()
        self.commits = 0
        self.conn: sqlite3.Connection | None = None
        self.next_sweep = 0.0
        self.thread = threading.Thread(target=self._run, name=f"eventkit-sqlite {store.path}", daemon=True)

    def submit(self, op: Op) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = self.loop.create_future()
        self.queue.put((op, future))
        return future

    def _post(self, outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
        try:
            self.loop.call_soon_threadsafe(_settle, outcomes)
        except RuntimeError:  # the loop is closed: nobody is waiting any more
            pass

    def _run(self) -> None:
        get = self.queue.get
        get_nowait = self.queue.get_nowait
        stop = False
        while not stop:
            first = get()
            if first is None:
                break
            batch = [first]
            while len(batch) < 1000:
                try:
                    item = get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._post(self._run_batch(batch))
            except BaseException as exc:  # never leave a caller waiting forever
                error = StoreUnavailableError(f"SQLite store {self.store.path}: {exc}")
                self._post([(future, error, None) for _, future in batch])
        if self.conn is not None:
            try:
                self.conn.close()
            except sqlite3.Error:
                pass
            self.conn = None

    def _run_batch(
        self, batch: list[tuple[Op, asyncio.Future[Any]]]
    ) -> list[tuple[asyncio.Future[Any], BaseException | None, Any]]:
        conn = self.conn
        if conn is None:  # the first operation is the one that connects
            op, future = batch[0]
            try:
                self.conn = op(None, None)  # type: ignore[arg-type]
            except BaseException as exc:
                return [(future, exc, None)] + [(f, StoreError("the store failed to open"), None) for _, f in batch[1:]]
            return [(future, None, None), *self._run_batch(batch[1:])]
        outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
        now = time.time()
        try:
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute("SELECT next_seq, events, bytes, outbox, next_out FROM totals WHERE id = 1").fetchone()
        except sqlite3.Error as exc:
            _rollback(conn)
            error = StoreUnavailableError(f"SQLite store {self.store.path} cannot start a transaction: {exc}")
            return [(future, error, None) for _, future in batch]
        ctx = _Ctx(now, row)
        for op, future in batch:
            if future.cancelled():
                continue  # its caller gave up before it ran: not written, and nobody is told otherwise
            try:
                value = op(conn, ctx)
            except StoreError as exc:
                # Every operation checks before it writes, so a refusal (full, bad id) left nothing behind.
                outcomes.append((future, exc, None))
                continue
            except BaseException as exc:
                # Failed part-way (an I/O error, a bug): keep nothing of this batch, then run each
                # operation in a transaction of its own so that only the failing one fails.
                _rollback(conn)
                if len(batch) == 1:
                    if isinstance(exc, sqlite3.Error):
                        exc = StoreUnavailableError(f"SQLite store {self.store.path}: {exc}")
                    return [(future, exc, None)]
                alone: list[tuple[asyncio.Future[Any], BaseException | None, Any]] = []
                for item in batch:
                    alone.extend(self._run_batch([item]))
                return alone
            outcomes.append((future, None, value))
        try:
            if now >= self.next_sweep:
                self.next_sweep = now + self.store.sweep_interval
                conn.execute("SAVEPOINT sweep")
                before = ctx.snapshot()
                try:
                    self.store._sweep(conn, ctx)
                    conn.execute("RELEASE sweep")
                except sqlite3.Error:
                    ctx.restore(before)
                    conn.execute("ROLLBACK TO sweep")
                    conn.execute("RELEASE sweep")
            if ctx.snapshot() != tuple(row):
                conn.execute(
                    "UPDATE totals SET next_seq = ?, events = ?, bytes = ?, outbox = ?, next_out = ? WHERE id = 1",
                    ctx.snapshot(),
                )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            _rollback(conn)
            error = StoreUnavailableError(f"SQLite store {self.store.path} could not commit: {exc}")
            return [(future, error if failure is None else failure, None) for future, failure, _ in outcomes]
        self.commits += 1
        return outcomes


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


def _settle(outcomes: list[tuple[asyncio.Future[Any], BaseException | None, Any]]) -> None:
    for future, error, value in outcomes:
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


class SqliteStore(Store):
    """A store in one SQLite file, shared safely by several processes on one machine."""

    durable = True

    DEFAULT_BOUNDS = Bounds(max_events=0, max_bytes=1024**3, retention=0.0, dedupe_ttl=3 * 86400.0)
    """Defaults for ``sqlite://``: 1 GiB of payloads, any number of events, dedupe keys kept 3 days."""

    EXTRA: ClassVar[dict[str, str]] = {
        "synchronous": "full",
        "poll_interval": "0.25",
        "busy_timeout": "10",
        "sweep_interval": "1",
        "check": "quick",
    }

    def __init__(
        self,
        path: str,
        bounds: Bounds | None = None,
        *,
        synchronous: str = "full",
        poll_interval: float = 0.25,
        busy_timeout: float = 10.0,
        sweep_interval: float = 1.0,
        check: str = "quick",
        url: str | None = None,
    ) -> None:
        if synchronous.lower() not in _SYNCHRONOUS:
            raise StoreSettingsError(f"synchronous={synchronous!r}: use full (the default), normal or extra")
        if check.lower() not in _CHECKS:
            raise StoreSettingsError(f"check={check!r}: use quick (the default) or none")
        for name, value in (("poll_interval", poll_interval), ("busy_timeout", busy_timeout)):
            if not (0 < value < float("inf")):
                raise StoreSettingsError(f"{name} must be a positive number of seconds, not {value!r}")
        if not path or path == ":memory:":
            raise StoreSettingsError("sqlite:// needs a file path: sqlite:///relative.db or sqlite:////absolute.db")
        self.path = path
        self.bounds = bounds or self.DEFAULT_BOUNDS
        self.synchronous = synchronous.lower()
        self.poll_interval = poll_interval
        self.busy_timeout = busy_timeout
        self.sweep_interval = sweep_interval
        self.check = check.lower()
        self._url = url or f"sqlite:///{path}"
        self._writer: _Writer | None = None
        self._closed = False
        self._wakeup: asyncio.Event | None = None
        self._waiting = 0

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        parsed = parse_store_url(url, scheme="sqlite", extra=cls.EXTRA, defaults=cls.DEFAULT_BOUNDS)
        if parsed.netloc:
            raise StoreSettingsError(
                f"sqlite:// takes no host ({parsed.netloc!r}): sqlite:///relative.db or sqlite:////absolute.db"
            )
        path = unquote(parsed.path[1:]) if parsed.path.startswith("/") else ""
        extra = parsed.extra
        return cls(
            path,
            parsed.bounds,
            synchronous=extra["synchronous"],
            poll_interval=parse_duration("poll_interval", extra["poll_interval"]),
            busy_timeout=parse_duration("busy_timeout", extra["busy_timeout"]),
            sweep_interval=parse_duration("sweep_interval", extra["sweep_interval"]),
            check=extra["check"],
            url=url,
        )

    @property
    def url(self) -> str:
        return self._url

    @property
    def commits(self) -> int:
        """Transactions committed by this store's writer (one per batch of concurrent calls)."""
        return 0 if self._writer is None else self._writer.commits

    # Lifecycle

    async def open(self) -> None:
        if self._closed:
            raise StoreError("this store is closed")
        if self._writer is not None:
            return
        loop = asyncio.get_running_loop()
        writer = _Writer(self, loop)
        self._wakeup = asyncio.Event()
        future = writer.submit(lambda _conn, _ctx: self._connect())
        writer.thread.start()
        try:
            await future
        except BaseException:
            writer.queue.put(None)
            await loop.run_in_executor(None, writer.thread.join)
            raise
        self._writer = writer

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        writer, self._writer = self._writer, None
        if self._wakeup is not None:
            self._wakeup.set()
        if writer is not None:
            writer.queue.put(None)
            await asyncio.get_running_loop().run_in_executor(None, writer.thread.join)

    def _connect(self) -> sqlite3.Connection:
        """Open, check and (for a new file) create the schema; any problem is a :class:`StoreError` naming the path."""
        path = self.path
        where = f"SQLite store {path!r}"
        if os.path.isdir(path):
            raise StoreError(f"{where}: the path is a directory, not a database file")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise StoreError(f"{where}: the directory {parent!r} does not exist")
        conn: sqlite3.Connection | None = None
        try:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, cached_statements=512)
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{where}: cannot use write-ahead logging (journal mode {mode!r})")
            conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            if self.check == "quick":
                problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)").fetchall()]
                if problems != ["ok"]:
                    raise StoreError(f"{where} is corrupt: {'; '.join(problems)}")
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
                if tables:
                    raise StoreError(f"{where} is a SQLite database of something else (no eventkit schema version)")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(f"PRAGMA application_id = {_APPLICATION_ID}")
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise StoreError(f"{where} has schema version {version}; this eventkit reads version {SCHEMA_VERSION}")
            else:
                # A write proves the file, its directory and its -wal/-shm files are writable now, not at the first event.
                conn.execute("UPDATE totals SET next_seq = next_seq WHERE id = 1")
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise StoreError(f"{where} cannot be opened: {exc}") from None
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    def _check_open(self) -> _Writer:
        if self._closed:
            raise StoreError("this store is closed")
        if self._writer is None:
            raise StoreError("the store is not open: await store.open() or use `async with`")
        return self._writer

    def _submit(self, op: Op) -> asyncio.Future[Any]:
        return self._check_open().submit(op)

    def _wake(self) -> None:
        if self._wakeup is not None and self._waiting:
            self._wakeup.set()
            self._wakeup = asyncio.Event()

    async def ping(self) -> None:
        def op(conn: sqlite3.Connection, ctx: _Ctx) -> None:
            # Holding the write lock is the proof that a write could happen now; a full store cannot take one.
            if full_inbox(self.bounds, ctx.events, ctx.bytes):
                self._sweep(conn, ctx)
            problem = full_inbox(self.bounds, ctx.events, ctx.bytes)
            if problem:
                raise StoreFullError(f"the SQLite store {problem}")

        await self._submit(op)

    async def stats(self) -> StoreStats:
        def op(conn: sqlite3.Connection, ctx: _Ctx) -> StoreStats:
            dead = 0
            for (grp,) in conn.execute("SELECT id FROM groups").fetchall():
                dead += conn.execute("SELECT count(*) FROM entries WHERE grp = ? AND state = 2", (grp,)).fetchone()[0]
            dead += conn.execute("SELECT count(*) FROM outbox WHERE dead = 1").fetchone()[0]
            return StoreStats(events=ctx.events, bytes=ctx.bytes, outbox=ctx.outbox, dead=dead)

        result: StoreStats = await self._submit(op)
        return result

    # Sweeping (runs inside a batch's transaction)

    def _sweep(self, conn: sqlite3.Connection, ctx: _Ctx) -> None:
        expired = conn.execute("SELECT id, expires FROM dedupe ORDER BY id LIMIT ?", (_SWEEP_LIMIT,)).fetchall()
        last = None
        for id, expires in expired:
            if expires > ctx.now:
                break
            last = id
        if last is not None:
            conn.execute("DELETE FROM dedupe WHERE id <= ?", (last,))
        floor = conn.execute("SELECT min(cursor) FROM groups").fetchone()[0]
        if floor is None:
            return  # no group yet: every event is waiting for the first consumer
        cutoff = ctx.now - self.bounds.retention
        doomed: list[tuple[int]] = []
        freed = 0
        rows = conn.execute(
            "SELECT seq, appended_at, length(payload), "
            "EXISTS (SELECT 1 FROM entries WHERE grp IN (SELECT id FROM groups) AND entries.seq = events.seq) "
            "FROM events WHERE seq < ? ORDER BY seq",
            (floor,),
        )
        for seq, appended_at, size, held in rows:
            if appended_at > cutoff or len(doomed) >= _SWEEP_LIMIT:
                break
            if not held:
                doomed.append((seq,))
                freed += size
        rows.close()
        if doomed:
            conn.executemany("DELETE FROM events WHERE seq = ?", doomed)
            ctx.events -= len(doomed)
            ctx.bytes -= freed

    # Inbox

    async def append(self, records: Sequence[Inbound]) -> list[bool]:
        records = list(records)
        if not records:
            self._check_open()
            return []
        bounds = self.bounds

        size = sum(len(r.payload) for r in records)
        keyed = any(r.dedupe_key is not None for r in records)

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> list[bool]:
            now = ctx.now
            expires = now + bounds.dedupe_ttl
            if not (bounds.max_events and ctx.events + len(records) > bounds.max_events) and not (
                bounds.max_bytes and ctx.bytes + size > bounds.max_bytes
            ):
                # Room even if none is a duplicate: claim each key with one upsert (inserted, or an
                # expired one renewed: stored; a live one left alone: duplicate) and write.
                if keyed:
                    results = []
                    for record in records:
                        if record.dedupe_key is None:
                            results.append(True)
                        else:
                            results.append(_claim_key(conn, record.provider, record.dedupe_key, expires, now))
                    stored = [r for r, ok in zip(records, results, strict=True) if ok]
                else:
                    results = [True] * len(records)
                    stored = records
                self._insert_events(conn, ctx, stored, now)
                return results
            # Near a bound: find the duplicates first, refuse the whole batch if the rest does not fit.
            results = []
            seen: set[tuple[str, str]] = set()
            stored = []
            keys: list[tuple[str, str, float]] = []
            for record in records:
                if record.dedupe_key is not None:
                    k = (record.provider, record.dedupe_key)
                    held = conn.execute(_LOOKUP_KEY, k).fetchone()
                    if k in seen or (held is not None and held[1] > now):
                        results.append(False)
                        continue
                    seen.add(k)
                    keys.append((record.provider, record.dedupe_key, expires))
                results.append(True)
                stored.append(record)
            if not stored:
                return results
            self._check_room(conn, ctx, len(stored), sum(len(r.payload) for r in stored), outbox=False)
            if keys:
                conn.executemany("DELETE FROM dedupe WHERE provider = ? AND key = ?", [k[:2] for k in keys])
                conn.executemany(_INSERT_KEY, keys)
            self._insert_events(conn, ctx, stored, now)
            return results

        results: list[bool] = await self._submit(op)
        if any(results):
            self._wake()
        return results

    @staticmethod
    def _insert_events(conn: sqlite3.Connection, ctx: _Ctx, records: Sequence[Inbound], now: float) -> None:
        if not records:
            return
        seq = ctx.next_seq
        if len(records) == 1:
            conn.execute(_INSERT_EVENT, (seq, records[0].provider, records[0].payload, now))
        else:
            conn.executemany(_INSERT_EVENT, [(seq + i, r.provider, r.payload, now) for i, r in enumerate(records)])
        ctx.next_seq = seq + len(records)
        ctx.events += len(records)
        ctx.bytes += sum(len(r.payload) for r in records)

    def _check_room(self, conn: sqlite3.Connection, ctx: _Ctx, count: int, size: int, *, outbox: bool) -> None:
        """Raise :class:`StoreFullError` unless ``count`` more items of ``size`` bytes fit (sweeping first if needed)."""
        bounds = self.bounds

        def over() -> str | None:
            held = ctx.outbox if outbox else ctx.events
            if bounds.max_events and held + count > bounds.max_events:
                what = "outbox items" if outbox else "events"
                return f"the SQLite store holds {held} {what}, its bound is {bounds.max_events}"
            if bounds.max_bytes and ctx.bytes + size > bounds.max_bytes:
                return f"the SQLite store holds {ctx.bytes} bytes, its bound is {bounds.max_bytes}"
            return None

        if over() is None:
            return
        self._sweep(conn, ctx)
        problem = over()
        if problem is not None:
            raise StoreFullError(problem)

    @staticmethod
    def _group(conn: sqlite3.Connection, ctx: _Ctx, name: str) -> tuple[int, int]:
        row = conn.execute("SELECT id, cursor FROM groups WHERE name = ?", (name,)).fetchone()
        if row is not None:
            return row[0], row[1]
        oldest = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
        cursor = ctx.next_seq if oldest is None else oldest
        grp = conn.execute(
            "INSERT INTO groups (name, cursor, created) VALUES (?, ?, ?)", (name, cursor, ctx.now)
        ).lastrowid
        assert grp is not None
        return grp, cursor

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

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> tuple[list[Delivery], float | None]:
            return self._read(conn, ctx, group, consumer, count, claim_idle, max_attempts)

        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        # Counted as waiting from before the first attempt: an append landing between the attempt
        # and the wait must set the event this reader holds.
        self._waiting += 1
        try:
            return await self._read_loop(op, loop, deadline)
        finally:
            self._waiting -= 1

    async def _read_loop(self, op: Op, loop: asyncio.AbstractEventLoop, deadline: float | None) -> list[Delivery]:
        while True:
            wakeup = self._wakeup
            out, due = await self._submit(op)
            if out:
                return out  # type: ignore[no-any-return]
            wait = self.poll_interval
            if due is not None:
                wait = min(wait, max(0.0, due - time.time()) + 0.001)
            if deadline is not None:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                wait = min(wait, remaining)
            if wakeup is not None:
                try:
                    await wait_within(wakeup.wait(), wait)
                except asyncio.TimeoutError:
                    pass

    def _read(
        self,
        conn: sqlite3.Connection,
        ctx: _Ctx,
        group: str,
        consumer: str,
        count: int,
        claim_idle: float,
        max_attempts: int,
    ) -> tuple[list[Delivery], float | None]:
        now = ctx.now
        grp, cursor = self._group(conn, ctx, group)
        claimed: list[tuple[int, int, str | None]] = []  # seq, attempts so far, last error
        taken: set[int] = set()

        def claim(sql: str, args: tuple[Any, ...]) -> None:
            for seq, attempts, error in conn.execute(sql, args).fetchall():
                if seq not in taken and len(claimed) < count:
                    taken.add(seq)
                    claimed.append((seq, attempts, error))

        claim(
            "SELECT seq, attempts, error FROM entries INDEXED BY entries_due "
            "WHERE grp = ? AND state = 0 AND consumer = ? ORDER BY seq LIMIT ?",
            (grp, consumer, count),
        )
        if len(claimed) < count:
            claim(
                "SELECT seq, attempts, error FROM entries WHERE grp = ? AND state = 0 AND at <= ? ORDER BY at, seq LIMIT ?",
                (grp, now - claim_idle, count + len(taken)),
            )
        if len(claimed) < count:
            claim(
                "SELECT seq, attempts, error FROM entries WHERE grp = ? AND state = 1 AND at <= ? ORDER BY at, seq LIMIT ?",
                (grp, now, count - len(claimed)),
            )
        out: list[Delivery] = []
        if claimed:
            again: list[tuple[str, float, int, int, int]] = []
            dead: list[tuple[float, int, int]] = []
            for seq, attempts, _error in claimed:
                if attempts + 1 > max_attempts:
                    dead.append((now, grp, seq))
                else:
                    again.append((consumer, now, attempts + 1, grp, seq))
            if dead:
                conn.executemany(
                    "UPDATE entries SET state = 2, consumer = NULL, at = ? WHERE grp = ? AND seq = ?", dead
                )
            if again:
                conn.executemany(
                    "UPDATE entries SET state = 0, consumer = ?, at = ?, attempts = ? WHERE grp = ? AND seq = ?", again
                )
                for _, _, attempts, _, seq in again:
                    row = conn.execute(
                        "SELECT provider, payload, appended_at FROM events WHERE seq = ?", (seq,)
                    ).fetchone()
                    out.append(Delivery(format_id(seq), row[0], row[1], attempts, row[2]))
        if len(out) < count:
            rows = conn.execute(
                "SELECT seq, provider, payload, appended_at FROM events WHERE seq >= ? ORDER BY seq LIMIT ?",
                (cursor, count - len(out)),
            ).fetchall()
            if rows:
                conn.executemany(
                    "INSERT INTO entries (grp, seq, state, consumer, attempts, at) VALUES (?, ?, 0, ?, 1, ?)",
                    [(grp, row[0], consumer, now) for row in rows],
                )
                conn.execute("UPDATE groups SET cursor = ? WHERE id = ?", (rows[-1][0] + 1, grp))
                out.extend(Delivery(format_id(seq), provider, payload, 1, at) for seq, provider, payload, at in rows)
        if out:
            return out, None
        pending = conn.execute("SELECT min(at) FROM entries WHERE grp = ? AND state = 0", (grp,)).fetchone()[0]
        delayed = conn.execute("SELECT min(at) FROM entries WHERE grp = ? AND state = 1", (grp,)).fetchone()[0]
        dues = [t for t in (None if pending is None else pending + claim_idle, delayed) if t is not None]
        return out, min(dues) if dues else None

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        seqs = [parse_id(i) for i in ids]
        if not seqs:
            return

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> None:
            row = conn.execute("SELECT id FROM groups WHERE name = ?", (group,)).fetchone()
            if row is not None:
                conn.executemany("DELETE FROM entries WHERE grp = ? AND seq = ?", [(row[0], s) for s in seqs])

        await self._submit(op)

    async def release(self, group: str, id: str, *, delay: float, error: str | None = None) -> None:
        check_delay("delay", delay)
        seq = parse_id(id)

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> None:
            conn.execute(
                "UPDATE entries SET state = 1, consumer = NULL, at = ?, error = ? "
                "WHERE grp = (SELECT id FROM groups WHERE name = ?) AND seq = ? AND state = 0",
                (ctx.now + delay, error, group, seq),
            )

        await self._submit(op)
        if delay <= 0:
            self._wake()

    async def dead_letters(self, group: str | None = None, *, limit: int = 100) -> list[DeadLetter]:
        def op(conn: sqlite3.Connection, ctx: _Ctx) -> list[DeadLetter]:
            sql = (
                "SELECT n.seq, e.provider, e.payload, n.attempts, n.error, n.at, g.name "
                "FROM entries n JOIN groups g ON g.id = n.grp JOIN events e ON e.seq = n.seq "
                "WHERE n.state = 2 AND n.grp IN (SELECT id FROM groups WHERE ? IS NULL OR name = ?) "
                "ORDER BY n.at, n.seq LIMIT ?"
            )
            return [
                DeadLetter(format_id(seq), provider, payload, attempts, error, at, group=name)
                for seq, provider, payload, attempts, error, at, name in conn.execute(sql, (group, group, limit))
            ]

        result: list[DeadLetter] = await self._submit(op)
        return result

    async def replay(self, group: str | None = None, ids: Sequence[str] | None = None) -> int:
        seqs = None if ids is None else [parse_id(i) for i in ids]

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> int:
            groups = [
                r[0]
                for r in conn.execute("SELECT id FROM groups WHERE ? IS NULL OR name = ?", (group, group)).fetchall()
            ]
            moved = 0
            for grp in groups:
                sql = "UPDATE entries SET state = 1, attempts = 0, at = ? WHERE grp = ? AND state = 2"
                if seqs is None:
                    moved += conn.execute(sql, (ctx.now, grp)).rowcount
                else:
                    for seq in seqs:
                        moved += conn.execute(sql + " AND seq = ?", (ctx.now, grp, seq)).rowcount
            return moved

        moved: int = await self._submit(op)
        if moved:
            self._wake()
        return moved

    # Outbox

    async def enqueue(self, items: Sequence[Outgoing]) -> list[str]:
        items = list(items)

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> list[str]:
            if not items:
                return []
            size = sum(len(i.payload) for i in items)
            self._check_room(conn, ctx, len(items), size, outbox=True)
            first = ctx.next_out
            conn.executemany(
                "INSERT INTO outbox (id, provider, key, payload, created) VALUES (?, ?, ?, ?, ?)",
                [(first + n, i.provider, i.key, i.payload, ctx.now) for n, i in enumerate(items)],
            )
            ctx.next_out = first + len(items)
            ctx.outbox += len(items)
            ctx.bytes += size
            return [format_id(first + n) for n in range(len(items))]

        result: list[str] = await self._submit(op)
        return result

    _ITEM = "SELECT id, provider, key, payload, attempts, dup, created, error, leased_until FROM outbox"

    @staticmethod
    def _item(row: tuple[Any, ...]) -> OutboxItem:
        id, provider, key, payload, attempts, dup, created, error, leased_until = row
        return OutboxItem(format_id(id), provider, key, payload, attempts, bool(dup), created, error, leased_until)

    async def lease(self, provider: str, owner: str, *, count: int, lease: float, per_key: int = 1) -> list[OutboxItem]:
        check_delay("lease", lease)
        check_count("count", count)
        check_count("per_key", per_key)

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> list[OutboxItem]:
            now = ctx.now
            # The head of each key: one index seek per key (a skip scan), not a pass over every item.
            heads: list[tuple[int, str]] = []
            row = conn.execute(_FIRST_HEAD, (provider,)).fetchone()
            while row is not None:
                heads.append((row[1], row[0]))
                row = conn.execute(_NEXT_HEAD, (provider, row[0])).fetchone()
            runs: list[Iterator[tuple[Any, ...]]] = []
            for id, key in sorted(heads):  # oldest head first
                if len(runs) >= count:
                    break
                head = conn.execute(_LEASABLE + " WHERE id = ?", (id,)).fetchone()
                if _leasable(head, now):
                    runs.append(_run(conn, provider, key, head, per_key, now))
            taken = [row for run in deal_runs(runs, count) for row in run]
            conn.executemany(
                "UPDATE outbox SET attempts = ?, dup = ?, leased_until = ?, owner = ?, not_before = NULL WHERE id = ?",
                [
                    (attempts + 1, int(bool(dup) or leased_until is not None), now + lease, owner, id)
                    for id, attempts, dup, leased_until, _ in taken
                ],
            )
            return [self._item(conn.execute(self._ITEM + " WHERE id = ?", (row[0],)).fetchone()) for row in taken]

        result: list[OutboxItem] = await self._submit(op)
        return result

    async def unlease(self, owner: str, ids: Sequence[str]) -> None:
        seqs = [parse_id(i) for i in ids]
        if not seqs:
            return

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> None:
            conn.executemany(
                "UPDATE outbox SET attempts = max(attempts - 1, 0), leased_until = NULL, owner = NULL "
                "WHERE id = ? AND owner = ? AND leased_until IS NOT NULL AND dead = 0",
                [(seq, owner) for seq in seqs],
            )

        await self._submit(op)

    async def complete(self, ids: Sequence[str]) -> None:
        seqs = [parse_id(i) for i in ids]
        if not seqs:
            return

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> None:
            for seq in seqs:
                row = conn.execute("SELECT length(payload) FROM outbox WHERE id = ?", (seq,)).fetchone()
                if row is not None:
                    conn.execute("DELETE FROM outbox WHERE id = ?", (seq,))
                    ctx.outbox -= 1
                    ctx.bytes -= row[0]

        await self._submit(op)

    async def fail(
        self, id: str, *, error: str, retry_at: float | None = None, dead: bool = False, maybe_delivered: bool = False
    ) -> None:
        check_optional_time("retry_at", retry_at)
        seq = parse_id(id)

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> None:
            conn.execute(
                "UPDATE outbox SET error = ?, leased_until = NULL, owner = NULL, dup = ?, not_before = ?, "
                "dead = max(dead, ?) WHERE id = ?",
                (error, int(maybe_delivered), retry_at, int(dead), seq),
            )

        await self._submit(op)

    async def outbox(
        self, provider: str | None = None, *, limit: int = 100, dead: bool | None = None
    ) -> list[OutboxItem]:
        def op(conn: sqlite3.Connection, ctx: _Ctx) -> list[OutboxItem]:
            sql = self._ITEM + " WHERE (? IS NULL OR provider = ?) AND (? IS NULL OR dead = ?) ORDER BY id LIMIT ?"
            flag = None if dead is None else int(dead)
            return [self._item(row) for row in conn.execute(sql, (provider, provider, flag, flag, limit))]

        result: list[OutboxItem] = await self._submit(op)
        return result

    async def retry_dead(self, provider: str | None = None, ids: Sequence[str] | None = None) -> int:
        seqs = None if ids is None else [parse_id(i) for i in ids]

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> int:
            sql = (
                "UPDATE outbox SET dead = 0, not_before = NULL, leased_until = NULL, owner = NULL "
                "WHERE dead = 1 AND (? IS NULL OR provider = ?)"
            )
            if seqs is None:
                return int(conn.execute(sql, (provider, provider)).rowcount)
            return sum(int(conn.execute(sql + " AND id = ?", (provider, provider, s)).rowcount) for s in seqs)

        result: int = await self._submit(op)
        return result

    async def purge(self, provider: str | None = None, ids: Sequence[str] | None = None) -> int:
        seqs = None if ids is None else [parse_id(i) for i in ids]

        def op(conn: sqlite3.Connection, ctx: _Ctx) -> int:
            where = "WHERE (? IS NULL OR provider = ?)"
            args: list[tuple[Any, ...]] = (
                [(provider, provider)] if seqs is None else [(provider, provider, s) for s in seqs]
            )
            if seqs is not None:
                where += " AND id = ?"
            deleted = 0
            for a in args:
                count, size = conn.execute(
                    f"SELECT count(*), coalesce(sum(length(payload)), 0) FROM outbox {where}", a
                ).fetchone()
                if count:
                    conn.execute(f"DELETE FROM outbox {where}", a)
                    deleted += count
                    ctx.outbox -= count
                    ctx.bytes -= size
            return deleted

        result: int = await self._submit(op)
        return result


__all__ = ["SCHEMA_VERSION", "SqliteStore"]
