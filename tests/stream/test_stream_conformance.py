"""The conformance suite against the Stream emulator, once per listen mode."""

from __future__ import annotations

from typing import Any, ClassVar

from eventkit_stream.testing.emulator import StreamEmulator
from eventkit_stream.testing.sandbox import StreamSandbox

from eventkit.testing.conformance import ConformanceSuite
from eventkit.testing.harness import sandbox_harness


class StreamHarness(sandbox_harness(StreamSandbox)):  # type: ignore[misc]
    """Webhooks: the emulator posts a signed webhook for each event to the URL the listener reports."""

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

    @property
    def emulator(self) -> StreamEmulator:
        emulator: StreamEmulator = self.sandbox.emulator  # type: ignore[attr-defined]
        return emulator


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
