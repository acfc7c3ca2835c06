"""An Asterisk Manager Interface (AMI) server on loopback, for integration tests.

Written from Asterisk's source (``main/manager.c``: banner, framing, ``action_userevent``;
``main/stasis.c`` ``multi_user_event_to_ami``) and a capture from a running Asterisk, independently of the eventkit provider, so tests check the
provider against a second implementation of the same facts:

* banner ``Asterisk Call Manager/13.0.0`` (one line), ``\\r\\n`` or bare ``\\n`` input;
* ``Login`` (plain, or ``AuthType: MD5`` + ``Key`` after ``Challenge``), ``Logoff``,
  ``Ping``, ``Events``, ``UserEvent``; anything else before login is
  ``Permission denied``; a failed login waits, answers and hangs up;
* ``read=``/``write=`` permissions and the ``Events`` mask (user events need
  ``read`` and the mask to include ``user``; the action needs ``write=user``);
* input limits: 1024 bytes per line, 128 lines per action;
* the ``UserEvent`` action's ack, then the event with every raw header line but
  ``Action:``/``UserEvent:`` (so the sender's ``ActionID`` too) to **every**
  session including the sender's;
* the dialplan application ``UserEvent(name,key: value,...)`` with Asterisk's
  argument splitter, emitting the channel snapshot headers.

Faults for tests: :meth:`AmiEmulator.fail_next` (``Response: Error``),
:meth:`AmiEmulator.drop_next` (hang up on the next action), :meth:`broadcast_raw`.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

from eventkit.testing import TcpServer

AMI_VERSION = "13.0.0"
MAX_LINE = 1024
MAX_HEADERS = 128
CLASSES = [
    "system",
    "call",
    "log",
    "verbose",
    "command",
    "agent",
    "user",
    "config",
    "dtmf",
    "reporting",
    "cdr",
    "dialplan",
    "originate",
    "agi",
    "cc",
    "aoc",
    "test",
    "security",
    "message",
]
_TRUE = ("yes", "true", "y", "t", "1", "on")
_FALSE = ("no", "false", "n", "f", "0", "off")


def parse_mask(text: str) -> set[str] | None:
    """``strings_to_mask``: digits, a boolean, or a comma list of class names; ``None`` if invalid."""
    value = text.strip()
    if not value:
        return None
    if value.isdigit():
        number = int(value)
        return {name for i, name in enumerate(CLASSES) if number & (1 << i)}
    if value.lower() in _TRUE:
        return set(CLASSES)
    if value.lower() in _FALSE:
        return set()
    names = {part.strip().lower() for part in value.split(",")}
    if "all" in names:
        return set(CLASSES)
    return names & set(CLASSES)


class AmiUser:
    def __init__(self, secret: str, read: Iterable[str] = ("user", "system", "call"), write: Iterable[str] = ("user",)):
        self.secret = secret
        self.read = set(read)
        self.write = set(write)


class _Session:
    def __init__(self, writer: asyncio.StreamWriter, number: int) -> None:
        self.writer = writer
        self.number = number
        self.user: str | None = None
        self.mask: set[str] = set()
        self.challenge: str | None = None
        self.lock = asyncio.Lock()

    async def send(self, text: str) -> None:
        async with self.lock:
            if self.writer.is_closing():
                return
            self.writer.write(text.encode("utf-8"))
            await self.writer.drain()


def _response(kind: str, action_id: str | None, message: str | None = None, **extra: str) -> str:
    lines = [f"Response: {kind}"]
    if action_id:
        lines.append(f"ActionID: {action_id}")
    if message is not None:
        lines.append(f"Message: {message}")
    lines.extend(f"{k}: {v}" for k, v in extra.items())
    return "\r\n".join(lines) + "\r\n\r\n"


class _Action:
    """One received action: raw lines (for the UserEvent echo) and a header lookup."""

    def __init__(self, lines: list[str], error: str | None) -> None:
        self.lines = lines
        self.error = error

    def get(self, name: str) -> str | None:
        wanted = name.lower()
        for line in self.lines:
            key, colon, value = line.partition(":")
            if colon and key.lower() == wanted:
                return value.lstrip(" \t")
        return None


class AmiEmulator(TcpServer):
    """The AMI server. ``users`` maps a username to an :class:`AmiUser`."""

    def __init__(
        self,
        users: dict[str, AmiUser] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        version: str = AMI_VERSION,
        auth_fail_delay: float = 1.0,
        timestamp_events: bool = False,
    ) -> None:
        super().__init__(self._serve, host, port)
        self.users = users if users is not None else {"app": AmiUser("s3cret", write=("user", "system", "call"))}
        self.version = version
        self.auth_fail_delay = auth_fail_delay
        self.timestamp_events = timestamp_events
        self.sessions: list[_Session] = []
        self.actions: list[tuple[str, list[str]]] = []
        """Every action received after parsing: (name, raw header lines)."""
        self.logins = 0
        self._faults: list[tuple[str, Any]] = []
        self._numbers = itertools.count(1)
        self._channels = itertools.count(0)

    # Test controls (thread-safe: they run on the server's loop)

    def fail_next(self, message: str, *, times: int = 1) -> None:
        """Answer the next ``times`` actions (after login) with ``Response: Error`` / ``message``."""
        self.background.run_sync(lambda: self._faults.extend([("error", message)] * times))

    def drop_next(self, *, delay: float = 0.0) -> None:
        """Hang up, after ``delay`` seconds, on the next action after login instead of running it."""
        self.background.run_sync(lambda: self._faults.append(("drop", delay)))

    def user_events_received(self) -> int:
        return self.background.run_sync(lambda: sum(1 for name, _ in self.actions if name.lower() == "userevent"))

    def session_count(self, *, logged_in: bool = True) -> int:
        return self.background.run_sync(lambda: sum(1 for s in self.sessions if s.user or not logged_in))

    def broadcast_raw(self, data: bytes) -> None:
        """Write bytes as they are to every logged-in session (malformed frames, odd endings)."""
        self.run(self._broadcast(data))

    async def broadcast_raw_async(self, data: bytes) -> None:
        """:meth:`broadcast_raw` from async code (the caller's loop keeps serving its AMI client)."""
        await self.run_async(self._broadcast(data))

    async def _broadcast(self, data: bytes) -> None:
        for session in list(self.sessions):
            if session.user and not session.writer.is_closing():
                session.writer.write(data)
                await session.writer.drain()

    def emit_event(self, headers: list[tuple[str, str]], category: str = "user") -> None:
        """Send an event built from ``headers`` (``Event:`` first) to every session that reads ``category``."""
        self.run(self._publish(_event_text(headers), category))

    async def emit_event_async(self, headers: list[tuple[str, str]], category: str = "user") -> None:
        """:meth:`emit_event` from async code."""
        await self.run_async(self._publish(_event_text(headers), category))

    def dialplan(self, line: str, *, context: str = "events", exten: str = "emit") -> dict[str, str]:
        """Run one extensions.conf line (``same => n,UserEvent(...)``) on a new Local channel.

        Returns the body the application built (``eventname`` included), as
        Asterisk's JSON blob would hold it. Only ``UserEvent`` is implemented.
        """
        headers, blob = self._dialplan_event(line, context, exten)
        self.emit_event(headers)
        return blob

    async def dialplan_async(self, line: str, *, context: str = "events", exten: str = "emit") -> dict[str, str]:
        """:meth:`dialplan` from async code."""
        headers, blob = self._dialplan_event(line, context, exten)
        await self.emit_event_async(headers)
        return blob

    def _dialplan_event(self, line: str, context: str, exten: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
        app, data = parse_extensions_line(line)
        if app.lower() != "userevent":
            raise ValueError(f"the emulator runs UserEvent only, not {app}")
        blob = user_event_blob(data)
        number = next(self._channels)
        stamp = int(time.time())
        channel = [
            ("Channel", f"Local/{exten}@{context}-{number:08x};2"),
            ("ChannelState", "6"),
            ("ChannelStateDesc", "Up"),
            ("CallerIDNum", "<unknown>"),
            ("CallerIDName", "<unknown>"),
            ("ConnectedLineNum", "<unknown>"),
            ("ConnectedLineName", "<unknown>"),
            ("Language", "en"),
            ("AccountCode", ""),
            ("Context", context),
            ("Exten", exten),
            ("Priority", "2"),
            ("Uniqueid", f"{stamp}.{2 * number + 1}"),
            ("Linkedid", f"{stamp}.{2 * number}"),
        ]
        body = [(k, v) for k, v in blob.items() if k != "eventname"]
        headers = [("Event", "UserEvent"), ("Privilege", "user,all"), *channel, ("UserEvent", blob["eventname"]), *body]
        return headers, blob

    # The protocol

    async def _publish(self, text: str, category: str) -> None:
        if self.timestamp_events:
            head, _, rest = text.partition("\r\n")
            second, _, rest = rest.partition("\r\n")
            text = f"{head}\r\n{second}\r\nTimestamp: {time.time():.6f}\r\n{rest}"
        for session in list(self.sessions):
            if session.user and category in session.mask:
                try:
                    await session.send(text)
                except ConnectionError:
                    pass

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session = _Session(writer, next(self._numbers))
        self.sessions.append(session)
        try:
            await session.send(f"Asterisk Call Manager/{self.version}\r\n")
            async for action in _read_actions(reader):
                if not await self._run_action(session, action):
                    break
        finally:
            if session in self.sessions:
                self.sessions.remove(session)

    async def _run_action(self, session: _Session, action: _Action) -> bool:
        """Run one action; ``False`` ends the session."""
        action_id = action.get("ActionID")
        if action.error is not None:
            await session.send(_response("Error", action_id, action.error))
            return True
        name = action.get("Action")
        if not name:
            await session.send(_response("Error", action_id, "Missing action in request"))
            return True
        self.actions.append((name, action.lines))
        lowered = name.lower()
        if lowered in ("login", "challenge", "logoff"):
            handler = {"login": self._action_login, "challenge": self._action_challenge, "logoff": self._action_logoff}
            return await handler[lowered](session, action, action_id)
        if session.user is None:
            await session.send(_response("Error", action_id, "Permission denied"))
            return True
        if self._faults:
            kind, value = self._faults.pop(0)
            if kind == "drop":
                if value:
                    await asyncio.sleep(value)
                return False
            await session.send(_response("Error", action_id, value))
            return True
        if lowered == "ping":
            await session.send(_response("Success", action_id, None, Ping="Pong", Timestamp=f"{time.time():.6f}"))
        elif lowered == "events":
            mask = parse_mask(action.get("EventMask") or "")
            if mask is None:
                await session.send(_response("Error", action_id, "Invalid event mask"))
            else:
                session.mask = mask & self.users[session.user].read
                await session.send(_response("Success", action_id, None, Events="On" if session.mask else "Off"))
        elif lowered == "userevent":
            await self._action_userevent(session, action, action_id)
        else:
            await session.send(
                _response(
                    "Error",
                    action_id,
                    f"Invalid/unknown command: {name}. Use Action: ListCommands to show available commands.",
                )
            )
        return True

    async def _action_challenge(self, session: _Session, action: _Action, action_id: str | None) -> bool:
        if (action.get("AuthType") or "").lower() != "md5":
            await session.send(_response("Error", action_id, "Must specify AuthType"))
            return True
        session.challenge = str(secrets.randbelow(10**9))
        await session.send(_response("Success", action_id, None, Challenge=session.challenge))
        return True

    async def _action_login(self, session: _Session, action: _Action, action_id: str | None) -> bool:
        if session.user is not None:
            await session.send(_response("Success", action_id, "Already authenticated"))
            return True
        username = action.get("Username") or ""
        user = self.users.get(username)
        ok = False
        if user is not None:
            if (action.get("AuthType") or "").lower() == "md5":
                if session.challenge:
                    expected = hashlib.md5((session.challenge + user.secret).encode()).hexdigest()
                    ok = (action.get("Key") or "") == expected
            else:
                ok = (action.get("Secret") or "") == user.secret
        if not ok or user is None:
            await asyncio.sleep(self.auth_fail_delay)
            await session.send(_response("Error", action_id, "Authentication failed"))
            return False
        events = action.get("Events")
        mask = parse_mask(events) if events is not None else set(CLASSES)
        session.mask = (mask or set()) & user.read
        session.user = username
        self.logins += 1
        await session.send(_response("Success", action_id, "Authentication accepted"))
        if "system" in session.mask:
            await session.send(
                "Event: FullyBooted\r\nPrivilege: system,all\r\nUptime: 1\r\nLastReload: 1\r\nStatus: Fully Booted\r\n\r\n"
            )
        return True

    async def _action_logoff(self, session: _Session, action: _Action, action_id: str | None) -> bool:
        await session.send(_response("Goodbye", action_id, "Thanks for all the fish."))
        return False

    async def _action_userevent(self, session: _Session, action: _Action, action_id: str | None) -> None:
        assert session.user is not None
        if "user" not in self.users[session.user].write:
            await session.send(_response("Error", action_id, "Permission denied"))
            return
        name = action.get("UserEvent") or ""
        copied = [line for line in action.lines if not line.lower().startswith(("userevent:", "action:"))]
        await session.send(_response("Success", action_id, "Event Sent"))
        body = "".join(f"{line}\r\n" for line in copied)
        await self._publish(f"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: {name}\r\n{body}\r\n", "user")


async def _read_actions(reader: asyncio.StreamReader) -> AsyncIterator[_Action]:
    """Actions as Asterisk's ``get_input`` reads them: lines end in LF, 1024 bytes at most."""
    buffer = b""
    lines: list[str] = []
    error: str | None = None
    while True:
        chunk = await reader.read(4096)
        if not chunk:
            return
        buffer += chunk
        while True:
            end = buffer.find(b"\n")
            if end < 0:
                if len(buffer) >= MAX_LINE:
                    buffer = b""
                    error = error or "Failed to parse message: line too long"
                break
            if end + 1 > MAX_LINE:
                error = error or "Failed to parse message: line too long"
                buffer = buffer[end + 1 :]
                continue
            raw, buffer = buffer[:end], buffer[end + 1 :]
            line = raw[:-1] if raw.endswith(b"\r") else raw
            if not line:
                if lines or error:
                    if len(lines) > MAX_HEADERS and error is None:
                        error = "Too many lines in message or allocation failure"
                    yield _Action(lines, error)
                lines, error = [], None
                continue
            lines.append(line.decode("utf-8", "replace"))


# The dialplan, as far as UserEvent() needs it.


def _event_text(headers: list[tuple[str, str]]) -> str:
    """An AMI event frame from its header lines."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n"


def parse_extensions_line(line: str) -> tuple[str, str]:
    """``exten => x,1,App(data)`` or ``same => n,App(data)`` into (app, data).

    extensions.conf comments start at an unescaped ``;``; ``\\;`` is a literal
    semicolon (the backslash is removed by the config parser).
    """
    text = ""
    for char in line:
        if char == ";":
            if text.endswith("\\"):
                # config.c: a ";" right after a backslash is literal; the backslash goes.
                text = text[:-1] + ";"
                continue
            break
        text += char
    head, arrow, rest = text.partition("=>")
    if not arrow:
        raise ValueError("not an extensions.conf line")
    fields = 2 if head.strip() == "exten" else 1
    parts = rest.strip().split(",", fields)
    call = parts[-1].strip()
    app, paren, data = call.partition("(")
    if paren:
        close = data.rfind(")")
        data = data[:close] if close >= 0 else data
    return app.strip(), data


def separate_args(data: str, limit: int) -> list[str]:
    """``__ast_app_separate_args(..., ',', remove_chars=1)`` with at most ``limit`` args."""
    args: list[str] = []
    current = ""
    paren = bracket = 0
    quoted = False
    i = 0
    while i < len(data):
        char = data[i]
        if char == "\\" and i + 1 < len(data):
            current += data[i + 1]
            i += 2
            continue
        if char == '"':
            quoted = not quoted
            i += 1
            continue
        if not quoted:
            if char == "(":
                paren += 1
            elif char == ")" and paren:
                paren -= 1
            elif char == "[":
                bracket += 1
            elif char == "]" and bracket:
                bracket -= 1
            elif char == "," and not paren and not bracket and len(args) < limit - 1:
                args.append(current)
                current = ""
                i += 1
                continue
        current += char
        i += 1
    args.append(current)
    return args


def user_event_blob(data: str) -> dict[str, str]:
    """What ``app_userevent.c`` builds: ``eventname`` plus each ``key:value`` arg (value trimmed)."""
    if not data:
        raise ValueError("UserEvent requires an argument (eventname,optional event body)")
    args = separate_args(data, 101)
    blob = {"eventname": args[0]}
    for extra in args[1:]:
        key, colon, value = extra.partition(":")
        if not colon:
            continue
        blob[key] = value.strip()
    return blob
