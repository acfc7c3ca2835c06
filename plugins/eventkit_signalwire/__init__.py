"""The SignalWire provider: custom "user events" on live calls.

Sends ``calling.user_event`` through the REST Calling API to ``call:<call id>``,
listens for user events over RELAY (websocket JSON-RPC), renders events as the
SWML ``user_event`` verb (:mod:`eventkit_signalwire.swml`) and answers SWML
fetches (:class:`SwmlFetchApp`). Heavy imports (websockets, yaml) happen only
where they are used.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from eventkit.provider import (
    Capabilities,
    Codec,
    Event,
    Limits,
    ListenContext,
    ListenMode,
    PayloadModel,
    Provider,
    Secret,
    SenderRule,
    TargetForm,
)

from ._codec import SignalWireCodec, basic_auth, user_event_body
from ._errors import rest_error
from ._settings import DEFAULT_MAX_PAYLOAD_BYTES, SignalWireSettings
from ._swml_app import Builder, SwmlFetch, SwmlFetchApp, signature, verify_signature
from ._wire import is_uuid

__all__ = [
    "SignalWireCodec",
    "SignalWireProvider",
    "SignalWireSettings",
    "SwmlFetch",
    "SwmlFetchApp",
    "basic_auth",
    "is_uuid",
    "rest_error",
    "signature",
    "user_event_body",
    "verify_signature",
]

_LIMIT_NOTES = (
    "SignalWire documents no size limit for user events; eventkit refuses more than max_payload_bytes "
    f"({DEFAULT_MAX_PAYLOAD_BYTES} bytes by default, 0 disables)",
    "call ids must be UUIDs",
    "the event name travels in the event object under name_key ('type'), which data may not use",
)


class SignalWireProvider(Provider):
    name = "signalwire"
    Settings = SignalWireSettings
    docs = "docs/providers/signalwire.md"
    capabilities = Capabilities(
        targets=(
            TargetForm(
                "call",
                "call:<call id>",
                "a live call (REST calling.user_event); the call's connected clients and RELAY listeners get it",
                sender=SenderRule.IGNORED,
            ),
        ),
        listen=(ListenMode.WEBSOCKET,),
        payload=PayloadModel.JSON,
        limits=Limits(max_payload_bytes=DEFAULT_MAX_PAYLOAD_BYTES, notes=_LIMIT_NOTES),
        description="SignalWire user events: REST calling.user_event, SWML user_event verb, RELAY listening.",
        mapping=(
            "the event object is {name_key: name, **data}; a received object without a string under "
            "name_key is named 'user_event' with the whole object as data"
        ),
    )

    def limits(self) -> Limits:
        size = self.settings.max_payload_bytes
        return Limits(max_payload_bytes=size or None, notes=_LIMIT_NOTES)

    def missing_credentials(self) -> list[str]:
        settings: SignalWireSettings = self.settings
        missing: list[str] = []
        if settings.jwt_token is None:
            missing.extend(m for m in ("project_id", "api_token") if not getattr(settings, m))
        if settings.rest_base_url is None and settings.jwt_token is None:
            missing.append("space")
        return missing

    def secrets(self) -> list[Secret]:
        """The settings' secrets plus the Basic credential derived from them, so an echo of it is scrubbed too."""
        found = super().secrets()
        settings: SignalWireSettings = self.settings
        if settings.project_id and settings.api_token:
            found.append(Secret(basic_auth(settings.project_id, settings.api_token.reveal()).split(" ", 1)[1]))
        return found

    def codec(self) -> Codec:
        return SignalWireCodec(self.settings)

    def listen(self, context: ListenContext) -> AsyncIterator[Event]:
        if context.via is not ListenMode.WEBSOCKET:
            return super().listen(context)
        from ._listen import listen_relay

        return listen_relay(self.settings, context)

    def swml_app(self, build: Builder, **options: Any) -> SwmlFetchApp:
        """An ASGI app answering SWML fetches, verifying signatures with this project's ``signing_key``."""
        key: Secret | None = self.settings.signing_key
        options.setdefault("signing_key", key)
        options.setdefault("name_key", self.settings.name_key)
        return SwmlFetchApp(build, **options)
