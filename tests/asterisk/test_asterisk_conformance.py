"""The conformance suite against the asterisk provider and its emulators."""

from __future__ import annotations

from typing import Any, ClassVar

from eventkit_asterisk.testing.emulator import AmiEmulator, AriEmulator

from eventkit import Event, PayloadModel
from eventkit.testing.conformance import JSON_PAYLOADS, ConformanceSuite, Harness

# What AMI can say about a refused action, shaped as Asterisk says it (``main/manager.c``:
# ``astman_send_response_full`` and the action parser's limits).
AMI_FAULTS = {
    400: "Too many lines in message or allocation failure",
    403: "Permission denied",
}


class AsteriskAmiHarness(Harness):
    provider = "asterisk"
    supports_retry_after = False  # AMI has no rate limiting and no Retry-After; drops are retried with backoff
    target = "ami"
    listen_via = "tcp"
    # AMI has no status codes and no rate limiting: it can refuse an action as malformed (400-like) or
    # not permitted (403-like), or drop the connection (503-like). 401 happens only at login.
    error_statuses = (400, 403, 503)
    invalid: ClassVar[list[dict[str, Any]]] = [
        {"name": "CrLf", "data": {"k": "a\r\nAction: Logoff"}},
        {"name": "Colon", "data": {"bad:key": "v"}},
        {"name": "Reserved", "data": {"ActionID": "1"}},
        {"name": "TooMany", "data": {f"k{i}": "v" for i in range(126)}},
        {"name": "LongLine", "data": {"k": "x" * 1100}},
        {"name": "Bad\nName", "data": {}},
    ]
    multi_invalid: ClassVar[dict[str, Any] | None] = {"name": "Multi", "data": {"bad:key": "v", "k": "a\nb"}}

    def start(self) -> None:
        self.emulator = AmiEmulator(auth_fail_delay=0.01)
        self.emulator.start()

    def stop(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.emulator.port, "username": "app", "secret": "s3cret"}

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        if status == 503:
            self.emulator.drop_next(delay=retry_after or 0.0)
        else:
            self.emulator.fail_next(AMI_FAULTS[status])

    def requests_seen(self) -> int:
        return self.emulator.user_events_received()

    def expected(self, sent: Event) -> dict[str, Any]:
        # Identity: strings travel as themselves, other values by the documented ekjson: encoding.
        return dict(sent.data)


class TestAsteriskAmiConformance(ConformanceSuite):
    harness_class = AsteriskAmiHarness


class AsteriskAriHarness(Harness):
    """The ARI path: JSON variables over HTTP, ChannelUserevent over the event websocket."""

    provider = "asterisk"
    target = "app:eventkit-test"
    listen_via = "websocket"
    invalid: ClassVar[list[dict[str, Any]]] = [
        {"name": "Renamed", "data": {"eventname": "Other"}},
        {"name": "Big", "data": {"blob": "x" * 50_000}},
        {"name": "DeviceState", "data": {}, "to": "app:eventkit-test?source=deviceState:foo"},
        {"name": "Injection", "data": {"k": "a\r\nb"}, "to": "app:eventkit-test?source=channel:chan-1"},
    ]
    multi_invalid: ClassVar[dict[str, Any] | None] = {
        "name": "Multi",
        "data": {"eventname": "x", "k": "a\nb"},
        "to": "app:eventkit-test?source=channel:chan-1",
    }

    def start(self) -> None:
        self.emulator = AriEmulator({"eventkit": "ari-pw-123"}, apps=("eventkit-test",), channels=("chan-1",))
        self.emulator.start()

    def stop(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "ari_url": self.emulator.url,
            "ari_username": "eventkit",
            "ari_password": "ari-pw-123",
            "ari_app": "eventkit-test",
        }

    def payloads(self, model: PayloadModel) -> list[dict[str, Any]]:
        return JSON_PAYLOADS  # ARI variables keep their JSON types

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.post_count()


class TestAsteriskAriConformance(ConformanceSuite):
    harness_class = AsteriskAriHarness
