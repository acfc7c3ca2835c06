"""``redis://`` and ``rediss://``: the store on Redis Streams, shared by several replicas.

Several receivers append to one store and several consumers read from it as groups, so
a service can run more than one process (see ``docs/replicas.md``). Choices, and why:

Inbox
  One stream per store, ``{<prefix>}events`` (prefix ``eventkit:`` by default, set with
  ``?prefix=``). An entry holds the provider (``p``), the opaque payload (``d``) and the
  wall-clock append time (``t``). :meth:`RedisStore.append` is one Lua script per batch:
  for every record it checks the dedupe key (``SET key id NX``-style: ``EXISTS`` then
  ``SET PX dedupe_ttl``) and ``XADD``\\ s only new records. Redis runs a script alone, so
  two replicas handed the same platform retry store one copy, and the bound check
  (``XLEN`` for ``max_events``, a byte counter in ``{<prefix>}meta`` for ``max_bytes``)
  happens before the first write: a full store writes nothing and the caller gets
  :class:`StoreFullError`. ``MAXLEN`` is never used: any trim by length may drop entries a
  group has not acknowledged.

  Consumer groups are Redis consumer groups, created at id ``0`` with ``MKSTREAM`` (so
  they start at the oldest entry held). :meth:`RedisStore.read` first runs a script that
  hands out pending entries (released ones now due, this consumer's own, then any
  consumer's idle for ``claim_idle``) with ``XCLAIM``, then new ones (``XREADGROUP >``,
  which never blocks inside a script): one round trip while there is work. The attempt
  count is Redis's own delivery counter (``XPENDING``), so it survives restarts of every
  process. An entry past ``max_attempts`` is marked dead in the same script: it stays
  pending (so it is held, counted and never trimmed, as the contract says) and is listed
  in the sorted set ``{<prefix>}dead:<group>``, which every hand-out skips. When the script finds
  nothing, ``XREADGROUP > BLOCK`` waits for new entries, in slices of at most half a
  second so entries that become due meanwhile are not left waiting. The look for other
  consumers' idle entries walks the group's pending list, so it runs at most every
  ``min(1 s, claim_idle / 4)`` per group and process. :meth:`RedisStore.release` keeps the entry pending and records its not-before
  in a sorted set ``{<prefix>}nb:<group>`` that the claim script honours.
  :meth:`RedisStore.replay` resets a dead entry's delivery counter (``XCLAIM ... RETRYCOUNT
  0``) and makes it due at once; acknowledging a dead entry discards it.

  Ids are the stream ids made sortable as strings: ``<ms>-<seq>`` becomes the 20-digit
  number ``ms * 1000000 + seq``.

  Trimming (``XDEL`` of entries every group has been handed, per ``XINFO GROUPS``
  last-delivered ids, that no group holds pending, per ``XPENDING``, and older than
  ``retention``) runs at most every ``trim_interval`` seconds from appends, acks and pings,
  and once more before a refusal. With no group yet, nothing is trimmed. A dead letter
  (pending) stays without holding back the entries after it.

Outbox
  A hash per item, a list per ``(provider, target)`` for order, a sorted set per provider
  of targets by the time their head can be leased, and sorted sets of all and of dead
  items. Enqueue, lease, complete, fail, retry and purge are each one Lua script, so two
  drainers never lease the same item. A lease marks the item leased until a time; a
  lease that runs out without complete or fail makes the target leasable again and the
  item comes back with ``possible_duplicate=True``.

Durability and failures
  A write is durable when Redis says so: with ``appendonly yes`` and ``appendfsync always``
  an acknowledged append survives a Redis crash; with the default snapshotting it does
  not (``docs/replicas.md``). A lost connection raises :class:`StoreUnavailableError`
  (retryable) from every call, never a redis-py exception; an append interrupted after it
  was sent may have been stored, and the platform's retry is then caught by its dedupe
  key. The URL's password is masked in :attr:`RedisStore.url`, reprs and error messages.

All keys share one hash tag, ``{<prefix>}``, so the scripts work on a Redis Cluster.
Redis 6.2 or later is needed (``XPENDING ... IDLE``, exclusive ranges).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar
from urllib.parse import quote, urlencode, urlsplit

import redis.asyncio as aioredis
import redis.exceptions as rexc
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from .._secrets import Redactor
from .._settings import mask_url
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
    full_inbox,
    parse_id,
)
from ._redis_lua import (
    ACK,
    APPEND,
    CLAIM,
    COMPLETE,
    ENQUEUE,
    FAIL,
    LEASE,
    RELEASE,
    REPLAY,
    RETRY_DEAD,
    TRIM,
    UNLEASE,
)
from ._url import Bounds, parse_duration, parse_store_url

__all__ = ["RedisStore"]

# Server replies that mean "not now" rather than "wrong": the store is unavailable, retry later.
_TRANSIENT_REPLIES = ("OOM", "READONLY", "LOADING", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN", "BUSY", "NOREPLICAS")
_BLOCK_SLICE = 0.5
"""Longest single XREADGROUP wait: pending entries that become due meanwhile wait at most this."""
_TRIM_BATCH = 1000


# redis-py's own URL parameters a store URL may carry (passed through untouched).
_REDIS_PARAMS = (
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_cert_reqs",
    "ssl_check_hostname",
    "ssl_min_version",
    "socket_timeout",
    "socket_connect_timeout",
    "socket_keepalive",
    "health_check_interval",
    "client_name",
    "max_connections",
    "protocol",
)
_SEQ_SPAN = 1_000_000
"""Stream ids ``<ms>-<seq>`` become ``ms * _SEQ_SPAN + seq``, zero-padded, so they sort as strings
(the contract's ids). Redis appends fewer than a million entries per millisecond by far."""


def _bad(message: str) -> StoreSettingsError:
    return StoreSettingsError(message)


def _to_id(stream_id: Any) -> str:
    """The store's id of a stream entry: digits that sort in append order."""
    ms, _, seq = _text(stream_id).partition("-")
    number, rest = int(ms) * _SEQ_SPAN + int(seq), int(seq)
    if rest >= _SEQ_SPAN:  # pragma: no cover - needs a million appends in one millisecond
        raise StoreError(f"stream id {_text(stream_id)} has a sequence beyond {_SEQ_SPAN}")
    return f"{number:020d}"


def _to_stream_id(id: str) -> str:
    """The stream id behind one of our ids; anything else is a caller error."""
    number = parse_id(id)
    if len(id) != 20:
        raise _bad(f"{id!r} is not an id from this store")
    ms, seq = divmod(number, _SEQ_SPAN)
    return f"{ms}-{seq}"


def _check_name(what: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise _bad(f"{what} must be a non-empty string, not {value!r}")
    return value


def _check_ids(ids: Sequence[str]) -> list[str]:
    """Outbox ids: checked as the store's ids (digits), before any I/O."""
    if isinstance(ids, str):
        raise _bad("ids must be a sequence of ids, not one string")
    out = list(ids)
    for one in out:
        parse_id(one)
    return out


def _stream_ids(ids: Sequence[str]) -> list[str]:
    if isinstance(ids, str):
        raise _bad("ids must be a sequence of ids, not one string")
    return [_to_stream_id(one) for one in ids]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fields(flat: Sequence[Any]) -> dict[str, bytes]:
    """A flat ``[name, value, ...]`` reply from a script as a dict (values stay bytes)."""
    return {_text(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


class RedisStore(Store):
    """The store on Redis Streams; one instance per event loop, any number per Redis."""

    durable: ClassVar[bool] = True
    DEFAULT_BOUNDS = Bounds(max_events=0, max_bytes=1024**3, retention=0.0, dedupe_ttl=3 * 86400.0)
    """As ``sqlite://``: no count bound, 1 GiB of payloads, acknowledged events deleted at the next trim."""
    EXTRA: ClassVar[dict[str, str]] = {"prefix": "eventkit:", "trim_interval": "5", **dict.fromkeys(_REDIS_PARAMS, "")}

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "eventkit:",
        bounds: Bounds | None = None,
        trim_interval: float = 5.0,
        redis_options: dict[str, str] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise _bad(f"not a Redis URL: {mask_url(url)!r} (use redis:// or rediss://)")
        if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
            raise _bad(f"prefix={prefix!r} must be a non-empty string without '{{' or '}}'")
        try:
            parts.port  # noqa: B018 (parsing it is the check)
        except ValueError:
            raise _bad(f"store URL {mask_url(url)!r} has a bad port") from None
        self._options = dict(redis_options or {})
        query = urlencode(self._options, quote_via=quote)
        self._redis_url = url + (f"?{query}" if query else "")
        shown = dict(self._options, prefix=prefix)
        self._url = mask_url(url + "?" + urlencode(shown, quote_via=quote))
        self._secrets = Redactor([parts.password, self._options.get("ssl_password")])
        self.prefix = prefix
        self.bounds = bounds or self.DEFAULT_BOUNDS
        self.trim_interval = trim_interval
        tag = "{" + prefix + "}"
        self._tag = tag
        self._events = tag + "events"
        self._meta = tag + "meta"
        self._groups_key = tag + "groups"
        self._client: aioredis.Redis | None = None
        self._closed = False
        self._groups: set[str] = set()
        self._idle_scans: dict[str, float] = {}
        self._last_trim = 0.0
        self._scripts: dict[str, Any] = {}

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        """``redis[s]://[[user]:password@]host[:port][/db]?prefix=...&max_events=...&...``.

        ``max_events``, ``max_bytes``, ``retention`` and ``dedupe_ttl`` read as for every
        store; ``prefix`` names the keys; ``trim_interval`` (a duration) paces trimming;
        redis-py's own parameters (``ssl_ca_certs``, ``ssl_cert_reqs``, ``socket_timeout``,
        ... see ``_REDIS_PARAMS``) are passed to it; any other name is an error.
        """
        scheme = url.split("://", 1)[0].lower() if isinstance(url, str) and "://" in url else ""
        parsed = parse_store_url(url, scheme=scheme if scheme in ("redis", "rediss") else "redis", extra=cls.EXTRA)
        extra = dict(parsed.extra)
        prefix = extra.pop("prefix")
        trim = parse_duration("trim_interval", extra.pop("trim_interval"))
        options = {name: value for name, value in extra.items() if value != ""}
        base = f"{parsed.scheme}://{parsed.netloc}{parsed.path}"
        return cls(base, prefix=prefix, bounds=parsed.bounds, trim_interval=trim, redis_options=options)

    @property
    def url(self) -> str:
        return self._url

    # Connection and errors

    def _message(self, what: str, exc: BaseException) -> str:
        detail = self._secrets.text(f"{type(exc).__name__}: {exc}")
        return f"Redis store {self._url}: {what} failed ({detail})"

    def _translate(self, what: str, exc: BaseException) -> StoreError:
        if isinstance(exc, rexc.ResponseError):
            text = str(exc)
            if text.startswith(_TRANSIENT_REPLIES) or isinstance(exc, (rexc.ReadOnlyError, rexc.BusyLoadingError)):
                return StoreUnavailableError(self._message(what, exc))
            if text.startswith("NOGROUP"):
                return StoreUnavailableError(self._message(what, exc))
            return StoreError(self._message(what, exc))
        return StoreUnavailableError(self._message(what, exc))

    @contextlib.asynccontextmanager
    async def _guard(self, what: str) -> AsyncIterator[Any]:
        """The client (typed loosely: redis-py 5 to 8 type their replies differently), failures turned into store errors."""
        client = self._require()
        try:
            yield client
        except StoreError:
            raise
        except (rexc.RedisError, OSError, asyncio.TimeoutError) as exc:
            raise self._translate(what, exc) from None

    def _require(self) -> aioredis.Redis:
        if self._closed:
            raise StoreError(f"Redis store {self._url} is closed")
        if self._client is None:
            raise StoreError(f"Redis store {self._url} is not open: await store.open() first")
        return self._client

    async def open(self) -> None:
        if self._closed:
            raise StoreError(f"Redis store {self._url} is closed")
        if self._client is not None:
            return
        options: dict[str, Any] = {
            "decode_responses": False,
            # One quick reconnect covers a pooled socket the server closed (restart, idle
            # timeout); more would only delay the StoreUnavailableError callers act on.
            "retry": Retry(ExponentialBackoff(cap=0.2, base=0.02), 1),
        }
        if "socket_connect_timeout" not in self._options:
            options["socket_connect_timeout"] = 5.0
        try:
            client = aioredis.from_url(self._redis_url, **options)
        except (ValueError, TypeError, rexc.RedisError) as exc:
            raise StoreError(f"Redis store {self._url}: bad URL ({self._secrets.text(str(exc))})") from None
        try:
            info = await client.info("server")
        except (rexc.RedisError, OSError, asyncio.TimeoutError, ValueError, TypeError) as exc:
            await client.aclose()
            detail = self._secrets.text(f"{type(exc).__name__}: {exc}")
            raise StoreError(f"Redis store {self._url}: cannot connect ({detail})") from None
        version = tuple(int(x) for x in str(info.get("redis_version", "0")).split(".")[:2] if x.isdigit())
        if version < (6, 2):
            await client.aclose()
            raise StoreError(f"Redis store {self._url}: Redis 6.2 or later is needed (server is {version})")
        self._client = client
        self._scripts = {
            name: client.register_script(text)
            for name, text in {
                "append": APPEND,
                "claim": CLAIM,
                "release": RELEASE,
                "ack": ACK,
                "replay": REPLAY,
                "trim": TRIM,
                "enqueue": ENQUEUE,
                "lease": LEASE,
                "complete": COMPLETE,
                "fail": FAIL,
                "retry_dead": RETRY_DEAD,
                "unlease": UNLEASE,
            }.items()
        }

    async def aclose(self) -> None:
        client, self._client = self._client, None
        self._closed = True
        if client is not None:
            with contextlib.suppress(rexc.RedisError, OSError):
                await client.aclose()

    async def ping(self) -> None:
        """A write Redis must accept (not read-only, not out of memory), then the bounds (readiness)."""
        await self._maybe_trim()
        for attempt in range(2):
            async with self._guard("ping") as client:
                pipe = client.pipeline(transaction=False)
                pipe.set(self._tag + "ping", repr(time.time()), px=10_000)
                pipe.xlen(self._events)
                pipe.hget(self._meta, "bytes")
                _ok, events, nbytes = await pipe.execute()
            reason = full_inbox(self.bounds, int(events), int(nbytes or 0))
            if reason is None:
                return
            if attempt == 0 and await self._trim_all():
                continue
            raise StoreFullError(f"Redis store {self._url} {reason}; retry after consumers catch up")

    async def stats(self) -> StoreStats:
        async with self._guard("stats") as client:
            groups = [_text(g) for g in await client.smembers(self._groups_key)]
            pipe = client.pipeline(transaction=False)
            pipe.xlen(self._events)
            pipe.hget(self._meta, "bytes")
            pipe.zcard(self._tag + "ob:all")
            pipe.zcard(self._tag + "ob:dead")
            for group in groups:
                pipe.zcard(self._tag + "dead:" + group)
            replies = await pipe.execute()
        events, nbytes, outbox, odead, *dead = replies
        return StoreStats(events=int(events), bytes=int(nbytes or 0), outbox=int(outbox), dead=int(odead) + sum(dead))

    # Inbox

    def _group_keys(self, group: str) -> list[str]:
        """The keys a group's scripts take: events, not-before zset, errors hash, dead zset."""
        return [self._events, self._tag + "nb:" + group, self._tag + "err:" + group, self._tag + "dead:" + group]

    def _dedupe_key(self, provider: str, key: str) -> str:
        # The provider's length first, so no provider and key pair reads as another.
        return f"{self._tag}dd:{len(provider)}:{provider}:{key}"

    async def append(self, records: Sequence[Inbound]) -> list[bool]:
        records = list(records)
        for record in records:
            if not isinstance(record, Inbound):
                raise _bad(f"append takes Inbound records, not {type(record).__name__}")
            _check_name("provider", record.provider)
            if not isinstance(record.payload, bytes):
                raise _bad("an Inbound payload must be bytes")
        if not records:
            return []
        keys = [self._events, self._meta]
        args: list[Any] = [
            repr(time.time()),
            self.bounds.max_events,
            self.bounds.max_bytes,
            max(1, int(self.bounds.dedupe_ttl * 1000)),
            len(records),
        ]
        for record in records:
            has = record.dedupe_key is not None
            keys.append(self._dedupe_key(record.provider, record.dedupe_key) if has else self._events)  # type: ignore[arg-type]
            args += [record.provider, record.payload, "1" if has else "0"]
        for attempt in range(2):
            async with self._guard("append"):
                reply = await self._scripts["append"](keys=keys, args=args)
            if _text(reply[0]) == "ok":
                await self._maybe_trim()
                return [bool(flag) for flag in reply[1:]]
            if attempt == 0 and await self._trim_all():
                continue
            held, nbytes = int(reply[1]), int(reply[2])
            raise StoreFullError(
                f"Redis store {self._url} is full: {held} events, {nbytes} bytes held "
                f"(max_events={self.bounds.max_events or 'none'}, max_bytes={self.bounds.max_bytes or 'none'}); "
                "retry after consumers catch up"
            )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _ensure_group(self, group: str) -> None:
        if group in self._groups:
            return
        async with self._guard("create group") as client:
            try:
                await client.xgroup_create(self._events, group, id="0", mkstream=True)
            except rexc.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
            await client.sadd(self._groups_key, group)
        self._groups.add(group)

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
        self._require()
        await self._ensure_group(group)
        deadline = None if timeout is None else time.monotonic() + timeout
        remade = False
        while True:
            try:
                out, next_due = await self._claim(group, consumer, count, claim_idle, max_attempts)
                if out:
                    return out
                wait = _BLOCK_SLICE
                if next_due is not None:
                    wait = min(wait, max(0.001, next_due - time.time()))
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                fresh = await self._read_new(group, consumer, count, max(0.0, wait))
            except StoreUnavailableError as exc:
                if "NOGROUP" in str(exc) and not remade:
                    # The server lost the group (a restart without persistence): make it again, once.
                    remade = True
                    self._groups.discard(group)
                    await self._ensure_group(group)
                    continue
                raise
            if fresh:
                return fresh
            if deadline is not None and time.monotonic() >= deadline:
                return []

    async def _claim(
        self, group: str, consumer: str, count: int, claim_idle: float, max_attempts: int
    ) -> tuple[list[Delivery], float | None]:
        # Looking for other consumers' idle entries walks the group's whole pending list, so it
        # runs at most every claim_idle/4 (and at least every second) per group and process:
        # an abandoned entry waits a little longer than claim_idle, never forever.
        now = time.monotonic()
        scan_idle = now - self._idle_scans.get(group, -math.inf) >= min(1.0, claim_idle / 4)
        if scan_idle:
            self._idle_scans[group] = now
        args = [group, consumer, repr(time.time()), int(claim_idle * 1000), count, max_attempts, int(scan_idle)]
        async with self._guard("read"):
            entries, next_due = await self._scripts["claim"](keys=self._group_keys(group), args=args)
        out = [self._delivery(entry_id, _fields(flat), int(attempts)) for entry_id, flat, attempts in entries]
        return out, (float(next_due) if next_due else None)

    @staticmethod
    def _delivery(entry_id: Any, fields: dict[str, Any], attempts: int) -> Delivery:
        return Delivery(
            id=_to_id(entry_id),
            provider=_text(fields.get("p", b"")),
            payload=bytes(fields.get("d", b"")),
            attempts=attempts,
            appended_at=float(fields.get("t", b"0")),
        )

    async def _read_new(self, group: str, consumer: str, count: int, wait: float) -> list[Delivery]:
        block = max(1, int(wait * 1000))
        async with self._guard("read") as client:
            reply = await client.xreadgroup(group, consumer, {self._events: ">"}, count=count, block=block)
        return [
            self._delivery(entry_id, {_text(k): v for k, v in fields.items()}, 1)
            for _stream, entries in reply or ()
            for entry_id, fields in entries
        ]

    async def ack(self, group: str, ids: Sequence[str]) -> None:
        _check_name("group", group)
        stream_ids = _stream_ids(ids)
        if not stream_ids:
            return
        # Chunks: a script unpacks the ids onto Lua's stack, which holds about 8,000 values.
        for i in range(0, len(stream_ids), 1000):
            async with self._guard("ack"):
                await self._scripts["ack"](keys=self._group_keys(group), args=[group, *stream_ids[i : i + 1000]])
        await self._maybe_trim()

    async def release(self, group: str, id: str, *, delay: float, error: str | None = None) -> None:
        _check_name("group", group)
        [stream_id] = _stream_ids([id])
        check_delay("delay", delay)
        if error is not None and not isinstance(error, str):
            raise _bad("error must be a string or None")
        args = [group, stream_id, repr(time.time() + delay), error or "", "0" if error is None else "1"]
        async with self._guard("release"):
            await self._scripts["release"](keys=self._group_keys(group), args=args)

    async def _group_names(self, group: str | None) -> list[str]:
        if group is not None:
            return [_check_name("group", group)]
        async with self._guard("list groups") as client:
            return sorted(_text(g) for g in await client.smembers(self._groups_key))

    async def dead_letters(self, group: str | None = None, *, limit: int = 100) -> list[DeadLetter]:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise _bad(f"limit must be a whole number of at least 1, not {limit!r}")
        out: list[DeadLetter] = []
        for name in await self._group_names(group):
            async with self._guard("dead_letters") as client:
                marked = await client.zrange(self._tag + "dead:" + name, 0, limit - 1, withscores=True)
                if not marked:
                    continue
                pipe = client.pipeline(transaction=False)
                for stream_id, _at in marked:
                    pipe.xrange(self._events, min=stream_id, max=stream_id)
                    pipe.xpending_range(self._events, name, min=stream_id, max=stream_id, count=1)
                    pipe.hget(self._tag + "err:" + name, stream_id)
                replies = await pipe.execute()
            for i, (stream_id, at) in enumerate(marked):
                entries, pending, error = replies[3 * i : 3 * i + 3]
                if not entries:
                    continue
                fields = {_text(k): v for k, v in entries[0][1].items()}
                attempts = int(pending[0]["times_delivered"]) if pending else 0
                out.append(
                    DeadLetter(
                        id=_to_id(stream_id),
                        provider=_text(fields.get("p", b"")),
                        payload=bytes(fields.get("d", b"")),
                        attempts=attempts,
                        error=None if error is None else _text(error),
                        at=float(at),
                        group=name,
                    )
                )
        out.sort(key=lambda d: (d.at, d.id))
        return out[:limit]

    async def replay(self, group: str | None = None, ids: Sequence[str] | None = None) -> int:
        wanted = None if ids is None else _stream_ids(ids)
        moved = 0
        for name in await self._group_names(group):
            chosen = wanted
            if chosen is None:
                async with self._guard("replay") as client:
                    chosen = [_text(x) for x in await client.zrange(self._tag + "dead:" + name, 0, -1)]
            for i in range(0, len(chosen), 500):
                async with self._guard("replay"):
                    batch = chosen[i : i + 500]
                    moved += int(await self._scripts["replay"](keys=self._group_keys(name), args=[name, *batch]))
        return moved

    async def _maybe_trim(self) -> None:
        """Housekeeping after a write that succeeded: its failure must not fail that write."""
        if time.monotonic() - self._last_trim >= self.trim_interval:
            with contextlib.suppress(StoreError):
                await self._trim_all()

    async def _trim_all(self) -> int:
        """Delete what every group is done with; the number deleted."""
        self._last_trim = time.monotonic()
        total, start = 0, "-"
        for _ in range(100):
            async with self._guard("trim"):
                deleted, last = await self._scripts["trim"](
                    keys=[self._events, self._meta],
                    args=[repr(time.time()), self.bounds.retention, _TRIM_BATCH, start],
                )
            total += int(deleted)
            if not last:
                break
            start = "(" + _text(last)
        return total

    # Outbox

    def _item(self, item_id: Any, flat: Sequence[Any]) -> OutboxItem:
        f = _fields(flat)
        lease_until = _text(f.get("lu", b""))
        return OutboxItem(
            id=_text(item_id),
            provider=_text(f["p"]),
            key=_text(f["k"]),
            payload=bytes(f["d"]),
            attempts=int(f.get("a", b"0")),
            possible_duplicate=f.get("pd") == b"1",
            created=float(f.get("c", b"0")),
            last_error=_text(f["e"]) if f.get("e") is not None else None,
            leased_until=float(lease_until) if f.get("l") == b"1" and lease_until else None,
        )

    async def enqueue(self, items: Sequence[Outgoing]) -> list[str]:
        items = list(items)
        for item in items:
            if not isinstance(item, Outgoing):
                raise _bad(f"enqueue takes Outgoing items, not {type(item).__name__}")
            _check_name("provider", item.provider)
            if not isinstance(item.key, str):
                raise _bad("an Outgoing key must be a string")
            if not isinstance(item.payload, bytes):
                raise _bad("an Outgoing payload must be bytes")
        if not items:
            return []
        args: list[Any] = [self._tag, repr(time.time()), self.bounds.max_bytes, self.bounds.max_events, len(items)]
        for item in items:
            args += [item.provider, item.key, item.payload]
        async with self._guard("enqueue"):
            reply = await self._scripts["enqueue"](keys=[self._meta], args=args)
        if _text(reply[0]) != "ok":
            raise StoreFullError(
                f"Redis store {self._url} is full: {int(reply[1])} outbox items, {int(reply[2])} bytes held "
                f"(max_events={self.bounds.max_events or 'none'}, max_bytes={self.bounds.max_bytes or 'none'}); "
                "retry after the outbox drains"
            )
        return [_text(x) for x in reply[1:]]

    async def lease(self, provider: str, owner: str, *, count: int, lease: float, per_key: int = 1) -> list[OutboxItem]:
        _check_name("provider", provider)
        _check_name("owner", owner)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise _bad(f"count must be a whole number of at least 1, not {count!r}")
        check_count("per_key", per_key)
        if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not lease > 0 or math.isinf(lease):
            raise _bad(f"lease must be seconds > 0, not {lease!r}")
        args = [self._tag, provider, owner, count, repr(float(lease)), repr(time.time()), per_key]
        async with self._guard("lease"):
            reply = await self._scripts["lease"](keys=[self._meta], args=args)
        return [self._item(item_id, flat) for item_id, flat in reply]

    async def unlease(self, owner: str, ids: Sequence[str]) -> None:
        _check_name("owner", owner)
        ids = _check_ids(ids)
        # Chunks: a script unpacks its arguments onto Lua's stack, which holds about 8,000 values.
        for i in range(0, len(ids), 500):
            async with self._guard("unlease"):
                await self._scripts["unlease"](keys=[self._meta], args=[self._tag, owner, *ids[i : i + 500]])

    async def complete(self, ids: Sequence[str]) -> None:
        ids = _check_ids(ids)
        for i in range(0, len(ids), 500):
            async with self._guard("complete"):
                await self._scripts["complete"](keys=[self._meta], args=[self._tag, *ids[i : i + 500]])

    async def fail(
        self, id: str, *, error: str, retry_at: float | None = None, dead: bool = False, maybe_delivered: bool = False
    ) -> None:
        _check_ids([id])
        if not isinstance(error, str):
            raise _bad("error must be a string")
        check_optional_time("retry_at", retry_at)
        args = [
            self._tag,
            id,
            error,
            "" if retry_at is None else repr(float(retry_at)),
            "1" if dead else "0",
            "1" if maybe_delivered else "0",
        ]
        async with self._guard("fail"):
            await self._scripts["fail"](keys=[self._meta], args=args)

    async def _outbox_ids(self, source: str, limit: int | None) -> list[str]:
        async with self._guard("outbox") as client:
            raw = await client.zrange(source, 0, -1 if limit is None else limit - 1)
        return [_text(x) for x in raw]

    async def outbox(
        self, provider: str | None = None, *, limit: int = 100, dead: bool | None = None
    ) -> list[OutboxItem]:
        if not isinstance(limit, int) or limit < 1:
            raise _bad(f"limit must be a whole number of at least 1, not {limit!r}")
        if provider is not None:
            _check_name("provider", provider)
        if dead:
            source = self._tag + "ob:dead"
        elif provider is not None:
            source = self._tag + "ob:ap:" + provider
        else:
            source = self._tag + "ob:all"
        out: list[OutboxItem] = []
        start = 0
        # Pages grow from the limit to 500: drain()'s "anything left?" (limit=1) reads one item,
        # not 500 payloads; filtered-out items (dead, another provider) cost more pages.
        page = min(limit, 500)
        while len(out) < limit:
            async with self._guard("outbox") as client:
                ids = [_text(x) for x in await client.zrange(source, start, start + page - 1)]
                if not ids:
                    break
                pipe = client.pipeline(transaction=False)
                for item_id in ids:
                    pipe.hgetall(self._tag + "ob:i:" + item_id)
                hashes = await pipe.execute()
            for item_id, h in zip(ids, hashes, strict=True):
                if not h:
                    continue
                if provider is not None and _text(h[b"p"]) != provider:
                    continue
                if dead is False and h.get(b"dead") == b"1":
                    continue
                flat: list[Any] = []
                for name, value in h.items():
                    flat += [name, value]
                out.append(self._item(item_id, flat))
                if len(out) >= limit:
                    break
            start += page
            page = min(page * 2, 500)
        return out

    async def _select(self, provider: str | None, ids: Sequence[str] | None, source: str) -> list[str]:
        if provider is not None:
            _check_name("provider", provider)
        if ids is not None:
            chosen = _check_ids(ids)
            if provider is None:
                return chosen
            async with self._guard("outbox") as client:
                pipe = client.pipeline(transaction=False)
                for item_id in chosen:
                    pipe.hget(self._tag + "ob:i:" + item_id, "p")
                owners = await pipe.execute()
            return [i for i, p in zip(chosen, owners, strict=True) if p is not None and _text(p) == provider]
        if provider is not None and source == self._tag + "ob:all":
            return await self._outbox_ids(self._tag + "ob:ap:" + provider, None)
        every = await self._outbox_ids(source, None)
        if provider is None:
            return every
        return await self._select(provider, every, source)

    async def retry_dead(self, provider: str | None = None, ids: Sequence[str] | None = None) -> int:
        chosen = await self._select(provider, ids, self._tag + "ob:dead")
        moved = 0
        for i in range(0, len(chosen), 500):
            async with self._guard("retry_dead"):
                moved += int(
                    await self._scripts["retry_dead"](keys=[self._meta], args=[self._tag, *chosen[i : i + 500]])
                )
        return moved

    async def purge(self, provider: str | None = None, ids: Sequence[str] | None = None) -> int:
        chosen = await self._select(provider, ids, self._tag + "ob:all")
        removed = 0
        for i in range(0, len(chosen), 500):
            async with self._guard("purge"):
                removed += int(
                    await self._scripts["complete"](keys=[self._meta], args=[self._tag, *chosen[i : i + 500]])
                )
        return removed
