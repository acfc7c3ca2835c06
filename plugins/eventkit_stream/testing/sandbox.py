"""The Stream sandbox: the emulator, and how the real ``stream`` provider reaches it
(REST out, the webhook back); also the provider's conformance harness.
"""

from __future__ import annotations

import secrets
from typing import Any

from eventkit import Event
from eventkit.testing.sandbox import FAST, Sandbox, Summary, data_changes


class StreamSandbox(Sandbox):
    name = "stream"
    provider = "stream"
    label = "Stream (webhook)"
    target = "channel:messaging:general"
    sender = "server-bot"
    listen_via = "webhook"
    requires = ("uvicorn", "websockets")

    def _start(self) -> None:
        from .emulator import StreamEmulator

        self.emulator = StreamEmulator(api_secret=secrets.token_urlsafe(32), health_interval=0.5).start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "api_key": self.emulator.api_key,
            "api_secret": self.emulator.api_secret,
            "base_url": self.emulator.url,
            "environ": {},
            **FAST,
        }

    def listen_options(self) -> dict[str, Any]:
        return {"port": 0}

    def on_listening(self, address: str) -> None:
        self.emulator.webhook_url = address

    def changes(self, sent: Event, summary: Summary, received: Event) -> list[str]:
        out = [f"name sent as type {sent.name!r}, custom fields flattened beside it"]
        if received.sender != sent.sender:
            out.append(f"sender {sent.sender!r} -> {received.sender!r}")
        return out + data_changes(sent, received)

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests

    def signed_webhook(self, event: Event, *, delivery_id: str, forged: bool = False) -> tuple[dict[str, str], bytes]:
        """A channel custom event as Stream posts it (X-Webhook-Id is the delivery id); forged: another app secret."""
        return self.emulator.signed_webhook(
            self.emulator.channel_event_body(event.name, event.data, self.target, event.sender or "server-bot"),
            webhook_id=delivery_id,
            secret="not-the-app-secret" if forged else None,
        )
