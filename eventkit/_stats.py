"""Counters a client exposes: what was retried, dropped, deduplicated, reconnected."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Iterator, Mapping


class Counters(Mapping[str, int]):
    """Thread-safe named counters, read as a mapping (a counter never incremented reads 0).

    Only eventkit increments them; users read them (``kit.stats["retries"]``,
    ``dict(kit.stats)``) or take a consistent copy with :meth:`snapshot`.
    """

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def incr(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def incr_all(self, *counts: tuple[str, int]) -> None:
        """Several counters under one lock (one request's outcome: one acquisition, not three)."""
        with self._lock:
            for name, n in counts:
                self._counts[name] += n

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def __contains__(self, name: object) -> bool:
        return name in self._counts

    def __iter__(self) -> Iterator[str]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        return len(self._counts)

    def get(self, name: str, default: int | None = None) -> int | None:  # type: ignore[override]
        with self._lock:
            return self._counts.get(name, default)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"Counters({self.snapshot()})"
