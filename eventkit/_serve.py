"""Serving an ASGI app with uvicorn on a socket we bind ourselves (port 0 works)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any, AsyncIterator

from ._errors import CapabilityError


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _uvicorn() -> Any:
    try:
        import uvicorn
    except ImportError:
        raise CapabilityError("serving webhooks needs uvicorn: pip install 'eventkit[server]'") from None
    return uvicorn


@contextlib.asynccontextmanager
async def serve(app: Any, host: str = "127.0.0.1", port: int = 0, **config: Any) -> AsyncIterator[tuple[Any, int]]:
    """Run ``app`` under uvicorn until the block exits; yields ``(server, bound_port)``."""
    uvicorn = _uvicorn()
    sock = bind(host, port)
    bound = sock.getsockname()[1]
    cfg = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False, **config)
    server = uvicorn.Server(cfg)
    server.install_signal_handlers = lambda: None  # older uvicorn
    task = asyncio.ensure_future(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise CapabilityError("the webhook server stopped while starting")
            await asyncio.sleep(0.005)
        yield server, bound
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
        sock.close()
