"""What every HTTP engine shares: the engine interface, the failure kinds, TLS, and the two senders.

An engine turns a codec's :class:`HttpRequest` into an :class:`HttpResponse`
within a time budget, and maps its library's exceptions to eventkit errors
through ONE table of ``(exception classes, Failure)`` rows, read by
:func:`map_error`. Retries are not an engine's business: :class:`RetryLoop`
decides from the error's ``retryable`` and ``maybe_delivered`` flags.
"""

from __future__ import annotations

import enum
import os
import ssl
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, Union

from .._codec import HttpCodec, HttpRequest, HttpResponse
from .._errors import EventkitError, SendTimeoutError, SettingsError, UnavailableError
from .._event import Event
from .._results import Receipt, SendResult
from .._retry import RetryLoop
from .._settings import TransportSettings
from .._stats import Counters
from .._targets import Target

if TYPE_CHECKING:
    from .._provider import Provider


def user_agent() -> str:
    from .. import __version__

    return f"eventkit/{__version__}"


def lower_headers(items: Any) -> dict[str, str]:
    """Header names lower-cased, repeated headers joined with ``, `` (RFC 9110 5.3)."""
    headers: dict[str, str] = {}
    for key, value in items:
        k = key.lower()
        headers[k] = f"{headers[k]}, {value}" if k in headers else value
    return headers


def pool_size(policy: TransportSettings) -> int:
    """Connections an engine keeps per client: enough for ``send_many`` at full concurrency."""
    return max(policy.concurrency, 10)


# Failures: one vocabulary, one mapping function, one table per engine.


class Failure(enum.Enum):
    """What went wrong, in the terms that decide a retry."""

    CONNECT = "could not connect"
    """No connection (refused, DNS, connect timeout, no free pooled connection): nothing was sent."""
    TIMEOUT = "no answer in time"
    """The attempt's time ran out after the request may have left: the platform may have it."""
    LOST = "connection lost"
    """The connection broke after the request may have left: the platform may have it."""


ExceptionClasses = Union[type[BaseException], tuple[type[BaseException], ...]]
ErrorTable = Sequence[tuple[ExceptionClasses, Failure]]
"""Rows of ``(exception classes, Failure)``, most specific first; the first match wins."""


def caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``kind`` is anywhere in ``exc``'s cause/context chain (libraries wrap TLS errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, kind):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def map_error(table: ErrorTable, exc: BaseException, provider: str) -> EventkitError:
    """The eventkit error for an engine's exception, by the engine's table.

    A certificate that fails verification is never retried (another attempt
    meets the same certificate); anything unknown is treated as a lost
    connection, the cautious reading (the platform may have the request).
    """
    failure = next((f for kinds, f in table if isinstance(exc, kinds)), Failure.LOST)
    name = type(exc).__name__
    if failure is not Failure.TIMEOUT and caused_by(exc, ssl.SSLCertVerificationError):
        return UnavailableError(f"TLS verification failed: {name}", provider=provider, retryable=False)
    if failure is Failure.CONNECT:
        return UnavailableError(f"{failure.value}: {name}", provider=provider)
    if failure is Failure.TIMEOUT:
        return SendTimeoutError(f"{failure.value}: {name}", provider=provider, maybe_delivered=True)
    return UnavailableError(f"{failure.value}: {name}", provider=provider, maybe_delivered=True)


# TLS


def tls_context(verify: bool | str | ssl.SSLContext) -> ssl.SSLContext:
    """The SSL context every engine uses for ``verify``: on/off, a CA bundle file or directory, or the user's own."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    try:
        if isinstance(verify, str):
            if os.path.isdir(verify):
                return ssl.create_default_context(capath=verify)
            return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise SettingsError(f"setting 'verify': cannot load CA bundle {verify!r}: {type(exc).__name__}") from None
    context = ssl.create_default_context()
    if verify is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


# Engines


class SyncEngine(Protocol):
    def request(self, request: HttpRequest, timeout: float) -> HttpResponse:
        """One exchange, connect to complete answer, within ``timeout`` seconds."""
        ...

    def close(self) -> None: ...


class AsyncEngine(Protocol):
    async def request(self, request: HttpRequest, timeout: float) -> HttpResponse:
        """One exchange, connect to complete answer, within ``timeout`` seconds."""
        ...

    async def aclose(self) -> None: ...


# Senders


def _budget(limit: float, timeout: float, provider: str) -> float:
    """The time an attempt may take: ``timeout``, or less when the send's ``deadline`` is nearer."""
    left = limit - time.monotonic()
    if left <= 0:
        raise SendTimeoutError("deadline reached before this attempt", provider=provider, retryable=False)
    return min(timeout, left)


class HttpSender:
    """Blocking sends of an HTTP codec's requests under the retry policy."""

    def __init__(self, provider: Provider, codec: HttpCodec, policy: TransportSettings, stats: Counters) -> None:
        from ._select import sync_engine

        self.codec = codec
        self.name = provider.name
        self.loop = RetryLoop(provider, policy, stats)
        self.engine = sync_engine(policy, provider.name)
        self.timeout = policy.timeout
        self.deadline = policy.deadline

    def send(self, event: Event, target: Target) -> SendResult:
        request = self.codec.encode(event, target)
        parse = self.codec.parse_response
        engine, timeout = self.engine, self.timeout
        if self.deadline is None:
            return self.loop.run(event, target, lambda: parse(request, engine.request(request, timeout)))
        limit = time.monotonic() + self.deadline
        return self.loop.run(
            event, target, lambda: parse(request, engine.request(request, _budget(limit, timeout, self.name)))
        )

    def close(self) -> None:
        self.engine.close()


class AsyncHttpSender:
    """Async sends of an HTTP codec's requests under the retry policy."""

    def __init__(self, provider: Provider, codec: HttpCodec, policy: TransportSettings, stats: Counters) -> None:
        from ._select import async_engine

        self.codec = codec
        self.name = provider.name
        self.loop = RetryLoop(provider, policy, stats)
        self.engine = async_engine(policy, provider.name)
        self.timeout = policy.timeout
        self.deadline = policy.deadline

    async def _attempt(self, request: HttpRequest, limit: float | None) -> Receipt:
        timeout = self.timeout if limit is None else _budget(limit, self.timeout, self.name)
        return self.codec.parse_response(request, await self.engine.request(request, timeout))

    async def send(self, event: Event, target: Target) -> SendResult:
        request = self.codec.encode(event, target)
        limit = None if self.deadline is None else time.monotonic() + self.deadline
        return await self.loop.arun(event, target, lambda: self._attempt(request, limit))

    async def aclose(self) -> None:
        await self.engine.aclose()
