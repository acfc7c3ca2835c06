"""The AMI client: one asyncio TCP session with ActionID correlation.

Many actions may be in flight on one connection: each gets a unique
``ActionID`` and a future, and the reader task resolves the future when the
matching ``Response:`` frame arrives. Frames are routed by their first line
(``Event:`` or ``Response:``), never by ``ActionID``, because Asterisk echoes
the sender's ``ActionID`` into the ``UserEvent`` it emits.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import secrets
import ssl
from collections.abc import Callable

from eventkit.provider import (
    AuthenticationError,
    Counters,
    EventkitError,
    Policy,
    ProtocolError,
    SendTimeoutError,
    UnavailableError,
    wait_within,
)

from ._errors import ami_error
from ._frames import AmiFrame, AmiParser, MalformedFrame, encode_action
from ._settings import AsteriskSettings
from ._wire import BANNER_PREFIX, PROVIDER

log = logging.getLogger("eventkit.asterisk")

EventCallback = Callable[[AmiFrame], None]


_DRAIN_ABOVE = 1 << 16
"""Bytes buffered for the socket above which an action waits for the kernel to take them."""


class _Expired(Exception):
    """The action's timer fired before its answer."""


class _Lost(Exception):
    """The connection ended before the action's answer."""


class AmiConnection:
    """A logged-in AMI session. Use :meth:`open`, then :meth:`action`, then :meth:`close`."""

    def __init__(
        self,
        settings: AsteriskSettings,
        transport: Policy,
        stats: Counters,
        *,
        events: str = "off",
        on_event: EventCallback | None = None,
    ) -> None:
        self.settings = settings
        self.transport = transport
        self.stats = stats
        self.events = events
        self.on_event = on_event
        self.banner: str | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = AmiParser(expect_banner=True)
        self._pending: dict[str, asyncio.Future[AmiFrame]] = {}
        self._deadlines: dict[str, float] = {}
        self._out: list[bytes] = []
        self._ids = itertools.count(1)
        self._prefix = f"ek-{secrets.token_hex(4)}-"
        self._tasks: list[asyncio.Task[None]] = []
        self._banner_seen: asyncio.Future[str] | None = None
        self.lost: asyncio.Future[EventkitError] | None = None
        """Resolves with the reason once the connection is gone (never raises)."""

    @property
    def alive(self) -> bool:
        return self.lost is not None and not self.lost.done()

    def next_action_id(self) -> str:
        return f"{self._prefix}{next(self._ids)}"

    async def open(self) -> None:
        """Connect, read the banner, log in; raises a typed error on any failure."""
        loop = asyncio.get_running_loop()
        self.lost = loop.create_future()
        self._banner_seen = loop.create_future()
        self._tasks.append(asyncio.ensure_future(self._expire_loop()))
        s = self.settings
        context: ssl.SSLContext | None = None
        if s.tls:
            context = ssl.create_default_context()
            if not self.transport.verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
        timeout = self.transport.connect_timeout or self.transport.timeout
        try:
            self._reader, self._writer = await wait_within(
                asyncio.open_connection(s.host, s.ami_port, ssl=context), timeout
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise UnavailableError(
                f"could not connect to AMI at {s.host}:{s.ami_port}: {type(exc).__name__}", provider=PROVIDER
            ) from None
        self._tasks.append(asyncio.ensure_future(self._read_loop()))
        try:
            self.banner = await wait_within(asyncio.shield(self._banner_seen), timeout)
            await self._login()
        except asyncio.TimeoutError:
            await self.close(logoff=False)
            raise UnavailableError("AMI server sent no banner or login answer in time", provider=PROVIDER) from None
        except EventkitError:
            await self.close(logoff=False)
            raise
        if s.ping_interval > 0:
            self._tasks.append(asyncio.ensure_future(self._ping_loop()))

    async def _login(self) -> None:
        s = self.settings
        assert s.username is not None and s.secret is not None
        headers = [("Action", "Login"), ("Username", s.username)]
        if s.auth == "md5":
            answer = await self.action([("Action", "Challenge"), ("AuthType", "MD5")], what="Challenge")
            challenge = answer.get("Challenge") or ""
            key = hashlib.md5((challenge + s.secret.reveal()).encode()).hexdigest()
            headers += [("AuthType", "MD5"), ("Key", key)]
        else:
            headers.append(("Secret", s.secret.reveal()))
        headers.append(("Events", self.events))
        try:
            await self.action(headers, what="Login")
        except (AuthenticationError, UnavailableError):
            raise
        except EventkitError as exc:
            raise AuthenticationError(
                f"AMI login refused: {exc.code or exc.message}", provider=PROVIDER, code=exc.code, status=401
            ) from None

    async def action(self, headers: list[tuple[str, str]], *, what: str = "action") -> AmiFrame:
        """Send one action and wait for its response; ``Response: Error`` raises the mapped error.

        An ``ActionID`` is added unless the headers carry one (at index 1).
        """
        if not self.alive or self._writer is None:
            raise UnavailableError("the AMI connection is closed", provider=PROVIDER)
        if len(headers) > 1 and headers[1][0] == "ActionID":
            action_id = headers[1][1]
        else:
            action_id = self.next_action_id()
            headers = [headers[0], ("ActionID", action_id), *headers[1:]]
        data = encode_action(headers)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AmiFrame] = loop.create_future()
        self._pending[action_id] = future
        # Deadlines are swept by one task, not a timer per action, and writes are
        # coalesced per loop iteration: a pipelined connection with hundreds of
        # actions in flight then costs one syscall per batch, not per action.
        self._deadlines[action_id] = loop.time() + self.transport.timeout
        try:
            if not self._out:
                loop.call_soon(self._flush)
            self._out.append(data)
            if self._writer.transport.get_write_buffer_size() > _DRAIN_ABOVE:
                self._flush()
                try:
                    await self._writer.drain()
                except (OSError, RuntimeError):
                    raise UnavailableError(
                        f"AMI connection lost sending {what}", provider=PROVIDER, maybe_delivered=True
                    ) from None
            try:
                frame = await future
            except _Expired:
                raise SendTimeoutError(
                    f"no AMI answer to {what} in time", provider=PROVIDER, maybe_delivered=True
                ) from None
            except _Lost:
                raise UnavailableError(
                    f"AMI connection lost before the {what} answer", provider=PROVIDER, maybe_delivered=True
                ) from None
        finally:
            self._deadlines.pop(action_id, None)
            self._pending.pop(action_id, None)
            if not future.done():
                future.cancel()
        response = (frame.get("Response") or "").lower()
        if response in ("success", "goodbye", "follows"):
            return frame
        raise ami_error(frame, what)

    async def _read_loop(self) -> None:
        assert self._reader is not None and self.lost is not None and self._banner_seen is not None
        reason: EventkitError = UnavailableError("AMI connection closed by the server", provider=PROVIDER)
        try:
            while True:
                chunk = await self._reader.read(65536)
                if not chunk:
                    break
                frames = self._parser.feed(chunk)
                if self._parser.banner is not None and not self._banner_seen.done():
                    if not self._parser.banner.startswith(BANNER_PREFIX):
                        reason = ProtocolError(
                            "the server is not an Asterisk manager (no AMI banner)", provider=PROVIDER
                        )
                        self._banner_seen.set_exception(reason)
                        break
                    self._banner_seen.set_result(self._parser.banner)
                for frame in frames:
                    self._dispatch(frame)
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError) as exc:
            reason = UnavailableError(f"AMI connection lost: {type(exc).__name__}", provider=PROVIDER)
        except asyncio.CancelledError:
            reason = UnavailableError("AMI connection closed", provider=PROVIDER)
            raise
        finally:
            if not self._banner_seen.done():
                self._banner_seen.set_exception(reason)
                self._banner_seen.exception()  # retrieved: nobody may be waiting any more
            if not self.lost.done():
                self.lost.set_result(reason)
            self._fail_pending()
            if self._writer is not None:
                self._writer.close()

    def _flush(self) -> None:
        out, self._out = self._out, []
        if out and self._writer is not None and not self._writer.is_closing():
            self._writer.write(b"".join(out))

    async def _expire_loop(self) -> None:
        """Fails actions whose answer is overdue: timeouts resolve within a quarter of ``timeout``."""
        loop = asyncio.get_running_loop()
        period = max(0.005, min(1.0, self.transport.timeout / 4))
        try:
            while True:
                await asyncio.sleep(period)
                now = loop.time()
                for action_id, deadline in list(self._deadlines.items()):
                    if deadline <= now:
                        future = self._pending.get(action_id)
                        if future is not None and not future.done():
                            future.set_exception(_Expired())
        except asyncio.CancelledError:
            pass

    def _fail_pending(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(_Lost())

    def _dispatch(self, frame: AmiFrame | MalformedFrame) -> None:
        if isinstance(frame, MalformedFrame):
            self.stats.incr("dropped_frames")
            log.debug("dropped a malformed AMI frame: %s", frame.reason)
            return
        kind = frame.kind
        if kind == "event":
            if self.on_event is not None:
                self.on_event(frame)
            return
        if kind == "response":
            action_id = frame.get("ActionID")
            future = self._pending.get(action_id) if action_id is not None else None
            if future is not None and not future.done():
                future.set_result(frame)
                return
        self.stats.incr("dropped_frames")

    async def _ping_loop(self) -> None:
        """Keep-alive that also detects a half-open TCP connection (a ping without an answer)."""
        try:
            while self.alive:
                await asyncio.sleep(self.settings.ping_interval)
                if not self.alive:
                    return
                try:
                    await self.action([("Action", "Ping")], what="Ping")
                except EventkitError:
                    log.debug("AMI ping failed; closing the connection")
                    await self.close(logoff=False)
                    return
        except asyncio.CancelledError:
            pass

    async def close(self, *, logoff: bool = True) -> None:
        if logoff and self.alive:
            try:
                await wait_within(self.action([("Action", "Logoff")], what="Logoff"), 1.0)
            except (EventkitError, asyncio.TimeoutError):
                pass
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()
        for task in self._tasks:
            if task is not current:
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass
        self._tasks.clear()
        if self._writer is not None:
            self._writer.close()
        if self.lost is not None and not self.lost.done():
            self.lost.set_result(UnavailableError("AMI connection closed", provider=PROVIDER))
        self._fail_pending()
