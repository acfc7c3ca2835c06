"""Asterisk's refusals as eventkit errors: AMI ``Response: Error`` by its fixed message text
(AMI has no error codes); ARI answers map by HTTP status in the ARI codec's ``parse_response``.
"""

from __future__ import annotations

from eventkit.provider import (
    AuthenticationError,
    EventkitError,
    PermissionDeniedError,
    ProtocolError,
    UnavailableError,
    ValidationError,
)

from ._frames import AmiFrame
from ._wire import PROVIDER

_AMI_ERRORS: dict[str, tuple[type[EventkitError], int]] = {
    # Messages are Asterisk's fixed protocol strings (main/manager.c); AMI has no error codes.
    "Permission denied": (PermissionDeniedError, 403),
    "Authentication failed": (AuthenticationError, 401),
    "Authentication Required": (AuthenticationError, 401),
    "Too many lines in message or allocation failure": (ValidationError, 400),
    "Failed to parse message: line too long": (ValidationError, 400),
    "Missing action in request": (ValidationError, 400),
    "Invalid event mask": (ValidationError, 400),
    "Login Already In Use": (AuthenticationError, 401),
}


def ami_error(frame: AmiFrame, what: str = "action") -> EventkitError:
    """``Response: Error`` as the eventkit error it means (status = the HTTP equivalent)."""
    message = frame.get("Message") or ""
    body = {"Response": frame.get("Response") or "", "Message": message}
    found = _AMI_ERRORS.get(message)
    if found is None and message.startswith("Invalid/unknown command"):
        return UnavailableError(
            f"{what} refused: {message}", provider=PROVIDER, status=501, code=message, body=body, retryable=False
        )
    if found is None:
        return ProtocolError(f"{what} refused: {message or 'no message'}", provider=PROVIDER, code=message, body=body)
    cls, status = found
    return cls(f"{what} refused: {message}", provider=PROVIDER, status=status, code=message, body=body)
