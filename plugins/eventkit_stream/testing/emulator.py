"""A loopback Stream Chat server: REST send endpoints, the user websocket, and a webhook sender.

Written from Stream's public documentation, OpenAPI file (GetStream/protocol
``openapi/chat-openapi.yaml``) and SDK sources (see docs/providers/stream.md), not from
eventkit's plugin, so integration tests check the plugin against an independent reading of
the platform. Credentials are checked for real (HS256 JWTs under the API secret),
errors are shaped as Stream shapes them (``code``, ``message``, ``StatusCode``,
``unrecoverable``, ...), and webhooks are signed as Stream signs them. Where those
sources leave a point open the emulator picks one documented-looking behaviour and says so.

>>> emulator = StreamEmulator().start()           # doctest: +SKIP
>>> emulator.url, emulator.ws_url                 # doctest: +SKIP
>>> emulator.webhook_url = "http://127.0.0.1:8080/webhooks/stream"  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import gzip as gzip_module
import hashlib
import hmac
import itertools
import json
import math
import threading
import time
import uuid
from datetime import datetime, timezone
from typing import Any, Awaitable, Callable, Coroutine, Mapping
from urllib.parse import parse_qsl, unquote

import attrs

from eventkit.testing import AsgiServer, HostedEmulator, answer, read_body, refuse_on_running_loop
from eventkit.testing.faults import FaultPlan, wrap

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]

MORE_INFO = "https://getstream.io/chat/docs/api_errors_response"
STATUS_CODES = {400: 4, 401: 5, 403: 17, 404: 16, 408: 23, 413: 22, 429: 9}
"""The Stream error code the emulator puts beside each injected HTTP status (https://getstream.io/chat/docs/api_errors_response)."""


def now_text() -> str:
    """Stream's timestamps: RFC 3339 with nanoseconds."""
    now = time.time_ns()
    seconds, nanos = divmod(now, 1_000_000_000)
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class StreamError(Exception):
    """An answer in Stream's ``APIError`` shape."""

    def __init__(self, status: int, code: int, message: str, unrecoverable: bool | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.unrecoverable = (400 <= status < 500 and status != 429) if unrecoverable is None else unrecoverable

    def body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "StatusCode": self.status,
            "duration": "0.00ms",
            "more_info": MORE_INFO,
            "details": [],
            "unrecoverable": self.unrecoverable,
        }


@attrs.define
class Recorded:
    """One HTTP request as the emulator saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@attrs.define
class Fault:
    status: int
    retry_after: float | None = None
    code: int | None = None
    json: bool = True
    unrecoverable: bool | None = None


@attrs.define
class WebhookCall:
    """One webhook attempt the emulator made and what it was answered."""

    url: str
    webhook_id: str
    attempt: int
    body: bytes
    status: int | None


@attrs.define(eq=False)
class Connection:
    """One websocket connection of one user."""

    id: str
    user: str
    queue: asyncio.Queue[dict[str, Any] | None]
    watching: set[str] = attrs.field(factory=set)


def _is_send(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/").endswith("/event")


def _custom(event: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("type", "user", "user_id")}


class StreamEmulator(HostedEmulator):
    """The platform: start it, point the provider's ``base_url`` at ``url``, inspect what it saw."""

    def __init__(
        self,
        api_key: str = "emulator-key",
        api_secret: str = "emulator-secret-0123456789abcdef-0123456789abcdef",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        health_interval: float = 30.0,
        max_event_bytes: int = 5120,
        users: set[str] | None = None,
        webhook_url: str | None = None,
        webhook_gzip: bool = False,
        webhook_channel_events: bool = True,
        webhook_retry_delay: float = 0.05,
        faults: FaultPlan | None = None,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        self.health_interval = health_interval
        self.max_event_bytes = max_event_bytes
        self.users = users
        """Known user ids; ``None`` means every user exists."""
        self.webhook_url = webhook_url
        self.webhook_gzip = webhook_gzip
        self.webhook_channel_events = webhook_channel_events
        """Whether channel custom events go to webhooks too (UNCONFIRMED on the platform; on here)."""
        self.webhook_retry_delay = webhook_retry_delay
        self.disabled_types: set[str] = set()
        """Channel types with ``custom_events`` off (SendEvent answers code 18)."""
        self.requests = 0
        """Send requests (channel or user events) that reached the platform, accepted or not."""
        self.log: list[Recorded] = []
        self.events: list[dict[str, Any]] = []
        self.webhook_log: list[WebhookCall] = []
        self.connections: dict[str, Connection] = {}
        self.connects = 0
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Future[Any]] = set()
        self._remaining = itertools.count(9999, -1)
        self.faults = faults
        """Seeded faults on send requests (:mod:`.faults`); what the platform stored is recorded there."""
        self.server = AsgiServer(wrap(self, faults, _is_send), host, port)

    # Lifecycle: HostedEmulator's (start, stop, restart, close, url, ws_url).

    # Test controls

    def fail_next(
        self,
        status: int,
        retry_after: float | None = None,
        *,
        code: int | None = None,
        json: bool = True,
        unrecoverable: bool | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` send requests with ``status``, shaped as Stream does (``json=False``: an edge 429)."""
        with self._lock:
            self._faults.extend([Fault(status, retry_after, code, json, unrecoverable)] * times)

    def push(self, frame: dict[str, Any] | str, *, user: str | None = None, cid: str | None = None) -> int:
        """Put a raw frame on the websockets of ``user`` / watchers of ``cid`` (all when neither); how many."""
        return self.server.run(self._put(frame, user, cid))

    async def push_async(self, frame: dict[str, Any] | str, *, user: str | None = None, cid: str | None = None) -> int:
        """:meth:`push` from async code: awaits the emulator's loop instead of blocking the caller's."""
        return await self.server.run_async(self._put(frame, user, cid))

    async def _put(self, frame: dict[str, Any] | str, user: str | None, cid: str | None) -> int:
        n = 0
        for conn in list(self.connections.values()):
            if (user is None or conn.user == user) and (cid is None or cid in conn.watching):
                conn.queue.put_nowait(frame if isinstance(frame, dict) else {"__raw__": frame})
                n += 1
        return n

    def send_webhook(
        self,
        payload: dict[str, Any] | bytes,
        *,
        url: str | None = None,
        webhook_id: str | None = None,
        attempt: int = 1,
        gzip: bool | None = None,
        signature: str | None = None,
    ) -> int:
        """Post one webhook call now (signed like Stream unless ``signature`` is given); the status answered.

        Blocking: from async code (a receiver served by the calling loop could never
        answer while it blocks) it raises ``BlockingControlError``; use :meth:`send_webhook_async`.
        """
        post = self._webhook_post(payload, url, webhook_id, attempt, gzip, signature)
        return self.server.run(post, async_form="send_webhook_async") or 0

    async def send_webhook_async(
        self,
        payload: dict[str, Any] | bytes,
        *,
        url: str | None = None,
        webhook_id: str | None = None,
        attempt: int = 1,
        gzip: bool | None = None,
        signature: str | None = None,
    ) -> int:
        """:meth:`send_webhook` from async code: the caller's loop keeps serving the receiver meanwhile."""
        post = self._webhook_post(payload, url, webhook_id, attempt, gzip, signature)
        return await self.server.run_async(post) or 0

    def _webhook_post(
        self,
        payload: dict[str, Any] | bytes,
        url: str | None,
        webhook_id: str | None,
        attempt: int,
        gzip: bool | None,
        signature: str | None,
    ) -> Coroutine[Any, Any, int | None]:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        target = url or self.webhook_url
        if target is None:
            raise ValueError("no webhook URL: set webhook_url")
        return self._post_webhook(target, body, webhook_id or str(uuid.uuid4()), attempt, gzip, signature)

    def signed_webhook(
        self,
        payload: dict[str, Any] | bytes,
        *,
        webhook_id: str | None = None,
        attempt: int = 1,
        secret: str | None = None,
    ) -> tuple[dict[str, str], bytes]:
        """The headers and body of one webhook call signed as Stream signs it (nothing is sent).

        ``secret`` signs with another key (a forgery); by default the app's secret.
        """
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Webhook-Attempt": str(attempt),
            "X-Api-Key": self.api_key,
            "X-Signature": sign(self.api_secret if secret is None else secret, body),
        }
        return headers, body

    def channel_event_body(
        self, event_type: str, custom: Mapping[str, Any], target: str, user_id: str
    ) -> dict[str, Any]:
        """A channel custom event as this emulator posts it to webhooks (``target``: ``channel:<type>:<id>``)."""
        ctype, _, cident = target.removeprefix("channel:").partition(":")
        return {
            "type": event_type,
            **custom,
            "cid": f"{ctype}:{cident}",
            "channel_id": cident,
            "channel_type": ctype,
            "user": self._user_object(user_id),
            "created_at": now_text(),
        }

    def wait_webhooks(self, count: int, timeout: float = 5.0) -> list[WebhookCall]:
        """Block until ``count`` webhook calls were made (or the timeout); from async code use :meth:`wait_webhooks_async`."""
        refuse_on_running_loop(None, "wait_webhooks_async")
        deadline = time.monotonic() + timeout
        while len(self.webhook_log) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return list(self.webhook_log)

    async def wait_webhooks_async(self, count: int, timeout: float = 5.0) -> list[WebhookCall]:
        """:meth:`wait_webhooks` without blocking the caller's loop."""
        deadline = time.monotonic() + timeout
        while len(self.webhook_log) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        return list(self.webhook_log)

    def user_token(self, user_id: str) -> str:
        import jwt

        return jwt.encode({"user_id": user_id}, self.api_secret, algorithm="HS256")

    def server_token(self) -> str:
        import jwt

        return jwt.encode({"server": True}, self.api_secret, algorithm="HS256")

    # ASGI

    async def __call__(self, scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    async def _http(self, scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        if body is None:
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        request = Recorded(scope["method"], path, query, headers, body)
        self.log.append(request)
        parts = [unquote(p) for p in path.strip("/").split("/")]
        try:
            status, reply, extra = await self._route(request, parts)
        except StreamError as error:
            status, reply, extra = error.status, error.body(), {}
        if isinstance(reply, bytes):
            content, content_type = reply, "text/plain"
        else:
            content, content_type = json.dumps(reply).encode(), "application/json"
        await answer(send, status, content, content_type=content_type, headers={**self._rate_headers(), **extra})

    def _rate_headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": "10000",
            "X-RateLimit-Remaining": str(max(0, next(self._remaining))),
            "X-RateLimit-Reset": str((int(time.time()) // 60 + 1) * 60),
        }

    async def _route(self, request: Recorded, parts: list[str]) -> tuple[int, dict[str, Any] | bytes, dict[str, str]]:
        if request.method == "POST" and len(parts) == 4 and parts[0] == "channels" and parts[3] == "event":
            self.requests += 1
            fault = self._fault()
            if fault is not None:
                return fault
            return 201, await self._channel_event(request, parts[1], parts[2]), {}
        if request.method == "POST" and len(parts) == 3 and parts[0] == "users" and parts[2] == "event":
            self.requests += 1
            fault = self._fault()
            if fault is not None:
                return fault
            return 201, await self._user_event(request, parts[1]), {}
        if request.method == "POST" and len(parts) == 4 and parts[0] == "channels" and parts[3] == "query":
            return 201, self._query(request, parts[1], parts[2]), {}
        raise StreamError(404, 16, f"{request.method} {request.path} does not exist")

    def _fault(self) -> tuple[int, dict[str, Any] | bytes, dict[str, str]] | None:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
        if fault is None:
            return None
        extra: dict[str, str] = {}
        if fault.status == 429:
            wait = fault.retry_after if fault.retry_after is not None else 1.0
            extra = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(math.ceil(time.time() + wait))}
        if not fault.json:
            return fault.status, b"Rate Limit Exceeded" if fault.status == 429 else b"error", extra
        code = fault.code if fault.code is not None else STATUS_CODES.get(fault.status, -1)
        error = StreamError(fault.status, code, f"injected error {fault.status}", fault.unrecoverable)
        return fault.status, error.body(), extra

    # Auth

    def _auth(self, request: Recorded) -> str | None:
        """The user id of a user token, ``None`` for a server token; raises Stream's 401s."""
        return self._check_credentials(
            request.query.get("api_key"), request.headers.get("stream-auth-type"), request.headers.get("authorization")
        )

    def _check_credentials(self, api_key: str | None, auth_type: str | None, token: str | None) -> str | None:
        import jwt

        if not api_key:
            raise StreamError(401, 2, "api_key not found")
        if not hmac.compare_digest(api_key.encode(), self.api_key.encode()):
            raise StreamError(401, 2, "api_key not valid")
        if (auth_type or "").lower() != "jwt":
            raise StreamError(401, 5, "stream-auth-type header must be jwt")
        if not token:
            raise StreamError(401, 5, "Authorization header is missing")
        try:
            claims = jwt.decode(token, self.api_secret, algorithms=["HS256"])
        except jwt.ExpiredSignatureError:
            raise StreamError(401, 40, "JWTAuth error: token is expired") from None
        except jwt.ImmatureSignatureError:
            raise StreamError(401, 41, "JWTAuth error: token is not valid yet") from None
        except jwt.InvalidSignatureError:
            raise StreamError(401, 43, "JWTAuth error: signature is not valid") from None
        except jwt.InvalidTokenError:
            raise StreamError(401, 5, "JWTAuth error: token is malformed") from None
        user_id = claims.get("user_id")
        if isinstance(user_id, str) and user_id:
            return user_id
        # {"server": true}, or (inferred) any token signed with the secret that names no user.
        return None

    # Endpoints

    def _event_of(self, request: Recorded, operation: str) -> dict[str, Any]:
        try:
            body = json.loads(request.body)
        except ValueError:
            raise StreamError(400, 4, f'{operation} failed with error: "invalid request body"') from None
        event = body.get("event") if isinstance(body, dict) else None
        if not isinstance(event, dict):
            raise StreamError(400, 4, f'{operation} failed with error: "event is a required field"')
        if not isinstance(event.get("type"), str) or not event["type"]:
            raise StreamError(400, 4, f'{operation} failed with error: "event.type is a required field"')
        size = len(json.dumps(_custom(event), separators=(",", ":"), ensure_ascii=False).encode())
        if size > self.max_event_bytes:
            raise StreamError(413, 22, f'{operation} failed with error: "Payload too big"')
        return event

    def _user_object(self, user_id: str) -> dict[str, Any]:
        stamp = "2024-01-01T00:00:00.000000000Z"
        return {"id": user_id, "role": "user", "created_at": stamp, "updated_at": stamp, "online": True}

    async def _channel_event(self, request: Recorded, ctype: str, cident: str) -> dict[str, Any]:
        caller = self._auth(request)
        event = self._event_of(request, "SendEvent")
        user, user_id = event.get("user"), event.get("user_id")
        if caller is None:
            if user is not None and user_id is not None:
                raise StreamError(
                    400, 4, 'SendEvent failed with error: "cannot set both event.user and event.user_id."'
                )
            if user is None and user_id is None:
                raise StreamError(
                    400,
                    4,
                    'SendEvent failed with error: "either event.user or event.user_id must be provided '
                    'when using server side auth."',
                )
            author = user.get("id") if isinstance(user, dict) else user_id
            if not isinstance(author, str) or not author:
                raise StreamError(400, 4, 'SendEvent failed with error: "event.user.id is a required field"')
        else:
            author = caller
        if ctype in self.disabled_types:
            raise StreamError(
                400, 18, f'SendEvent failed with error: "Channel type {ctype} does not support custom events"'
            )
        cid = f"{ctype}:{cident}"
        out = {
            "type": event["type"],
            **_custom(event),
            "cid": cid,
            "channel_id": cident,
            "channel_type": ctype,
            "user": self._user_object(author),
            "created_at": now_text(),
        }
        self.events.append(out)
        for conn in list(self.connections.values()):
            if cid in conn.watching:
                conn.queue.put_nowait(out)
        if self.webhook_channel_events:
            self._webhook_later(out)
        return {"event": out, "duration": "0.42ms"}

    async def _user_event(self, request: Recorded, user_id: str) -> dict[str, Any]:
        caller = self._auth(request)
        if caller is not None:
            raise StreamError(403, 17, "SendUserCustomEvent is only available with server-side authentication")
        event = self._event_of(request, "SendUserCustomEvent")
        if "." in event["type"]:
            raise StreamError(400, 4, 'SendUserCustomEvent failed with error: "event type cannot contain ."')
        if self.users is not None and user_id not in self.users:
            raise StreamError(404, 16, f'SendUserCustomEvent failed with error: "user {user_id} does not exist"')
        # UNCONFIRMED shape: the emulator names the receiving user in "user" and adds created_at.
        out = {"type": event["type"], **_custom(event), "user": {"id": user_id}, "created_at": now_text()}
        self.events.append(out)
        for conn in list(self.connections.values()):
            if conn.user == user_id:
                conn.queue.put_nowait(out)
        self._webhook_later(out)
        return {"duration": "0.21ms"}

    def _query(self, request: Recorded, ctype: str, cident: str) -> dict[str, Any]:
        caller = self._auth(request)
        conn = self.connections.get(request.query.get("connection_id", ""))
        if conn is None or (caller is not None and conn.user != caller):
            raise StreamError(400, 4, 'GetOrCreateChannel failed with error: "connection_id is not valid"')
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            raise StreamError(400, 4, 'GetOrCreateChannel failed with error: "invalid request body"') from None
        cid = f"{ctype}:{cident}"
        if isinstance(body, dict) and body.get("watch") is True:
            conn.watching.add(cid)
        watchers = sum(1 for c in self.connections.values() if cid in c.watching)
        return {
            "channel": {"id": cident, "type": ctype, "cid": cid},
            "members": [],
            "messages": [],
            "watcher_count": watchers,
            "duration": "0.30ms",
        }

    # Websocket

    async def _websocket(self, scope: Mapping[str, Any], receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        path = scope.get("path", "")
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        await send({"type": "websocket.accept"})
        try:
            if path.rstrip("/") != "/connect":
                raise StreamError(404, 16, f"{path} does not exist")
            user = self._check_credentials(
                query.get("api_key"), query.get("stream-auth-type"), query.get("authorization")
            )
            if user is None:
                raise StreamError(401, 5, "websocket connections need a user token")
            try:
                payload = json.loads(query.get("json", ""))
            except ValueError:
                raise StreamError(400, 4, "json query parameter is not valid JSON") from None
            if not isinstance(payload, dict) or payload.get("user_id") != user:
                raise StreamError(400, 4, "json.user_id must match the token's user_id")
        except StreamError as error:
            # Stream sends the error as the first frame, then closes with 1000
            # (GetStream/stream-chat-js ``src/connection.ts`` ``onmessage``/``onclose``).
            await send({"type": "websocket.send", "text": json.dumps({"error": error.body()})})
            await send({"type": "websocket.close", "code": 1000})
            return
        conn = Connection(str(uuid.uuid4()), user, asyncio.Queue())
        self.connections[conn.id] = conn
        self.connects += 1
        reader = asyncio.ensure_future(self._ws_reader(receive, conn))
        try:
            await self._ws_send(send, self._health(conn, me=True))
            while True:
                try:
                    frame = await asyncio.wait_for(conn.queue.get(), self.health_interval)
                except asyncio.TimeoutError:
                    frame = self._health(conn)
                if frame is None:
                    return
                await self._ws_send(send, frame)
        except (OSError, RuntimeError):
            return
        finally:
            reader.cancel()
            self.connections.pop(conn.id, None)

    async def _ws_reader(self, receive: Receive, conn: Connection) -> None:
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                conn.queue.put_nowait(None)
                return
            try:
                frame = json.loads(message.get("text") or message.get("bytes") or b"")
            except ValueError:
                continue
            items = frame if isinstance(frame, list) else [frame]
            if any(isinstance(i, dict) and i.get("type") == "health.check" for i in items):
                conn.queue.put_nowait(self._health(conn))

    def _health(self, conn: Connection, me: bool = False) -> dict[str, Any]:
        frame: dict[str, Any] = {
            "type": "health.check",
            "connection_id": conn.id,
            "cid": "*",
            "created_at": now_text(),
        }
        if me:
            frame["me"] = self._user_object(conn.user)
        return frame

    async def _ws_send(self, send: Send, frame: dict[str, Any]) -> None:
        text = frame["__raw__"] if "__raw__" in frame else json.dumps(frame)
        await send({"type": "websocket.send", "text": text})

    # Webhooks

    def _webhook_later(self, event: dict[str, Any]) -> None:
        if self.webhook_url is None:
            return
        task = asyncio.ensure_future(self._deliver_webhook(self.webhook_url, json.dumps(event).encode()))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_webhook(self, url: str, body: bytes) -> None:
        """Stream's retry policy (https://getstream.io/chat/docs/php/push_webhook/): 3 attempts on 408/429/5xx, 2 on network errors."""
        webhook_id = str(uuid.uuid4())
        for attempt in range(1, 4):
            status = await self._post_webhook(url, body, webhook_id, attempt, None, None)
            if status is not None and not (status in (408, 429) or status >= 500):
                return
            if status is None and attempt >= 2:
                return
            await asyncio.sleep(self.webhook_retry_delay)

    async def _post_webhook(
        self, url: str, body: bytes, webhook_id: str, attempt: int, gzip: bool | None, signature: str | None
    ) -> int | None:
        import httpx

        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Id": webhook_id,
            "X-Webhook-Attempt": str(attempt),
            "X-Api-Key": self.api_key,
            "X-Signature": signature if signature is not None else sign(self.api_secret, body),
        }
        content = body
        if self.webhook_gzip if gzip is None else gzip:
            content = gzip_module.compress(body)
            headers["Content-Encoding"] = "gzip"
        status: int | None = None
        try:
            async with httpx.AsyncClient(timeout=6.0) as client:
                status = (await client.post(url, content=content, headers=headers)).status_code
        except httpx.HTTPError:
            status = None
        self.webhook_log.append(WebhookCall(url, webhook_id, attempt, body, status))
        return status
