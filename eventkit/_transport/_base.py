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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, Union

from .._codec import HttpRequest, HttpResponse
from .._errors import EventkitError, SendTimeoutError, SettingsError, UnavailableError
from .._settings import TransportSettings

if TYPE_CHECKING:
    pass


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
