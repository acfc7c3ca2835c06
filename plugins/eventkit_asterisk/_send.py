"""Senders: AMI actions on one pipelined connection, ARI requests on the core HTTP transport.

One connected client may send to ``ami`` and ``app:<name>`` targets; which
credentials are needed depends on the target, so that is checked per send and
reported as a :class:`MissingCredentialsError` result, not at connect time.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from eventkit.provider import (
    AppTarget,
    AsyncSender,
    Counters,
    Event,
    MissingCredentialsError,
    Policy,
    Receipt,
    RetryLoop,
    SendResult,
    Target,
    async_http_sender,
)

from ._ami import AmiConnection
from ._codec_ami import encode_ami
from ._codec_ari import AriCodec
from ._wire import PROVIDER

if TYPE_CHECKING:
    from . import AsteriskProvider

AMI_NEEDS = "username and secret (EVENTKIT_ASTERISK_USERNAME / EVENTKIT_ASTERISK_SECRET)"
ARI_NEEDS = (
    "ari_url and ari_username + ari_password, or ari_api_key "
    "(EVENTKIT_ASTERISK_ARI_URL, EVENTKIT_ASTERISK_ARI_USERNAME, ...)"
)


class AmiSender:
    """``UserEvent`` actions over one logged-in AMI session (Events off), many in flight."""

    def __init__(self, provider: AsteriskProvider, transport: Policy, stats: Counters) -> None:
        self.provider = provider
        self.transport = transport
        self.stats = stats
        self.loop = RetryLoop(provider.name, transport, stats, redactor=provider.redactor)
        self._conn: AmiConnection | None = None
        self._lock = asyncio.Lock()

    async def connection(self) -> AmiConnection:
        conn = self._conn
        if conn is not None and conn.alive:
            return conn  # the hot path: no lock while the session is up
        async with self._lock:
            if self._conn is None or not self._conn.alive:
                if self._conn is not None:
                    await self._conn.close(logoff=False)
                    self.stats.incr("reconnects")
                self._conn = None
                conn = AmiConnection(self.provider.settings, self.transport, self.stats, events="off")
                await conn.open()
                self._conn = conn
            return self._conn

    async def attempt(self, event: Event) -> Receipt:
        if not self.provider.settings.has_ami:
            raise MissingCredentialsError(f"sending to 'ami' needs {AMI_NEEDS}", provider=PROVIDER)
        conn = await self.connection()
        action_id = conn.next_action_id()
        frame = await conn.action(encode_ami(event, action_id), what="UserEvent")
        return Receipt(id=action_id, details={"response": frame.get("Response"), "message": frame.get("Message")})

    async def send(self, event: Event, target: Target) -> SendResult:
        return await self.loop.arun(event, target, lambda: self.attempt(event))

    async def aclose(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await conn.close()


class AsteriskSender:
    """Routes each event to the AMI or ARI sender, opened on first use."""

    def __init__(self, provider: AsteriskProvider, transport: Policy, stats: Counters) -> None:
        self.provider = provider
        self.transport = transport
        self.stats = stats
        self._ami: AmiSender | None = None
        self._ari: AsyncSender | None = None

    async def send(self, event: Event, target: Target) -> SendResult:
        if isinstance(target, AppTarget):
            if not self.provider.settings.has_ari:
                return self._missing(event, target, f"sending to app: targets needs {ARI_NEEDS}")
            if self._ari is None:
                codec = AriCodec(self.provider.settings)
                self._ari = async_http_sender(self.provider, codec, self.transport, self.stats)
            return await self._ari.send(event, target)
        if self._ami is None:
            self._ami = AmiSender(self.provider, self.transport, self.stats)
        return await self._ami.send(event, target)

    def _missing(self, event: Event, target: Target, message: str) -> SendResult:
        self.stats.incr("failed")
        error = MissingCredentialsError(message, provider=PROVIDER)
        return SendResult(event=event, target=str(target), provider=PROVIDER, error=error, attempts=0)

    async def aclose(self) -> None:
        if self._ami is not None:
            await self._ami.aclose()
        if self._ari is not None:
            await self._ari.aclose()
