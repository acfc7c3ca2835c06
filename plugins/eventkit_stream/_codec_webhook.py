"""Stream webhooks: signature check, gzip, replay defence, and decoding.

Stream signs the *uncompressed* body with HMAC-SHA256 under the API secret and
sends the lowercase hex digest in ``X-Signature``
(https://getstream.io/chat/docs/react/webhooks_overview; the uncompressed-body rule is in
GetStream/stream-chat-js ``docs/webhooks.md``); gzip bodies
are recognised by their magic bytes, not the header. ``X-Webhook-Id`` is the same
across Stream's retries, so it is the dedupe key. The signature does not cover
that id, so a captured body replayed under a fresh id is refused here too.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import threading
import time
import zlib
from typing import Mapping

from eventkit.provider import (
    PayloadTooLargeError,
    ProtocolError,
    SignatureError,
    Violation,
    WebhookDelivery,
    load_json,
)

from ._settings import StreamSettings
from ._wire import PROVIDER, decode_event, is_builtin

GZIP_MAGIC = b"\x1f\x8b"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress at most ``limit`` bytes: a small gzip bomb must not become a large body."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise ProtocolError("the webhook body is not valid gzip", provider=PROVIDER) from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    if not inflater.eof:
        raise ProtocolError("the webhook body is truncated gzip", provider=PROVIDER)
    return out


_decode = json.JSONDecoder().raw_decode


def parse_body(plain: bytes) -> object:
    """The body's JSON: UTF-8 text read by the decoder directly (what Stream sends), else ``load_json``.

    ``json.loads`` on bytes first guesses the encoding and strips a BOM; Stream sends
    UTF-8, so that path is kept for anything the direct read refuses (other encodings,
    leading whitespace, bad JSON: ``load_json`` gives the one error for it).
    """
    try:
        text = plain.decode("utf-8")
        obj, end = _decode(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return load_json(plain, PROVIDER)
    if end != len(text) and text[end:].strip(" \t\n\r"):
        return load_json(plain, PROVIDER)  # data after the value: its error
    return obj


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        violations=[Violation("body", "max_bytes", f"webhook body over {limit} bytes", PROVIDER)], provider=PROVIDER
    )


class _BodyMemory:
    """Which webhook id first carried each body digest, for a while (bounded, oldest evicted first, O(1))."""

    def __init__(self, size: int = 50_000, ttl: float = 24 * 3600.0) -> None:
        self.size = size
        self.ttl = ttl
        self._ids: collections.OrderedDict[bytes, tuple[str, float]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def first_id(self, digest: bytes, webhook_id: str) -> str:
        now = time.monotonic()
        with self._lock:
            ids = self._ids
            seen = ids.get(digest)
            if seen is not None:
                if now - seen[1] < self.ttl:
                    return seen[0]
                ids.move_to_end(digest)
            ids[digest] = (webhook_id, now)
            if len(ids) > self.size:
                ids.popitem(last=False)
            return webhook_id


class StreamWebhookCodec:
    """Verifies and decodes one Stream webhook call (headers lowercase, raw body)."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings
        # The key schedule once (the settings are frozen); each call copies it.
        self._mac = hmac.new(settings.secret.encode(), digestmod=hashlib.sha256)
        self._bodies = _BodyMemory()

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        limit = self.settings.max_webhook_bytes
        if len(body) > limit:
            raise _too_large(limit)
        signature = headers.get("x-signature", "").strip()
        if not signature:
            raise SignatureError("the webhook has no X-Signature", provider=PROVIDER)
        key = headers.get("x-api-key")
        if key is not None and key != self.settings.api_key:
            raise SignatureError("the webhook is for another Stream app (X-Api-Key)", provider=PROVIDER)
        plain = gunzip(body, limit) if body.startswith(GZIP_MAGIC) else body
        hasher = self._mac.copy()
        hasher.update(plain)
        mac = hasher.digest()
        if not hmac.compare_digest(mac.hex().encode(), signature.lower().encode("utf-8", "replace")):
            raise SignatureError("the webhook signature does not match", provider=PROVIDER)
        # The verified MAC names the body in the replay memory (equal bodies, equal MACs, under
        # the one secret): no second hash of the body. Without a webhook id, the body's SHA-256
        # is the dedupe key, as before.
        webhook_id = headers.get("x-webhook-id") or None
        dedupe = webhook_id or f"sha256:{hashlib.sha256(plain).hexdigest()}"
        if self._bodies.first_id(mac, dedupe) != dedupe:
            raise SignatureError("a signed body seen before under another X-Webhook-Id (replay)", provider=PROVIDER)
        obj = parse_body(plain)
        event = decode_event(obj, source="stream:webhook", id=webhook_id)
        if is_builtin(event.name) and not self.settings.builtin_events:
            return WebhookDelivery((), dedupe)
        return WebhookDelivery((event,), dedupe)
