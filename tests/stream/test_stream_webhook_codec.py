"""Webhook verification and decoding (https://getstream.io/chat/docs/react/webhooks_overview), without sockets."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
from typing import Any

import pytest
from eventkit_stream import StreamSettings
from eventkit_stream._codec_webhook import StreamWebhookCodec
from eventkit_stream._wire import decode_event

from eventkit import PayloadTooLargeError, ProtocolError, Secret, SignatureError, WebhookReceiver

SECRET = "webhook-secret-0123456789abcdef-0123456789abcdef"
FRAME = {
    "type": "friendship_request",
    "text": "Hey there, long time no see!",
    "cid": "messaging:general",
    "channel_id": "general",
    "channel_type": "messaging",
    "user": {"id": "john", "role": "user", "online": True},
    "created_at": "2024-01-01T00:00:00.123456789Z",
}


def codec(**overrides: Any) -> StreamWebhookCodec:
    return StreamWebhookCodec(StreamSettings(api_key="key", api_secret=Secret(SECRET), **overrides))


def signed(obj: Any, *, webhook_id: str = "123e4567-e89b-12d3-a456-426614174000") -> tuple[dict[str, str], bytes]:
    body = json.dumps(obj).encode()
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-signature": signature, "x-webhook-id": webhook_id, "x-webhook-attempt": "1", "x-api-key": "key"}, body


def test_decode_the_notes_frame() -> None:
    event = decode_event(FRAME, source="test")
    assert event.name == "friendship_request"
    assert event.data == {"text": "Hey there, long time no see!"}
    assert (event.sender, event.target, event.provider) == ("john", "channel:messaging:general", "stream")
    assert event.meta["cid"] == "messaging:general" and event.meta["user"]["id"] == "john"
    assert "type" not in event.meta
    assert event.time.isoformat() == "2024-01-01T00:00:00.123456+00:00"
    assert event.raw is FRAME


def test_decode_merges_a_custom_object_and_flat_fields_win() -> None:
    event = decode_event({"type": "t", "custom": {"a": 1, "b": 2}, "b": 3, "user_id": "ann"}, source="x")
    assert event.data == {"a": 1, "b": 3} and event.sender is None
    assert event.target == "user:ann"


def test_decode_user_event_uses_the_listening_user() -> None:
    event = decode_event({"type": "t", "x": 1}, source="x", user="me")
    assert (event.target, event.sender, event.data) == ("user:me", None, {"x": 1})


def test_decode_channel_from_type_and_id_and_bad_time() -> None:
    event = decode_event({"type": "t", "channel_type": "team", "channel_id": "a", "created_at": "nope"}, source="x")
    assert event.target == "channel:team:a"


@pytest.mark.parametrize("bad", [[], "x", {"type": 3}, {"type": ""}, {"no": "type"}])
def test_decode_refuses_non_events(bad: Any) -> None:
    with pytest.raises(ProtocolError):
        decode_event(bad, source="x")


def test_verified_webhook_decodes_and_dedupes_on_webhook_id() -> None:
    headers, body = signed(FRAME)
    delivery = codec().parse_webhook(headers, body)
    assert delivery.dedupe_key == headers["x-webhook-id"]
    (event,) = delivery.events
    assert event.id == headers["x-webhook-id"] and event.data == {"text": FRAME["text"]}


def test_gzip_body_is_verified_on_the_uncompressed_bytes() -> None:
    headers, body = signed(FRAME)
    zipped = gzip.compress(body)
    (event,) = codec().parse_webhook({**headers, "content-encoding": "gzip"}, zipped).events
    assert event.name == "friendship_request"
    # Detection is by magic bytes, not the header.
    assert codec().parse_webhook(headers, zipped).events


def test_signature_over_the_compressed_body_is_refused() -> None:
    _, body = signed(FRAME)
    zipped = gzip.compress(body)
    wrong = hmac.new(SECRET.encode(), zipped, hashlib.sha256).hexdigest()
    with pytest.raises(SignatureError):
        codec().parse_webhook({"x-signature": wrong, "x-webhook-id": "w"}, zipped)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda h, b: ({**h, "x-signature": "0" * 64}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "x-signature"}, b),
        lambda h, b: (h, b.replace(b"Hey", b"Hay")),
        lambda h, b: ({**h, "x-api-key": "another-app"}, b),
        lambda h, b: ({**h, "x-signature": "é" * 64}, b),
    ],
)
def test_forged_webhooks_are_signature_errors(mutate: Any) -> None:
    headers, body = mutate(*signed(FRAME))
    with pytest.raises(SignatureError):
        codec().parse_webhook(headers, body)


def test_uppercase_hex_signature_is_accepted() -> None:
    headers, body = signed(FRAME)
    assert codec().parse_webhook({**headers, "x-signature": headers["x-signature"].upper()}, body).events


def test_replayed_body_under_a_new_id_is_refused_but_a_retry_passes() -> None:
    c = codec()
    headers, body = signed(FRAME)
    c.parse_webhook(headers, body)
    retry = c.parse_webhook({**headers, "x-webhook-attempt": "2"}, body)
    assert retry.dedupe_key == headers["x-webhook-id"]
    with pytest.raises(SignatureError):
        c.parse_webhook({**headers, "x-webhook-id": "fresh-id"}, body)


def test_no_webhook_id_dedupes_on_the_body_digest() -> None:
    headers, body = signed(FRAME)
    del headers["x-webhook-id"]
    delivery = codec().parse_webhook(headers, body)
    assert delivery.dedupe_key == "sha256:" + hashlib.sha256(body).hexdigest()


def test_gzip_bomb_is_capped_before_expansion() -> None:
    bomb = gzip.compress(b" " * (50 << 20))
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLargeError):
        codec().parse_webhook({"x-signature": "0" * 64}, bomb)


def test_raw_body_cap_and_bad_gzip() -> None:
    with pytest.raises(PayloadTooLargeError):
        codec(max_webhook_bytes=10).parse_webhook({"x-signature": "0" * 64}, b"{" * 11)
    with pytest.raises(ProtocolError):
        codec().parse_webhook({"x-signature": "0" * 64}, b"\x1f\x8bnot gzip at all")
    with pytest.raises(ProtocolError):
        codec().parse_webhook({"x-signature": "0" * 64}, gzip.compress(b"{}")[:-6])


def test_signed_garbage_is_a_protocol_error() -> None:
    body = b"not json"
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    with pytest.raises(ProtocolError):
        codec().parse_webhook({"x-signature": signature}, body)


def test_builtin_events_are_skipped_unless_asked() -> None:
    headers, body = signed({**FRAME, "type": "message.new"})
    assert codec().parse_webhook(headers, body).events == ()
    assert len(codec(builtin_events=True).parse_webhook(headers, body).events) == 1


async def test_receiver_answers_401_for_forgery_and_delivers_nothing() -> None:
    receiver = WebhookReceiver({"stream": codec()})
    subscription = receiver.events()
    headers, body = signed(FRAME)
    status, _ = await receiver.handle("stream", {**headers, "x-signature": "f" * 64}, body)
    assert status == 401 and subscription.queue.empty()
    assert (await receiver.handle("stream", headers, body))[0] == 200
    status, answer = await receiver.handle("stream", {**headers, "x-webhook-attempt": "2"}, body)
    assert status == 200 and answer == {"duplicate": True}
    status, _ = await receiver.handle("stream", {**headers, "x-webhook-id": "new"}, body)
    assert status == 401
    assert subscription.queue.qsize() == 1
    assert receiver.stats["rejected_signature"] == 2 and receiver.stats["duplicates"] == 1


def _signed_bytes(body: bytes, webhook_id: str) -> dict[str, str]:
    signature = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"x-signature": signature, "x-webhook-id": webhook_id, "x-api-key": "key"}


@pytest.mark.parametrize(
    "body",
    [
        b'  \n{"type": "ping", "n": 1}',  # leading whitespace
        b'{"type": "ping", "n": 1}\r\n ',  # trailing whitespace
        b'\xef\xbb\xbf{"type": "ping", "n": 1}',  # a UTF-8 byte order mark
        json.dumps({"type": "ping", "n": 1}).encode("utf-16"),  # another encoding json.loads reads
    ],
)
def test_bodies_json_loads_reads_are_read(body: bytes) -> None:
    (event,) = codec().parse_webhook(_signed_bytes(body, "w1"), body).events
    assert event.name == "ping" and event.data == {"n": 1}


@pytest.mark.parametrize("body", [b'{"type": "ping"} {"type": "pong"}', b'{"type": "ping"', b"\xff{}", b""])
def test_bodies_that_are_not_one_json_value_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        codec().parse_webhook(_signed_bytes(body, "w1"), body)


def test_a_body_first_seen_without_an_id_is_a_replay_under_an_id() -> None:
    c = codec()
    headers, body = signed(FRAME)
    del headers["x-webhook-id"]
    c.parse_webhook(headers, body)
    assert c.parse_webhook(headers, body).dedupe_key.startswith("sha256:")  # a retry without an id passes
    with pytest.raises(SignatureError):
        c.parse_webhook({**headers, "x-webhook-id": "fresh-id"}, body)


def test_the_replay_memory_forgets_the_oldest_body_first() -> None:
    c = codec()
    c._bodies.size = 2
    bodies = [signed({**FRAME, "text": str(n)}, webhook_id=f"id-{n}") for n in range(3)]
    for headers, body in bodies:
        c.parse_webhook(headers, body)
    headers, body = bodies[0]  # evicted: seen as new under a new id
    assert c.parse_webhook({**headers, "x-webhook-id": "other"}, body).dedupe_key == "other"
    headers, body = bodies[2]  # still remembered
    with pytest.raises(SignatureError):
        c.parse_webhook({**headers, "x-webhook-id": "other-2"}, body)
