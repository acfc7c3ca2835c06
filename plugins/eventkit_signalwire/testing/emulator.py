"""A SignalWire emulator: the REST Calling API and a RELAY websocket server on loopback.

Written from the wire facts (not from the eventkit plugin), so tests check the
plugin against an independent implementation:

* ``POST /api/calling/calls`` with HTTP Basic ``project_id:api_token`` and
  ``{"command": "calling.user_event", "id", "params": {"event": {...}}}`` answers
  a Call Leg; errors are ``{"error": ...}`` (400/401/403/404/500) or
  ``{"errors": [...]}`` (422, and 429 ``rate_limit_exceeded``).
* The same port speaks RELAY (JSON-RPC 2.0 over a websocket): ``signalwire.connect``
  (project/token or a JWT from :meth:`SignalWireEmulator.issue_jwt`), ``protocol``
  resume, ``signalwire.receive``, ``calling.user_event``; every user event fired on a
  call (over REST or RELAY) is pushed as a ``signalwire.event`` to the project's
  connected sessions, and the emulator counts the ones not ACKed.

Tests drive it from any thread: ``push_user_event``, ``send_raw``,
``disconnect_all``, ``ping_all``, ``fail_next``, ``restart()``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import re
import secrets
import threading
import time
import uuid
from typing import Any, Awaitable, Callable, Literal, Mapping

from eventkit.testing import AsgiServer, HostedEmulator, answer_json, read_body, refuse_on_running_loop
from eventkit.testing.faults import FaultPlan, wrap

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]
Shape = Literal["wrapped", "flat", "browser"]

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    410: "Gone",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_ERRORS_URL = "https://signalwire.com/docs/apis/error-codes"


class Call:
    """A live call on the emulated space."""

    def __init__(self, call_id: str, project: str, context: str | None) -> None:
        self.id = call_id
        self.node_id = str(uuid.uuid4())
        self.project = project
        self.context = context
        self.state = "answered"
        self.created_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.user_events: list[Any] = []

    def leg(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": "+15550100001",
            "to": "+15550100002",
            "direction": "inbound",
            "source": "realtime_api",
            "url": None,
            "charge": 0,
            "created_at": self.created_at,
            "charge_details": [],
            "status": self.state,
            "duration": None,
            "duration_ms": None,
            "billing_ms": None,
            "type": "relay_webrtc_call",
            "parent_id": None,
        }


class Session:
    """A RELAY session (``protocol``); it outlives its websocket so a client can resume it."""

    def __init__(self, project: str, contexts: list[str]) -> None:
        self.protocol = f"signalwire_{uuid.uuid4()}"
        self.project = project
        self.contexts = contexts
        self.unacked: collections.OrderedDict[str, dict[str, Any]] = collections.OrderedDict()
        self.connection: _Connection | None = None


class _Connection:
    def __init__(self, send: Send) -> None:
        self._send = send
        self._lock = asyncio.Lock()
        self.session: Session | None = None
        self.open = True

    async def send(self, frame: Mapping[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        async with self._lock:
            if self.open:
                await self._send({"type": "websocket.send", "text": text})


class SignalWireEmulator(HostedEmulator):
    """REST + RELAY on one loopback port: ``url`` for REST, ``relay_url`` for RELAY."""

    def __init__(
        self,
        project_id: str = "emulator-project",
        api_token: str = "emulator-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auto_calls: bool = True,
        user_event_shape: Shape = "wrapped",
        faults: FaultPlan | None = None,
    ) -> None:
        self.project_id = project_id
        self.api_token = api_token
        self.auto_calls = auto_calls
        """Unknown call ids on REST become live calls (the round trip needs no set-up); off: 404."""
        self.user_event_shape: Shape = user_event_shape
        self.jwt_secret = secrets.token_urlsafe(32)
        self.faults = faults
        """Seeded faults on REST calling requests (:mod:`.faults`); stored commands are recorded there."""
        self.server = AsgiServer(wrap(self, faults, _is_send), host, port)
        self.calls: dict[str, Call] = {}
        self.sessions: dict[str, Session] = {}
        self._lock = threading.Lock()
        self._faults: list[tuple[int, float | None]] = []
        self.requests = 0
        """REST calling requests that reached the emulator (any outcome)."""
        self.rest_bodies: list[Any] = []
        self.connects: list[dict[str, Any]] = []
        """Each signalwire.connect's params, credentials removed."""
        self.relay_requests: list[tuple[str, dict[str, Any]]] = []
        self.acked = 0
        self.answers: collections.Counter[str] = collections.Counter()
        """Client answers to the emulator's other requests, by method (``signalwire.ping``...)."""
        self._outstanding: dict[str, str] = {}
        self.garbage_from_clients = 0

    # Lifecycle: HostedEmulator's (start, stop, restart, close, url, ws_url).

    @property
    def relay_url(self) -> str:
        return self.server.ws_url

    # Test controls (any thread)

    def fail_next(self, status: int, retry_after: float | None = None, *, times: int = 1) -> None:
        """The next ``times`` REST commands fail with ``status``, shaped as SignalWire shapes it."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * times)

    def add_call(self, call_id: str | None = None, *, context: str | None = None, project: str | None = None) -> str:
        call = Call(call_id or str(uuid.uuid4()), project or self.project_id, context)
        with self._lock:
            self.calls[call.id] = call
        return call.id

    def end_call(self, call_id: str) -> None:
        with self._lock:
            self.calls[call_id].state = "ended"

    def issue_jwt(self, ttl: float = 300.0, project: str | None = None) -> str:
        """A RELAY JWT for the project, signed (HS256) with this emulator's key."""
        import jwt

        now = int(time.time())
        claims = {"project": project or self.project_id, "iat": now, "exp": now + int(ttl), "jti": str(uuid.uuid4())}
        token: str = jwt.encode(claims, self.jwt_secret, algorithm="HS256")
        return token

    def unacked(self) -> int:
        """User events pushed to a RELAY client and not yet ACKed."""
        with self._lock:
            return sum(len(s.unacked) for s in self.sessions.values())

    def connected(self) -> int:
        with self._lock:
            return sum(1 for s in self.sessions.values() if s.connection is not None)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` holds (or the timeout); from async code use :meth:`wait_until_async`."""
        refuse_on_running_loop(None, "wait_until_async")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            time.sleep(0.005)
        return predicate()

    async def wait_until_async(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """:meth:`wait_until` without blocking the caller's loop (which may run the RELAY client)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            await asyncio.sleep(0.005)
        return predicate()

    # Each control below blocks until the emulator's loop did the work; its ``_async``
    # twin awaits the same work, so an async test's loop keeps serving its client meanwhile.

    def push_user_event(self, call_id: str, event: Any, *, shape: Shape | None = None) -> int:
        """Fire a user event on a call as the platform would; returns how many sessions got it."""
        return self.server.run(self._fire(self._call(call_id), event, shape))

    async def push_user_event_async(self, call_id: str, event: Any, *, shape: Shape | None = None) -> int:
        """:meth:`push_user_event` from async code."""
        return await self.server.run_async(self._fire(self._call(call_id), event, shape))

    def _call(self, call_id: str) -> Call:
        with self._lock:
            call = self.calls.get(call_id)
            if call is None:
                call = self.calls[call_id] = Call(call_id, self.project_id, None)
        return call

    def push_frame(self, method: str, params: Mapping[str, Any]) -> None:
        """Send any server request (e.g. another ``signalwire.event`` type) to every client."""
        self.send_raw(self._frame(method, params))

    async def push_frame_async(self, method: str, params: Mapping[str, Any]) -> None:
        """:meth:`push_frame` from async code."""
        await self.send_raw_async(self._frame(method, params))

    def _frame(self, method: str, params: Mapping[str, Any]) -> str:
        frame_id = str(uuid.uuid4())
        frame = {"jsonrpc": "2.0", "id": frame_id, "method": method, "params": dict(params)}
        with self._lock:
            self._outstanding[frame_id] = method
        return json.dumps(frame)

    def send_raw(self, text: str) -> None:
        """Send a text frame, garbage included, to every connected RELAY client."""
        self.server.run(self._send_all(text))

    async def send_raw_async(self, text: str) -> None:
        """:meth:`send_raw` from async code."""
        await self.server.run_async(self._send_all(text))

    async def _send_all(self, text: str) -> None:
        for connection in self._connections():
            await connection.send(text)

    def disconnect_all(self, restart: bool = True) -> None:
        """``signalwire.disconnect``: clients should answer and reconnect with their protocol."""
        self.push_frame("signalwire.disconnect", {"restart": restart})

    async def disconnect_all_async(self, restart: bool = True) -> None:
        """:meth:`disconnect_all` from async code."""
        await self.push_frame_async("signalwire.disconnect", {"restart": restart})

    def ping_all(self) -> None:
        self.push_frame("signalwire.ping", {"timestamp": time.time()})

    async def ping_all_async(self) -> None:
        """:meth:`ping_all` from async code."""
        await self.push_frame_async("signalwire.ping", {"timestamp": time.time()})

    def _connections(self) -> list[_Connection]:
        with self._lock:
            return [s.connection for s in self.sessions.values() if s.connection is not None]

    # Firing events

    def _frame_for(self, call: Call, event: Any, shape: Shape) -> dict[str, Any]:
        if shape == "wrapped":
            inner: Any = {"call_id": call.id, "node_id": call.node_id, "event": event}
        else:
            inner = event
        return {
            "jsonrpc": "2.0",
            "id": str(uuid.uuid4()),
            "method": "signalwire.event",
            "params": {
                "event_type": "user_event" if shape == "browser" else "calling.user_event",
                "event_channel": f"signalwire_{call.project}",
                "timestamp": time.time(),
                "project_id": call.project,
                "node_id": call.node_id,
                "params": inner,
            },
        }

    async def _fire(self, call: Call, event: Any, shape: Shape | None) -> int:
        call.user_events.append(event)
        return await self._push(call, event, shape)

    async def _push(self, call: Call, event: Any, shape: Shape | None) -> int:
        with self._lock:
            targets = [
                s
                for s in self.sessions.values()
                if s.connection is not None
                and s.project == call.project
                and (call.context is None or call.context in s.contexts)
            ]
        for session in targets:
            frame = self._frame_for(call, event, shape or self.user_event_shape)
            with self._lock:
                session.unacked[frame["id"]] = frame
            if session.connection is not None:
                await session.connection.send(frame)
        return len(targets)

    # ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        if body is None:
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        status, payload, extra = self._rest(scope.get("method", ""), scope.get("path", ""), headers, body)
        await answer_json(send, status, payload, headers=extra)

    def _authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return secrets.compare_digest(user, self.project_id) and secrets.compare_digest(password, self.api_token)

    def _rest(
        self, method: str, path: str, headers: Mapping[str, str], body: bytes
    ) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        if path.rstrip("/") != "/api/calling/calls":
            return 404, {"error": "Not Found"}, []
        if method != "POST":
            return 405, {"error": "Method Not Allowed"}, [(b"allow", b"POST")]
        with self._lock:
            self.requests += 1
            fault = self._faults.pop(0) if self._faults else None
        if not self._authorized(headers.get("authorization")):
            return 401, {"error": "Unauthorized"}, []
        if fault is not None:
            return self._fault(*fault)
        try:
            command = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return 400, {"error": "Bad Request"}, []
        self.rest_bodies.append(command)
        if not isinstance(command, dict):
            return 400, {"error": "Bad Request"}, []
        if command.get("command") != "calling.user_event":
            return 422, _errors("invalid_command_attempted", "The specified command is invalid.", "command"), []
        call_id = command.get("id")
        if not isinstance(call_id, str) or not _UUID.match(call_id):
            return 422, _errors("invalid_parameter", "id must be a valid UUID", "id"), []
        params = command.get("params")
        if not isinstance(params, dict) or "event" not in params:
            return 422, _errors("missing_required_parameter", "params.event is required", "params.event"), []
        if set(params) != {"event"} or not isinstance(params["event"], dict):
            return 422, _errors("invalid_parameter", "params holds only event, a JSON object", "params.event"), []
        with self._lock:
            call = self.calls.get(call_id)
            if call is None and self.auto_calls:
                call = self.calls[call_id] = Call(call_id, self.project_id, None)
        if call is None or call.state == "ended" or call.project != self.project_id:
            return 404, {"error": "Not Found"}, []
        # The handler runs on the server's loop: schedule the push, answer at once.
        asyncio.get_running_loop().create_task(self._fire(call, params["event"], None))
        return 200, call.leg(), []

    def _fault(self, status: int, retry_after: float | None) -> tuple[int, Any, list[tuple[bytes, bytes]]]:
        extra = [(b"retry-after", str(retry_after).encode())] if retry_after is not None else []
        if status == 422:
            return status, _errors("invalid_state", "The call is not in a state to take this command.", "id"), extra
        if status == 429:
            return status, _errors("rate_limit_exceeded", "Too Many Requests", None, kind="rate_limit_error"), extra
        return status, {"error": _REASONS.get(status, "Error")}, extra

    # RELAY

    async def _websocket(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        connection = _Connection(send)
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                if text is None:
                    continue
                await self._relay_frame(connection, text)
        finally:
            connection.open = False
            with self._lock:
                if connection.session is not None and connection.session.connection is connection:
                    connection.session.connection = None

    async def _relay_frame(self, connection: _Connection, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or frame.get("jsonrpc") != "2.0":
            self.garbage_from_clients += 1
            return
        frame_id = frame.get("id")
        method = frame.get("method")
        if method is None:
            self._response(connection, frame_id, frame)
            return
        raw_params = frame.get("params")
        params: dict[str, Any] = raw_params if isinstance(raw_params, dict) else {}
        self.relay_requests.append((str(method), _without_secrets(params)))
        if method == "signalwire.connect":
            await self._connect(connection, frame_id, params)
            return
        if connection.session is None:
            await connection.send(_rpc_error(frame_id, -32401, "Authentication required"))
            return
        if method in ("signalwire.receive", "signalwire.unreceive"):
            contexts = params.get("contexts")
            if isinstance(contexts, list):
                current = connection.session.contexts
                if method == "signalwire.receive":
                    current.extend(c for c in contexts if isinstance(c, str) and c not in current)
                else:
                    connection.session.contexts = [c for c in current if c not in contexts]
            await connection.send(_result(frame_id, {"code": "200", "message": "Receiving events"}))
        elif method == "calling.user_event":
            await self._relay_user_event(connection, frame_id, params)
        else:
            await connection.send(_rpc_error(frame_id, -32601, f"Unknown method {method}"))

    def _response(self, connection: _Connection, frame_id: Any, frame: Mapping[str, Any]) -> None:
        session = connection.session
        if session is None or not isinstance(frame_id, str):
            return
        with self._lock:
            if frame_id in session.unacked and "result" in frame:
                del session.unacked[frame_id]
                self.acked += 1
            elif frame_id in self._outstanding:
                method = self._outstanding.pop(frame_id)
                self.answers[method if "result" in frame else f"{method} (error)"] += 1

    async def _connect(self, connection: _Connection, frame_id: Any, params: Mapping[str, Any]) -> None:
        version = params.get("version")
        if not isinstance(version, dict) or version.get("major") != 2:
            await connection.send(_rpc_error(frame_id, -32498, "Version incompatible"))
            return
        project = self._authenticate(params.get("authentication"))
        if project is None:
            await connection.send(_rpc_error(frame_id, -32401, "Authentication failed"))
            return
        self.connects.append(_without_secrets(params))
        contexts = [c for c in params.get("contexts", []) if isinstance(c, str)]
        protocol = params.get("protocol")
        resumed: list[dict[str, Any]] = []
        session: Session | None
        with self._lock:
            if protocol is not None:
                session = self.sessions.get(protocol) if isinstance(protocol, str) else None
                if session is None or session.project != project:
                    session = None
                else:
                    resumed = list(session.unacked.values())
            else:
                session = Session(project, contexts)
                self.sessions[session.protocol] = session
            if session is not None:
                if contexts:
                    session.contexts = contexts
                session.connection = connection
                connection.session = session
        if session is None:
            await connection.send(_rpc_error(frame_id, -32602, "Invalid protocol"))
            return
        result = {
            "identity": f"{project}@{session.protocol}",
            "protocol": session.protocol,
            "authorization": {"project": project, "scopes": ["calling"]},
        }
        await connection.send(_result(frame_id, result))
        state_id = str(uuid.uuid4())
        with self._lock:
            self._outstanding[state_id] = "signalwire.event"
        await connection.send(
            {
                "jsonrpc": "2.0",
                "id": state_id,
                "method": "signalwire.event",
                "params": {
                    "event_type": "signalwire.authorization.state",
                    "params": {"authorization_state": f"state-{session.protocol[-8:]}"},
                },
            }
        )
        for frame in resumed:  # at-least-once: what the dropped socket never ACKed
            await connection.send(frame)

    def _authenticate(self, auth: Any) -> str | None:
        if not isinstance(auth, dict):
            return None
        token = auth.get("jwt_token")
        if isinstance(token, str):
            import jwt

            try:
                claims = jwt.decode(token, self.jwt_secret, algorithms=["HS256"], options={"require": ["exp"]})
            except jwt.PyJWTError:
                return None
            project = claims.get("project")
            return project if project == self.project_id else None
        project, secret = auth.get("project"), auth.get("token")
        if (
            isinstance(project, str)
            and isinstance(secret, str)
            and secrets.compare_digest(project, self.project_id)
            and secrets.compare_digest(secret, self.api_token)
        ):
            return project
        return None

    async def _relay_user_event(self, connection: _Connection, frame_id: Any, params: Mapping[str, Any]) -> None:
        call_id, node_id, event = params.get("call_id"), params.get("node_id"), params.get("event")
        if not isinstance(call_id, str) or not isinstance(node_id, str) or not isinstance(event, dict):
            await connection.send(_rpc_error(frame_id, -32602, "call_id, node_id and event (object) are required"))
            return
        with self._lock:
            call = self.calls.get(call_id)
        if call is None or (connection.session is not None and call.project != connection.session.project):
            await connection.send(_result(frame_id, {"code": "404", "message": "Call not found"}))
            return
        if call.state == "ended":
            await connection.send(_result(frame_id, {"code": "410", "message": "Call is gone"}))
            return
        call.user_events.append(event)
        await connection.send(_result(frame_id, {"code": "200", "message": "Event sent", "call_id": call_id}))
        await self._push(call, event, None)


def _is_send(method: str, path: str) -> bool:
    return method == "POST" and path.rstrip("/") == "/api/calling/calls"


def _errors(code: str, message: str, attribute: str | None, kind: str = "validation_error") -> dict[str, Any]:
    item: dict[str, Any] = {"type": kind, "code": code, "message": message, "url": _ERRORS_URL}
    if attribute is not None:
        item["attribute"] = attribute
    return {"errors": [item]}


def _result(frame_id: Any, result: Mapping[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": frame_id, "result": dict(result)}


def _rpc_error(frame_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": frame_id, "error": {"code": code, "message": message}}


def _without_secrets(params: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(params)
    if isinstance(out.get("authentication"), dict):
        out["authentication"] = {k: "***" for k in out["authentication"]}
    return out
