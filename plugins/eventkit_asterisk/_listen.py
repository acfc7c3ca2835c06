"""Listeners: an AMI session with events on (``via="tcp"``) and the ARI event
websocket (``via="websocket"``), both behind one reconnect loop.

Asterisk keeps no replay buffer (``main/manager.c`` queues events only for
sessions connected at the time): events that happen while
a listener is disconnected are lost, so the loop reconnects at once after a
drop and backs off only when connecting fails. Events received before a drop
are queued ahead of the drop marker, so none are lost on our side. Wrong
credentials end the listener with the typed error: retrying cannot fix them.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from eventkit.provider import (
    AuthenticationError,
    ConfigurationError,
    Event,
    EventkitError,
    ListenContext,
    MissingCredentialsError,
    PermissionDeniedError,
    Throttle,
    UnavailableError,
    ValidationError,
)

from ._ami import AmiConnection
from ._codec_ami import decode_user_event
from ._codec_ari import decode_ari_event
from ._frames import AmiFrame
from ._send import AMI_NEEDS, ARI_NEEDS
from ._wire import PROVIDER

if TYPE_CHECKING:
    from . import AsteriskProvider

log = logging.getLogger("eventkit.asterisk")
_warnings = Throttle(log, interval=30.0)
"""Failed connections and reconnects are WARNING, as for every provider; one line per 30 s per kind."""

Put = Callable[[Event], None]
Session = tuple["asyncio.Future[Any]", Callable[[], Awaitable[None]], str]
"""(resolves when the session is lost, closes it, the address to report)."""
Opener = Callable[[Put], Awaitable[Session]]

_FATAL = (AuthenticationError, PermissionDeniedError, ConfigurationError, ValidationError)
_LOST = object()


def _delay(context: ListenContext, failures: int) -> float:
    policy = context.transport
    ceiling = min(policy.backoff_max, max(policy.backoff_initial, 0.01) * (2 ** (failures - 1)))
    return random.uniform(ceiling / 2, ceiling)


async def reconnecting(context: ListenContext, open_session: Opener) -> AsyncIterator[Event]:
    queue: asyncio.Queue[object] = asyncio.Queue()
    on_ready: Any = context.options.get("on_ready")
    max_outage: float | None = getattr(context.transport, "max_outage", None)
    failures = 0
    sessions = 0
    attempts = 0
    outage_since: float | None = None
    while True:
        attempts += 1
        if attempts > 1:
            context.stats.incr("reconnects")
        try:
            lost, close, address = await open_session(queue.put_nowait)
        except _FATAL:
            raise
        except EventkitError as exc:
            failures += 1
            context.stats.incr("connect_failures")
            now = time.monotonic()
            outage_since = now if outage_since is None else outage_since
            if max_outage is not None and now - outage_since >= max_outage:
                raise UnavailableError(
                    f"asterisk listener gave up: no connection for {max_outage:g}s (max_outage); last: {exc.message}",
                    provider=PROVIDER,
                ) from None
            delay = _delay(context, failures)
            if max_outage is not None:
                delay = max(0.0, min(delay, outage_since + max_outage - now))
            _warnings.warning(
                "connect", "asterisk listener: cannot connect (%s); retrying in %.1fs", exc.message, delay
            )
            await asyncio.sleep(delay)
            continue
        failures = 0
        outage_since = None
        sessions += 1
        if sessions > 1:
            context.stats.incr("resubscribed")
            _warnings.warning("reconnected", "asterisk listener: reconnected to %s", address)
        lost.add_done_callback(lambda _: queue.put_nowait(_LOST))
        if on_ready is not None:
            on_ready(address)
        try:
            while True:
                item = await queue.get()
                if item is _LOST:
                    _warnings.warning("lost", "asterisk listener: connection to %s lost; reconnecting", address)
                    break
                assert isinstance(item, Event)
                context.stats.incr("received")
                yield item
        finally:
            await close()


def listen_ami(provider: AsteriskProvider, context: ListenContext) -> AsyncIterator[Event]:
    settings = provider.settings
    if not settings.has_ami:
        raise MissingCredentialsError(f"listening via tcp (AMI) needs {AMI_NEEDS}", provider=PROVIDER)
    names = context.names

    async def open_session(put: Put) -> Session:
        def on_frame(frame: AmiFrame) -> None:
            try:
                event = decode_user_event(frame)
            except Exception:
                context.stats.incr("dropped_frames")
                return
            if event is not None and (names is None or event.name in names):
                put(event)

        conn = AmiConnection(settings, context.transport, context.stats, events=settings.events_mask, on_event=on_frame)
        await conn.open()
        assert conn.lost is not None
        return conn.lost, conn.close, f"ami://{settings.host}:{settings.ami_port}"

    return reconnecting(context, open_session)


def ari_ws_request(provider: AsteriskProvider, app: str) -> tuple[str, dict[str, str]]:
    """The event websocket's URL and headers (Basic auth, or ``api_key`` in the query)."""
    s = provider.settings
    query = {"app": app}
    if s.ari_subscribe_all:
        query["subscribeAll"] = "true"
    headers: dict[str, str] = {}
    if s.ari_username and s.ari_password:
        token = base64.b64encode(f"{s.ari_username}:{s.ari_password.reveal()}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    elif s.ari_api_key:
        query["api_key"] = s.ari_api_key.reveal()
    return f"{s.ws_url}/ari/events?{urlencode(query, quote_via=quote)}", headers


def listen_ari(provider: AsteriskProvider, context: ListenContext) -> AsyncIterator[Event]:
    settings = provider.settings
    app = context.options.get("app") or settings.ari_app
    if not settings.has_ari:
        raise MissingCredentialsError(f"listening via websocket (ARI) needs {ARI_NEEDS}", provider=PROVIDER)
    if not app:
        raise ConfigurationError("listening via websocket needs an ARI application: ari_app=... or app=...")
    names = context.names
    url, headers = ari_ws_request(provider, str(app))

    async def open_session(put: Put) -> Session:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus

        timeout = context.transport.connect_timeout or context.transport.timeout
        ping = settings.ping_interval or None
        try:
            ws = await connect(
                url, additional_headers=headers, open_timeout=timeout, ping_interval=ping, max_size=16 * 2**20
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            if status == 401:
                raise AuthenticationError("ARI refused the credentials", provider=PROVIDER, status=401) from None
            if status == 403:
                raise PermissionDeniedError("ARI refused access", provider=PROVIDER, status=403) from None
            if status == 400:
                raise ValidationError(
                    f"ARI refused the websocket request ({status})", provider=PROVIDER, status=400
                ) from None
            raise UnavailableError(f"ARI websocket refused with {status}", provider=PROVIDER, status=status) from None
        except (OSError, InvalidHandshake, asyncio.TimeoutError) as exc:
            raise UnavailableError(
                f"could not open the ARI websocket: {type(exc).__name__}", provider=PROVIDER
            ) from None

        async def read() -> None:
            try:
                async for message in ws:
                    try:
                        event = decode_ari_event(json.loads(message), message)
                    except (ValueError, TypeError, RecursionError, EventkitError):
                        context.stats.incr("dropped_frames")
                        continue
                    if event is not None and (names is None or event.name in names):
                        put(event)
            except Exception as exc:
                log.debug("ARI websocket lost: %s", type(exc).__name__)

        task = asyncio.ensure_future(read())

        async def close() -> None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            await ws.close()

        return task, close, f"{settings.ws_url}/ari/events?app={app}"

    return reconnecting(context, open_session)
