"""The conformance suite against the Stream emulator, once per listen mode."""

from __future__ import annotations

from typing import Any, ClassVar

from eventkit.testing.conformance import ConformanceSuite, Harness
from eventkit.testing.emulators.stream import StreamEmulator


class StreamHarness(Harness):
    """Webhooks: the emulator posts a signed webhook for each event to the URL the listener reports."""

    provider = "stream"
    target = "channel:messaging:general"
    sender = "server-bot"
    listen_via: ClassVar[str | None] = "webhook"
    error_statuses = (400, 401, 403, 404, 413, 429, 500, 503)
    invalid: ClassVar[list[dict[str, Any]]] = [
        {"name": "ping", "sender": None},
        {"name": "order.ready", "to": "user:tommaso"},
        {"name": "ping", "data": {"blob": "x" * 6000}},
        {"name": "ping", "data": {"cid": "messaging:other"}},
        {"name": "ping", "data": {"user": {"id": "someone-else"}}},
        {"name": "message.new"},
        {"name": "ping", "to": "channel:messaging:.."},
    ]
    multi_invalid: ClassVar[dict[str, Any] | None] = {"name": "bad.name", "data": {"type": "collides"}}

    def start(self) -> None:
        self.emulator = StreamEmulator(health_interval=0.5).start()

    def stop(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "api_key": self.emulator.api_key,
            "api_secret": self.emulator.api_secret,
            "base_url": self.emulator.url,
            "environ": {},
        }

    def listen_options(self) -> dict[str, Any]:
        return {"port": 0}

    def on_listening(self, address: str) -> None:
        self.emulator.webhook_url = address

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests


class StreamWebsocketHarness(StreamHarness):
    """The websocket: the listener connects as a user and watches the target channel."""

    listen_via = "websocket"

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "listen_user": "listener", "watch": ("messaging:general",)}

    def listen_options(self) -> dict[str, Any]:
        return {}

    def on_listening(self, address: str) -> None:
        self.emulator.webhook_url = None


class TestStreamConformance(ConformanceSuite):
    harness_class = StreamHarness


class TestStreamWebsocketConformance(ConformanceSuite):
    harness_class = StreamWebsocketHarness
