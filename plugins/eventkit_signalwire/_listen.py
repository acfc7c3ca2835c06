"""Listening over RELAY: one websocket, ``signalwire.connect``, ACK everything, reconnect.

The loop keeps the promises SignalWire's RELAY guide asks of a client: every
``signalwire.event`` is ACKed (before it is yielded, so a slow consumer never
leaves events un-ACKed), ``signalwire.ping`` is answered, ``signalwire.disconnect``
is answered and followed by a reconnect carrying the session's ``protocol``, and a
dropped socket is re-dialled with backoff. A frame that is not JSON-RPC is
counted (``dropped_frames``) and dropped; only refused credentials end it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from eventkit.provider import (
    AuthenticationError,
    Event,
    EventkitError,
    ListenContext,
    PermissionDeniedError,
    ProtocolError,
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
        self._ready_called = False

    def _backoff(self, failures: int) -> float:
        policy = self.context.transport
        ceiling: float = min(policy.backoff_max, policy.backoff_initial * (2 ** max(0, failures - 1)))
        return ceiling * random.uniform(0.5, 1.0)

    async def events(self) -> AsyncIterator[Event]:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, WebSocketException

        failures = 0
        sessions = 0
        while True:
            connected = False
            try:
                async with connect(
                    self.url,
                    max_size=MAX_FRAME_BYTES,
                    open_timeout=self.context.transport.connect_timeout or self.context.transport.timeout,
                    ping_interval=20,
                    close_timeout=2,
                ) as ws:
                    pending = await self._handshake(ws)
                    failures = 0
                    connected = True
                    sessions += 1
                    if sessions > 1:
                        self.stats.incr("resubscribed")
                    if not self._ready_called and self.on_ready is not None:
                        self._ready_called = True
                        self.on_ready(self.url)
                    for event in pending:
                        yield event
                    async for message in ws:
                        for event in await self._handle(ws, message):
                            yield event
            except _Restart:
                self.stats.incr("reconnects")
                log.info("RELAY asked for a reconnect; resuming protocol")
                continue
            except (AuthenticationError, PermissionDeniedError):
                raise
            except (OSError, asyncio.TimeoutError, WebSocketException, InvalidHandshake, EventkitError) as exc:
                failures += 1
                self.stats.incr("reconnects")
                if not connected:
                    self.stats.incr("connect_failures")
                log.info("RELAY connection lost (%s); reconnecting", type(exc).__name__)
            else:
                # The server closed the socket cleanly: reconnect like any drop.
                failures += 1
                self.stats.incr("reconnects")
            await asyncio.sleep(self._backoff(failures))

    async def _handshake(self, ws: Any) -> list[Event]:
        """Send ``signalwire.connect`` and wait for its answer, serving other frames meanwhile."""
        carried_protocol = self.protocol
        frame = connect_request(
            self.settings,
            contexts=self.contexts,
            protocol=self.protocol,
            authorization_state=self.authorization_state,
        )
        await ws.send(json.dumps(frame))
        pending: list[Event] = []
        timeout = self.context.transport.timeout
        while True:
            message = await wait_within(ws.recv(), timeout)
            parsed = self._parse(message)
            if parsed is None:
                continue
            if parsed.is_request:
                pending.extend(await self._serve(ws, parsed))
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
            return pending

    def _parse(self, message: str | bytes) -> Frame | None:
        try:
            return parse_frame(message)
        except ProtocolError as exc:
            self.stats.incr("dropped_frames")
            log.info("dropped a RELAY frame: %s", exc.message)
            return None

    async def _handle(self, ws: Any, message: str | bytes) -> list[Event]:
        parsed = self._parse(message)
        if parsed is None or not parsed.is_request:
            return []
        return await self._serve(ws, parsed)

    async def _serve(self, ws: Any, frame: Frame) -> list[Event]:
        """Answer one server request; the user events it carries, already ACKed."""
        method = frame.method
        if method == "signalwire.event":
            await ws.send(json.dumps(ack(frame.id)))
            return self._event(frame)
        if method == "signalwire.ping":
            await ws.send(json.dumps(ack(frame.id)))
            self.stats.incr("pings")
            return []
        if method == "signalwire.disconnect":
            await ws.send(json.dumps(ack(frame.id)))
            raise _Restart()
        if frame.id is not None:
            await ws.send(json.dumps(method_not_found(frame.id, str(method))))
        self.stats.incr("ignored_requests")
        return []

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
            self.stats.incr("dropped_frames")
            log.info("dropped a RELAY user event: %s", exc.message)
            return []
        self.stats.incr("received")
        return [event]


def listen_relay(settings: SignalWireSettings, context: ListenContext) -> AsyncIterator[Event]:
    if settings.jwt_token is None and not (settings.project_id and settings.api_token):
        from eventkit.provider import MissingCredentialsError

        raise MissingCredentialsError("RELAY needs project_id and api_token, or jwt_token", provider=PROVIDER)
    return RelayListener(settings, context).events()
