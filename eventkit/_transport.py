"""HTTP transport: one shared client per connection, driven by the codec's request values.

Timeouts come from the connection's settings; retries, backoff and rate limiting
from :class:`eventkit._retry.RetryLoop`, shared with every other wire.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from ._codec import HttpCodec, HttpRequest, HttpResponse
from ._errors import EventkitError, SendTimeoutError, UnavailableError
from ._event import Event
from ._results import Receipt, SendResult
from ._retry import RetryLoop
from ._settings import TransportSettings
from ._stats import Counters
from ._targets import Target

if TYPE_CHECKING:
    from ._provider import Provider


def classify(exc: httpx.HTTPError, provider: str) -> EventkitError:
    """An httpx failure as an eventkit error, marked when the platform may have the request."""
    name = type(exc).__name__
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)):
        return UnavailableError(f"could not connect: {name}", provider=provider)
    if isinstance(exc, httpx.TimeoutException):
        return SendTimeoutError(f"no answer in time: {name}", provider=provider, maybe_delivered=True)
    return UnavailableError(f"connection lost: {name}", provider=provider, maybe_delivered=True)


def _response(r: httpx.Response) -> HttpResponse:
    return HttpResponse(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)


def _timeout(policy: TransportSettings) -> httpx.Timeout:
    return httpx.Timeout(policy.timeout, connect=policy.connect_timeout or policy.timeout)


class HttpSender:
    """Blocking sends over one shared ``httpx.Client`` (connection reuse, thread-safe)."""

    def __init__(self, provider: Provider, codec: HttpCodec, policy: TransportSettings, stats: Counters) -> None:
        self.codec = codec
        self.loop = RetryLoop(provider, policy, stats)
        self._own = policy.http_client is None
        self.client: httpx.Client = policy.http_client or httpx.Client(
            timeout=_timeout(policy), verify=policy.verify, transport=policy.http_transport
        )

    def _attempt(self, request: HttpRequest) -> Receipt:
        try:
            r = self.client.request(request.method, request.url, headers=request.headers, content=request.content)
        except httpx.HTTPError as exc:
            raise classify(exc, self.loop.name) from None
        return self.codec.parse_response(request, _response(r))

    def send(self, event: Event, target: Target) -> SendResult:
        request = self.codec.encode(event, target)
        return self.loop.run(event, target, lambda: self._attempt(request))

    def close(self) -> None:
        if self._own:
            self.client.close()


class AsyncHttpSender:
    """Async sends over one shared ``httpx.AsyncClient``."""

    def __init__(self, provider: Provider, codec: HttpCodec, policy: TransportSettings, stats: Counters) -> None:
        self.codec = codec
        self.loop = RetryLoop(provider, policy, stats)
        self._own = policy.async_http_client is None
        pool = max(policy.concurrency, 10)
        self.client: httpx.AsyncClient = policy.async_http_client or httpx.AsyncClient(
            timeout=_timeout(policy),
            verify=policy.verify,
            transport=policy.http_transport,
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )

    async def _attempt(self, request: HttpRequest) -> Receipt:
        try:
            r = await self.client.request(request.method, request.url, headers=request.headers, content=request.content)
        except httpx.HTTPError as exc:
            raise classify(exc, self.loop.name) from None
        return self.codec.parse_response(request, _response(r))

    async def send(self, event: Event, target: Target) -> SendResult:
        request = self.codec.encode(event, target)
        return await self.loop.arun(event, target, lambda: self._attempt(request))

    async def aclose(self) -> None:
        if self._own:
            await self.client.aclose()
