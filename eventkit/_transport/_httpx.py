"""The httpx engine, sync and async: the injectable one (the user's client, transport, proxies, hooks).

``timeout`` bounds the whole attempt. Async: the exchange runs under
``asyncio.wait_for``. Sync: httpx's own timeouts are per read, so when eventkit
builds the client its connections come from an httpcore pool whose network
streams cut every socket wait at the attempt's deadline (:class:`_DeadlineBackend`,
httpcore's public ``network_backend`` hook). A client or transport the user
injects keeps its own timeouts: eventkit passes the attempt's budget as each of
httpx's per-phase timeouts, but cannot shorten a read already under way.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

from .._codec import HttpRequest, HttpResponse
from .._settings import TransportSettings
from ._base import ErrorTable, Failure, lower_headers, map_error, pool_size, tls_context, user_agent

ERRORS: ErrorTable = (
    ((httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout), Failure.CONNECT),
    ((httpcore.ConnectError, httpcore.ConnectTimeout, httpcore.PoolTimeout), Failure.CONNECT),
    ((httpx.TimeoutException, httpcore.TimeoutException, TimeoutError, asyncio.TimeoutError), Failure.TIMEOUT),
    ((httpx.HTTPError, httpcore.NetworkError, httpcore.ProtocolError, OSError), Failure.LOST),
)
"""httpx's exceptions (and httpcore's, from eventkit's own sync transport) as eventkit failures."""

_CAUGHT = (httpx.HTTPError, httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProtocolError, OSError)


def _timeouts(policy: TransportSettings, budget: float) -> dict[str, float]:
    """httpx's per-phase timeouts for one attempt: none longer than the attempt's budget."""
    connect = min(policy.connect_timeout or budget, budget)
    return {"connect": connect, "read": budget, "write": budget, "pool": budget}


def _response(r: httpx.Response) -> HttpResponse:
    return HttpResponse(r.status_code, lower_headers(r.headers.items()), r.content)


# Sync: a whole-attempt deadline at the socket.

_attempt = threading.local()
"""The monotonic deadline of the attempt running in this thread (sync sends run in the caller's thread)."""


def _clamp(timeout: float | None, error: type[Exception]) -> float:
    deadline: float = getattr(_attempt, "deadline", float("inf"))
    left = deadline - time.monotonic()
    if left <= 0:
        raise error("the attempt's time is up")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        inner = self._stream.start_tls(ssl_context, server_hostname, _clamp(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _clamp(timeout, httpcore.ConnectTimeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:  # pragma: no cover - eventkit never asks for one
        return _DeadlineStream(
            self._backend.connect_unix_socket(path, _clamp(timeout, httpcore.ConnectTimeout), socket_options)
        )

    def sleep(self, seconds: float) -> None:  # pragma: no cover - only httpcore's own retries sleep
        self._backend.sleep(seconds)


class _Body(httpx.SyncByteStream):
    def __init__(self, stream: Iterable[bytes]) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        yield from self._stream

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()


class DeadlineTransport(httpx.BaseTransport):
    """An httpx transport on an httpcore pool whose socket waits end at the attempt's deadline."""

    def __init__(self, context: ssl.SSLContext, size: int) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=context,
            max_connections=size,
            max_keepalive_connections=size,
            network_backend=_DeadlineBackend(),
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.SyncByteStream)
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        response = self._pool.handle_request(core)
        assert isinstance(response.stream, Iterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_Body(response.stream),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


def _client_options(policy: TransportSettings) -> dict[str, Any]:
    size = pool_size(policy)
    return {
        "timeout": httpx.Timeout(policy.timeout, connect=policy.connect_timeout or policy.timeout),
        "verify": tls_context(policy.verify),
        "limits": httpx.Limits(max_connections=size, max_keepalive_connections=size),
        "headers": {"user-agent": user_agent()},
    }


class HttpxEngine:
    """Blocking sends through httpx: the user's client or transport, or eventkit's own."""

    def __init__(self, policy: TransportSettings, provider: str) -> None:
        self.provider = provider
        self.policy = policy
        self._own = policy.http_client is None
        if policy.http_client is not None:
            self.client: httpx.Client = policy.http_client
        else:
            options = _client_options(policy)
            transport = policy.http_transport or DeadlineTransport(options["verify"], pool_size(policy))
            self.client = httpx.Client(transport=transport, **options)

    def request(self, request: HttpRequest, timeout: float) -> HttpResponse:
        _attempt.deadline = time.monotonic() + timeout
        try:
            r = self.client.request(
                request.method,
                request.url,
                headers=request.headers,
                content=request.content,
                timeout=httpx.Timeout(**_timeouts(self.policy, timeout)),
            )
        except _CAUGHT as exc:
            raise map_error(ERRORS, exc, self.provider) from None
        finally:
            _attempt.deadline = float("inf")
        return _response(r)

    def close(self) -> None:
        if self._own:
            self.client.close()


class AsyncHttpxEngine:
    """Async sends through httpx; the whole attempt under ``asyncio.wait_for``."""

    def __init__(self, policy: TransportSettings, provider: str) -> None:
        self.provider = provider
        self.policy = policy
        self._own = policy.async_http_client is None
        if policy.async_http_client is not None:
            self.client: httpx.AsyncClient = policy.async_http_client
        else:
            self.client = httpx.AsyncClient(transport=policy.http_transport, **_client_options(policy))

    async def request(self, request: HttpRequest, timeout: float) -> HttpResponse:
        try:
            r = await asyncio.wait_for(
                self.client.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    content=request.content,
                    timeout=httpx.Timeout(**_timeouts(self.policy, timeout)),
                ),
                timeout,
            )
        except (*_CAUGHT, asyncio.TimeoutError) as exc:
            raise map_error(ERRORS, exc, self.provider) from None
        return _response(r)

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()
