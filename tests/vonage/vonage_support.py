"""Shared helpers for the Vonage tests: key pairs made at test time, signed webhook headers.

No key is committed: every run generates its own RSA pair with cryptography.
"""

from __future__ import annotations

import functools
import hashlib
import time
import uuid
from typing import Any, ClassVar

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from eventkit_vonage.testing.emulator import VonageEmulator

from eventkit import Event
from eventkit.testing.conformance import Harness

APPLICATION_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
CONVERSATION = "CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b"
MEMBER = "MEM-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"
SIGNATURE_SECRET = "test-only-signature-secret-0123456789"


def key_pair(label: str = "main") -> tuple[bytes, bytes, bytes]:
    """(PKCS#8 PEM, PKCS#1 PEM, public PEM) of a fresh 2048-bit RSA key; one per label per run."""
    return _key_pair(label)


@functools.cache
def _key_pair(label: str) -> tuple[bytes, bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pkcs1 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pkcs8, pkcs1, public


def private_pem(label: str = "main") -> str:
    return key_pair(label)[0].decode()


def public_pem(label: str = "main") -> str:
    return key_pair(label)[2].decode()


def settings(**extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "application_id": APPLICATION_ID,
        "private_key": private_pem(),
        "signature_secret": SIGNATURE_SECRET,
    }
    out.update(extra)
    return out


def signed_headers(
    body: bytes,
    *,
    secret: str = SIGNATURE_SECRET,
    iat: float | None = None,
    payload_hash: Any = "hex",
    algorithm: str = "HS256",
    **claims: Any,
) -> dict[str, str]:
    """Headers of a signed RTC webhook; ``payload_hash="hex"`` computes the right one."""
    payload: dict[str, Any] = {
        "iat": int(time.time() if iat is None else iat),
        "jti": str(uuid.uuid4()),
        "api_key": "test-api-key",
        "application_id": APPLICATION_ID,
        **claims,
    }
    if payload_hash == "hex":
        payload["payload_hash"] = hashlib.sha256(body).hexdigest()
    elif payload_hash is not None:
        payload["payload_hash"] = payload_hash
    token = jwt.encode(payload, secret, algorithm=algorithm)
    return {"authorization": f"Bearer {token}", "content-type": "application/json"}


def custom_webhook(name: str = "my_event", body: Any = None, **extra: Any) -> dict[str, Any]:
    """The inferred custom-event webhook shape: the Events API object, as Vonage's reference app parses RTC webhooks
    (Vonage-Community/reference-client_sdk-ios-android-js-node-deno-usecases
    ``multichannel-app/frontend/app/api/webhook-rtc-event/events.ts``); no official schema exists."""
    out: dict[str, Any] = {
        "type": f"custom:{name}",
        "id": 42,
        "conversation_id": CONVERSATION,
        "from": MEMBER,
        "application_id": APPLICATION_ID,
        "timestamp": "2024-01-01T12:00:00.000Z",
        "body": {"your": "data"} if body is None else body,
        "_embedded": {"from_member": {"id": MEMBER}},
    }
    out.update(extra)
    return out


class VonageHarness(Harness):
    """The conformance harness: provider against the emulator, round trip through signed webhooks."""

    provider = "vonage"
    target = f"conversation:{CONVERSATION}"
    sender = MEMBER
    listen_via = "webhook"
    invalid: ClassVar[list[dict[str, Any]]] = [
        {"name": "bad.name"},
        {"name": "x" * 94},
        {"name": "big", "data": {"blob": "x" * 5000}},
        {"name": "ok", "to": "conversation:not-a-conversation"},
    ]
    multi_invalid: ClassVar[dict[str, Any] | None] = {"name": "bad.name", "data": {"blob": "x" * 5000}}

    def start(self) -> None:
        self.emulator = VonageEmulator(
            public_key=public_pem(), application_id=APPLICATION_ID, signature_secret=SIGNATURE_SECRET
        ).start()

    def stop(self) -> None:
        self.emulator.close()

    def settings(self) -> dict[str, Any]:
        return settings(base_url=self.emulator.url, backoff_max=0.05)

    def listen_options(self) -> dict[str, Any]:
        return {"port": 0}

    def on_listening(self, address: str) -> None:
        self.emulator.webhook_url = address

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.emulator.fail_next(status, retry_after)

    def requests_seen(self) -> int:
        return self.emulator.requests

    def signed_webhook(self, event: Event, *, delivery_id: str, forged: bool = False) -> tuple[dict[str, str], bytes]:
        body = self.emulator.custom_webhook_body(event.name, event.data, CONVERSATION, event.sender)
        secret = "forged-signature-secret-0123456789" if forged else SIGNATURE_SECRET
        return signed_headers(body, secret=secret, jti=delivery_id), body
