"""Vonage's refusals as eventkit errors, from the status and the RFC-7807-like body."""

from __future__ import annotations

from typing import Any

from eventkit.provider import EventkitError, HttpResponse, Violation, from_status, retry_after_seconds

from ._wire import PROVIDER


def error_from_response(response: HttpResponse) -> EventkitError:
    """The eventkit error for a non-2xx answer, from Vonage's RFC-7807-like body and the status.

    The class comes from the status; ``code`` (e.g. ``conversation:error:not-found``)
    and ``invalid_parameters`` are carried so callers can act on them.
    """
    body = response.json_or_none()
    fields: dict[str, Any] = body if isinstance(body, dict) else {}
    title = _text(fields.get("title"))
    detail = _text(fields.get("detail"))
    code = _text(fields.get("code")) or _text(fields.get("type"))
    message = ": ".join(p for p in (title, detail) if p) or f"Vonage answered HTTP {response.status}"
    violations = []
    params = fields.get("invalid_parameters")
    if isinstance(params, list):
        for item in params:
            if isinstance(item, dict):
                name = _text(item.get("name")) or "event"
                reason = _text(item.get("reason")) or "invalid"
                violations.append(Violation(name, "vendor", reason, PROVIDER))
    return from_status(
        response.status,
        message,
        provider=PROVIDER,
        code=code,
        body=body if body is not None else response.content.decode("utf-8", "replace")[:2000],
        retry_after=retry_after_seconds(response.headers),
        violations=violations,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
