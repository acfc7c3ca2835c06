"""SignalWire's refusals as eventkit errors: REST answers by status and structured body,
RELAY (JSON-RPC) errors and ``calling.*`` result codes. Never from message text.
"""

from __future__ import annotations

from typing import Any, Mapping

from eventkit.provider import (
    AuthenticationError,
    ConflictError,
    EventkitError,
    GoneError,
    HttpResponse,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitedError,
    UnavailableError,
    ValidationError,
    Violation,
    from_status,
    retry_after_seconds,
)

from ._wire import PROVIDER


def rest_error(response: HttpResponse) -> EventkitError:
    """Map a REST failure from its status and structured body, never from message text.

    SignalWire answers ``{"error": "<reason>"}`` for 400/401/403/404/500 and
    ``{"errors": [{type, code, message, attribute, url}]}`` for 422 (and rate
    limits, code ``rate_limit_exceeded``); edge proxies may answer plain text.
    """
    body = response.json_or_none()
    message = f"HTTP {response.status}"
    code: str | None = None
    violations: list[Violation] = []
    if isinstance(body, dict):
        if isinstance(body.get("error"), str):
            message = body["error"]
        errors = body.get("errors")
        if isinstance(errors, list):
            for item in errors:
                if not isinstance(item, dict):
                    continue
                item_code = item.get("code") if isinstance(item.get("code"), str) else None
                code = code or item_code
                text = _text(item.get("message")) or _text(item.get("detail")) or item_code or "invalid"
                field = _text(item.get("attribute")) or "event"
                violations.append(Violation(field, item_code or "platform", text, PROVIDER))
            if violations:
                message = "; ".join(str(v) for v in violations)
    status = response.status
    retry_after = retry_after_seconds(response.headers)
    return from_status(
        status,
        message,
        provider=PROVIDER,
        code=code,
        body=body if body is not None else response.content[:500].decode("utf-8", "replace"),
        retry_after=retry_after if status == 429 or status >= 500 else None,
        violations=violations,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def connect_error(error: Mapping[str, Any]) -> EventkitError:
    """A refused ``signalwire.connect``: bad credentials are fatal, anything else is retried."""
    code = error.get("code")
    message = error.get("message") if isinstance(error.get("message"), str) else "signalwire.connect refused"
    if code in (-32401, 401, "401"):
        return AuthenticationError(str(message), provider=PROVIDER, code=code, body=dict(error))
    if code in (-32403, 403, "403"):
        return PermissionDeniedError(str(message), provider=PROVIDER, code=code, body=dict(error))
    return ProtocolError(str(message), provider=PROVIDER, code=code, body=dict(error), retryable=True)


def result_code_error(code: str, result: Mapping[str, Any]) -> EventkitError:
    message = result.get("message") if isinstance(result.get("message"), str) else f"RELAY result code {code}"
    kwargs: dict[str, Any] = {"provider": PROVIDER, "code": code, "body": dict(result)}
    if code == "404":
        return NotFoundError(str(message), status=404, **kwargs)
    if code == "410":
        return GoneError(str(message), status=410, **kwargs)
    if code == "409":
        return ConflictError(str(message), status=409, **kwargs)
    if code in ("400", "422"):
        return ValidationError(str(message), status=int(code), **kwargs)
    if code == "401":
        return AuthenticationError(str(message), status=401, **kwargs)
    if code in ("402", "403"):
        return PermissionDeniedError(str(message), status=int(code), **kwargs)
    if code == "429":
        return RateLimitedError(str(message), status=429, **kwargs)
    if code.startswith("5"):
        return UnavailableError(str(message), status=int(code) if code.isdigit() else None, **kwargs)
    return ProtocolError(str(message), **kwargs)


def rpc_error(error: Mapping[str, Any]) -> EventkitError:
    """A JSON-RPC ``error`` object (transport-level refusal)."""
    code = error.get("code")
    message = str(error.get("message") or "RELAY error")
    if code == -32401:
        return AuthenticationError(message, provider=PROVIDER, code=code, body=dict(error))
    if code == -32602:
        return ValidationError(message, provider=PROVIDER, code=code, body=dict(error))
    if code == -32603:
        return UnavailableError(message, provider=PROVIDER, code=code, body=dict(error))
    return ProtocolError(message, provider=PROVIDER, code=code, body=dict(error))
