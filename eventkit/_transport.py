"""HTTP transport: the codec's request values, sent by one of three engines.

Codecs speak :class:`HttpRequest` / :class:`HttpResponse` values, so the engine
under them is a choice of this module, not of any provider:

* ``httpx`` whenever the user hands eventkit an httpx client or transport (their
  own pool, proxies, ``MockTransport``), or asks for it with ``http_engine``;
* the standard library's ``http.client`` for blocking sends otherwise (keep-alive
  connections per thread; about 2.5x the request rate of ``httpx.Client`` on
  loopback, see docs/performance.md), falling back to httpx when proxy variables
  are set, since ``http.client`` does not read them;
* ``aiohttp`` for async sends when it is installed (extra ``fast``; about 20x
  ``httpx.AsyncClient`` at 50 requests in flight), httpx otherwise.

Every engine maps its failures to the same eventkit errors, marking those after
which the platform may have the request (``maybe_delivered``). Retries, backoff
and rate limiting are :class:`eventkit._retry.RetryLoop`'s, shared by every wire.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import select
import socket
import ssl
import threading
import urllib.parse
from typing import TYPE_CHECKING, Any, Protocol

from ._codec import HttpCodec, HttpRequest, HttpResponse
from ._errors import CapabilityError, EventkitError, SendTimeoutError, SettingsError, UnavailableError
from ._event import Event
from ._results import Receipt, SendResult
from ._retry import RetryLoop
from ._settings import TransportSettings
from ._stats import Counters
from ._targets import Target

if TYPE_CHECKING:
    from ._provider import Provider

ENGINES = ("auto", "httpx", "stdlib", "aiohttp")
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _user_agent() -> str:
    from . import __version__

    return f"eventkit/{__version__}"


def _lower_headers(items: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for key, value in items:
        k = key.lower()
        headers[k] = f"{headers[k]}, {value}" if k in headers else value
    return headers


def _tls_failure(provider: str, exc: BaseException) -> EventkitError:
    return UnavailableError(f"TLS verification failed: {type(exc).__name__}", provider=provider, retryable=False)


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


class SyncWire(Protocol):
    def request(self, request: HttpRequest) -> HttpResponse: ...

    def close(self) -> None: ...


class AsyncWire(Protocol):
    async def request(self, request: HttpRequest) -> HttpResponse: ...

    async def aclose(self) -> None: ...


# httpx


def _httpx_error(exc: Exception, provider: str) -> EventkitError:
    import httpx

    name = type(exc).__name__
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        if _caused_by(exc, ssl.SSLCertVerificationError):
            return _tls_failure(provider, exc)
        return UnavailableError(f"could not connect: {name}", provider=provider)
    if isinstance(exc, httpx.TimeoutException):
        return SendTimeoutError(f"no answer in time: {name}", provider=provider, maybe_delivered=True)
    return UnavailableError(f"connection lost: {name}", provider=provider, maybe_delivered=True)


def _httpx_options(policy: TransportSettings) -> dict[str, Any]:
    """What eventkit's own httpx clients, sync and async, are built with."""
    import httpx

    pool = max(policy.concurrency, 10)
    return {
        "timeout": httpx.Timeout(policy.timeout, connect=policy.connect_timeout or policy.timeout),
        "verify": policy.verify,
        "transport": policy.http_transport,
        "limits": httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        "headers": {"user-agent": _user_agent()},
    }


def _httpx_response(r: Any) -> HttpResponse:
    return HttpResponse(r.status_code, _lower_headers(r.headers.items()), r.content)


class HttpxWire:
    def __init__(self, policy: TransportSettings, provider: str) -> None:
        import httpx

        self.provider = provider
        self._own = policy.http_client is None
        self.client: httpx.Client = policy.http_client or httpx.Client(**_httpx_options(policy))
        self._errors = (httpx.HTTPError,)

    def request(self, request: HttpRequest) -> HttpResponse:
        try:
            r = self.client.request(request.method, request.url, headers=request.headers, content=request.content)
        except self._errors as exc:
            raise _httpx_error(exc, self.provider) from None
        return _httpx_response(r)

    def close(self) -> None:
        if self._own:
            self.client.close()


class AsyncHttpxWire:
    def __init__(self, policy: TransportSettings, provider: str) -> None:
        import httpx

        self.provider = provider
        self._own = policy.async_http_client is None
        self.client: httpx.AsyncClient = policy.async_http_client or httpx.AsyncClient(**_httpx_options(policy))
        self._errors = (httpx.HTTPError,)

    async def request(self, request: HttpRequest) -> HttpResponse:
        try:
            r = await self.client.request(request.method, request.url, headers=request.headers, content=request.content)
        except self._errors as exc:
            raise _httpx_error(exc, self.provider) from None
        return _httpx_response(r)

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()


# The standard library, blocking


class StdlibWire:
    """Keep-alive ``http.client`` connections, one per thread and origin.

    ``Client.send_many`` runs one thread per in-flight event, so per-thread
    connections give the same reuse a pool would, without locking.
    """

    def __init__(self, policy: TransportSettings, provider: str) -> None:
        self.provider = provider
        self.timeout = policy.timeout
        self.connect_timeout = policy.connect_timeout or policy.timeout
        self.context = ssl.create_default_context()
        if not policy.verify:
            self.context.check_hostname = False
            self.context.verify_mode = ssl.CERT_NONE
        self.user_agent = _user_agent()
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, scheme: str, netloc: str) -> tuple[http.client.HTTPConnection, bool]:
        pool: dict[tuple[str, str], http.client.HTTPConnection] | None = getattr(self._local, "pool", None)
        if pool is None:
            pool = self._local.pool = {}
        conn = pool.get((scheme, netloc))
        if conn is not None:
            if conn.sock is not None and not select.select([conn.sock], [], [], 0)[0]:
                return conn, True
            # Readable while idle means the peer closed it (or sent junk): never reuse it.
            conn.close()
            del pool[(scheme, netloc)]
        if scheme == "https":
            conn = http.client.HTTPSConnection(netloc, timeout=self.connect_timeout, context=self.context)
        elif scheme == "http":
            conn = http.client.HTTPConnection(netloc, timeout=self.connect_timeout)
        else:
            raise SettingsError(f"unsupported URL scheme {scheme!r}", provider=self.provider)
        try:
            conn.connect()
        except ssl.SSLCertVerificationError as exc:
            conn.close()
            raise _tls_failure(self.provider, exc) from None
        except OSError as exc:
            conn.close()
            raise UnavailableError(f"could not connect: {type(exc).__name__}", provider=self.provider) from None
        assert conn.sock is not None
        conn.sock.settimeout(self.timeout)
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pool[(scheme, netloc)] = conn
        with self._lock:
            self._all.append(conn)
        return conn, False

    def _drop(self, scheme: str, netloc: str, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.pool.pop((scheme, netloc), None)

    def request(self, request: HttpRequest) -> HttpResponse:
        parts = urllib.parse.urlsplit(request.url)
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        headers = {"user-agent": self.user_agent, **request.headers}
        for fresh_retry in (True, False):
            conn, reused = self._connection(parts.scheme, parts.netloc)
            try:
                conn.request(request.method, path, body=request.content, headers=headers)
            except OSError as exc:
                self._drop(parts.scheme, parts.netloc, conn)
                if reused and fresh_retry:
                    continue  # the request could not be written to a stale connection: nothing was sent
                raise UnavailableError(
                    f"connection lost while sending: {type(exc).__name__}", provider=self.provider, maybe_delivered=True
                ) from None
            try:
                response = conn.getresponse()
                content = response.read()
            except TimeoutError:
                self._drop(parts.scheme, parts.netloc, conn)
                raise SendTimeoutError("no answer in time", provider=self.provider, maybe_delivered=True) from None
            except (OSError, http.client.HTTPException) as exc:
                self._drop(parts.scheme, parts.netloc, conn)
                raise UnavailableError(
                    f"connection lost: {type(exc).__name__}", provider=self.provider, maybe_delivered=True
                ) from None
            if response.will_close:
                self._drop(parts.scheme, parts.netloc, conn)
            return HttpResponse(response.status, _lower_headers(response.getheaders()), content)
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()


# aiohttp, async


class AiohttpWire:
    """One ``aiohttp.ClientSession`` per connection, created on first use inside the loop."""

    def __init__(self, policy: TransportSettings, provider: str) -> None:
        import aiohttp

        self.aiohttp = aiohttp
        self.provider = provider
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=policy.connect_timeout or policy.timeout, sock_read=policy.timeout
        )
        self.user_agent = _user_agent()

    def _get_session(self) -> Any:
        if self._session is None:
            ssl_arg: Any = self.policy.verify
            pool = max(self.policy.concurrency, 10)
            self._session = self.aiohttp.ClientSession(
                connector=self.aiohttp.TCPConnector(limit=pool, ssl=ssl_arg),
                timeout=self._timeout,
                headers={"user-agent": self.user_agent},
                auto_decompress=True,
            )
        return self._session

    async def request(self, request: HttpRequest) -> HttpResponse:
        aiohttp = self.aiohttp
        session = self._get_session()
        try:
            # Not ``async with``: the context manager costs a tenth of a request at 50 in flight.
            r = await session.request(
                request.method, request.url, data=request.content, headers=request.headers, allow_redirects=False
            )
            try:
                content = await r.read()
            finally:
                r.release()
            return HttpResponse(r.status, _lower_headers(r.headers.items()), content)
        except aiohttp.ClientConnectorCertificateError as exc:
            raise _tls_failure(self.provider, exc) from None
        except aiohttp.ClientConnectorError as exc:
            raise UnavailableError(f"could not connect: {type(exc).__name__}", provider=self.provider) from None
        except (TimeoutError, asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            raise SendTimeoutError(
                f"no answer in time: {type(exc).__name__}", provider=self.provider, maybe_delivered=True
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise UnavailableError(
                f"connection lost: {type(exc).__name__}", provider=self.provider, maybe_delivered=True
            ) from None

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _wants_httpx(policy: TransportSettings, injected: Any) -> bool:
    return injected is not None or policy.http_transport is not None or policy.http_engine == "httpx"


def sync_wire(policy: TransportSettings, provider: str) -> SyncWire:
    if _wants_httpx(policy, policy.http_client):
        return HttpxWire(policy, provider)
    if policy.http_engine == "aiohttp":
        raise SettingsError("http_engine 'aiohttp' is async only; the sync client uses 'stdlib' or 'httpx'")
    if policy.http_engine == "auto" and any(os.environ.get(v) for v in _PROXY_VARIABLES):
        return HttpxWire(policy, provider)
    return StdlibWire(policy, provider)


def async_wire(policy: TransportSettings, provider: str) -> AsyncWire:
    if _wants_httpx(policy, policy.async_http_client):
        return AsyncHttpxWire(policy, provider)
    if policy.http_engine == "stdlib":
        raise SettingsError("http_engine 'stdlib' is sync only; the async client uses 'aiohttp' or 'httpx'")
    if policy.http_engine == "auto" and any(os.environ.get(v) for v in _PROXY_VARIABLES):
        return AsyncHttpxWire(policy, provider)
    try:
        return AiohttpWire(policy, provider)
    except ImportError:
        if policy.http_engine == "aiohttp":
            raise CapabilityError("http_engine 'aiohttp' needs aiohttp: pip install 'eventkit[fast]'") from None
        return AsyncHttpxWire(policy, provider)


class HttpSender:
    """Blocking sends of an HTTP codec's requests under the retry policy."""

    def __init__(self, provider: Provider, codec: HttpCodec, policy: TransportSettings, stats: Counters) -> None:
        self.codec = codec
        self.loop = RetryLoop(provider, policy, stats)
        self.wire = sync_wire(policy, provider.name)

    def send(self, event: Event, target: Target) -> SendResult:
        request = self.codec.encode(event, target)
        parse = self.codec.parse_response
        wire = self.wire
        return self.loop.run(event, target, lambda: parse(request, wire.request(request)))

    def close(self) -> None:
        self.wire.close()


class AsyncHttpSender:
    """Async sends of an HTTP codec's requests under the retry policy."""

    def __init__(self, provider: Provider, codec: HttpCodec, policy: TransportSettings, stats: Counters) -> None:
        self.codec = codec
        self.loop = RetryLoop(provider, policy, stats)
        self.wire = async_wire(policy, provider.name)

    async def _attempt(self, request: HttpRequest) -> Receipt:
        return self.codec.parse_response(request, await self.wire.request(request))

    async def send(self, event: Event, target: Target) -> SendResult:
        request = self.codec.encode(event, target)
        return await self.loop.arun(event, target, lambda: self._attempt(request))

    async def aclose(self) -> None:
        await self.wire.aclose()
