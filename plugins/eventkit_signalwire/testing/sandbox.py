"""The SignalWire sandbox: the emulator, and how the real ``signalwire`` provider reaches
it (REST out, RELAY back); also the provider's conformance harness.
"""

from __future__ import annotations

import secrets
from typing import Any

from eventkit import Event
from eventkit.testing.sandbox import FAST, Sandbox, Summary, data_changes

SIGNALWIRE_CALL = "0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10"


class SignalWireSandbox(Sandbox):
    name = "signalwire"
    provider = "signalwire"
    label = "SignalWire (RELAY)"
    target = f"call:{SIGNALWIRE_CALL}"
    listen_via = "websocket"
    requires = ("uvicorn", "websockets")

    def _start(self) -> None:
        from .emulator import SignalWireEmulator

        self.emulator = SignalWireEmulator(api_token=secrets.token_urlsafe(24)).start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "project_id": self.emulator.project_id,
            "api_token": self.emulator.api_token,
            "base_url": self.emulator.url,
            "relay_url": self.emulator.relay_url,
            **FAST,
        }

    def changes(self, sent: Event, summary: Summary, received: Event) -> list[str]:
        return ["name travels inside the event object beside the data", *data_changes(sent, received)]

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests
