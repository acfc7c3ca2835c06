"""Serving an ASGI app with uvicorn on a socket we bind ourselves (port 0 works).

A webhook server faces the internet, so it is served with limits an operator can
rely on (defaults in :class:`ServerLimits`): a request head must arrive within
``header_timeout`` (else 408 and close), uvicorn answers 503 beyond
``max_connections``, headers are capped at ``max_header_bytes``, idle keep-alive
connections close after ``keep_alive``, and a connection whose request body we
stopped reading (an early 408/413/503) is closed rather than left for the client
to trickle into. Body timeouts and the shared byte budget live in the receiver
(:class:`~eventkit._webhooks.WebhookReceiver`), which knows when it reads.

Shutdown is graceful: leaving :func:`serve` asks the app to drain (when it can),
stops accepting, lets requests in flight finish for up to ``shutdown_timeout``
seconds, then cancels what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
from typing import Any, AsyncIterator

import attrs

from ._errors import CapabilityError, SettingsError, UnavailableError


@attrs.frozen
class ServerLimits:
    """What one slow or hostile client may hold, and for how long."""

    header_timeout: float = 10.0
    """Seconds for a request head (request line and headers) to arrive once a connection is idle."""
    keep_alive: float = 5.0
    """Seconds an idle keep-alive connection stays open."""
    max_connections: int = 1000
    """Open connections; one more is answered 503 and closed at once."""
    max_header_bytes: int = 16 * 1024
    """Largest request head."""
    shutdown_timeout: float = 10.0
    """Seconds requests in flight get to finish after a shutdown starts."""
    backlog: int = 512

    def __attrs_post_init__(self) -> None:
        for name in ("header_timeout", "keep_alive", "shutdown_timeout"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and value == value and 0 < value < float("inf")):
                raise SettingsError(f"{name} must be a positive number of seconds, not {value!r}")
        for name in ("max_connections", "max_header_bytes", "backlog"):
            if getattr(self, name) < 1:
                raise SettingsError(f"{name} must be >= 1")


def bind(host: str, port: int, backlog: int = 512) -> socket.socket:
    """A listening socket; a bad port or host is :class:`SettingsError`, a taken one :class:`UnavailableError`."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise SettingsError(f"port must be 0-65535, not {port!r}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "not a valid host name"
        raise SettingsError(f"cannot listen on host {host!r}: {reason}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise UnavailableError(f"cannot listen on {where}: the address is already in use") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise SettingsError(f"cannot listen on {where}: not an address of this machine") from None
        if exc.errno == errno.EACCES:
            raise SettingsError(
                f"cannot listen on {where}: permission denied (ports below 1024 need privileges)"
            ) from None
        raise UnavailableError(f"cannot listen on {where}: {exc.strerror or type(exc).__name__}") from None
    sock.setblocking(False)
    return sock


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise CapabilityError("serving webhooks needs uvicorn: pip install 'eventkit-cpaas[server]'") from None
    return uvicorn


_uvicorn_throttle: Any = None


def _throttle_uvicorn() -> None:
    """uvicorn warns once per request over ``limit_concurrency``: a flood is one line a minute."""
    global _uvicorn_throttle
    if _uvicorn_throttle is None:
        from ._logging import ThrottleFilter

        _uvicorn_throttle = ThrottleFilter(["Exceeded concurrency limit", "Invalid HTTP request"])
        logging.getLogger("uvicorn.error").addFilter(_uvicorn_throttle)


_REQUEST_TIMEOUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def _protocol_class(header_timeout: float, max_connections: int) -> type[Any]:
    """uvicorn's h11 protocol with a deadline on request heads.

    uvicorn times out idle keep-alive connections but not a client that opens a
    connection and sends its headers a byte at a time; this arms a timer
    whenever the connection waits for a request head and disarms it once the
    head is parsed. It also closes a connection after a response sent before
    the request body was read whole, so an early 408/413/503 frees it.
    """
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class Protocol(H11Protocol):  # type: ignore[misc]
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            if len(self.connections) >= max_connections:  # the cap, before any per-connection state
                transport.write(_BUSY)
                transport.close()
                self.transport = transport
                return
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._waiting_for_head():
                self._arm()
            else:
                self._disarm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self not in self.connections:  # refused at the cap: nothing was set up
                return
            super().connection_lost(exc)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state not in (h11.DONE, h11.IDLE):
                self.transport.close()  # we answered without reading the body: do not wait for it

        def _waiting_for_head(self) -> bool:
            return self.cycle is None or bool(self.cycle.response_complete)

        def _arm(self) -> None:
            if self._head_timer is None and not self.transport.is_closing():
                self._head_timer = self.loop.call_later(header_timeout, self._head_timed_out)

        def _disarm(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self.transport.is_closing() or not self._waiting_for_head():
                return
            if self.conn.their_state is h11.IDLE and self.conn.our_state is h11.IDLE:
                self.transport.write(_REQUEST_TIMEOUT)
            self.transport.close()

    return Protocol


@contextlib.asynccontextmanager
async def serve(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    limits: ServerLimits | None = None,
    **config: Any,
) -> AsyncIterator[tuple[Any, int]]:
    """Run ``app`` under uvicorn until the block exits; yields ``(server, bound_port)``."""
    uvicorn = _uvicorn()
    _throttle_uvicorn()
    limits = limits or ServerLimits()
    sock = bind(host, port, limits.backlog)
    bound = sock.getsockname()[1]
    cfg = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="off",
        access_log=False,
        http=_protocol_class(limits.header_timeout, limits.max_connections),
        timeout_keep_alive=limits.keep_alive,
        limit_concurrency=limits.max_connections,
        h11_max_incomplete_event_size=limits.max_header_bytes,
        timeout_graceful_shutdown=limits.shutdown_timeout,
        **config,
    )
    server = uvicorn.Server(cfg)
    # The caller owns the process's signals (``eventkit listen`` drains on SIGTERM itself).
    server.install_signal_handlers = lambda: None  # older uvicorn
    server.capture_signals = contextlib.nullcontext  # newer uvicorn
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise CapabilityError("the webhook server stopped while starting")
            await asyncio.sleep(0.005)
        yield server, bound
    finally:
        drain = getattr(app, "drain", None)
        if callable(drain):
            drain(limits.shutdown_timeout / 2)
        server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(task), timeout=limits.shutdown_timeout + 2)
        if not task.done():
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
        sock.close()
