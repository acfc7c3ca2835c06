"""Stream's error answers as eventkit errors, from the status and the structured body.

Stream answers ``{"code", "message", "StatusCode", "unrecoverable", "exception_fields", ...}``
(``APIError`` in GetStream/protocol ``openapi/chat-openapi.yaml``); its edge answers 429 with a
body that is not JSON at all (GetStream/stream-chat-go ``http.go``). The class
comes from the HTTP status; the Stream ``code`` only decides when the status alone does
not (a status eventkit has no class for). Message text is never parsed.
"""

from __future__ import annotations

from typing import Any

from eventkit.provider import (
    EventkitError,
    HttpResponse,
    Violation,
    error_for_status,
    from_status,
    retry_after_seconds,
)

from ._wire import PROVIDER

CODE_STATUS = {
    2: 401,  # Access Key Error
    4: 400,  # Input Error
    5: 401,  # Authentication Error
    9: 429,  # Rate Limit Error
    16: 404,  # Does Not Exist
    17: 403,  # Not Allowed
    18: 400,  # Event Not Supported (custom events off for the channel type)
    19: 400,  # Channel Feature Not Supported
    22: 413,  # Payload Too Big
    23: 408,  # Request Timeout
    40: 401,  # Token expired
    41: 401,  # Token not valid yet
    42: 401,  # Token before issued-at
    43: 401,  # Token signature invalid
}


def error_from_response(response: HttpResponse) -> EventkitError:
    """The eventkit error for a non-2xx answer."""
    status = response.status
    body = response.json_or_none()
    retry_after = _retry_after(status, response)
    if not isinstance(body, dict):
        text = response.content[:200].decode("utf-8", "replace").strip()
        what = "rate limited by Stream's edge" if status == 429 else f"HTTP {status} from Stream"
        return from_status(
            status,
            f"{what} (non-JSON answer{': ' + text if text else ''})",
            provider=PROVIDER,
            body=text or None,
            retry_after=retry_after,
        )
    code = body.get("code") if isinstance(body.get("code"), int) else None
    message: str = body["message"] if isinstance(body.get("message"), str) else "no message"
    effective = status
    if error_for_status(status) is EventkitError and code in CODE_STATUS:
        effective = CODE_STATUS[code]
    retryable = False if body.get("unrecoverable") is True else None
    error = from_status(
        effective,
        f"Stream error code {code}: {message}" if code is not None else message,
        provider=PROVIDER,
        code=code,
        body=body,
        retryable=retryable,
        retry_after=retry_after,
        violations=_violations(body.get("exception_fields")),
    )
    error.status = status
    return error


def _retry_after(status: int, response: HttpResponse) -> float | None:
    """``X-RateLimit-Reset`` is on every Stream answer, so only a 429 waits for it; others need ``Retry-After``."""
    if status == 429:
        return retry_after_seconds(response.headers)
    if "retry-after" in response.headers:
        return retry_after_seconds({"retry-after": response.headers["retry-after"]})
    return None


def _violations(fields: Any) -> list[Violation]:
    if not isinstance(fields, dict):
        return []
    return [Violation(str(k), "platform", str(v), PROVIDER) for k, v in fields.items()]
