"""The conformance suite against the SignalWire provider and emulator: REST out, RELAY back."""

from __future__ import annotations

from typing import Any, ClassVar

from eventkit.testing.conformance import ConformanceSuite, Harness
from eventkit.testing.emulators.signalwire import SignalWireEmulator

CALL = "0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10"


class SignalWireHarness(Harness):
    provider = "signalwire"
    target = f"call:{CALL}"
    listen_via = "websocket"
    error_statuses = (400, 401, 403, 404, 422, 429, 500, 503)
    invalid: ClassVar[list[dict[str, Any]]] = [
        {"name": "bad_call", "to": "call:not-a-uuid"},
        {"name": "reserved_key", "data": {"type": "collides with the name"}},
        {"name": "too_big", "data": {"blob": "x" * 70_000}},
    ]
    multi_invalid: ClassVar[dict[str, Any] | None] = {"name": "x", "to": "call:nope", "data": {"type": "collides"}}

    def start(self) -> None:
        self.emulator = SignalWireEmulator().start()

    def stop(self) -> None:
        assert self.emulator.unacked() == 0, "every pushed user event was ACKed"
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "project_id": self.emulator.project_id,
            "api_token": self.emulator.api_token,
            "base_url": self.emulator.url,
            "relay_url": self.emulator.relay_url,
        }

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests


class TestSignalWireConformance(ConformanceSuite):
    harness_class = SignalWireHarness
