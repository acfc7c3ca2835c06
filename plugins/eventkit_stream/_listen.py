"""Listening through Stream's websocket, as a user.

Stream's ``/connect`` socket is per user (a server token cannot open one, as far as
Stream's docs tell: ``connectUser`` "should never be used server-side",
https://getstream.io/chat/docs/init_and_users/?language=js), so the listener connects as ``listen_user`` with a user
token, waits for the first ``health.check`` (it carries the connection id), watches
each channel asked for over REST with that connection id, then yields custom events.
Any drop, silence longer than ``health_timeout``, or 5xx reconnects with backoff and
watches again; refused credentials end the listener with a typed error.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from typing import TYPE_CHECKING, Any, AsyncIterator, Callable
from urllib.parse import urlencode

from eventkit.provider import (
    Event,
    EventkitError,
    HttpResponse,
    ListenContext,
    ProtocolError,
    SettingsError,
    join_url,
    json_body,
    segment,
    wait_within,
)

from ._codec import CLIENT_ID, connection_id
from ._errors import error_from_response
from ._settings import StreamSettings
from ._tokens import user_token
from ._wire import PROVIDER, decode_frame, is_builtin

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("eventkit.stream")


def ws_base(settings: StreamSettings) -> str:
    if settings.ws_url:
        return settings.ws_url.rstrip("/")
    base = settings.base_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :]
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :]
    return base


def connect_url(settings: StreamSettings, user: str, token: str) -> str:
    """``/connect`` with auth in the query string, as Stream's JS client builds it
    (GetStream/stream-chat-js ``src/connection.ts`` ``_buildUrl``)."""
    payload = {"user_id": user, "user_details": {"id": user}}
    query = {
        "json": json.dumps(payload, separators=(",", ":")),
        "api_key": settings.api_key or "",
        "authorization": token,
        "stream-auth-type": "jwt",
        "X-Stream-Client": CLIENT_ID,
    }
    return f"{ws_base(settings)}/connect?{urlencode(query)}"


def _options(settings: StreamSettings, options: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    user = options.pop("user", None) or settings.listen_user
    watch: Any = options.pop("watch", None)
    if watch is None:
        watch = settings.watch
    elif isinstance(watch, str):
        watch = (watch,)
    if options:
        raise SettingsError(f"unknown listen options {sorted(options)} for the stream websocket", provider=PROVIDER)
    if not user:
        raise SettingsError(
            "listening via websocket needs a user: set listen_user (or pass user=...)", provider=PROVIDER
        )
    cids = tuple(str(c).removeprefix("channel:") for c in watch)
    for cid in cids:
        kind, colon, ident = cid.partition(":")
        if not (kind and colon and ident):
            raise SettingsError(f"watch entry {cid!r} is not a cid 'type:id'", provider=PROVIDER)
    return user, cids


class _RedactingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets logs the request line at DEBUG, and Stream puts the user token in the query."""

    def __init__(self, logger: logging.Logger, secrets: list[str]) -> None:
        super().__init__(logger, {})
        self.secrets = secrets

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        try:
            text = str(msg) % args if args else str(msg)
        except (TypeError, ValueError):
            text = f"{msg} {args}"
        for secret in self.secrets:
            text = text.replace(secret, "***")
        kwargs.pop("extra", None)
        self.logger.log(level, "%s", text, **kwargs)


class _Retry(Exception):
    """This session ended in a way a reconnect can fix."""


class WebsocketListener:
    """One listener: reconnects its sessions until the consumer stops iterating."""

    def __init__(self, settings: StreamSettings, context: ListenContext) -> None:
        options = dict(context.options)
        self.on_ready: Callable[[str], Any] | None = options.pop("on_ready", None)
        self.settings = settings
        self.context = context
        self.stats = context.stats
        self.user, self.watch = _options(settings, options)
        self.token = user_token(settings.secret, self.user)
        self.ready = False
        self.healthy = False
        """The current session got as far as watching its channels."""

    async def events(self) -> AsyncIterator[Event]:
        import httpx

        delay = self.settings.reconnect_initial
        transport = self.context.transport
        async with httpx.AsyncClient(timeout=transport.timeout, verify=transport.verify) as http:
            while True:
                self.healthy = False
                try:
                    async for event in self._session(http):
                        yield event
                except _Retry as exc:
                    log.info("stream websocket for %s: %s; reconnecting", self.user, exc)
                if not self.healthy:
                    self.stats.incr("connect_failures")
                if self.healthy:
                    delay = self.settings.reconnect_initial
                self.stats.incr("reconnects")
                await asyncio.sleep(random.uniform(delay / 2, delay))
                delay = min(self.settings.reconnect_max, max(delay * 2, 0.05))

    async def _session(self, http: httpx.AsyncClient) -> AsyncIterator[Event]:
        import httpx
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

        timeout = self.context.transport.timeout
        try:
            async with connect(
                connect_url(self.settings, self.user, self.token),
                open_timeout=timeout,
                close_timeout=1,
                ping_interval=None,
                max_size=self.settings.max_webhook_bytes,
                logger=_RedactingLogger(
                    logging.getLogger("eventkit.stream.websocket"), [self.token, self.settings.secret]
                ),
            ) as ws:
                connection_id = await self._handshake(ws, timeout)
                for cid in self.watch:
                    await self._watch(http, connection_id, cid)
                self.healthy = True
                if not self.ready:
                    self.ready = True
                    if self.on_ready is not None:
                        self.on_ready(f"stream:user:{self.user}")
                else:
                    self.stats.incr("resubscribed")
                pinger = asyncio.ensure_future(self._ping(ws, f"{self.user}--{connection_id}"))
                try:
                    while True:
                        try:
                            raw = await wait_within(ws.recv(), self.settings.health_timeout)
                        except asyncio.TimeoutError:
                            raise _Retry(f"no frame for {self.settings.health_timeout}s") from None
                        event = self._frame(raw)
                        if event is not None:
                            self.stats.incr("received")
                            yield event
                finally:
                    pinger.cancel()
        except InvalidStatus as exc:
            status = exc.response.status_code
            error = error_from_response(HttpResponse(status, {}, bytes(exc.response.body or b"")))
            if not error.retryable:
                raise error from None
            raise _Retry(f"handshake answered {status}") from None
        except (OSError, asyncio.TimeoutError, ConnectionClosed, InvalidHandshake, httpx.HTTPError) as exc:
            raise _Retry(type(exc).__name__) from None

    async def _handshake(self, ws: Any, timeout: float) -> str:
        """The first frame: ``health.check`` with the connection id, or an error and a close."""
        raw = await wait_within(ws.recv(), timeout)
        try:
            return connection_id(raw)
        except ProtocolError as exc:  # garbage instead of a health check: a new session may do better
            raise _Retry(exc.message) from None
        except EventkitError as exc:
            if exc.retryable:
                raise _Retry(f"connect refused with {exc.status}") from None
            raise

    async def _watch(self, http: httpx.AsyncClient, connection_id: str, cid: str) -> None:
        """``POST /channels/{type}/{id}/query`` with ``watch: true`` ties the channel to this connection."""
        kind, _, ident = cid.partition(":")
        url = join_url(
            self.settings.base_url,
            "channels",
            segment(kind, "watch"),
            segment(ident, "watch"),
            "query",
            query={"api_key": self.settings.api_key or "", "user_id": self.user, "connection_id": connection_id},
        )
        headers = {
            "Authorization": self.token,
            "stream-auth-type": "jwt",
            "Content-Type": "application/json",
            "X-Stream-Client": CLIENT_ID,
        }
        r = await http.post(url, headers=headers, content=json_body({"watch": True, "state": False, "presence": False}))
        if not 200 <= r.status_code < 300:
            error = error_from_response(
                HttpResponse(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)
            )
            if error.retryable:
                raise _Retry(f"watching {cid} answered {r.status_code}")
            error.message = f"watching {cid}: {error.message}"
            error.args = (error.message,)
            raise error

    async def _ping(self, ws: Any, client_id: str) -> None:
        frame = json.dumps([{"type": "health.check", "client_id": client_id}])
        try:
            while True:
                await asyncio.sleep(self.settings.ping_interval)
                await ws.send(frame)
        except Exception:  # the reader notices the dead socket and reconnects
            return

    def _frame(self, raw: str | bytes) -> Event | None:
        """A custom event, or ``None`` for health checks, skipped built-ins and dropped garbage."""
        try:
            event = decode_frame(raw, source=f"stream:ws:{self.user}", user=self.user)
        except EventkitError:
            self.stats.incr("dropped_frames")
            return None
        if event is None:
            return None
        if is_builtin(event.name) and not self.settings.builtin_events:
            self.stats.incr("skipped_builtin")
            return None
        return event
