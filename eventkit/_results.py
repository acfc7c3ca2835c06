"""What a send produced: one result per event, success or failure."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from ._errors import EventkitError
from ._event import Event
from ._json import JSON, JSONObject


@attrs.frozen
class RateLimit:
    """The platform's rate-limit headers on the last answer, when it sends them."""

    limit: int | None = None
    remaining: int | None = None
    reset: datetime | None = None

    def to_dict(self) -> dict[str, JSON]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset.isoformat() if self.reset else None,
        }


@attrs.frozen
class Receipt:
    """What a codec read from a successful answer."""

    status: int | None = None
    id: str | None = None
    time: datetime | None = None
    details: JSONObject = attrs.field(factory=dict)
    rate_limit: RateLimit | None = None


@attrs.frozen(eq=False)
class SendResult:
    """The outcome for one event: ``ok`` with the platform's receipt, or the error."""

    event: Event
    target: str
    provider: str
    error: EventkitError | None = None
    receipt: Receipt | None = None
    attempts: int = 1
    elapsed: float = 0.0
    possible_duplicate: bool = False
    """An earlier attempt may have reached the platform before its answer was lost."""
    queued: bool = False
    """The event is durably in the outbox and a drainer will deliver it (``connect(..., outbox=True)``)."""

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def id(self) -> str | None:
        return self.receipt.id if self.receipt else None

    @property
    def status(self) -> int | None:
        if self.receipt is not None:
            return self.receipt.status
        return self.error.status if self.error is not None else None

    @property
    def rate_limit(self) -> RateLimit | None:
        return self.receipt.rate_limit if self.receipt else None

    def raise_for_error(self) -> SendResult:
        if self.error is not None:
            raise self.error
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ok": self.ok,
            "provider": self.provider,
            "target": self.target,
            "event": {"name": self.event.name, "id": self.event.id},
            "status": self.status,
            "id": self.id,
            "attempts": self.attempts,
            "elapsed_ms": round(self.elapsed * 1000, 3),
        }
        if self.possible_duplicate:
            out["possible_duplicate"] = True
        if self.queued:
            out["queued"] = True
        if self.receipt is not None:
            if self.receipt.time is not None:
                out["time"] = self.receipt.time.isoformat()
            if self.receipt.details:
                out["details"] = self.receipt.details
            if self.receipt.rate_limit is not None:
                out["rate_limit"] = self.receipt.rate_limit.to_dict()
        if self.error is not None:
            out["error"] = self.error.to_dict()
        return out
