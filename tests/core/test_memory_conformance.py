"""The conformance suite, run against the built-in in-process provider."""

from __future__ import annotations

import itertools
from typing import Any, ClassVar

import eventkit_memory

from eventkit.testing.conformance import ConformanceSuite, Harness

_ids = itertools.count()


class MemoryHarness(Harness):
    provider = "memory"
    target = "topic:conformance"
    invalid: ClassVar[list[dict[str, Any]]] = [
        {"name": "big", "data": {"blob": "x" * 200}},
        {"name": "", "data": {}},
        {"name": "wide", "data": {f"k{i}": i for i in range(6)}},
    ]
    multi_invalid: ClassVar[dict[str, Any] | None] = {"name": "both", "data": {f"k{i}": "x" * 30 for i in range(6)}}

    def __init__(self) -> None:
        self.namespace = f"conformance-{next(_ids)}"
        self.hub = eventkit_memory.hub(self.namespace)
        self._published = 0
        original = self.hub.publish

        def counting(event: eventkit_memory.Event) -> int:
            self._published += 1
            return original(event)

        self.hub.publish = counting  # type: ignore[method-assign]

    def settings(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "max_payload_bytes": 100, "max_keys": 5}

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.hub.fail_next(status, retry_after=retry_after)

    def requests_seen(self) -> int:
        return self._published


class TestMemoryConformance(ConformanceSuite):
    harness_class = MemoryHarness
