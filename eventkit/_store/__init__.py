"""Stores by URL: ``memory://``, ``sqlite:///path/to/events.db``, ``redis://host:port/db``.

See :mod:`eventkit._store._base` for the contract every backend keeps.
"""

from __future__ import annotations

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
)

__all__ = [
    "DeadLetter",
    "Delivery",
    "Inbound",
    "OutboxItem",
    "Outgoing",
    "Store",
    "StoreError",
    "StoreFullError",
    "StoreSettingsError",
    "StoreStats",
    "StoreUnavailableError",
    "open_store",
]


def open_store(url: str) -> Store:
    """A store for ``url`` (not yet opened: ``await store.open()`` or ``async with``).

    Query parameters set the bounds, e.g.
    ``sqlite:///var/lib/app/events.db?max_events=1000000&max_bytes=1GiB&retention=7d&dedupe_ttl=3d``.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        from ._memory import MemoryStore

        return MemoryStore.from_url(url)
    if scheme == "sqlite":
        from ._sqlite import SqliteStore

        return SqliteStore.from_url(url)
    if scheme in ("redis", "rediss"):
        from ._redis import RedisStore

        return RedisStore.from_url(url)
    raise StoreError(f"unknown store URL scheme {scheme!r}: use memory://, sqlite:///path or redis://host:port/db")
