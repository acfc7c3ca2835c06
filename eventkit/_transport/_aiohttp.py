"""The aiohttp engine (extra ``fast``): the async default when installed.

About 20x ``httpx.AsyncClient`` at 50 requests in flight (docs/performance.md).
``timeout`` is aiohttp's ``total``: connect, send and the complete answer.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from .._codec import HttpRequest, HttpResponse
from .._settings import TransportSettings
from ._base import ErrorTable, Failure, lower_headers, map_error, pool_size, tls_context, user_agent

ERRORS: ErrorTable = (
    (aiohttp.ClientConnectorError, Failure.CONNECT),
    (getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ClientConnectorError), Failure.CONNECT),
    ((aiohttp.ServerTimeoutError, asyncio.TimeoutError, TimeoutError), Failure.TIMEOUT),
    ((aiohttp.ClientError, OSError), Failure.LOST),
)
"""aiohttp's exceptions as eventkit failures (``ConnectionTimeoutError`` is aiohttp >= 3.10's)."""

_CAUGHT = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


class AiohttpEngine:
    """One ``aiohttp.ClientSession`` per client, created on first use inside the running loop."""

    def __init__(self, policy: TransportSettings, provider: str) -> None:
        self.provider = provider
        self.policy = policy
        self._session: aiohttp.ClientSession | None = None
        self._connect = policy.connect_timeout or policy.timeout
        self._timeout = aiohttp.ClientTimeout(total=policy.timeout, connect=self._connect)
        self._ssl: Any = tls_context(policy.verify)

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=pool_size(self.policy), ssl=self._ssl),
                timeout=self._timeout,
                headers={"user-agent": user_agent()},
                auto_decompress=True,
            )
        return self._session

    async def request(self, request: HttpRequest, timeout: float) -> HttpResponse:
        session = self._get_session()
        budget = self._timeout
        if timeout != self.policy.timeout:
            budget = aiohttp.ClientTimeout(total=timeout, connect=min(self._connect, timeout))
        try:
            # Not ``async with``: the context manager costs a tenth of a request at 50 in flight.
            r = await session.request(
                request.method,
                request.url,
                data=request.content,
                headers=request.headers,
                allow_redirects=False,
                timeout=budget,
            )
            try:
                content = await r.read()
            finally:
                r.release()
        except _CAUGHT as exc:
            raise map_error(ERRORS, exc, self.provider) from None
        return HttpResponse(r.status, lower_headers(r.headers.items()), content)

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()
