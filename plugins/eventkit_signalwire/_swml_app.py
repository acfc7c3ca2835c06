"""The SWML fetch handler: an ASGI app that answers SignalWire's fetch with a document.

SignalWire POSTs ``{"call", "vars", "envs", "params"}`` (JSON) to the URL set as
a phone number's or resource's SWML handler and runs the SWML it gets back.
With a signing key set, every fetch must carry ``X-Signalwire-Signature``: hex
HMAC-SHA1 of ``url + raw body`` under the project's signing key (and, when sent,
``X-Signalwire-SHA256-Signature``, the same with SHA-256). Anything unsigned or
mis-signed gets a 401 and never reaches the callback.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import json
import logging
from typing import Any, Awaitable, Callable, Iterable, Mapping, Union

import attrs

from eventkit.provider import (
    BodyTooLargeError,
    Counters,
    Event,
    EventkitError,
    JSONObject,
    ProtocolError,
    Secret,
    SignatureError,
    ValidationError,
    answer,
    read_body,
)

from ._wire import PROVIDER
from .swml import Format, render, swml_document, swml_violations

log = logging.getLogger("eventkit.signalwire.swml")

SIGNATURE_HEADER = "x-signalwire-signature"
SHA256_SIGNATURE_HEADER = "x-signalwire-sha256-signature"
_FETCH_KEYS = ("call", "vars", "envs", "params")

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


@attrs.frozen
class SwmlFetch:
    """One verified fetch: what SignalWire says about the call, for the callback to answer."""

    call: JSONObject
    vars: JSONObject
    envs: JSONObject
    params: JSONObject
    url: str
    headers: Mapping[str, str] = attrs.field(repr=False)

    @property
    def call_id(self) -> str | None:
        value = self.call.get("call_id")
        return value if isinstance(value, str) else None


Answer = Union[JSONObject, Iterable[Union[Event, Mapping[str, Any]]]]
"""A whole SWML document (a mapping with ``sections``) or events to fire as ``user_event`` verbs."""
Builder = Callable[[SwmlFetch], Union[Answer, Awaitable[Answer]]]


def signature(key: str, url: str, body: bytes, algorithm: str = "sha1") -> str:
    """SignalWire's request signature: hex HMAC of ``url + raw body`` under the signing key."""
    return hmac.new(key.encode(), url.encode() + body, getattr(hashlib, algorithm)).hexdigest()


def verify_signature(
    key: Secret | str, url: str, body: bytes, headers: Mapping[str, str], *, require_sha256: bool = False
) -> None:
    """Raise :class:`SignatureError` unless the fetch is signed by ``key``.

    ``X-Signalwire-Signature`` (HMAC-SHA1) is always required; an
    ``X-Signalwire-SHA256-Signature`` must verify when present, and must be
    present when ``require_sha256`` is set.
    """
    secret = key.reveal() if isinstance(key, Secret) else key
    given = headers.get(SIGNATURE_HEADER)
    if not given:
        raise SignatureError("SWML fetch is not signed (no X-Signalwire-Signature)", provider=PROVIDER)
    if not hmac.compare_digest(given.strip().lower().encode(), signature(secret, url, body).encode()):
        raise SignatureError("X-Signalwire-Signature does not match", provider=PROVIDER)
    given256 = headers.get(SHA256_SIGNATURE_HEADER)
    if given256 is None and require_sha256:
        raise SignatureError("SWML fetch has no X-Signalwire-SHA256-Signature", provider=PROVIDER)
    if given256 is not None and not hmac.compare_digest(
        given256.strip().lower().encode(), signature(secret, url, body, "sha256").encode()
    ):
        raise SignatureError("X-Signalwire-SHA256-Signature does not match", provider=PROVIDER)


def parse_fetch(body: bytes, url: str, headers: Mapping[str, str]) -> SwmlFetch:
    """The fetch body; all four keys are required objects (SignalWire's webhook schema)."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ProtocolError("SWML fetch body is not JSON", provider=PROVIDER) from None
    if not isinstance(value, dict):
        raise ProtocolError("SWML fetch body is not a JSON object", provider=PROVIDER)
    missing = [k for k in _FETCH_KEYS if not isinstance(value.get(k), dict)]
    if missing:
        raise ProtocolError(f"SWML fetch lacks object(s) {', '.join(missing)}", provider=PROVIDER)
    return SwmlFetch(value["call"], value["vars"], value["envs"], value["params"], url, headers)


class SwmlFetchApp:
    """ASGI app answering every POST with the SWML document ``build`` returns.

    ``public_url`` is the exact URL configured at SignalWire (what it signs);
    without it the URL is rebuilt from the request (scheme, ``Host``, path,
    query), which is wrong behind a proxy that rewrites any of them.
    """

    def __init__(
        self,
        build: Builder,
        *,
        signing_key: Secret | str | None = None,
        public_url: str | None = None,
        format: Format = "json",
        name_key: str = "type",
        require_sha256: bool = False,
        max_body_bytes: int = 1 << 20,
    ) -> None:
        self.build = build
        self.signing_key = Secret(signing_key) if isinstance(signing_key, str) else signing_key
        self.public_url = public_url
        self.format: Format = format
        self.name_key = name_key
        self.require_sha256 = require_sha256
        self.max_body_bytes = max_body_bytes
        self.stats = Counters()

    def __repr__(self) -> str:
        return f"<SwmlFetchApp signed={self.signing_key is not None} format={self.format}>"

    def request_url(self, scope: Scope, headers: Mapping[str, str]) -> str:
        if self.public_url:
            return self.public_url
        host = headers.get("host") or "localhost"
        path = scope.get("raw_path") or scope.get("path", "/").encode()
        url = f"{scope.get('scheme', 'http')}://{host}{path.decode('latin-1')}"
        query = scope.get("query_string") or b""
        return f"{url}?{query.decode('latin-1')}" if query else url

    async def handle(self, url: str, headers: Mapping[str, str], body: bytes) -> tuple[int, str, bytes]:
        """Verify, parse, build and render: ``(status, content type, body)``, independent of ASGI."""
        try:
            if self.signing_key is not None:
                verify_signature(self.signing_key, url, body, headers, require_sha256=self.require_sha256)
            fetch = parse_fetch(body, url, headers)
        except SignatureError as exc:
            self.stats.incr("rejected_signature")
            log.info("SWML fetch refused: %s", exc.message)
            return 401, "application/json", b'{"error":"Unauthorized"}'
        except EventkitError as exc:
            self.stats.incr("rejected_malformed")
            return 400, "application/json", json.dumps({"error": exc.message}).encode()
        try:
            answer = self.build(fetch)
            if inspect.isawaitable(answer):
                answer = await answer
            document = self._document(answer)
        except ValidationError as exc:
            self.stats.incr("errors")
            log.warning("SWML builder produced an invalid document: %s", exc.message)
            return 500, "application/json", b'{"error":"Internal Server Error"}'
        except Exception:  # a user callback bug must not take the server down
            self.stats.incr("errors")
            log.exception("SWML builder failed")
            return 500, "application/json", b'{"error":"Internal Server Error"}'
        self.stats.incr("answered")
        content_type = "application/json" if self.format == "json" else "application/yaml"
        return 200, content_type, render(document, self.format).encode()

    def _document(self, answer: Any) -> JSONObject:
        if isinstance(answer, Mapping) and "sections" in answer:
            violations = swml_violations(answer)
            if violations:
                raise ValidationError(violations=violations, provider=PROVIDER)
            return dict(answer)
        if isinstance(answer, (Mapping, Event)):
            answer = [answer]
        return swml_document(answer, name_key=self.name_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        if scope.get("method") != "POST":
            await _respond(send, 405, "application/json", b'{"error":"Method Not Allowed"}', allow=True)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            self.stats.incr("rejected_size")
            await _respond(send, 413, "application/json", b'{"error":"Payload Too Large"}')
            return
        try:
            request_body = await read_body(receive, self.max_body_bytes)
        except BodyTooLargeError:
            self.stats.incr("rejected_size")
            await _respond(send, 413, "application/json", b'{"error":"Payload Too Large"}')
            return
        if request_body is None:
            return
        status, content_type, body = await self.handle(self.request_url(scope, headers), headers, request_body)
        await _respond(send, status, content_type, body)


async def _respond(send: Send, status: int, content_type: str, body: bytes, allow: bool = False) -> None:
    await answer(send, status, body, content_type=content_type, headers=[(b"allow", b"POST")] if allow else ())
