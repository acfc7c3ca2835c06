"""Fuzz targets: every decoder of peer input and every encoder's validation, with valid seeds.

Each :class:`FuzzTarget` takes one generated input and runs the code a listener or
webhook receiver runs on it, from the raw bytes on. A decoder may refuse input only
with one of eventkit's typed errors (:class:`eventkit.EventkitError`); anything else
(``ValueError``, ``RecursionError``, ``KeyError``, ...) is an unhandled exception, a bug.
There are no per-target exemptions.

Inputs are seeded mutations of valid frames (byte flips, truncations, insertions,
splices, structure-aware JSON edits), so 100k per decoder run in seconds and
reach past the first ``isinstance`` check. ``fuzz/run.py`` drives them at scale;
``tests/reliability/test_rel_fuzz.py`` runs them under hypothesis, bounded.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import attrs

import eventkit
from eventkit import EventkitError

SECRET = "fuzz-secret-0123456789abcdef-0123456789abcdef"
STREAM_KEY = "fuzz-key"
SWML_URL = "https://example.invalid/swml"


@attrs.frozen
class FuzzTarget:
    name: str
    run: Callable[[bytes, random.Random], object]
    seeds: tuple[bytes, ...]
    json: bool = True
    """Whether inputs are JSON text (structure-aware mutations apply)."""


# Seeds: valid wire examples, shaped after the vendors' public docs and sources and the emulators.

AMI_SEEDS = (
    b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: OrderReady\r\nOrderId: 1234\r\n\r\n",
    b"Event: UserEvent\r\nPrivilege: user,all\r\nTimestamp: 1718000000.123456\r\nChannel: PJSIP/a-0001\r\n"
    b"Uniqueid: 1718000000.1\r\nLinkedid: 1718000000.1\r\nUserEvent: Paid\r\nAmount: 49.99\r\n"
    b"Nested: %7B%22a%22%3A%5B1%2C2%5D%7D\r\nActionID: ek-1\r\n\r\n",
    b"Event: UserEvent\nUserEvent: Two\nK: v\nK: w\n\n",
    b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n",
    b"Asterisk Call Manager/9.0.0\r\nEvent: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n",
)

ARI_SEEDS = tuple(
    json.dumps(v).encode()
    for v in (
        {
            "type": "ChannelUserevent",
            "eventname": "OrderReady",
            "application": "ek",
            "asterisk_id": "00:11:22:33:44:55",
            "timestamp": "2024-06-10T12:00:00.123+0000",
            "userevent": {"OrderId": "ORD-1", "Amount": 49.99, "Nested": {"a": [1, 2]}, "Flag": True},
            "channel": {"id": "chan-1", "name": "PJSIP/a-0001", "state": "Up"},
        },
        {
            "type": "ChannelUserevent",
            "eventname": "E",
            "application": "ek",
            "userevent": {"eventname": "E", "k": "v"},
            "endpoint": {"technology": "PJSIP", "resource": "alice"},
        },
        {"type": "StasisStart", "application": "ek", "channel": {"id": "c"}},
    )
)

RELAY_SEEDS = tuple(
    json.dumps(v).encode()
    for v in (
        {
            "jsonrpc": "2.0",
            "id": "7f1c",
            "method": "signalwire.event",
            "params": {
                "event_type": "calling.user_event",
                "event_channel": "signalwire_p",
                "timestamp": 1718000000.5,
                "project_id": "p",
                "node_id": "n",
                "params": {"call_id": "c", "node_id": "n", "event": {"type": "order_ready", "a": [1, {"b": None}]}},
            },
        },
        {
            "jsonrpc": "2.0",
            "id": "1",
            "method": "signalwire.event",
            "params": {"event_type": "user_event", "params": {"type": "browser_evt", "x": 1}},
        },
        {"jsonrpc": "2.0", "id": "2", "method": "signalwire.ping", "params": {}},
        {"jsonrpc": "2.0", "id": "3", "result": {"protocol": "signalwire_x", "identity": "i"}},
        {"jsonrpc": "2.0", "id": "4", "error": {"code": -32002, "message": "Invalid credentials"}},
    )
)

STREAM_EVENT = {
    "type": "friendship_request",
    "text": "hi",
    "cid": "messaging:general",
    "channel_id": "general",
    "channel_type": "messaging",
    "user": {"id": "tommaso", "role": "user"},
    "created_at": "2024-06-10T12:00:00.123456789Z",
}
STREAM_SEEDS = tuple(
    json.dumps(v).encode()
    for v in (
        STREAM_EVENT,
        {"type": "custom_user", "payload": {"n": 1}, "user": {"id": "listener"}, "created_at": "2024-06-10T12:00:00Z"},
        {"type": "message.new", "cid": "messaging:general", "message": {"text": "x"}},
        {"type": "health.check", "connection_id": "c", "cid": "*"},
    )
)

STREAM_FIRST_SEEDS = tuple(
    json.dumps(v).encode()
    for v in (
        {"type": "health.check", "connection_id": "c-1", "cid": "*", "me": {"id": "listener"}},
        {"error": {"code": 43, "message": "signature invalid", "StatusCode": 401}},
        {"error": {"code": 9, "message": "slow down", "StatusCode": 429}},
    )
)

VONAGE_SEEDS = tuple(
    json.dumps(v).encode()
    for v in (
        {
            "type": "custom:order_ready",
            "body": {"order": 1234, "items": ["a", "b"]},
            "conversation_id": "CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b",
            "from": "MEM-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
            "id": 5,
            "timestamp": "2024-06-10T12:00:00.000Z",
            "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        },
        {"type": "member:joined", "body": {}, "conversation_id": "CON-1", "id": 1},
        {"type": "custom:x", "body": "a string body", "id": 2},
    )
)

SWML_SEEDS = tuple(
    json.dumps(v).encode()
    for v in (
        {
            "call": {"call_id": "0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10", "from": "+15550001", "to": "+15550002"},
            "vars": {},
            "envs": {},
            "params": {"order": "1234"},
        },
    )
)


# Mutations


_INTERESTING = (
    b"\x00",
    b"\r\n",
    b"\n\n",
    b"\r\n\r\n",
    b":",
    b'"',
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"{",
    b"[",
    b"]",
    b"}",
    b"null",
    b"true",
    b"1e999",
    b"-0",
    b"NaN",
    b"%",
    b"%ZZ",
    b"%7B",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xf0\x9f\x98\x80",
    b"A" * 300,
    b"[" * 2000,
)


def random_json(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if depth > 4 or roll < 0.5:
        return rng.choice(
            [
                None,
                True,
                False,
                rng.randint(-(2**70), 2**70),
                rng.random() * 10 ** rng.randint(-5, 300),
                "",
                rng.choice(["type", "eventname", "custom:", "custom:x", "health.check", "ChannelUserevent"]),
                "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 8)) if True),
                "x" * rng.randint(0, 2000),
            ]
        )
    if roll < 0.75:
        return [random_json(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["type", "id", "user", "params", "event", "body", "userevent", "channel", "call_id", "from", "cid"]
    return {rng.choice([*keys, str(rng.random())]): random_json(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def _edit_json(rng: random.Random, value: Any) -> Any:
    """Replace, delete or retype one value somewhere inside ``value``."""
    if isinstance(value, dict) and value and rng.random() < 0.8:
        key = rng.choice(list(value))
        out = dict(value)
        roll = rng.random()
        if roll < 0.2:
            del out[key]
        elif roll < 0.5:
            out[key] = random_json(rng)
        else:
            out[key] = _edit_json(rng, value[key])
        return out
    if isinstance(value, list) and value and rng.random() < 0.8:
        out_list = list(value)
        index = rng.randrange(len(out_list))
        out_list[index] = _edit_json(rng, out_list[index])
        return out_list
    return random_json(rng)


def _surrogate_safe_dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=True).encode()


def mutate(rng: random.Random, seed: bytes, seeds: tuple[bytes, ...], structured: bool) -> bytes:
    """One generated input from ``seed``: byte-level or (for JSON) structure-aware edits."""
    if structured and rng.random() < 0.5:
        try:
            value = json.loads(seed)
        except ValueError:
            value = None
        if value is not None:
            for _ in range(rng.randint(1, 3)):
                value = _edit_json(rng, value)
            return _surrogate_safe_dumps(value)
    data = bytearray(seed)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        if op == 0 and data:  # flip a byte
            i = rng.randrange(len(data))
            data[i] = rng.randrange(256)
        elif op == 1 and data:  # truncate
            del data[rng.randrange(len(data)) :]
        elif op == 2:  # insert something interesting
            i = rng.randint(0, len(data))
            data[i:i] = rng.choice(_INTERESTING)
        elif op == 3 and data:  # duplicate a slice
            i = rng.randrange(len(data))
            j = rng.randint(i, min(len(data), i + 64))
            data[i:i] = data[i:j]
        elif op == 4:  # splice with another seed
            other = rng.choice(seeds)
            i, j = rng.randint(0, len(data)), rng.randint(0, len(other))
            data = data[:i] + other[j:]
        else:  # random bytes
            i = rng.randint(0, len(data))
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(data)


def generate(target: FuzzTarget, rng: random.Random) -> bytes:
    roll = rng.random()
    if target.json and roll < 0.1:
        return _surrogate_safe_dumps(random_json(rng))
    if roll < 0.15:
        return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))
    return mutate(rng, rng.choice(target.seeds), target.seeds, target.json)


# Decoders


def _ami(data: bytes, rng: random.Random) -> object:
    from eventkit_asterisk._codec_ami import decode_user_event
    from eventkit_asterisk._frames import AmiFrame, AmiParser

    parser = AmiParser(expect_banner=data.startswith(b"Asterisk"), max_frame_bytes=4096)
    out = []
    # Feed in random chunks: frames split across reads are the common case on a socket.
    i = 0
    while i < len(data):
        j = i + rng.randint(1, 64)
        for frame in parser.feed(data[i:j]):
            if isinstance(frame, AmiFrame):
                out.append(decode_user_event(frame))
        i = j
    return out


def _ari(data: bytes, rng: random.Random) -> object:
    from eventkit_asterisk._codec_ari import decode_ari_frame

    # websockets hands a listener str for text frames and bytes for binary ones.
    return decode_ari_frame(data.decode("utf-8", "replace") if rng.random() < 0.5 else data)


def _relay(data: bytes, rng: random.Random) -> object:
    from eventkit_signalwire._codec_relay import decode_user_event, is_user_event, parse_frame

    frame = parse_frame(data)
    if frame.is_request and frame.method == "signalwire.event" and is_user_event(frame.params):
        return decode_user_event(frame.params, "type", raw=frame.raw, frame_id=frame.id)
    return frame


def _stream_ws(data: bytes, rng: random.Random) -> object:
    from eventkit_stream._wire import decode_frame

    return decode_frame(data, source="stream:ws:listener", user="listener")


def _stream_ws_first(data: bytes, rng: random.Random) -> object:
    from eventkit_stream._codec import connection_id

    return connection_id(data if rng.random() < 0.5 else data.decode("utf-8", "replace"))


@functools.cache
def _kit(provider: str) -> eventkit.Client:
    if provider == "stream":
        return eventkit.connect("stream", api_key=STREAM_KEY, api_secret=SECRET, environ={})
    if provider == "vonage":
        return eventkit.connect(
            "vonage",
            application_id="aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            private_key=_private_key(),
            signature_secret=SECRET,
            environ={},
        )
    if provider == "signalwire":
        return eventkit.connect(
            "signalwire", project_id="p", api_token=SECRET, base_url="http://127.0.0.1:9", environ={}
        )
    if provider == "asterisk-ami":
        return eventkit.connect("asterisk", host="127.0.0.1", username="app", secret=SECRET, environ={})
    if provider == "asterisk-ari":
        return eventkit.connect(
            "asterisk", ari_url="http://127.0.0.1:8088", ari_username="u", ari_password=SECRET, environ={}
        )
    raise KeyError(provider)


@functools.cache
def _private_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _fuzz_headers(rng: random.Random, headers: dict[str, str]) -> dict[str, str]:
    """Usually the right headers; sometimes one dropped, garbled or oversized."""
    roll = rng.random()
    if roll < 0.6 or not headers:
        return headers
    out = dict(headers)
    key = rng.choice(list(out))
    if roll < 0.7:
        del out[key]
    elif roll < 0.9:
        value = bytearray(out[key].encode())
        if value:
            value[rng.randrange(len(value))] = rng.randrange(32, 127)
        out[key] = value.decode("latin-1")
    else:
        out[key] = rng.choice(["", " ", "\x00", "x" * 10000, "Bearer", "Bearer ", "Bearer a.b.c", "1e309"])
    return out


def _stream_webhook(data: bytes, rng: random.Random) -> object:
    codec = _kit("stream").provider.webhook_codec()
    assert codec is not None
    if rng.random() < 0.2:
        import gzip

        data = gzip.compress(data)
    signature = hmac.new(SECRET.encode(), data, hashlib.sha256).hexdigest()
    headers = {
        "x-signature": signature,
        "x-api-key": STREAM_KEY,
        "x-webhook-id": str(uuid.UUID(int=rng.getrandbits(128))),
        "x-webhook-attempt": "1",
        "content-type": "application/json",
    }
    return codec.parse_webhook(_fuzz_headers(rng, headers), data)


def _vonage_webhook(data: bytes, rng: random.Random) -> object:
    import jwt

    codec = _kit("vonage").provider.webhook_codec()
    assert codec is not None
    claims: dict[str, Any] = {
        "iat": int(time.time()) - rng.choice([0, 1, 10, 100000, -100000]),
        "jti": str(uuid.UUID(int=rng.getrandbits(128))),
        "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
        "payload_hash": hashlib.sha256(data).hexdigest(),
    }
    if rng.random() < 0.2:
        key = rng.choice(list(claims))
        claims[key] = random_json(rng)
    headers = {"authorization": "Bearer " + jwt.encode(claims, SECRET, algorithm="HS256")}
    return codec.parse_webhook(_fuzz_headers(rng, headers), data)


def _swml_fetch(data: bytes, rng: random.Random) -> object:
    from eventkit_signalwire._swml_app import parse_fetch, signature, verify_signature

    headers = {
        "x-signalwire-signature": signature(SECRET, SWML_URL, data),
        "x-signalwire-sha256-signature": signature(SECRET, SWML_URL, data, "sha256"),
    }
    headers = _fuzz_headers(rng, headers)
    verify_signature(SECRET, SWML_URL, data, headers)
    return parse_fetch(data, SWML_URL, headers)


# Encoders' validation: caller input, so everything must be a typed error before the wire.

_TARGETS = {
    "stream": ["channel:messaging:general", "user:tommaso", "channel:messaging:", "user:", "channel:a:b:c"],
    "vonage": ["conversation:CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b", "conversation:", "conversation:CON-x/../y"],
    "signalwire": ["call:0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10", "call:not-a-uuid", "call:"],
    "asterisk-ami": ["ami", "ami?source=channel:chan-1", "ami:x"],
    "asterisk-ari": ["app:ek", "app:ek?source=channel:chan-1", "app:", "app:ek?source=bogus:1", "app:a/b"],
}


def _validate(provider: str) -> Callable[[bytes, random.Random], object]:
    def run(data: bytes, rng: random.Random) -> object:
        kit = _kit(provider)
        try:
            value = json.loads(data)
        except (ValueError, RecursionError):  # the harness's own parse: not the code under test
            value = data.decode("utf-8", "replace")
        name = value if isinstance(value, str) else rng.choice(["OrderReady", "", "a" * 300, "x\r\ny", "a/b"])
        payload = value if isinstance(value, dict) else {"value": value}
        target = rng.choice([*_TARGETS[provider], data.decode("utf-8", "replace")[:80]])
        sender = rng.choice([None, "bot", "", "a\nb", "x" * 500])
        event = kit.make_event(name, payload, to=target, sender=sender)
        parsed = kit.prepare(event)
        codec = kit.provider.codec()
        encode = getattr(codec, "encode", None)
        return encode(event, parsed) if encode is not None else parsed

    return run


_EVENT_SEEDS = (
    b'{"text": "hi", "n": 1, "nested": {"a": [1, 2, null]}}',
    b'{"OrderId": "1234"}',
    b'"OrderReady"',
    b'{"type": "collides", "eventname": "x", "user": {"id": "u"}}',
    b"{}",
)


# HTTP answers: what a platform (or a proxy in front of it) answers a send is peer input too.

_SENDS = {
    "stream": ("order_ready", {"a": 1}, "channel:messaging:general", "bot"),
    "vonage": ("order_ready", {"a": 1}, "conversation:CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b", None),
    "signalwire": ("order_ready", {"a": 1}, "call:0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10", None),
    "asterisk-ari": ("OrderReady", {"a": 1}, "app:ek", None),
}
_STATUSES = (200, 201, 204, 400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503)

ANSWER_SEEDS = tuple(
    json.dumps(v).encode()
    for v in (
        {"event": {"type": "order_ready", "cid": "messaging:general", "created_at": "2024-06-10T12:00:00Z"}},
        {"duration": "0.12ms"},
        {"code": 4, "message": "bad input", "StatusCode": 400, "exception_fields": {"type": "required"}},
        {"code": 9, "message": "Too many requests", "StatusCode": 429, "unrecoverable": False},
        {"id": 5, "type": "custom:order_ready", "timestamp": "2024-06-10T12:00:00.000Z", "_links": {"self": {}}},
        {"type": "https://developer.vonage.com/api-errors#bad-request", "title": "Bad request", "detail": "x"},
        {"id": "0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10", "status": "answered", "type": "phone"},
        {"errors": [{"code": "invalid_parameter", "message": "bad", "attribute": "params"}]},
        {"message": "Application not found"},
    )
)


@functools.cache
def _request(provider: str) -> tuple[Any, Any]:
    kit = _kit(provider)
    name, data, to, sender = _SENDS[provider]
    event = kit.make_event(name, data, to=to, sender=sender)
    target = kit.prepare(event)
    if provider == "asterisk-ari":
        from eventkit_asterisk import AriCodec

        codec: Any = AriCodec(kit.provider.settings)
    else:
        codec = kit.provider.codec()
    return codec, codec.encode(event, target)


def _answers(provider: str) -> Callable[[bytes, random.Random], object]:
    def run(data: bytes, rng: random.Random) -> object:
        from eventkit.provider import HttpResponse

        codec, request = _request(provider)
        status = rng.choice([*_STATUSES, rng.randint(100, 599)])
        headers = {"content-type": "application/json", "retry-after": "2", "x-ratelimit-reset": "1718000000"}
        return codec.parse_response(request, HttpResponse(status, _fuzz_headers(rng, headers), data))

    return run


def all_targets() -> dict[str, FuzzTarget]:
    targets = [
        FuzzTarget("ami_frames", _ami, AMI_SEEDS, json=False),
        FuzzTarget("ari_frames", _ari, ARI_SEEDS),
        FuzzTarget("relay_frames", _relay, RELAY_SEEDS),
        FuzzTarget("stream_ws_frames", _stream_ws, STREAM_SEEDS),
        FuzzTarget("stream_ws_first_frame", _stream_ws_first, STREAM_FIRST_SEEDS),
        FuzzTarget("stream_webhooks", _stream_webhook, STREAM_SEEDS),
        FuzzTarget("vonage_webhooks", _vonage_webhook, VONAGE_SEEDS),
        FuzzTarget("signalwire_swml_fetch", _swml_fetch, SWML_SEEDS),
    ]
    for provider in _SENDS:
        targets.append(FuzzTarget(f"answers_{provider}", _answers(provider), ANSWER_SEEDS))
    for provider in _TARGETS:
        targets.append(FuzzTarget(f"validate_{provider}", _validate(provider), _EVENT_SEEDS))
    return {t.name: t for t in targets}


def run_one(target: FuzzTarget, data: bytes, rng: random.Random) -> BaseException | None:
    """``None`` when the input was handled (decoded, or refused with a typed eventkit error); else the exception."""
    try:
        target.run(data, rng)
    except EventkitError:
        return None
    except Exception as exc:  # the point: anything else is a finding
        return exc
    return None
