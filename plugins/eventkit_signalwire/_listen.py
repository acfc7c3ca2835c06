"""Listening over RELAY: one websocket, ``signalwire.connect``, persist then ACK, reconnect.

The session keeps the promises SignalWire's RELAY guide asks of a client: every
``signalwire.event`` is ACKed, but only once the listen context's sink holds it
(a RELAY ACK means "held": an event not ACKed is resent by SignalWire), including
events that arrive during the handshake, which are held even if the connect then
answers an error. ``signalwire.ping`` is answered, ``signalwire.disconnect`` is
answered and followed by a reconnect carrying the session's ``protocol``. The
core's reconnect loop re-dials a dropped socket. A frame that is not JSON-RPC is
counted (``dropped_frames``) and dropped; only refused credentials end it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from eventkit.provider import (
    AuthenticationError,
    Connected,
    Event,
    EventkitError,
    ListenContext,
    PermissionDeniedError,
    ProtocolError,
    Reconnector,
    sink_only,
    wait_within,
)

from ._codec_relay import (
    AUTHORIZATION_STATE,
    Frame,
    ack,
    connect_request,
    decode_user_event,
    is_user_event,
    method_not_found,
    parse_frame,
)
from ._errors import connect_error
from ._wire import PROVIDER

if TYPE_CHECKING:
    from ._settings import SignalWireSettings

log = logging.getLogger("eventkit.signalwire.relay")

MAX_FRAME_BYTES = 10 * 1024 * 1024
"""SignalWire's own Python RELAY client accepts frames up to 10 MiB."""


class _Restart(Exception):
    """The server asked us to reconnect (``signalwire.disconnect``)."""


class RelayListener:
    """State that outlives one websocket: the session ``protocol`` and authorization state."""

    def __init__(self, settings: SignalWireSettings, context: ListenContext) -> None:
        self.settings = settings
        self.context = context
        self.stats = context.stats
        options = context.options
        contexts = options.get("contexts", settings.contexts)
        self.contexts: tuple[str, ...] = (contexts,) if isinstance(contexts, str) else tuple(contexts)
        self.url: str = options.get("relay_url") or settings.relay_url
        self.on_ready: Callable[[str], Any] | None = options.get("on_ready")
        self.protocol: str | None = None
        self.authorization_state: str | None = None
        self.identity: str | None = None
        self.loop: Reconnector

    def events(self) -> AsyncIterator[Event]:
        from websockets.exceptions import InvalidHandshake, WebSocketException

        loop = Reconnector(
            self.context,
            PROVIDER,
            retry_on=(_Restart, OSError, asyncio.TimeoutError, WebSocketException, InvalidHandshake, EventkitError),
            on_ready=self.on_ready,
        )
        self.loop = loop
        return sink_only(lambda: loop.run(self._session))

    async def _session(self, connected: Connected) -> None:
        from websockets.asyncio.client import connect

        async with connect(
            self.url,
            max_size=MAX_FRAME_BYTES,
            open_timeout=self.context.transport.connect_timeout or self.context.transport.timeout,
            ping_interval=20,
            close_timeout=2,
        ) as ws:
            await self._handshake(ws)
            connected(self.url)
            async for message in ws:
                await self._handle(ws, message)

    async def _handshake(self, ws: Any) -> None:
        """Send ``signalwire.connect`` and wait for its answer, serving other frames meanwhile."""
        carried_protocol = self.protocol
        frame = connect_request(
            self.settings,
            contexts=self.contexts,
            protocol=self.protocol,
            authorization_state=self.authorization_state,
        )
        await ws.send(json.dumps(frame))
        timeout = self.context.transport.timeout
        while True:
            message = await wait_within(ws.recv(), timeout)
            parsed = self._parse(message)
            if parsed is None:
                continue
            if parsed.is_request:
                await self._serve(ws, parsed)
                continue
            if parsed.id != frame["id"]:
                continue
            if parsed.error is not None:
                error = connect_error(parsed.error)
                if carried_protocol and not isinstance(error, (AuthenticationError, PermissionDeniedError)):
                    # A stale session: start a fresh one rather than retrying it forever.
                    self.protocol = None
                    self.authorization_state = None
                raise error
            result = parsed.result if isinstance(parsed.result, dict) else {}
            protocol = result.get("protocol")
            if isinstance(protocol, str) and protocol:
                self.protocol = protocol
            identity = result.get("identity")
            if isinstance(identity, str):
                self.identity = identity
            self.stats.incr("relay_connects")
            return

    def _parse(self, message: str | bytes) -> Frame | None:
        try:
            return parse_frame(message)
        except ProtocolError as exc:
            self.loop.dropped("a RELAY frame", exc.message)
            return None

    async def _handle(self, ws: Any, message: str | bytes) -> None:
        parsed = self._parse(message)
        if parsed is not None and parsed.is_request:
            await self._serve(ws, parsed)

    async def _serve(self, ws: Any, frame: Frame) -> None:
        """Answer one server request; a user event is handed to the sink before its ACK."""
        method = frame.method
        if method == "signalwire.event":
            events = self._event(frame)
            if events:
                key = f"relay:{frame.id}" if frame.id is not None else None
                await self.context.sink.accept(events, dedupe_key=key)
            await ws.send(json.dumps(ack(frame.id)))
            return
        if method == "signalwire.ping":
            await ws.send(json.dumps(ack(frame.id)))
            self.stats.incr("pings")
            return
        if method == "signalwire.disconnect":
            await ws.send(json.dumps(ack(frame.id)))
            raise _Restart()
        if frame.id is not None:
            await ws.send(json.dumps(method_not_found(frame.id, str(method))))
        self.stats.incr("ignored_requests")

    def _event(self, frame: Frame) -> list[Event]:
        params = frame.params
        if params.get("event_type") == AUTHORIZATION_STATE:
            inner = params.get("params")
            state = inner.get("authorization_state") if isinstance(inner, dict) else None
            if isinstance(state, str):
                self.authorization_state = state
            return []
        if not is_user_event(params):
            self.stats.incr("ignored_events")
            return []
        try:
            event = decode_user_event(params, self.settings.name_key, raw=frame.raw, frame_id=frame.id)
        except EventkitError as exc:
            self.loop.dropped("a RELAY user event", exc.message)
            return []
        return [event]


def listen_relay(settings: SignalWireSettings, context: ListenContext) -> AsyncIterator[Event]:
    if settings.jwt_token is None and not (settings.project_id and settings.api_token):
        from eventkit.provider import MissingCredentialsError

        raise MissingCredentialsError("RELAY needs project_id and api_token, or jwt_token", provider=PROVIDER)
    return RelayListener(settings, context).events()
