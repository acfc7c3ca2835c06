"""The Asterisk sandboxes, one per wire: AMI (TCP both ways) and ARI (HTTP out, the
websocket back); each is also a conformance harness.
"""

from __future__ import annotations

import secrets
from typing import Any

import eventkit
from eventkit import Event
from eventkit.testing.sandbox import FAST, Sandbox, Summary, data_changes

ARI_APP = "eventkit-sandbox"


class AmiSandbox(Sandbox):
    name = "asterisk-ami"
    provider = "asterisk"
    label = "Asterisk AMI (tcp)"
    target = "ami"
    listen_via = "tcp"
    summary_after_send = True
    error_statuses = (400, 403, 503)  # AMI has no status codes: refused (400/403-like) or dropped (503-like)
    supports_retry_after = False

    def _start(self) -> None:
        from .emulator import AmiEmulator, AmiUser

        self.secret = secrets.token_urlsafe(16)
        users = {"app": AmiUser(self.secret, read=("user", "system", "call"), write=("user", "system", "call"))}
        self.emulator = AmiEmulator(users, auth_fail_delay=0.01)
        self.emulator.start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "host": self.emulator.host,
            "port": self.emulator.port,
            "username": "app",
            "secret": self.secret,
            **FAST,
        }

    def summarize(self, kit: eventkit.AsyncClient | eventkit.Client, event: Event) -> Summary:
        """AMI has no HTTP request: the action as the emulator read it, after the send."""
        for name, lines in reversed(self.emulator.background.run_sync(lambda: list(self.emulator.actions))):
            if name.lower() == "userevent" and f"UserEvent: {event.name}" in lines:
                text = "".join(f"{line}\r\n" for line in lines) + "\r\n"
                return Summary(f"Action: UserEvent ({len(lines)} lines)", len(text.encode()), text)
        return Summary("Action: UserEvent (not seen by the emulator)", 0)

    def changes(self, sent: Event, summary: Summary, received: Event) -> list[str]:
        lines = summary.text.split("\r\n")
        out = []
        for key, value in sent.data.items():
            if not isinstance(value, str):
                line = next((x for x in lines if x.split(":", 1)[0] == key), None)
                if line is not None:
                    out.append(f"{key}: {value!r} sent as the string {line.split(': ', 1)[1]!r}")
        if out:
            out.append("decoded back to JSON by eventkit; other AMI clients see strings")
        return out + data_changes(sent, received)

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        if status == 503:
            self.emulator.drop_next(delay=retry_after or 0.0)
        else:
            faults = {400: "Too many lines in message or allocation failure", 403: "Permission denied"}
            self.emulator.fail_next(faults[status])

    def requests_seen(self) -> int:
        return self.emulator.user_events_received()


class AriSandbox(Sandbox):
    name = "asterisk-ari"
    provider = "asterisk"
    label = "Asterisk ARI (websocket)"
    target = f"app:{ARI_APP}"
    listen_via = "websocket"
    requires = ("uvicorn", "websockets")
    summary_after_send = True

    def _start(self) -> None:
        from .emulator import AriEmulator

        self.password = secrets.token_urlsafe(16)
        self.emulator = AriEmulator({"eventkit": self.password}, apps=(ARI_APP,), channels=("chan-1",))
        self.emulator.start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "ari_url": self.emulator.url,
            "ari_username": "eventkit",
            "ari_password": self.password,
            "ari_app": ARI_APP,
            **FAST,
        }

    def summarize(self, kit: eventkit.AsyncClient | eventkit.Client, event: Event) -> Summary:
        """The request as the emulator received it (the provider's ARI codec is internal to the plugin)."""
        from urllib.parse import quote

        for request in reversed(self.emulator.requests):
            if request["name"] == event.name:
                body: bytes = request["body"]
                return Summary(f"POST /ari/events/user/{quote(event.name)}", len(body), body.decode("utf-8", "replace"))
        return Summary("POST /ari/events/user/... (not seen by the emulator)", 0)

    def changes(self, sent: Event, summary: Summary, received: Event) -> list[str]:
        return ["data sent as ARI 'variables' (JSON types kept)", *data_changes(sent, received)]

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.post_count()
