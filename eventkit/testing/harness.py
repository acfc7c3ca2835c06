"""Conformance harnesses built from sandboxes (needs pytest, like the suite itself)."""

from __future__ import annotations

from typing import Any, ClassVar

from eventkit import Event

from .conformance import Harness
from .sandbox import Sandbox


class SandboxHarness(Harness):
    """A :class:`Harness` that delegates to a :class:`Sandbox` (no invalid-event catalogue of its own).

    Webhook sandboxes (Stream, Vonage) also build the signed calls the suite's
    forged, replayed and oversize checks post (:meth:`signed_webhook`).
    """

    sandbox_class: ClassVar[type[Sandbox]]

    def start(self) -> None:
        self.sandbox = self.sandbox_class().start()

    def stop(self) -> None:
        self.sandbox.close()

    def settings(self) -> dict[str, Any]:
        return self.sandbox.settings()

    def listen_options(self) -> dict[str, Any]:
        return self.sandbox.listen_options()

    def on_listening(self, address: str) -> None:
        self.sandbox.on_listening(address)

    def inject_error(self, status: int, retry_after: float | None = None) -> None:
        self.sandbox.inject_error(status, retry_after)

    def requests_seen(self) -> int:
        return self.sandbox.requests_seen()

    def expected(self, sent: Event) -> dict[str, Any]:
        return self.sandbox.expected(sent)

    def signed_webhook(self, event: Event, *, delivery_id: str, forged: bool = False) -> tuple[dict[str, str], bytes]:
        return self.sandbox.signed_webhook(event, delivery_id=delivery_id, forged=forged)


def sandbox_harness(cls: type[Sandbox]) -> type[SandboxHarness]:
    """A harness class for one sandbox (named after it, so pytest's ids say which)."""
    attrs: dict[str, Any] = {
        "sandbox_class": cls,
        "provider": cls.provider,
        "target": cls.target,
        "sender": cls.sender,
        "listen_via": cls.listen_via,
        "error_statuses": cls.error_statuses,
        "supports_retry_after": cls.supports_retry_after,
        "no_dedupe_key": cls.no_dedupe_key,
    }
    name = "".join(part.title() for part in cls.name.split("-")) + "Harness"
    return type(name, (SandboxHarness,), attrs)
