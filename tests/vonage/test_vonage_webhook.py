"""RTC webhooks: signature, payload hash and freshness checks, then decoding of custom events."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest
from eventkit_vonage import VonageWebhookCodec
from vonage_support import (
    APPLICATION_ID,
    CONVERSATION,
    MEMBER,
    SIGNATURE_SECRET,
    custom_webhook,
    settings,
    signed_headers,
)

import eventkit
from eventkit import ProtocolError, SignatureError, WebhookReceiver


def _codec(**extra: Any) -> VonageWebhookCodec:
    with eventkit.connect("vonage", **settings(**extra)) as kit:
        codec = kit.provider.webhook_codec()
    assert isinstance(codec, VonageWebhookCodec)
    return codec


def _body(payload: Any) -> bytes:
    return json.dumps(payload).encode()


def test_custom_event_is_decoded() -> None:
    body = _body(custom_webhook("my_event", {"your": "data", "n": [1, {"x": None}]}))
    headers = signed_headers(body, jti="delivery-1")
    delivery = _codec().parse_webhook(headers, body)
    (event,) = delivery.events
    assert delivery.dedupe_key == "delivery-1"
    assert event.name == "my_event"
    assert event.data == {"your": "data", "n": [1, {"x": None}]}
    assert event.sender == MEMBER
    assert event.target == f"conversation:{CONVERSATION}"
    assert event.id == "42"
    assert event.time == datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert event.provider == "vonage"
    assert event.source == f"vonage:{APPLICATION_ID}"
    assert event.meta["_embedded"] == {"from_member": {"id": MEMBER}}
    assert event.meta["type"] == "custom:my_event"
    assert event.meta["webhook"]["jti"] == "delivery-1"
    assert event.raw["id"] == 42


def test_cid_is_read_when_conversation_id_is_absent() -> None:
    payload = custom_webhook()
    del payload["conversation_id"]
    payload["cid"] = "CON-other"
    body = _body(payload)
    (event,) = _codec().parse_webhook(signed_headers(body), body).events
    assert event.target == "conversation:CON-other"


def test_non_custom_types_are_ignored_unless_asked() -> None:
    body = _body({"type": "member:joined", "id": 3, "cid": CONVERSATION, "body": {"user": {"id": "USR-1"}}})
    assert _codec().parse_webhook(signed_headers(body), body).events == ()
    (event,) = _codec(include_non_custom=True).parse_webhook(signed_headers(body), body).events
    assert event.name == "member:joined"
    assert event.data == {"user": {"id": "USR-1"}}


def test_non_object_and_missing_bodies() -> None:
    for raw, expected in (("plain text", {"value": "plain text"}), (None, {})):
        payload = custom_webhook()
        if raw is None:
            del payload["body"]
        else:
            payload["body"] = raw
        body = _body(payload)
        (event,) = _codec().parse_webhook(signed_headers(body), body).events
        assert event.data == expected
        assert event.meta.get("body_wrapped", False) is (raw is not None)


def test_dedupe_falls_back_to_the_event_id_without_jti() -> None:
    body = _body(custom_webhook())
    delivery = _codec(signature_secret=None, allow_unsigned_webhooks=True).parse_webhook({}, body)
    assert delivery.dedupe_key == f"event:{CONVERSATION}:42"


def test_payload_hash_encodings_and_compact_reserialisation() -> None:
    payload = custom_webhook(body={"text": "héllo"})
    pretty = json.dumps(payload, indent=2).encode()
    digest = hashlib.sha256(pretty).digest()
    compact = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    codec = _codec()
    for claimed in (
        digest.hex(),
        digest.hex().upper(),
        base64.b64encode(digest).decode(),
        hashlib.sha256(compact).hexdigest(),
    ):
        assert codec.parse_webhook(signed_headers(pretty, payload_hash=claimed), pretty).events


# Forged, stale and unsigned calls: typed errors, nothing delivered


def _refused(headers: dict[str, str], body: bytes, match: str, **extra: Any) -> None:
    with pytest.raises(SignatureError, match=match) as caught:
        _codec(**extra).parse_webhook(headers, body)
    assert SIGNATURE_SECRET not in str(caught.value) + repr(caught.value)


def test_forged_token_is_refused() -> None:
    body = _body(custom_webhook())
    _refused(signed_headers(body, secret="someone-elses-secret-0000-0123456789"), body, "InvalidSignatureError")


@pytest.mark.filterwarnings("ignore:The HMAC key")
def test_wrong_algorithm_is_refused() -> None:
    body = _body(custom_webhook())
    _refused(signed_headers(body, algorithm="HS512"), body, "refused")
    token = ".".join(
        base64.urlsafe_b64encode(json.dumps(p).encode()).decode().rstrip("=")
        for p in ({"alg": "none", "typ": "JWT"}, {"iat": int(time.time())})
    )
    _refused({"authorization": f"Bearer {token}."}, body, "refused")


def test_body_that_does_not_match_the_hash_is_refused() -> None:
    body = _body(custom_webhook())
    headers = signed_headers(body)
    tampered = _body(custom_webhook(body={"your": "forged"}))
    _refused(headers, tampered, "payload_hash")


def test_missing_or_malformed_payload_hash() -> None:
    body = _body(custom_webhook())
    _refused(signed_headers(body, payload_hash=None), body, "no payload_hash")
    assert _codec(require_payload_hash=False).parse_webhook(signed_headers(body, payload_hash=None), body).events
    headers = signed_headers(body, payload_hash=12)
    _refused(headers, body, "not a string")


def test_stale_future_and_expired_tokens_are_refused() -> None:
    body = _body(custom_webhook())
    _refused(signed_headers(body, iat=time.time() - 301), body, "older than 300s")
    _refused(signed_headers(body, iat=time.time() + 3600), body, "future")
    _refused(signed_headers(body, exp=int(time.time()) - 120), body, "expired")
    assert _codec(webhook_max_age=3600).parse_webhook(signed_headers(body, iat=time.time() - 301), body).events


def test_token_without_iat_is_refused() -> None:
    import jwt

    body = _body(custom_webhook())
    token = jwt.encode({"payload_hash": hashlib.sha256(body).hexdigest()}, SIGNATURE_SECRET, algorithm="HS256")
    _refused({"authorization": f"Bearer {token}"}, body, "refused")


def test_unsigned_calls() -> None:
    body = _body(custom_webhook())
    _refused({}, body, "unsigned")
    _refused({"authorization": "Basic abc"}, body, "unsigned")
    _refused({}, body, "no signature_secret", signature_secret=None)
    assert _codec(allow_unsigned_webhooks=True).parse_webhook({}, body).events
    assert _codec(signature_secret=None, allow_unsigned_webhooks=True).parse_webhook({}, body).events


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1, 2]", b'{"id": 1}', b'{"type": 5}', b'{"type": "custom:"}', b"\xff\xfe"],
)
def test_malformed_bodies_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        _codec().parse_webhook(signed_headers(body), body)


def test_bad_timestamp_keeps_the_event() -> None:
    body = _body(custom_webhook(timestamp="yesterday"))
    (event,) = _codec().parse_webhook(signed_headers(body), body).events
    assert event.meta["bad_timestamp"] is True


async def test_receiver_answers_and_never_delivers_bad_calls() -> None:
    """Through the core receiver: forged -> 401, malformed -> 400, replay -> dropped; good ones still delivered."""
    with eventkit.connect("vonage", **settings()) as kit:
        receiver = WebhookReceiver([kit.provider])
    subscription = receiver.events()
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        good = _body(custom_webhook("first"))
        headers = signed_headers(good)
        forged = _body(custom_webhook("forged"))
        answers = [
            (await client.post("/webhooks/vonage", content=good, headers=headers)).status_code,
            (await client.post("/webhooks/vonage", content=good, headers=headers)).status_code,
            (await client.post("/webhooks/vonage", content=forged, headers=headers)).status_code,
            (await client.post("/webhooks/vonage", content=b"{", headers=signed_headers(b"{"))).status_code,
        ]
        last = _body(custom_webhook("second", id=43))
        answers.append((await client.post("/webhooks/vonage", content=last, headers=signed_headers(last))).status_code)
    assert answers == [200, 200, 401, 400, 200]
    names = [subscription.queue.get_nowait().name for _ in range(subscription.queue.qsize())]
    assert names == ["first", "second"]
    assert receiver.stats["duplicates"] == 1
    assert receiver.stats["rejected_signature"] == 1
    subscription.close()
