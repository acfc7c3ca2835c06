"""The sans-I/O contract between the core and a provider's vendor knowledge.

A codec is pure: it turns events into wire values and wire values into events or
errors, and never touches a socket. The core's transports do the I/O, so retry,
timeouts and rate limiting exist once, for every provider.
"""

from __future__ import annotations

import functools
import json
import time
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable
from urllib.parse import quote, urlencode

import attrs

from ._errors import ProtocolError, ValidationError, Violation
from ._event import Event
from ._results import RateLimit, Receipt
from ._targets import Target


@attrs.frozen
class HttpRequest:
    """An HTTP request as a value: what a codec asks the transport to send."""

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content: bytes = b""

    def json(self) -> Any:
        return json.loads(self.content)


@attrs.frozen
class HttpResponse:
    """An HTTP answer as a value; header names are lowercase."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict)
    content: bytes = b""

    def json_or_none(self) -> Any:
        """The body parsed as JSON, or ``None`` (edge proxies answer 429s in plain text)."""
        if not self.content:
            return None
        try:
            return json.loads(self.content)
        except (ValueError, RecursionError):  # a peer's garbage or 2,000 nested "[" alike
            return None


@runtime_checkable
class Codec(Protocol):
    """Validation shared by every codec: every violation, not just the first."""

    def validate(self, event: Event, target: Target) -> list[Violation]: ...


@runtime_checkable
class HttpCodec(Codec, Protocol):
    """A codec whose sends are single HTTP requests; the core's HTTP transport drives it."""

    def encode(self, event: Event, target: Target) -> HttpRequest: ...

    def parse_response(self, request: HttpRequest, response: HttpResponse) -> Receipt:
        """A receipt for a success; raise the mapped :class:`EventkitError` otherwise."""
        ...


@attrs.frozen
class WebhookDelivery:
    """What one verified webhook call holds."""

    events: Sequence[Event] = ()
    dedupe_key: str | None = None
    """Same across the platform's retries of one call; the receiver drops repeats."""


@runtime_checkable
class WebhookCodec(Protocol):
    """Verifies and decodes one webhook call (raw body, lowercase header names).

    Raises :class:`SignatureError` for a forged or stale call and
    :class:`ProtocolError` / :class:`ValidationError` for a malformed one.
    """

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookDelivery: ...


# Helpers codecs share.


@functools.lru_cache(maxsize=4096)
def segment(value: str, what: str = "id") -> str:
    """One URL path segment, percent-encoded so no id can change the path.

    ``.`` and ``..`` survive percent-encoding and are resolved by servers and
    proxies, so they are refused rather than encoded.
    """
    if value in (".", "..") or not value:
        raise ValidationError(violations=[Violation(what, "path", f"{value!r} cannot be used as a path segment")])
    return quote(value, safe="")


def join_url(base_url: str, *segments: str, query: Mapping[str, str] | None = None) -> str:
    """``base_url`` + already-encoded segments + an encoded query string."""
    url = base_url.rstrip("/") + "/" + "/".join(segments)
    if query:
        url += "?" + urlencode(query, doseq=False)
    return url


def json_body(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``.

    Garbage is ignored rather than trusted: a peer's malformed header must not
    stall or crash a sender.
    """
    now = time.time() if now is None else now
    value = headers.get("retry-after")
    if value:
        value = value.split(",")[0].strip()
        try:
            seconds = float(value)
            if seconds >= 0 and seconds == seconds and seconds != float("inf"):
                return seconds
        except ValueError:
            try:
                import email.utils  # only for an HTTP-date Retry-After: not on every import

                when = email.utils.parsedate_to_datetime(value)
                return max(0.0, when.timestamp() - now)
            except (TypeError, ValueError, IndexError, OverflowError):
                pass
    reset = rate_limit_from_headers(headers).reset
    if reset is not None:
        return max(0.0, reset.timestamp() - now)
    return None


def _first_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.split(",")[0].strip())
    except ValueError:
        return None


def rate_limit_from_headers(headers: Mapping[str, str]) -> RateLimit:
    """``X-RateLimit-Limit/Remaining/Reset`` (reset as a Unix time); duplicates like ``"300, 300"`` tolerated."""
    reset = _first_int(headers.get("x-ratelimit-reset"))
    reset_time = None
    if reset is not None and 0 < reset < 10**11:
        reset_time = datetime.fromtimestamp(reset, timezone.utc)
    return RateLimit(
        limit=_first_int(headers.get("x-ratelimit-limit")),
        remaining=_first_int(headers.get("x-ratelimit-remaining")),
        reset=reset_time,
    )


def has_rate_limit_headers(headers: Mapping[str, str]) -> bool:
    return any(h in headers for h in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"))


def load_json(body: bytes, provider: str) -> Any:
    """Parse a peer's JSON or raise :class:`ProtocolError` (never a bare ``ValueError``)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(f"not valid JSON: {exc.__class__.__name__}", provider=provider) from None
