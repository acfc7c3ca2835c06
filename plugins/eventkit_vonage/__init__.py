"""The ``vonage`` provider: Conversation API custom events, received through signed RTC webhooks.

Sending is one HTTP request per event (the core's HTTP transport drives the
codec); listening is the core's webhook receiver with Vonage's verifier. See
``docs/providers/vonage.md``.
"""

from __future__ import annotations

from eventkit.provider import (
    Capabilities,
    Limits,
    ListenMode,
    PayloadModel,
    Provider,
    SenderRule,
    TargetForm,
)

from ._codec import VonageCodec, wire_body
from ._codec_webhook import VonageWebhookCodec
from ._jwt import TokenMinter, load_private_key
from ._settings import DEFAULT_BASE_URL, REGIONS, VonageSettings
from ._wire import CUSTOM_PREFIX, MAX_BODY_BYTES, MAX_NAME_LENGTH, MAX_TYPE_LENGTH, NAME_PATTERN

__all__ = [
    "CUSTOM_PREFIX",
    "DEFAULT_BASE_URL",
    "REGIONS",
    "TokenMinter",
    "VonageCodec",
    "VonageProvider",
    "VonageSettings",
    "VonageWebhookCodec",
    "load_private_key",
    "wire_body",
]


class VonageProvider(Provider):
    name = "vonage"
    Settings = VonageSettings
    docs = "docs/providers/vonage.md"
    capabilities = Capabilities(
        targets=(
            TargetForm(
                "conversation",
                "conversation:<CON-id>",
                "a Vonage conversation; the optional sender is the member id sent as 'from'",
                sender=SenderRule.OPTIONAL,
            ),
        ),
        listen=(ListenMode.WEBHOOK,),
        payload=PayloadModel.JSON,
        limits=Limits(
            max_payload_bytes=MAX_BODY_BYTES,
            max_name_length=MAX_NAME_LENGTH,
            name_pattern=NAME_PATTERN,
            notes=(
                f"wire type '{CUSTOM_PREFIX}<name>', {MAX_TYPE_LENGTH} characters at most",
                "body bytes counted as UTF-8 compact JSON (Vonage's counting is unconfirmed)",
            ),
        ),
        description="Vonage Conversation API custom events (POST /v1/conversations/{id}/events), "
        "received through the application's signed RTC event_url webhook.",
        mapping="the 'custom:' prefix is added on send and removed on receive; a received non-object body "
        "(possible from Client SDKs) arrives as {'value': body}; non-custom RTC events are skipped "
        "unless include_non_custom=True, and then keep their full type as the name",
    )

    def __init__(self, settings: VonageSettings) -> None:
        super().__init__(settings)
        self._tokens: TokenMinter | None = None
        self._webhooks: VonageWebhookCodec | None = None

    def missing_credentials(self) -> list[str]:
        missing = super().missing_credentials()
        if self.settings.private_key is None and self.settings.private_key_path in (None, ""):
            missing.append("private_key or private_key_path")
        return missing

    def tokens(self) -> TokenMinter:
        """The shared token cache; parses the private key the first time (at connect)."""
        if self._tokens is None:
            self._tokens = TokenMinter(self.settings)
        return self._tokens

    def codec(self) -> VonageCodec:
        if not self.missing_credentials():
            self.tokens()  # parse the key now: a bad key fails at connect, not at the first send
        # Without credentials (eventkit check) the codec still validates; it mints only to encode.
        return VonageCodec(self.settings, self.tokens)

    def webhook_codec(self) -> VonageWebhookCodec:
        if self._webhooks is None:
            self._webhooks = VonageWebhookCodec(self.settings)
        return self._webhooks
