"""A loopback Vonage Conversation API: custom events in, signed RTC webhooks out.

Written from Vonage's public documentation and SDK sources (the create-custom-event page,
the signed-webhook pages, the OpenAPI files in Nexmo/api-specification; see
docs/providers/vonage.md), not from the eventkit plugin, so integration tests check the plugin against an independent
reading of the wire:

* ``POST /v1/conversations/{id}/events`` with ``Authorization: Bearer <JWT>``;
  the JWT must be RS256, verify with the application's public key and carry
  ``application_id``, ``iat``, ``jti`` and ``exp`` (lifetime at most 24 h).
* ``type`` must be ``custom:`` + letters, digits, ``-``, ``_``, ``:``, at most
  100 characters in all; ``body`` a JSON object of at most 4096 bytes as UTF-8
  compact JSON; ``from`` required when the token has a ``sub``.
* Errors are shaped as Vonage's (``title``, ``type``, ``code``, ``detail``,
  ``instance``, ``invalid_parameters``). The status for a bad type or an oversize
  body is unconfirmed; the emulator answers 400 ``http:error:validation-fail``.
* A stored event answers 201 with the full event object, then is posted to
  ``webhook_url`` as an RTC event, signed with an HS256 JWT (``iat``, ``jti``,
  ``payload_hash`` = hex SHA-256 of the exact body) when a signature secret is set.
* ``GET /v1/conversations/{id}/events`` lists what was stored (for tests).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import itertools
import json
import re
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Mapping

from eventkit.testing import AsgiServer, HostedEmulator, answer, read_body, refuse_on_running_loop
from eventkit.testing.faults import FaultPlan, wrap

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

_EVENTS_PATH = re.compile(r"/v1/conversations/([^/]+)/events\Z")
_TYPE = re.compile(r"custom:[A-Za-z0-9_:-]+\Z")
MAX_TYPE_LENGTH = 100
MAX_BODY_BYTES = 4096
MAX_TOKEN_LIFETIME = 24 * 3600

# Status -> (code, title, detail). Codes for 400/401/404/409/500 are the OAS v0.3 ones;
# the others are not documented and are marked as the emulator's own.
ERRORS: dict[int, tuple[str, str, str]] = {
    400: ("http:error:validation-fail", "Bad request.", "Input validation failure."),
    401: (
        "system:error:invalid-token",
        "Invalid Token",
        "You did not provide a valid token. Please provide a valid token.",
    ),
    403: ("http:error:forbidden", "Forbidden", "You do not have access to this resource. (emulator code)"),
    404: (
        "conversation:error:not-found",
        "Conversation not found.",
        "Conversation does not exist, or you do not have access.",
    ),
    409: ("conversation:error:duplicate-name", "Conflict.", "The request conflicts with the conversation's state."),
    413: ("http:error:too-large", "Payload too large.", "The request body is too large. (emulator code)"),
    429: ("http:error:too-many-request", "Too Many Requests.", "Rate limit hit. (emulator code)"),
    500: ("system:error:internal-error", "Internal Error.", "There was an error processing your request."),
    503: ("system:error:unavailable", "Service Unavailable.", "Try again later. (emulator code)"),
}


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def compact_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def error_body(status: int, invalid_parameters: list[dict[str, str]] | None = None) -> dict[str, Any]:
    code, title, detail = ERRORS.get(status, (f"http:error:{status}", f"HTTP {status}", "Emulated failure."))
    body: dict[str, Any] = {
        "title": title,
        "type": f"https://developer.nexmo.com/api/conversation#{code}",
        "code": code,
        "detail": detail,
        "instance": uuid.uuid4().hex,
    }
    if invalid_parameters:
        body["invalid_parameters"] = invalid_parameters
    return body


class _Refused(Exception):
    def __init__(self, status: int, invalid: list[dict[str, str]] | None = None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.status = status
        self.invalid = invalid
        self.headers = headers or {}


class VonageEmulator(HostedEmulator):
    """The Conversation API for one application, on 127.0.0.1; ``with VonageEmulator(...) as vonage:``."""

    def __init__(
        self,
        *,
        public_key: str | bytes,
        application_id: str,
        signature_secret: str | None = None,
        webhook_url: str | None = None,
        auto_create: bool = True,
        api_key: str = "emulator-api-key",
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        self.public_key = public_key.encode() if isinstance(public_key, str) else public_key
        self.application_id = application_id
        self.signature_secret = signature_secret
        self.webhook_url = webhook_url
        """Where stored events are posted as RTC webhooks (the application's ``event_url``)."""
        self.auto_create = auto_create
        self.api_key = api_key
        self.requests = 0
        """Create-event requests that reached the emulator, refused ones included."""
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.conversations: set[str] = set()
        self.tokens_seen: list[dict[str, Any]] = []
        self.webhook_results: list[int | str] = []
        self._webhook_ids = itertools.count(1_000_000)
        """Event ids for bodies built by :meth:`custom_webhook_body` (apart from stored events' ids)."""
        """HTTP status of each webhook post, or the error's class name."""
        self._faults: collections.deque[tuple[int, float | None]] = collections.deque()
        self._lock = threading.Lock()
        self._outbox: asyncio.Queue[bytes] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._client: Any = None
        self.faults = faults
        """Seeded faults on create-event requests (:mod:`.faults`); stored events are recorded there."""
        self.server = AsgiServer(wrap(self, faults, _is_send), host, port)

    # Lifecycle: HostedEmulator's, and the webhook worker stops on close.

    def close(self) -> None:
        if self.server.running:
            self.server.run(self._stop_worker())
        self.server.close()

    # Test controls

    def create_conversation(self, conversation_id: str | None = None) -> str:
        cid = conversation_id or f"CON-{uuid.uuid4()}"
        with self._lock:
            self.conversations.add(cid)
        return cid

    def fail_next(self, status: int, retry_after: float | None = None, *, times: int = 1) -> None:
        """Answer the next ``times`` create-event requests with this Vonage-shaped error."""
        for _ in range(times):
            self._faults.append((status, retry_after))

    def sign_webhook(self, body: bytes, *, secret: str | None = None, **claims: Any) -> dict[str, str]:
        """Headers of a signed RTC webhook for ``body`` (tests use it to forge variants)."""
        import jwt

        payload = {
            "iat": int(time.time()),
            "jti": str(uuid.uuid4()),
            "application_id": self.application_id,
            "api_key": self.api_key,
            "payload_hash": hashlib.sha256(body).hexdigest(),
            **claims,
        }
        key = secret if secret is not None else self.signature_secret
        if key is None:
            raise ValueError("no signature secret to sign with")
        return {"Authorization": f"Bearer {jwt.encode(payload, key, algorithm='HS256')}"}

    def custom_webhook_body(
        self, name: str, body: Mapping[str, Any], conversation_id: str, sender: str | None = None
    ) -> bytes:
        """The RTC webhook body this emulator posts for a ``custom:<name>`` event (nothing is sent)."""
        webhook: dict[str, Any] = {
            "type": f"custom:{name}",
            "id": next(self._webhook_ids),
            "conversation_id": conversation_id,
        }
        if sender is not None:
            webhook["from"] = sender
        webhook["application_id"] = self.application_id
        webhook["timestamp"] = now_iso()
        webhook["body"] = dict(body)
        if sender is not None:
            webhook["_embedded"] = {"from_member": {"id": sender}}
        return compact_json(webhook)

    def wait_webhooks(self, count: int, timeout: float = 5.0) -> list[int | str]:
        """Block until ``count`` webhook posts finished (or the timeout); their results.

        From async code (whose loop may serve the receiver the posts go to) this raises
        ``BlockingControlError``: use :meth:`wait_webhooks_async`.
        """
        refuse_on_running_loop(None, "wait_webhooks_async")
        deadline = time.monotonic() + timeout
        while len(self.webhook_results) < count and time.monotonic() < deadline:
            time.sleep(0.005)
        return list(self.webhook_results)

    async def wait_webhooks_async(self, count: int, timeout: float = 5.0) -> list[int | str]:
        """:meth:`wait_webhooks` without blocking the caller's loop."""
        deadline = time.monotonic() + timeout
        while len(self.webhook_results) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        return list(self.webhook_results)

    # ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        if body is None:
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        try:
            status, answer = await self._route(scope.get("method", ""), scope.get("path", ""), headers, body)
            extra: dict[str, str] = {}
        except _Refused as refused:
            status, answer, extra = refused.status, error_body(refused.status, refused.invalid), refused.headers
        await _respond(send, status, answer, extra)

    async def _route(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, Any]:
        match = _EVENTS_PATH.match(path)
        if match is None:
            raise _Refused(404)
        cid = match.group(1)
        if method == "GET":
            self._authenticate(headers)
            self._conversation(cid)
            return 200, {"_embedded": {"events": list(self.events.get(cid, []))}}
        if method != "POST":
            raise _Refused(405)
        with self._lock:
            self.requests += 1
        if self._faults:
            status, retry_after = self._faults.popleft()
            raise _Refused(status, headers={} if retry_after is None else {"retry-after": f"{retry_after:g}"})
        claims = self._authenticate(headers)
        self._conversation(cid)
        request = _parse_json(body)
        event = self._store(cid, request, claims)
        await self._dispatch(cid, event)
        return 201, event

    def _authenticate(self, headers: Mapping[str, str]) -> dict[str, Any]:
        import jwt

        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise _Refused(401)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.public_key,
                algorithms=["RS256"],
                options={"require": ["application_id", "iat", "jti", "exp"]},
            )
        except jwt.InvalidTokenError:
            raise _Refused(401) from None
        if claims["application_id"] != self.application_id or claims["exp"] - claims["iat"] > MAX_TOKEN_LIFETIME:
            raise _Refused(401)
        self.tokens_seen.append(claims)
        return claims

    def _conversation(self, cid: str) -> None:
        with self._lock:
            if cid not in self.conversations:
                if not self.auto_create or not cid.startswith("CON-"):
                    raise _Refused(404)
                self.conversations.add(cid)

    def _store(self, cid: str, request: Any, claims: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise _Refused(400, [{"name": "body", "reason": "the request must be a JSON object"}])
        invalid = []
        kind = request.get("type")
        if not isinstance(kind, str) or not _TYPE.match(kind):
            invalid.append({"name": "type", "reason": '"type" must be custom: followed by [A-Za-z0-9_:-]'})
        elif len(kind) > MAX_TYPE_LENGTH:
            invalid.append({"name": "type", "reason": f'"type" must be at most {MAX_TYPE_LENGTH} characters'})
        payload = request.get("body", {})
        if not isinstance(payload, dict):
            invalid.append({"name": "body", "reason": '"body" must be an object'})
        elif len(compact_json(payload)) > MAX_BODY_BYTES:
            invalid.append({"name": "body", "reason": f'"body" must be at most {MAX_BODY_BYTES} bytes'})
        sender = request.get("from")
        if sender is not None and not isinstance(sender, str):
            invalid.append({"name": "from", "reason": '"from" must be a member id'})
        if sender is None and "sub" in claims:
            invalid.append({"name": "from", "reason": '"from" is required with a user token'})
        if invalid:
            raise _Refused(400, invalid)
        with self._lock:
            stored = self.events.setdefault(cid, [])
            event: dict[str, Any] = {"id": len(stored) + 1, "type": kind}
            if sender is not None:
                event["from"] = sender
            event["body"] = payload
            event["timestamp"] = now_iso()
            if sender is not None:
                event["_embedded"] = {"from_member": {"id": sender}}
            event["_links"] = {"self": {"href": f"{self.url}/v1/conversations/{cid}/events/{event['id']}"}}
            stored.append(event)
        return event

    # RTC webhooks, posted in order by one worker on the server's loop

    async def _dispatch(self, cid: str, event: Mapping[str, Any]) -> None:
        webhook: dict[str, Any] = {"type": event["type"], "id": event["id"], "conversation_id": cid}
        if "from" in event:
            webhook["from"] = event["from"]
        webhook["application_id"] = self.application_id
        webhook["timestamp"] = event["timestamp"]
        webhook["body"] = event["body"]
        if "_embedded" in event:
            webhook["_embedded"] = event["_embedded"]
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._worker = asyncio.ensure_future(self._post_webhooks(self._outbox))
        self._outbox.put_nowait(compact_json(webhook))

    async def _post_webhooks(self, outbox: asyncio.Queue[bytes]) -> None:
        import httpx

        self._client = httpx.AsyncClient(timeout=5.0)
        while True:
            body = await outbox.get()
            url = self.webhook_url
            if url is None:
                self.webhook_results.append("no webhook_url")
                continue
            headers = {"Content-Type": "application/json"}
            if self.signature_secret is not None:
                headers.update(self.sign_webhook(body))
            try:
                response = await self._client.post(url, content=body, headers=headers)
                self.webhook_results.append(response.status_code)
            except httpx.HTTPError as exc:
                self.webhook_results.append(type(exc).__name__)

    async def _stop_worker(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        if self._client is not None:
            await self._client.aclose()
        self._outbox = self._worker = self._client = None


def _is_send(method: str, path: str) -> bool:
    return method == "POST" and _EVENTS_PATH.match(path) is not None


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Refused(400, [{"name": "body", "reason": "not valid JSON"}]) from None


async def _respond(send: Send, status: int, payload: Any, extra: Mapping[str, str]) -> None:
    await answer(send, status, compact_json(payload), headers=extra)
