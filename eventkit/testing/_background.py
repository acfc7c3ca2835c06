"""Loopback servers on a background thread, for emulators and tests.

Emulators run on their own event loop in a thread (the core's one
:class:`~eventkit._portal.BackgroundLoop`) so that sync clients, async clients and
pytest all use them the same way. The port is fixed after the
first start, so ``restart()`` comes back where listeners will reconnect.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .._portal import BackgroundLoop as BackgroundLoop

T = TypeVar("T")


class BlockingControlError(RuntimeError):
    """A blocking testing-kit call was made from a running event loop; the message names its ``_async`` form."""


def refuse_on_running_loop(
    coro: Coroutine[Any, Any, Any] | None, async_form: str, *, subject: str = "emulator"
) -> None:
    """Raise :class:`BlockingControlError` when the calling thread runs an event loop.

    Blocking that loop would freeze whatever it serves (a webhook receiver, a
    websocket listener) while the emulator waits on it: a deadlock that ends in a
    timeout. ``coro`` (not yet started) is closed so Python does not warn about it.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    if coro is not None:
        coro.close()
    raise BlockingControlError(
        f"this {subject} method blocks, and it was called from a running event loop; "
        f"in async code use `await {subject}.{async_form}(...)`"
    )


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class BackgroundServer:
    """Base: start/stop/restart on a fixed loopback port; subclasses say how to serve."""

    scheme = "http"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._bg: BackgroundLoop | None = None
        self.running = False

    @property
    def background(self) -> BackgroundLoop:
        if self._bg is None:
            self._bg = BackgroundLoop(type(self).__name__, timeout=30, close_timeout=10)
        return self._bg

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    async def _serve_start(self, sock: socket.socket) -> None:
        raise NotImplementedError

    async def _serve_stop(self) -> None:
        raise NotImplementedError

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.listen(512)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        return sock

    def start(self) -> BackgroundServer:
        if self.running:
            return self
        sock = self._bind()
        self.background.run(self._serve_start(sock))
        self.running = True
        return self

    def stop(self) -> None:
        if not self.running:
            return
        self.running = False
        self.background.run(self._serve_stop())

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._bg is not None:
            self._bg.close()
            self._bg = None

    def run(self, coro: Coroutine[Any, Any, T], *, async_form: str | None = None) -> T:
        """Run a coroutine on the server's loop (to push events, inspect state), blocking until done.

        With ``async_form`` (the name of the control's coroutine twin), a call from a
        thread whose event loop is running raises :class:`BlockingControlError` instead
        of blocking that loop: a control that talks to a listener served by the calling
        loop (a webhook post) would otherwise wait for an answer that loop can never give.
        """
        if async_form is not None:
            refuse_on_running_loop(coro, async_form)
        return self.background.run(coro)

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop and await it without blocking the caller's loop."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.background.loop))

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsgiServer(BackgroundServer):
    """An ASGI application under uvicorn (HTTP and websockets) on loopback."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.app = app
        self._server: Any = None
        self._task: asyncio.Future[Any] | None = None
        self._sock: socket.socket | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://{self.netloc}"

    async def _serve_start(self, sock: socket.socket) -> None:
        import uvicorn

        config = uvicorn.Config(self.app, log_level="warning", lifespan="off", access_log=False, ws_ping_interval=None)
        self._server = uvicorn.Server(config)
        self._sock = sock
        self._task = asyncio.ensure_future(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.002)

    async def _serve_stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            # Close websockets and keep-alive connections now, as a real restart would.
            self._server.force_exit = True
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 10)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                pass
        if self._sock is not None:
            self._sock.close()
        self._server = self._task = self._sock = None


class HostedEmulator:
    """An emulator object that serves its ASGI app through ``self.server`` (an :class:`AsgiServer`).

    The lifecycle is the server's: ``start``/``stop``/``restart`` (same port, every connection
    dropped, as in a real outage), ``close``, and use as a context manager.
    """

    server: AsgiServer

    def start(self: _E) -> _E:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.server.restart()

    def close(self) -> None:
        self.server.close()

    def __enter__(self: _E) -> _E:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url


_E = TypeVar("_E", bound=HostedEmulator)


ConnectionHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TcpServer(BackgroundServer):
    """A raw asyncio TCP server (AMI) on loopback; ``stop()`` drops every connection."""

    scheme = "tcp"

    def __init__(self, handler: ConnectionHandler, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self.handler = handler
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def _track_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_start(self, sock: socket.socket) -> None:
        self._server = await asyncio.start_server(self._track_connection, sock=sock)

    async def _serve_stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()
        if self._server is not None:
            await self._server.wait_closed()
        self._server = None
