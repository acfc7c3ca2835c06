"""The conformance harness: how eventkit's suite drives Acme's provider against the emulator."""

from __future__ import annotations

from typing import Any, ClassVar

from eventkit import Event
from eventkit.testing.conformance import Harness

from .emulator import AcmeEmulator


class AcmeHarness(Harness):
    provider = "acme"
    target = "room:lobby"
    sender = "bot"
    listen_via = "webhook"
    error_statuses = (400, 401, 403, 404, 409, 413, 429, 500, 503)
    invalid: ClassVar[list[dict[str, Any]]] = [
        {"name": "bad name"},
        {"name": "ok", "to": "room:Not_A_Room"},
        {"name": "ok", "data": {"from": "someone"}},
        {"name": "big", "data": {"blob": "x" * 5000}},
    ]
    multi_invalid: ClassVar[dict[str, Any] | None] = {"name": "bad name", "data": {"name": "x"}}

    def start(self) -> None:
        self.emulator = AcmeEmulator().start()

    def stop(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "api_key": self.emulator.api_key,
            "webhook_secret": self.emulator.webhook_secret,
            "base_url": self.emulator.url,
            "backoff_max": 0.05,
        }

    def listen_options(self) -> dict[str, Any]:
        return {"port": 0}

    def on_listening(self, address: str) -> None:
        self.emulator.webhook_url = address

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests

    def signed_webhook(self, event: Event, *, delivery_id: str, forged: bool = False) -> tuple[dict[str, str], bytes]:
        """The call Acme would post for ``event``; ``forged``: signed with a secret the listener does not hold."""
        room = event.target.removeprefix("room:") if event.target else "lobby"
        payload = {"id": 1, "room": room, "name": event.name, "data": dict(event.data), "from": event.sender}
        return self.emulator.webhook_call(payload, delivery_id, secret="not-the-webhook-secret" if forged else None)
