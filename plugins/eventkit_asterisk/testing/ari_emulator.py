"""An Asterisk REST Interface (ARI) server on loopback: user events over HTTP and the
event websocket, for integration tests.

Written from Asterisk's ``rest-api/api-docs/events.json``, ``res/res_ari_events.c`` and
``res/ari/resource_events.c``, and statuses observed on a running Asterisk,
independently of the eventkit provider:

* ``POST /ari/events/user/{eventName}?application=...&source=...`` with a JSON
  body ``{"variables": {...}}`` (a body that is not ``application/json`` is
  ignored; ``application``/``source`` may also be in the body, the body wins);
  answers 204, or ``{"message": ...}`` with 400 / 404 / 422 / 413 / 500 as Asterisk does;
* path segments decoded the legacy way (``+`` is a space);
* HTTP Basic auth, else ``api_key=user:password``; 401 with ``WWW-Authenticate``;
* ``GET /ari/events?app=a[,b]`` websocket: registers the apps and streams
  ``ChannelUserevent`` JSON (``userevent`` carries ``eventname`` too);
* a ``channel:`` source also emits the AMI ``UserEvent`` on a linked
  :class:`AmiEmulator`, flattened as ``manager_json_to_ast_str`` does.
"""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from eventkit.testing import AsgiServer, answer_json, read_body
from eventkit.testing.faults import FaultPlan, wrap

from .ami_emulator import AmiEmulator

MAX_CONTENT_LENGTH = 40960
ASTERISK_ID = "02:fc:00:00:00:01"
REALM = "Asterisk REST Interface"


def _timestamp() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}+0000"


def flatten_for_ami(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """``manager_json_to_ast_str``: strings as-is, ints decimal, True/False, reals and null empty,
    objects as ``parent/child``, arrays as ``key(0)``."""
    out: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(flatten_for_ami(item, f"{prefix}/{key}" if prefix else key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out.extend(flatten_for_ami(item, f"{prefix}({index})"))
    elif isinstance(value, bool):
        out.append((prefix, "True" if value else "False"))
    elif isinstance(value, int):
        out.append((prefix, str(value)))
    elif isinstance(value, str):
        out.append((prefix, value))
    else:
        out.append((prefix, ""))
    return out


class AriEmulator(AsgiServer):
    """The ARI server. ``users`` maps ari.conf users to passwords; ``channels`` are existing channel ids."""

    def __init__(
        self,
        users: dict[str, str] | None = None,
        *,
        apps: tuple[str, ...] = (),
        channels: tuple[str, ...] = (),
        bridges: tuple[str, ...] = (),
        endpoints: tuple[str, ...] = (),
        ami: AmiEmulator | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            # A plain coroutine function: uvicorn would take a bound method for ASGI 2.
            await self._asgi(scope, receive, send)

        super().__init__(wrap(app, faults, _is_send), host, port)
        self.faults = faults
        """Seeded faults on user-event posts (:mod:`.faults`); stored events are recorded there."""
        self.users = users if users is not None else {"asterisk": "asterisk"}
        self.apps = set(apps)
        """Applications registered without a websocket (Asterisk keeps them after a disconnect)."""
        self.channels = set(channels)
        self.bridges = set(bridges)
        self.endpoints = set(endpoints)
        self.ami = ami
        self.requests: list[dict[str, Any]] = []
        self._sockets: dict[str, list[asyncio.Queue[str]]] = {}
        self._faults: list[tuple[int, float | None]] = []

    # Test controls

    def fail_next(self, status: int, retry_after: float | None = None) -> None:
        self._faults.append((status, retry_after))

    def post_count(self) -> int:
        return len(self.requests)

    def connected_apps(self) -> set[str]:
        return {app for app, queues in self._sockets.items() if queues}

    def send_raw(self, app: str, text: str) -> None:
        """Send a text frame as is to the app's websockets (malformed frames for tests)."""
        self.run(self._send_raw(app, text))

    async def send_raw_async(self, app: str, text: str) -> None:
        """:meth:`send_raw` from async code (awaits the emulator's loop, never blocks the caller's)."""
        await self.run_async(self._send_raw(app, text))

    async def _send_raw(self, app: str, text: str) -> None:
        for queue in self._sockets.get(app, []):
            queue.put_nowait(text)

    # ASGI

    async def _asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._websocket(scope, receive, send)

    def _authorized(self, scope: dict[str, Any], query: dict[str, str]) -> bool:
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        auth = headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            except ValueError:
                return False
        elif "api_key" in query:
            user, _, password = query["api_key"].partition(":")
        else:
            return False
        return user in self.users and self.users[user] == password

    async def _http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body = await read_body(receive)
        if body is None:
            return
        too_big = len(body) > MAX_CONTENT_LENGTH
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode()
        segments = raw_path.split("?")[0].split("/")
        if len(segments) != 5 or segments[1:4] != ["ari", "events", "user"] or not segments[4]:
            await _reply(send, 404, {"message": "Resource not found"})
            return
        if scope["method"] != "POST":
            await _reply(send, 405, {"message": "Method not allowed"})
            return
        if not self._authorized(scope, query):
            await _reply(
                send, 401, {"message": "Authentication required"}, {"www-authenticate": f'Basic realm="{REALM}"'}
            )
            return
        name = unquote_plus(segments[4])
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        self.requests.append({"name": name, "query": query, "headers": headers, "body": body})
        if self._faults:
            status, retry_after = self._faults.pop(0)
            extra = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
            await _reply(send, status, {"message": f"injected {status}"}, extra)
            return
        if too_big:
            await _reply(send, 413, {"message": "Request body too large"})
            return
        parsed: Any = {}
        if headers.get("content-type", "").split(";")[0].strip().lower() == "application/json" and body:
            try:
                parsed = json.loads(body)
            except ValueError:
                await _reply(send, 400, {"message": "Error parsing request body"})
                return
        if not isinstance(parsed, dict):
            parsed = {}
        application = parsed.get("application", query.get("application"))
        if not application:
            await _reply(send, 400, {"message": "Missing parameter application"})
            return
        source: Any = parsed.get("source", query.get("source", ""))
        sources = source if isinstance(source, list) else [s for s in str(source).split(",") if s]
        await self._user_event(send, name, str(application), sources, parsed.get("variables", {}))

    async def _user_event(self, send: Any, name: str, app: str, sources: list[str], variables: Any) -> None:
        snapshots: dict[str, Any] = {}
        for source in sources:
            scheme, _, ident = source.partition(":")
            known = {"channel": self.channels, "bridge": self.bridges, "endpoint": self.endpoints}.get(scheme)
            if known is None:
                await _reply(send, 400, {"message": "Invalid event source URI scheme"})
                return
            if ident not in known:
                await _reply(send, 422, {"message": "Event source was not found"})
                return
            snapshots.setdefault(scheme, ident)
        if app not in self.apps and app not in self.connected_apps():
            await _reply(send, 404, {"message": "Application not found"})
            return
        if not isinstance(variables, dict):
            await _reply(send, 500, {"message": "Error processing request"})
            return
        blob = {**variables, "eventname": name}
        message: dict[str, Any] = {"type": "ChannelUserevent", "timestamp": _timestamp(), "eventname": name}
        message["userevent"] = blob
        if "channel" in snapshots:
            message["channel"] = _channel(snapshots["channel"])
        if "bridge" in snapshots:
            message["bridge"] = {"id": snapshots["bridge"], "technology": "simple_bridge", "bridge_type": "mixing"}
        if "endpoint" in snapshots:
            tech, _, resource = snapshots["endpoint"].partition("/")
            message["endpoint"] = {"technology": tech, "resource": resource, "state": "online", "channel_ids": []}
        message["asterisk_id"] = ASTERISK_ID
        message["application"] = app
        text = json.dumps(message)
        for queue in self._sockets.get(app, []):
            queue.put_nowait(text)
        if "channel" in snapshots and self.ami is not None:
            body = [(k, v) for k, v in flatten_for_ami(variables)]
            channel = [("Channel", f"PJSIP/{snapshots['channel']}"), ("Uniqueid", snapshots["channel"])]
            headers = [("Event", "UserEvent"), ("Privilege", "user,all"), *channel, ("UserEvent", name), *body]
            await asyncio.to_thread(self.ami.emit_event, headers)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def _websocket(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        query = dict(parse_qsl(scope.get("query_string", b"").decode(), keep_blank_values=True))
        await receive()  # websocket.connect
        if scope["path"].rstrip("/") != "/ari/events":
            await _refuse(scope, send, 404, "Resource not found")
            return
        if not query.get("app"):
            await _refuse(scope, send, 400, "HTTP request is missing param: [app]")
            return
        if not self._authorized(scope, query):
            await _refuse(scope, send, 401, "Authentication required")
            return
        apps = [a for a in query["app"].split(",") if a]
        queue: asyncio.Queue[str] = asyncio.Queue()
        for app in apps:
            self._sockets.setdefault(app, []).append(queue)
            self.apps.add(app)  # Asterisk keeps an application registered after its websocket goes
        await send({"type": "websocket.accept", "subprotocol": None})

        async def pump() -> None:
            while True:
                await send({"type": "websocket.send", "text": await queue.get()})

        pumping = asyncio.ensure_future(pump())
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    break
        finally:
            pumping.cancel()
            for app in apps:
                self._sockets[app].remove(queue)


def _is_send(method: str, path: str) -> bool:
    return method == "POST" and path.startswith("/ari/events/user/")


def _channel(channel_id: str) -> dict[str, Any]:
    return {
        "id": channel_id,
        "name": f"PJSIP/{channel_id}",
        "state": "Up",
        "protocol_id": "",
        "caller": {"name": "", "number": ""},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {"context": "default", "exten": "s", "priority": 1, "app_name": "Stasis", "app_data": ""},
        "creationtime": _timestamp(),
        "language": "en",
    }


async def _refuse(scope: dict[str, Any], send: Any, status: int, message: str) -> None:
    """An HTTP answer to a websocket upgrade, where the server supports it (uvicorn does)."""
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    raw = json.dumps({"message": message}).encode()
    headers = [(b"content-type", b"application/json")]
    if status == 401:
        headers.append((b"www-authenticate", f'Basic realm="{REALM}"'.encode()))
    await send({"type": "websocket.http.response.start", "status": status, "headers": headers})
    await send({"type": "websocket.http.response.body", "body": raw})


async def _reply(send: Any, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    await answer_json(send, status, body, headers=headers or {})
