"""The standard library's ``http.client`` engine: the blocking default.

Why not urllib3, the well-kept pool on top of ``http.client``: measured on
loopback in one interleaved run, ``urllib3.HTTPConnectionPool.urlopen`` (tuned:
no preload, no decoding) reaches 0.64-0.76x the request rate of bare
``http.client``, and httpx 0.41x, while eventkit's sync target is >= 0.8x bare
``http.client`` (issue 20). The pool below is what urllib3's would give us
here, and no more: a bounded number of keep-alive connections per client,
shared by every thread, idle ones checked before reuse.

``timeout`` bounds the whole attempt: the connection is opened within what is
left of it, the request written within what is left, and every read of the
answer waits at most what is left (:class:`_DeadlineReader`), so an answer
dripped a byte at a time cannot hold a send past its timeout.
"""

from __future__ import annotations

import http.client
import io
import select
import socket
import threading
import time
import urllib.parse
from collections import deque
from typing import Any

from .._codec import HttpRequest, HttpResponse
from .._errors import SettingsError
from .._settings import TransportSettings
from ._base import ErrorTable, Failure, lower_headers, map_error, pool_size, tls_context, user_agent

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""Methods RFC 9110 9.2.2 lets a client repeat after a lost connection without asking anyone."""


class ConnectFailed(Exception):
    """No connection could be made (or none became free in time): nothing was sent."""


ERRORS: ErrorTable = (
    (ConnectFailed, Failure.CONNECT),
    (TimeoutError, Failure.TIMEOUT),
    ((OSError, http.client.HTTPException), Failure.LOST),
)
"""``http.client``'s exceptions as eventkit failures (connection failures arrive as ConnectFailed)."""


class _DeadlineReader(io.RawIOBase):
    """The socket's bytes for ``http.client``'s response, each wait cut at the attempt's deadline."""

    def __init__(self, sock: socket.socket, conn: _Connection) -> None:
        self._sock = sock
        self._conn = conn

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._conn.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the attempt's time is up")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _DeadlineSocket:
    """What ``HTTPResponse`` is built from: it only asks for ``makefile('rb')``."""

    def __init__(self, sock: socket.socket, conn: _Connection) -> None:
        self._sock = sock
        self._conn = conn

    def makefile(self, mode: str) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._conn))


class _Connection:
    """One keep-alive connection and the deadline of the attempt using it."""

    __slots__ = ("conn", "deadline", "origin")

    def __init__(self, conn: http.client.HTTPConnection, origin: tuple[str, str]) -> None:
        self.conn = conn
        self.origin = origin
        self.deadline = 0.0
        conn.response_class = self._response  # type: ignore[assignment]

    def _response(self, sock: socket.socket, debuglevel: int = 0, method: str | None = None) -> Any:
        return http.client.HTTPResponse(_DeadlineSocket(sock, self), debuglevel, method)  # type: ignore[arg-type]

    def idle_and_open(self) -> bool:
        """Not closed, and nothing to read: readable while idle means the peer closed it (or sent junk)."""
        sock = self.conn.sock
        if sock is None:
            return False
        try:
            if hasattr(select, "poll"):
                poller = select.poll()
                poller.register(sock, select.POLLIN)
                return not poller.poll(0)
            return not select.select([sock], [], [], 0)[0]  # pragma: no cover - platforms without poll
        except (OSError, ValueError):
            return False

    def close(self) -> None:
        self.conn.close()


class Pool:
    """At most ``size`` connections open at once, shared by every thread; idle ones reused newest first.

    A connection is either idle here or held by one thread's attempt. When all
    ``size`` are open, a new origin takes the slot of an idle one; otherwise the
    caller waits for one to come back, up to its attempt's deadline.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._idle: deque[_Connection] = deque()
        self._open = 0
        self._lock = threading.Condition()
        self._closed = False

    @property
    def open(self) -> int:
        """Connections open now, idle or in use."""
        return self._open

    def take(self, origin: tuple[str, str], deadline: float) -> tuple[_Connection | None, bool]:
        """An idle connection to ``origin`` (``reused``), or ``None`` with a slot reserved for a new one."""
        stale: list[_Connection] = []
        try:
            with self._lock:
                while True:
                    if self._closed:
                        raise ConnectFailed("client closed")
                    for item in reversed(self._idle):
                        if item.origin == origin:
                            self._idle.remove(item)
                            if item.idle_and_open():
                                return item, True
                            stale.append(item)
                            self._open -= 1
                            break
                    else:
                        if self._open < self.size:
                            self._open += 1
                            return None, False
                        if self._idle:  # all slots open, some idle for another origin: take one's slot
                            stale.append(self._idle.popleft())
                            return None, False
                        left = deadline - time.monotonic()
                        if left <= 0 or not self._lock.wait(left):
                            raise ConnectFailed("no pooled connection became free in time")
        finally:
            for item in stale:
                item.close()

    def give_back(self, item: _Connection) -> None:
        """A connection whose answer was read completely and that may be reused."""
        with self._lock:
            if not self._closed:
                self._idle.append(item)
                self._lock.notify()
                return
            self._open -= 1
        item.close()

    def discard(self, item: _Connection | None) -> None:
        """A connection that must not be reused (or a reserved slot that was never connected)."""
        if item is not None:
            item.close()
        with self._lock:
            self._open -= 1
            self._lock.notify()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = list(self._idle), deque()
            self._open -= len(idle)
            self._lock.notify_all()
        for item in idle:
            item.close()


class StdlibEngine:
    """Blocking sends over pooled keep-alive ``http.client`` connections."""

    def __init__(self, policy: TransportSettings, provider: str) -> None:
        self.provider = provider
        self.connect_timeout = policy.connect_timeout or policy.timeout
        self.context = tls_context(policy.verify)
        self.user_agent = user_agent()
        self.pool = Pool(pool_size(policy))

    def _connect(self, origin: tuple[str, str], deadline: float) -> _Connection:
        scheme, netloc = origin
        timeout = max(min(self.connect_timeout, deadline - time.monotonic()), 0.001)
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=timeout, context=self.context)
        elif scheme == "http":
            conn = http.client.HTTPConnection(netloc, timeout=timeout)
        else:
            raise SettingsError(f"unsupported URL scheme {scheme!r}", provider=self.provider)
        try:
            conn.connect()
        except OSError as exc:
            conn.close()
            raise ConnectFailed(type(exc).__name__) from exc
        assert conn.sock is not None
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return _Connection(conn, origin)

    def request(self, request: HttpRequest, timeout: float) -> HttpResponse:
        try:
            return self._exchange(request, time.monotonic() + timeout)
        except (ConnectFailed, OSError, http.client.HTTPException) as exc:
            raise map_error(ERRORS, exc, self.provider) from None

    def _exchange(self, request: HttpRequest, deadline: float) -> HttpResponse:
        parts = urllib.parse.urlsplit(request.url)
        origin = (parts.scheme, parts.netloc)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        headers = {"user-agent": self.user_agent, **request.headers}
        may_repeat = True
        while True:
            item, reused = self.pool.take(origin, deadline)
            try:
                if item is None:
                    item = self._connect(origin, deadline)
                item.deadline = deadline
                conn = item.conn
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the attempt's time is up")
                assert conn.sock is not None
                conn.sock.settimeout(left)
                try:
                    conn.request(request.method, path, body=request.content, headers=headers)
                except OSError:
                    if reused and may_repeat:
                        # A stale connection refused the request before all of it was written:
                        # the platform cannot have acted on it. Once, on a fresh connection.
                        self.pool.discard(item)
                        may_repeat = False
                        continue
                    raise
                try:
                    response = conn.getresponse()
                except (http.client.RemoteDisconnected, ConnectionResetError):
                    # Closed with no answer at all. A reused connection closed by the peer just as we
                    # wrote: for an idempotent method repeating it is harmless; for a POST the platform
                    # may have it, so the retry policy decides (maybe_delivered).
                    if reused and may_repeat and request.method.upper() in _IDEMPOTENT:
                        self.pool.discard(item)
                        may_repeat = False
                        continue
                    raise
                content = response.read()
            except BaseException:
                self.pool.discard(item)
                raise
            if response.will_close:
                self.pool.discard(item)
            else:
                self.pool.give_back(item)
            return HttpResponse(response.status, lower_headers(response.getheaders()), content)

    def close(self) -> None:
        self.pool.close()
