"""The conformance suite against the SignalWire provider and emulator: REST out, RELAY back."""

from __future__ import annotations

from typing import Any, ClassVar

from eventkit_signalwire.testing.emulator import SignalWireEmulator
from eventkit_signalwire.testing.sandbox import SignalWireSandbox

from eventkit.testing.conformance import ConformanceSuite
from eventkit.testing.harness import sandbox_harness


class SignalWireHarness(sandbox_harness(SignalWireSandbox)):  # type: ignore[misc]
    """REST out, RELAY back, through the SignalWire sandbox; every pushed event must be ACKed."""

    error_statuses = (400, 401, 403, 404, 422, 429, 500, 503)
    invalid: ClassVar[list[dict[str, Any]]] = [
        {"name": "bad_call", "to": "call:not-a-uuid"},
        {"name": "reserved_key", "data": {"type": "collides with the name"}},
        {"name": "too_big", "data": {"blob": "x" * 70_000}},
    ]
    multi_invalid: ClassVar[dict[str, Any] | None] = {"name": "x", "to": "call:nope", "data": {"type": "collides"}}

    def stop(self) -> None:
        emulator: SignalWireEmulator = self.sandbox.emulator  # type: ignore[attr-defined]
        assert emulator.unacked() == 0, "every pushed user event was ACKed"
        super().stop()


class TestSignalWireConformance(ConformanceSuite):
    harness_class = SignalWireHarness
