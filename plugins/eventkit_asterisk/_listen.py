"""Listeners: an AMI session with events on (``via="tcp"``) and the ARI event
websocket (``via="websocket"``), each run by the core's reconnect loop.

Asterisk keeps no replay buffer (``main/manager.c`` queues events only for
sessions connected at the time): events that happen while
a listener is disconnected are lost, so the core loop reconnects at once after a
drop and backs off only when connecting fails. Every decoded event is handed to
the listen context's sink and awaited before the next frame is read, so a full
store stops the reading (backpressure). Wrong credentials end the listener with
the typed error: retrying cannot fix them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

from eventkit.provider import (
    AuthenticationError,
    ConfigurationError,
    Connected,
    Event,
    EventkitError,
    ListenContext,
    MissingCredentialsError,
    PermissionDeniedError,
    Reconnector,
    UnavailableError,
    ValidationError,
    sink_only,
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
"""Failed connections and reconnects are WARNING, as for every provider; one line per 30 s per kind."""

_FATAL = (AuthenticationError, PermissionDeniedError, ConfigurationError, ValidationError)


def listen_ami(provider: AsteriskProvider, context: ListenContext) -> AsyncIterator[Event]:
    settings = provider.settings
    if not settings.has_ami:
        raise MissingCredentialsError(f"listening via tcp (AMI) needs {AMI_NEEDS}", provider=PROVIDER)
    names = context.names
    loop = Reconnector(context, PROVIDER, retry_on=(EventkitError,), fatal=_FATAL, ready_every_session=True)

    async def on_frame(frame: AmiFrame) -> None:
        try:
            event = decode_user_event(frame)
        except Exception:
            loop.dropped("an AMI UserEvent it cannot decode")
            return
        if event is not None and (names is None or event.name in names):
            # AMI events carry no id and are never resent: nothing to deduplicate.
            await context.sink.accept([event])

    async def session(connected: Connected) -> None:
        conn = AmiConnection(settings, context.transport, context.stats, events=settings.events_mask, on_event=on_frame)
        await conn.open()
        assert conn.lost is not None
        try:
            connected(f"ami://{settings.host}:{settings.ami_port}")
            raise await conn.lost
        finally:
            await conn.close()

    return sink_only(lambda: loop.run(session))


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

    loop = Reconnector(context, PROVIDER, retry_on=(EventkitError,), fatal=_FATAL, ready_every_session=True)

    async def session(connected: Connected) -> None:
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
        try:
            connected(f"{settings.ws_url}/ari/events?app={app}")
            try:
                async for message in ws:
                    try:
                        event = decode_ari_event(json.loads(message), message)
                    except (ValueError, TypeError, RecursionError, EventkitError):
                        loop.dropped("an ARI message it cannot decode")
                        continue
                    if event is not None and (names is None or event.name in names):
                        await context.sink.accept([event], dedupe_key=ari_dedupe_key(message))
            except EventkitError:
                raise
            except Exception as exc:
                raise UnavailableError(f"ARI websocket lost: {type(exc).__name__}", provider=PROVIDER) from None
            raise UnavailableError("ARI websocket closed", provider=PROVIDER)
        finally:
            await ws.close()

    return sink_only(lambda: loop.run(session))


def ari_dedupe_key(message: str | bytes) -> str:
    """ARI events carry no id; the digest of the whole message (its timestamp included) names one delivery."""
    data = message.encode() if isinstance(message, str) else message
    return "ari:" + hashlib.sha256(data).hexdigest()
