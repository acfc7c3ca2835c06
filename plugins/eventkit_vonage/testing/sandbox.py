"""The Vonage sandbox: the emulator with a per-run RSA key, and how the real ``vonage``
provider reaches it (REST out, the webhook back); also the provider's conformance harness.
"""

from __future__ import annotations

import secrets
from typing import Any

from eventkit import Event
from eventkit.testing.sandbox import FAST, Sandbox, Summary, data_changes

VONAGE_CONVERSATION = "CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b"
VONAGE_MEMBER = "MEM-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
VONAGE_APPLICATION = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"


class VonageSandbox(Sandbox):
    name = "vonage"
    provider = "vonage"
    label = "Vonage (webhook)"
    target = f"conversation:{VONAGE_CONVERSATION}"
    sender = VONAGE_MEMBER
    listen_via = "webhook"
    requires = ("uvicorn", "cryptography")

    def _start(self) -> None:
        from . import key_pair
        from .emulator import VonageEmulator

        self.private_key, public = key_pair()
        self.signature_secret = secrets.token_urlsafe(32)
        self.emulator = VonageEmulator(
            public_key=public, application_id=VONAGE_APPLICATION, signature_secret=self.signature_secret
        ).start()

    def _close(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return {
            "application_id": VONAGE_APPLICATION,
            "private_key": self.private_key,
            "signature_secret": self.signature_secret,
            "base_url": self.emulator.url,
            **FAST,
        }

    def listen_options(self) -> dict[str, Any]:
        return {"port": 0}

    def on_listening(self, address: str) -> None:
        self.emulator.webhook_url = address

    def changes(self, sent: Event, summary: Summary, received: Event) -> list[str]:
        return [f"type 'custom:{sent.name}' on the wire, prefix removed on receipt", *data_changes(sent, received)]

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests

    def signed_webhook(self, event: Event, *, delivery_id: str, forged: bool = False) -> tuple[dict[str, str], bytes]:
        """A custom event as Vonage posts it (the JWT's ``jti`` is the delivery id); forged: another secret."""
        body = self.emulator.custom_webhook_body(event.name, event.data, VONAGE_CONVERSATION, event.sender)
        headers = self.emulator.sign_webhook(
            body, jti=delivery_id, secret="not-the-signature-secret-0123456789" if forged else None
        )
        return {**headers, "Content-Type": "application/json"}, body
