"""RTC ``event_url`` webhooks: verify the signed call, decode custom events.

Verification (Vonage's signed-webhook pages for Messages,
https://developer.nexmo.com/cn/messages/concepts/signed-webhooks, and Voice,
https://developer.nexmo.com/voice/voice-api/guides/signed-webhooks; the RTC details are
inferred from those two, as no page describes RTC signing): an HS256 JWT in ``Authorization: Bearer`` signed with the signature
secret, ``iat`` within ``webhook_max_age``, and ``payload_hash`` = SHA-256 of the
body. The hash encoding is unconfirmed, so hex and base64 are both accepted;
Voice hashes a whitespace-free re-serialisation of the body, so that form is
accepted too. Each alternative is still a digest of this very body, so none of
them lets a different body through.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any, Callable, Mapping

from eventkit.provider import (
    Event,
    ProtocolError,
    SignatureError,
    WebhookDelivery,
    load_json,
)

from ._settings import VonageSettings
from ._wire import CUSTOM_PREFIX, PROVIDER, event_id, event_time

_CLAIMS_IN_META = ("jti", "iat", "api_key", "application_id")


class VonageWebhookCodec:
    """One RTC webhook call -> at most one event (none for non-custom types unless asked)."""

    def __init__(self, settings: VonageSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.secret = settings.signature_secret
        self.allow_unsigned = settings.allow_unsigned_webhooks
        self.max_age = settings.webhook_max_age
        self.skew = settings.webhook_clock_skew
        self.require_hash = settings.require_payload_hash
        self.include_non_custom = settings.include_non_custom
        self._clock = clock

    def __repr__(self) -> str:
        return f"<VonageWebhookCodec signed={self.secret is not None} allow_unsigned={self.allow_unsigned}>"

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        claims = self.verify(headers, body)
        payload = load_json(body, PROVIDER)
        if not isinstance(payload, dict):
            raise ProtocolError("an RTC webhook body must be a JSON object", provider=PROVIDER)
        event = self.decode(payload, claims)
        key = claims.get("jti") if claims else None
        if not isinstance(key, str) or not key:
            key = _event_key(payload)
        return WebhookDelivery(events=() if event is None else (event,), dedupe_key=key)

    # Verification

    def verify(self, headers: Mapping[str, str], body: bytes) -> dict[str, Any] | None:
        """The verified JWT claims, ``None`` for an accepted unsigned call, or :class:`SignatureError`."""
        token = _bearer(headers.get("authorization"))
        if self.secret is None:
            if self.allow_unsigned:
                return None
            raise SignatureError(
                "no signature_secret configured: set it, or allow_unsigned_webhooks=True to accept unsigned calls",
                provider=PROVIDER,
            )
        if token is None:
            if self.allow_unsigned:
                return None
            raise SignatureError("unsigned webhook call (no Bearer token)", provider=PROVIDER)
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret.reveal(),
                algorithms=["HS256"],
                options={"require": ["iat"], "verify_iat": False},
                leeway=self.skew,
            )
        except jwt.ExpiredSignatureError:
            raise SignatureError("webhook token expired", provider=PROVIDER) from None
        except jwt.InvalidTokenError as exc:
            raise SignatureError(f"webhook token refused: {type(exc).__name__}", provider=PROVIDER) from None
        self._check_iat(claims.get("iat"))
        self._check_hash(claims.get("payload_hash"), body)
        return claims

    def _check_iat(self, iat: Any) -> None:
        if isinstance(iat, bool) or not isinstance(iat, (int, float)):
            raise SignatureError("webhook token 'iat' is not a number", provider=PROVIDER)
        now = self._clock()
        if iat > now + self.skew:
            raise SignatureError("webhook token issued in the future", provider=PROVIDER)
        if now - iat > self.max_age:
            raise SignatureError(f"webhook token older than {self.max_age:g}s (replayed or delayed)", provider=PROVIDER)

    def _check_hash(self, claimed: Any, body: bytes) -> None:
        if claimed is None:
            if self.require_hash:
                raise SignatureError("webhook token has no payload_hash", provider=PROVIDER)
            return
        if not isinstance(claimed, str) or not claimed:
            raise SignatureError("webhook payload_hash is not a string", provider=PROVIDER)
        for digest in _digests(body):
            if _digest_matches(claimed, digest):
                return
        raise SignatureError("webhook body does not match payload_hash", provider=PROVIDER)

    # Decoding

    def decode(self, payload: dict[str, Any], claims: Mapping[str, Any] | None = None) -> Event | None:
        kind = payload.get("type")
        if not isinstance(kind, str) or not kind:
            raise ProtocolError("an RTC event has no 'type'", provider=PROVIDER)
        if kind.startswith(CUSTOM_PREFIX):
            name = kind[len(CUSTOM_PREFIX) :]
            if not name:
                raise ProtocolError("a custom event type has no name after 'custom:'", provider=PROVIDER)
        elif self.include_non_custom:
            name = kind
        else:
            return None
        raw_body = payload.get("body")
        sender = payload.get("from")
        sender = sender if isinstance(sender, str) and sender else None
        meta: dict[str, Any] = {k: v for k, v in payload.items() if k not in ("type", "body")}
        if sender is not None:
            del meta["from"]
        meta["type"] = kind
        if raw_body is None:
            data: dict[str, Any] = {}
        elif isinstance(raw_body, dict):
            data = raw_body
        else:
            # The Client SDKs can send a non-object body; keep it rather than lose the event.
            data = {"value": raw_body}
            meta["body_wrapped"] = True
        conversation = payload.get("conversation_id") or payload.get("cid")
        target = f"conversation:{conversation}" if isinstance(conversation, str) and conversation else None
        when, timestamp = event_time(payload)
        if timestamp is not None and when is None:
            meta["bad_timestamp"] = True
        if claims:
            meta["webhook"] = {k: claims[k] for k in _CLAIMS_IN_META if k in claims}
        application = payload.get("application_id")
        return Event.received(
            name,
            data,
            provider=PROVIDER,
            raw=payload,
            id=event_id(payload),
            time=when,
            target=target,
            source=f"vonage:{application}" if isinstance(application, str) and application else "vonage",
            sender=sender,
            meta=meta,
        )


def _bearer(value: str | None) -> str | None:
    if not value:
        return None
    scheme, _, token = value.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _digests(body: bytes) -> list[bytes]:
    """SHA-256 of the raw body, then of its compact re-serialisations (key order kept)."""
    out = [hashlib.sha256(body).digest()]
    try:
        parsed = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return out
    for ascii_only in (False, True):
        # "surrogatepass": a body may escape a lone surrogate (\ud800); that is a digest, not a crash.
        text = json.dumps(parsed, separators=(",", ":"), ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        digest = hashlib.sha256(text).digest()
        if digest not in out:
            out.append(digest)
    return out


def _digest_matches(claimed: str, digest: bytes) -> bool:
    candidates = (digest.hex(), base64.b64encode(digest).decode(), base64.urlsafe_b64encode(digest).decode())
    claimed_norm = claimed.strip()
    for candidate in candidates:
        left, right = (claimed_norm.lower(), candidate) if candidate == digest.hex() else (claimed_norm, candidate)
        # "replace": a claim holding a lone surrogate is a mismatch, not a UnicodeEncodeError.
        if hmac.compare_digest(left.rstrip("=").encode("utf-8", "replace"), right.rstrip("=").encode()):
            return True
    return False


def _event_key(payload: Mapping[str, Any]) -> str | None:
    event_id = payload.get("id")
    if event_id is None or isinstance(event_id, bool):
        return None
    conversation = payload.get("conversation_id") or payload.get("cid") or ""
    return f"event:{conversation}:{event_id}"
