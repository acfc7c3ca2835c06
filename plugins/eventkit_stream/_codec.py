"""The send codec: validation, the HTTP request for each target, and the answer's receipt.

Pure (sans-I/O): the core's HTTP transport sends what :meth:`StreamCodec.encode`
returns, so everything Stream-specific about sending is testable without a socket.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import eventkit
from eventkit.provider import (
    ChannelTarget,
    Event,
    EventkitError,
    HttpRequest,
    HttpResponse,
    JSONObject,
    ProtocolError,
    Receipt,
    Target,
    UnsupportedTargetError,
    UserTarget,
    ValidationError,
    Violation,
    join_url,
    json_body,
    merged_object,
    parse_time,
    rate_limit_from_headers,
    segment,
)

from ._errors import error_from_response
from ._settings import StreamSettings
from ._tokens import server_token
from ._wire import BUILTIN_EVENTS, OWNED_FIELDS, PROVIDER, parse_frame

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CLIENT_ID = f"eventkit-{eventkit.__version__}"


def _violation(field: str, rule: str, message: str) -> Violation:
    return Violation(field, rule, message, PROVIDER)


class StreamCodec:
    """Builds Stream REST requests for ``channel:<type>:<id>`` and ``user:<id>`` targets."""

    def __init__(self, settings: StreamSettings, token: str | None = None) -> None:
        self.settings = settings
        if token is not None:
            self._token = token
        self._urls: dict[Target, str] = {}

    @functools.cached_property
    def _token(self) -> str:
        # Minted once: a server token has no exp, so one serves the client's whole life.
        return server_token(self.settings.secret)

    @functools.cached_property
    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": self._token,
            "stream-auth-type": "jwt",
            "Content-Type": "application/json",
            "X-Stream-Client": CLIENT_ID,
        }

    def headers(self) -> dict[str, str]:
        """The request headers: built once (the token never changes), shared by every request."""
        return self._headers

    def _url(self, target: Target, *path: str) -> str:
        # Quoting segments and the query is a tenth of a send's CPU; targets repeat.
        url = self._urls.get(target)
        if url is None:
            url = join_url(self.settings.base_url, *path, query={"api_key": self.settings.api_key or ""})
            if len(self._urls) < 4096:
                self._urls[target] = url
        return url

    # Validation

    def validate(self, event: Event, target: Target) -> list[Violation]:
        out: list[Violation] = []
        if _CONTROL.search(event.name):
            out.append(_violation("name", "pattern", "the event type contains control characters"))
        if isinstance(target, ChannelTarget):
            out.extend(self._channel_rules(event, target))
        elif isinstance(target, UserTarget):
            if "." in event.name:
                out.append(
                    _violation("name", "no_dot", f"{event.name!r}: user event types may not contain '.' (Stream: 400)")
                )
            out.extend(_segment_problems(target.user_id, "to"))
        for key in sorted(OWNED_FIELDS.intersection(event.data)):
            out.append(_violation(f"data.{key}", "reserved_key", f"{key!r} is a field Stream owns on every event"))
        return out

    def _channel_rules(self, event: Event, target: ChannelTarget) -> list[Violation]:
        out = []
        if event.name in BUILTIN_EVENTS:
            out.append(_violation("name", "reserved", f"{event.name!r} is one of Stream's built-in event types"))
        elif "." in event.name and not self.settings.allow_dotted_channel_events:
            out.append(
                _violation(
                    "name",
                    "no_dot",
                    f"{event.name!r}: '.' marks Stream's built-in types (allow with allow_dotted_channel_events)",
                )
            )
        if event.sender is not None and (not event.sender or _CONTROL.search(event.sender)):
            out.append(_violation("sender", "pattern", "the sender id is empty or contains control characters"))
        out.extend(_segment_problems(target.type, "to"))
        out.extend(_segment_problems(target.id, "to"))
        return out

    # Encoding

    def encode(self, event: Event, target: Target) -> HttpRequest:
        body: dict[str, Any]
        if isinstance(target, ChannelTarget):
            if not event.sender:
                raise ValidationError(
                    violations=[
                        _violation("sender", "required", "Stream needs a sender for server-side channel events")
                    ],
                    provider=PROVIDER,
                )
            url = self._urls.get(target) or self._url(
                target, "channels", segment(target.type, "to"), segment(target.id, "to"), "event"
            )
            if "type" not in event.data and "user" not in event.data:  # always, once validated
                inner = merged_object(event.data_json(), {"type": event.name}, {"user": {"id": event.sender}})
                return HttpRequest("POST", url, self.headers(), b'{"event":' + inner + b"}")
            body = {"event": {"type": event.name, **event.data, "user": {"id": event.sender}}}
        elif isinstance(target, UserTarget):
            url = self._urls.get(target) or self._url(target, "users", segment(target.user_id, "to"), "event")
            if "type" not in event.data:
                inner = merged_object(event.data_json(), {"type": event.name})
                return HttpRequest("POST", url, self.headers(), b'{"event":' + inner + b"}")
            body = {"event": {"type": event.name, **event.data}}
        else:
            raise UnsupportedTargetError(
                violations=[_violation("to", "target", f"stream cannot send to {str(target)!r}")], provider=PROVIDER
            )
        return HttpRequest("POST", url, self.headers(), json_body(body))

    # Answers

    def parse_response(self, request: HttpRequest, response: HttpResponse) -> Receipt:
        if not 200 <= response.status < 300:
            raise error_from_response(response)
        body = response.json_or_none()
        details: JSONObject = {}
        when = None
        if isinstance(body, dict):
            if isinstance(body.get("duration"), str):
                details["duration"] = body["duration"]
            echoed = body.get("event")
            if isinstance(echoed, dict):
                for key in ("cid", "created_at"):
                    if isinstance(echoed.get(key), str):
                        details[key] = echoed[key]
                if isinstance(echoed.get("created_at"), str):
                    try:
                        when = parse_time(echoed["created_at"])
                    except ValidationError:
                        when = None
        return Receipt(
            status=response.status,
            time=when,
            details=details,
            rate_limit=rate_limit_from_headers(response.headers) if _has_rate_limit(response) else None,
        )


def _has_rate_limit(response: HttpResponse) -> bool:
    return any(h in response.headers for h in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"))


def _segment_problems(value: str, field: str) -> list[Violation]:
    try:
        segment(value, field)
    except ValidationError as exc:
        return [_violation(v.field, v.rule, v.message) for v in exc.violations]
    return []


def connection_id(raw: str | bytes) -> str:
    """The websocket's first frame: the ``connection_id`` of its ``health.check``.

    An ``{"error": {...}}`` frame (refused credentials, as GetStream/stream-chat-js
    ``src/connection.ts`` reads it) raises the
    error its ``StatusCode`` maps to; anything else that is not a health check with a
    connection id (not JSON, nested too deep, another shape) raises :class:`ProtocolError`.
    No other exception leaves this function, whatever ``raw`` holds.
    """
    first = parse_frame(raw)
    if isinstance(first, dict) and isinstance(first.get("error"), dict):
        error = first["error"]
        status = error.get("StatusCode")
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            status = 401
        try:
            body = json_body(error)
        except (ValueError, TypeError, RecursionError):
            body = b"{}"
        mapped: EventkitError = error_from_response(HttpResponse(status, {}, body))
        raise mapped
    found = first.get("connection_id") if isinstance(first, dict) else None
    if not isinstance(found, str) or not found:
        raise ProtocolError("the first frame carries no connection_id", provider=PROVIDER)
    return found
