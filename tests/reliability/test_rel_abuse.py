"""Abuse: header and path injection, oversize payloads, forged and replayed webhooks, leaked secrets."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.parse
import uuid
from typing import Any

import jwt
import pytest
from rel_support import VONAGE_APP, rsa_pair

import eventkit
from eventkit import EventkitError, WebhookReceiver

SECRET = "abuse-secret-0123456789abcdef-VALUE"
STREAM_KEY = "abuse-key"


def stream_kit(**extra: Any) -> eventkit.Client:
    return eventkit.connect("stream", api_key=STREAM_KEY, api_secret=SECRET, environ={}, **extra)


def vonage_kit(**extra: Any) -> eventkit.Client:
    private, _ = rsa_pair()
    settings = {"application_id": VONAGE_APP, "private_key": private, "signature_secret": SECRET, "environ": {}}
    return eventkit.connect("vonage", **{**settings, **extra})


def ami_kit(**extra: Any) -> eventkit.Client:
    return eventkit.connect("asterisk", host="127.0.0.1", port=9, username="app", secret=SECRET, environ={}, **extra)


# AMI header injection: a caller's name or key must never become a second header or action.


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("Bad\r\nAction: Logoff", {}),
        ("Bad\nAction: Logoff", {}),
        ("Nul\x00Name", {}),
        ("Ok", {"Key\r\nAction: Originate": "v"}),
        ("Ok", {"Key: Colon": "v"}),
        ("Ok", {"Key\x00": "v"}),
        ("Ok", {"Key": "value\r\nAction: Logoff"}),
        ("Ok", {"": "empty key"}),
    ],
)
def test_ami_header_injection_is_refused_before_the_wire(name: str, data: dict[str, Any]) -> None:
    with ami_kit() as kit:
        assert kit.validate(name, data, to="ami"), f"{name!r} {data!r} passed validation"


# Path injection: an id is one path segment, or a validation error, never a new path or query.


@pytest.mark.parametrize("evil", ["a/b", "..", "../x", "a%2Fb", "a?x=1", "a#frag", "%2e%2e"])
@pytest.mark.parametrize(
    ("make", "to", "base_segments"),
    [
        (stream_kit, "channel:messaging:{}", ["channels", "messaging", None, "event"]),
        (stream_kit, "user:{}", ["users", None, "event"]),
        (vonage_kit, "conversation:CON-{}", ["v1", "conversations", None, "events"]),
    ],
)
def test_ids_cannot_escape_their_path_segment(make: Any, to: str, base_segments: list[Any], evil: str) -> None:
    with make() as kit:
        event = kit.make_event("x", {"k": "v"}, to=to.format(evil), sender="bot")
        try:
            target = kit.prepare(event)
        except EventkitError:
            return  # refused: fine
        request = kit.provider.codec().encode(event, target)
    parts = urllib.parse.urlsplit(request.url)
    segments = parts.path.strip("/").split("/")
    assert len(segments) == len(base_segments), request.url
    assert not parts.fragment and "x=1" not in parts.query, request.url
    for got, want in zip(segments, base_segments, strict=True):
        assert want is None or got == want, request.url
    assert ".." not in segments and "." not in segments


def test_ari_and_signalwire_ids_cannot_escape() -> None:
    with eventkit.connect(
        "asterisk", ari_url="http://127.0.0.1:9", ari_username="u", ari_password=SECRET, environ={}
    ) as kit:
        for evil in ("a/b", "..", "a?x=1", "a#f"):
            event = kit.make_event(f"Name{evil}", {}, to=f"app:{evil}")
            try:
                target = kit.prepare(event)
            except EventkitError:
                continue
            from eventkit_asterisk._codec_ari import AriCodec

            url = urllib.parse.urlsplit(AriCodec(kit.provider.settings).encode(event, target).url)
            assert url.path.count("/") == 4 and not url.fragment, url
    with eventkit.connect(
        "signalwire", project_id="p", api_token=SECRET, base_url="http://127.0.0.1:9", environ={}
    ) as kit:
        for evil in ("a/b", "..", "a?x=1", "a#f", "%2F"):
            assert kit.validate("x", {}, to=f"call:{evil}")


# Oversize payloads are refused before anything is sent.


@pytest.mark.parametrize(
    ("make", "to"),
    [
        (stream_kit, "channel:messaging:general"),
        (vonage_kit, "conversation:CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b"),
        (ami_kit, "ami"),
    ],
)
def test_oversize_payloads_are_refused(make: Any, to: str) -> None:
    with make() as kit:
        violations = kit.validate("big", {"blob": "x" * 5_000_000}, to=to, sender="bot")
    assert violations


# Webhooks: forgery, replay and oversize bodies refused before parsing.


def _stream_headers(body: bytes, webhook_id: str | None = None) -> dict[str, str]:
    return {
        "x-signature": hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
        "x-api-key": STREAM_KEY,
        "x-webhook-id": webhook_id or str(uuid.uuid4()),
    }


async def test_stream_webhook_forgery_replay_and_oversize() -> None:
    with stream_kit(max_webhook_bytes=4096) as kit:
        receiver = WebhookReceiver([kit.provider])
        body = json.dumps({"type": "order_ready", "n": 1, "user": {"id": "u"}}).encode()
        headers = _stream_headers(body)
        assert (await receiver.handle("stream", headers, body))[0] == 200
        # Forged: right body, wrong key.
        forged = {**headers, "x-signature": hmac.new(b"guess", body, hashlib.sha256).hexdigest()}
        assert (await receiver.handle("stream", forged, body))[0] == 401
        # Replayed under the same X-Webhook-Id: acknowledged, not delivered again.
        assert await receiver.handle("stream", headers, body) == (200, {"duplicate": True})
        # Replayed under a fresh X-Webhook-Id: refused as a replay of a seen body.
        assert (await receiver.handle("stream", _stream_headers(body), body))[0] == 401
        # Oversize: refused by size (a JSON bomb is never parsed).
        huge = b'{"type": "x", "pad": "' + b"A" * 10_000 + b'"}'
        assert (await receiver.handle("stream", _stream_headers(huge), huge))[0] in (400, 413)
    assert receiver.stats["events"] == 1


async def test_vonage_webhook_forgery_replay_and_oversize() -> None:
    with vonage_kit() as kit:
        receiver = WebhookReceiver([kit.provider], max_body_bytes=4096)
        body = json.dumps({"type": "custom:order", "body": {"n": 1}, "id": 1}).encode()

        def token(**claims: Any) -> dict[str, str]:
            payload = {
                "iat": int(time.time()),
                "jti": str(uuid.uuid4()),
                "payload_hash": hashlib.sha256(body).hexdigest(),
                **claims,
            }
            return {"authorization": "Bearer " + jwt.encode(payload, claims.pop("key", SECRET), algorithm="HS256")}

        good = token()
        assert (await receiver.handle("vonage", good, body))[0] == 200
        assert await receiver.handle("vonage", good, body) == (200, {"duplicate": True})  # same jti
        assert (await receiver.handle("vonage", token(iat=int(time.time()) - 3600), body))[0] == 401  # stale iat
        forged = {
            "authorization": "Bearer "
            + jwt.encode({"iat": int(time.time())}, "guess-0123456789abcdef-0123456789abcdef", algorithm="HS256")
        }
        assert (await receiver.handle("vonage", forged, body))[0] == 401
        assert (await receiver.handle("vonage", token(payload_hash="0" * 64), body))[0] == 401  # body swapped
        assert (await receiver.handle("vonage", {}, body))[0] == 401  # unsigned
        huge = b'{"type": "custom:x", "body": "' + b"A" * 10_000 + b'"}'
        status, _ = await receiver.handle("vonage", token(), huge)
        assert status in (401, 413)
    assert receiver.stats["events"] == 1


# Secrets: never in reprs, error text, to_dict() or DEBUG logs, even when things fail.


async def test_no_secret_in_reprs_errors_or_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    private, _ = rsa_pair()
    pem_line = private.splitlines()[1]
    secrets = [SECRET, pem_line]
    seen: list[str] = []
    kits = [
        ("stream", {"api_key": STREAM_KEY, "api_secret": SECRET}, "channel:messaging:general"),
        ("vonage", {"application_id": VONAGE_APP, "private_key": private, "signature_secret": SECRET}, None),
        ("signalwire", {"project_id": "p", "api_token": SECRET}, "call:0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10"),
        ("asterisk", {"host": "127.0.0.1", "port": 9, "username": "app", "secret": SECRET}, "ami"),
        ("asterisk", {"ari_url": "http://127.0.0.1:9", "ari_username": "u", "ari_password": SECRET}, "app:ek"),
    ]
    dead = {"base_url": "http://127.0.0.1:9"}
    for name, settings, to in kits:
        extra = dead if name in ("stream", "vonage", "signalwire") else {}
        target = to or "conversation:CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b"
        async with eventkit.connect_async(
            name, environ={}, max_attempts=2, backoff_initial=0.0, timeout=0.5, **settings, **extra
        ) as kit:
            seen += [repr(kit), str(kit), repr(kit.provider), repr(kit.provider.settings)]
            result = (await kit.send_many([{"name": "x", "data": {"k": "v"}}], to=target, sender="bot"))[0]
            assert not result.ok
            assert result.error is not None
            seen += [
                repr(result),
                str(result.error),
                repr(result.error),
                json.dumps(result.error.to_dict(), default=str),
            ]
            try:
                await kit.send("x", {}, to="nonsense:target")
            except EventkitError as exc:
                seen += [str(exc), repr(exc)]
    # A bad secret in the URL form is masked when shown.
    try:
        eventkit.connect(f"ami://app:{SECRET}@127.0.0.1:5038", bogus_setting=1)
    except EventkitError as exc:
        seen.append(str(exc))
    seen += [r.getMessage() for r in caplog.records] + [caplog.text]
    found = [(s, text[:200]) for text in seen for s in secrets if s in text]
    assert not found, found
    assert len(caplog.records) > 0  # DEBUG logging did run


# Every listener and every HTTP engine at DEBUG, every logger captured (websockets, httpx,
# httpcore, aiohttp, urllib3, uvicorn...): no secret, whole or shortened, in any line.


class _Everything(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.loggers: set[str] = set()
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        self.loggers.add(record.name.split(".")[0])


def _scan_sandboxes() -> list[Any]:
    from eventkit_asterisk.testing.sandbox import AriSandbox
    from eventkit_stream.testing.sandbox import StreamSandbox

    class AriApiKey(AriSandbox):
        def settings(self) -> dict[str, Any]:
            base = super().settings()
            user, password = base.pop("ari_username"), base.pop("ari_password")
            return {**base, "ari_api_key": f"{user}:{password}"}

    class StreamWebsocket(StreamSandbox):
        listen_via = "websocket"

        def settings(self) -> dict[str, Any]:
            return {**super().settings(), "listen_user": "listener", "watch": ("messaging:general",)}

        def listen_options(self) -> dict[str, Any]:
            return {}

        def on_listening(self, address: str) -> None:
            return None

    from eventkit.testing.sandbox import SANDBOXES

    return [*SANDBOXES.values(), AriApiKey, StreamWebsocket]


def _secrets_of(settings: dict[str, Any]) -> list[str]:
    import base64

    from eventkit_stream._tokens import user_token

    out = []
    for key in ("api_secret", "api_token", "secret", "ari_password", "signature_secret", "ari_api_key"):
        if settings.get(key):
            out.append(str(settings[key]))
    if settings.get("private_key"):
        out.append(settings["private_key"].splitlines()[1])
    if settings.get("ari_username") and settings.get("ari_password"):
        out.append(base64.b64encode(f"{settings['ari_username']}:{settings['ari_password']}".encode()).decode())
    if settings.get("ari_api_key"):
        out.append(urllib.parse.quote(settings["ari_api_key"], safe=""))
    if settings.get("listen_user"):
        out.append(user_token(settings["api_secret"], settings["listen_user"]).rsplit(".", 1)[1])
    # Whole, and the ends a shortened log line would show.
    return [piece for s in out for piece in (s, s[:12], s[-12:])]


async def test_no_secret_in_any_log_line_of_any_listener_or_engine() -> None:
    from eventkit.testing.sandbox import missing_requirements, round_trip

    handler = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    secrets: list[str] = []
    failures = []
    try:
        for cls in _scan_sandboxes():
            if missing_requirements(cls):
                continue
            sandbox = cls().start()
            try:
                base = sandbox.settings
                secrets += _secrets_of(base())
                for engine in ("httpx", "aiohttp"):  # the async engines, listener included
                    sandbox.settings = lambda base=base, engine=engine: {**base(), "http_engine": engine}
                    trip = await round_trip(sandbox, "scan_event", {"k": "v"}, timeout=10)
                    if trip.error is not None:
                        failures.append((cls.name, engine, repr(trip.error)))
                sandbox.settings = base
                with sandbox.connect(http_engine="stdlib") as kit:  # the sync engine
                    result = kit.send_many(
                        [{"name": "scan_event", "data": {"k": "v"}}], to=cls.target, sender=cls.sender
                    )
                    error = result[0].error
                    if error is not None and not isinstance(error, eventkit.SettingsError):  # no sync HTTP there
                        failures.append((cls.name, "stdlib", repr(error)))
            finally:
                sandbox.close()
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert not failures, failures  # every path really ran
    assert {"websockets", "httpx", "httpcore", "eventkit"} <= handler.loggers, handler.loggers
    found = [(s, line[:300]) for line in handler.lines for s in set(secrets) if s in line]
    assert not found, found[:5]
