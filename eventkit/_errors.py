"""One error hierarchy for every provider.

Every error carries where it came from (``provider``), what the platform said
(``status``, ``code``, ``body`` with secrets redacted) and what a caller may do
about it (``retryable``, ``retry_after``). Providers map errors from status codes
and structured bodies, never from message text.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

import attrs


@attrs.frozen
class Violation:
    """One broken rule: where (``field``), which rule (``rule``) and why (``message``)."""

    field: str
    rule: str
    message: str
    provider: str | None = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class EventkitError(Exception):
    """Base of every eventkit error."""

    retryable_by_default = False

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        status: int | None = None,
        code: str | int | None = None,
        body: Any = None,
        retryable: bool | None = None,
        retry_after: float | None = None,
        maybe_delivered: bool = False,
    ) -> None:
        super().__init__(message)
        self.maybe_delivered = maybe_delivered
        """The request may have reached the platform before this failure (a retry may duplicate)."""
        self.message = message
        self.provider = provider
        self.status = status
        self.code = code
        self.body = body
        self.retryable = self.retryable_by_default if retryable is None else retryable
        self.retry_after = retry_after

    def __str__(self) -> str:
        where = [p for p in (self.provider, _status_text(self.status, self.code)) if p]
        return f"{self.message} [{', '.join(where)}]" if where else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, status={self.status!r}, code={self.code!r})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__,
            "message": self.message,
            "provider": self.provider,
            "status": self.status,
            "code": self.code,
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "body": self.body,
        }


def _status_text(status: int | None, code: str | int | None) -> str:
    parts = []
    if status is not None:
        parts.append(f"status {status}")
    if code is not None and code != status:
        parts.append(f"code {code}")
    return ", ".join(parts)


# Configuration: wrong setup, found before any I/O.


class ConfigurationError(EventkitError):
    """The library was set up wrongly: nothing was sent."""


class ProviderNotFoundError(ConfigurationError):
    def __init__(self, name: str, available: Iterable[str]) -> None:
        names = ", ".join(sorted(available)) or "none installed"
        super().__init__(f"unknown provider {name!r} (available: {names})")
        self.name = name


class PluginLoadError(ConfigurationError):
    """A provider plugin is installed but failed to import or is not a provider."""


class DuplicateProviderError(ConfigurationError):
    """Two installed plugins claim one provider name."""


class SettingsError(ConfigurationError):
    """An unknown setting, or a value of the wrong form."""


class MissingCredentialsError(SettingsError):
    """Credentials the provider needs to send were not given."""


class CapabilityError(ConfigurationError):
    """The provider does not do this (a listen mode or operation it does not declare)."""


# Validation: the event or target breaks a rule; raised before sending, or
# mapped from the platform's 400/422 when it finds one we could not.


class ValidationError(EventkitError):
    """The event or its target breaks the provider's rules; every violation is listed."""

    def __init__(
        self,
        message: str | None = None,
        *,
        violations: Sequence[Violation] = (),
        **kwargs: Any,
    ) -> None:
        self.violations = tuple(violations)
        if message is None:
            message = "; ".join(str(v) for v in self.violations) or "invalid event"
        super().__init__(message, **kwargs)


class TargetError(ValidationError):
    """A target string that does not parse."""


class UnsupportedTargetError(ValidationError):
    """A well-formed target that this provider cannot send to."""


class PayloadTooLargeError(ValidationError):
    """The encoded event is larger than the platform accepts."""


# What a platform or peer answered.


class AuthenticationError(EventkitError):
    """Credentials were refused (or, for webhooks, a signature did not verify)."""


class SignatureError(AuthenticationError):
    """An incoming webhook or request failed signature verification."""


class PermissionDeniedError(EventkitError):
    """Authenticated, but not allowed to do this."""


class NotFoundError(EventkitError):
    """The target does not exist on the platform."""


class GoneError(NotFoundError):
    """The target existed but is gone (a call that ended)."""


class ConflictError(EventkitError):
    """The target is in a state that does not allow the event now."""


class RateLimitedError(EventkitError):
    """Too many requests; ``retry_after`` says when to try again, when known."""

    retryable_by_default = True


class UnavailableError(EventkitError):
    """The platform could not be reached or failed on its side (5xx, timeout, reset)."""

    retryable_by_default = True


class SendTimeoutError(UnavailableError):
    """No answer within the timeout; the platform may or may not have the event."""


class ProtocolError(EventkitError):
    """A peer sent something that does not follow its own protocol."""


def error_for_status(status: int) -> type[EventkitError]:
    """The error class an HTTP status maps to before a provider refines it from the body."""
    if status in (400, 422):
        return ValidationError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 409:
        return ConflictError
    if status == 410:
        return GoneError
    if status == 413:
        return PayloadTooLargeError
    if status == 429:
        return RateLimitedError
    if status == 408 or status >= 500:
        return UnavailableError
    return EventkitError


def from_status(
    status: int,
    message: str,
    *,
    provider: str,
    code: str | int | None = None,
    body: Any = None,
    retryable: bool | None = None,
    retry_after: float | None = None,
    violations: Sequence[Violation] = (),
) -> EventkitError:
    cls = error_for_status(status)
    if status == 501:
        retryable = False if retryable is None else retryable
    kwargs: dict[str, Any] = dict(
        provider=provider,
        status=status,
        code=code,
        body=body,
        retryable=retryable,
        retry_after=retry_after,
    )
    if issubclass(cls, ValidationError):
        return cls(message, violations=violations, **kwargs)
    return cls(message, **kwargs)
