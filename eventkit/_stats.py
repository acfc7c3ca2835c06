"""Counters a client exposes: what was retried, dropped, deduplicated, reconnected."""

from __future__ import annotations

import threading
from collections import Counter


class Counters:
    """Thread-safe named counters; ``snapshot()`` gives a plain dict."""

    __slots__ = ("_counts", "_lock")

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def incr(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def __repr__(self) -> str:
        return f"Counters({self.snapshot()})"
