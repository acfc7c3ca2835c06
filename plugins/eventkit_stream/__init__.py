"""The ``stream`` provider: Stream (getstream.io) Chat custom events.

Sends to a channel (``channel:<type>:<id>``, with a sender) or to a user
(``user:<id>``) over Stream's REST API with a server token; listens through
signed webhooks or through the websocket as a user. See ``docs/providers/stream.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, AsyncIterator

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
    WebhookCodec,
)

from ._settings import StreamSettings

if TYPE_CHECKING:
    from ._codec import StreamCodec

__all__ = ["StreamProvider", "StreamSettings"]

_DEFAULT_LIMITS = Limits(
    max_payload_bytes=5120,
    notes=(
        "event data is sent flat beside Stream's own fields; keys Stream owns (type, user, user_id, cid, "
        "created_at, custom, ...) are refused",
        "user event types may not contain '.'; channel event types may not be built-in names, nor contain '.' "
        "unless allow_dotted_channel_events is set",
        "max_payload_bytes is configurable: Stream's exact limit for custom events is unconfirmed (5 KB assumed)",
    ),
)


class StreamProvider(Provider):
    name = "stream"
    Settings = StreamSettings
    docs = "docs/providers/stream.md"
    capabilities = Capabilities(
        targets=(
            TargetForm(
                "channel",
                "channel:<type>:<id>",
                "everyone watching a chat channel; Stream needs the sending user",
                sender=SenderRule.REQUIRED,
            ),
            TargetForm(
                "user",
                "user:<id>",
                "every connection of one user (server-side only); Stream carries no sender",
                sender=SenderRule.IGNORED,
            ),
        ),
        listen=(ListenMode.WEBHOOK, ListenMode.WEBSOCKET),
        payload=PayloadModel.JSON,
        limits=_DEFAULT_LIMITS,
        description="Stream Chat custom events over REST; received through signed webhooks or the user websocket.",
        mapping=(
            "received: name = type, data = the custom fields (flat fields, plus a 'custom' object if present), "
            "sender = user.id, target = channel:<cid> (or user:<id>), meta = Stream's own fields; "
            "a user target carries no sender"
        ),
    )

    def limits(self) -> Limits:
        settings: StreamSettings = self.settings
        return Limits(
            max_payload_bytes=settings.max_payload_bytes,
            notes=_DEFAULT_LIMITS.notes,
        )

    def secrets(self) -> list[Secret]:
        """The API secret and the server token minted from it: neither may reach an error or log."""
        found = super().secrets()
        settings: StreamSettings = self.settings
        if settings.api_secret:
            from ._tokens import server_token

            # Minted here, once per connection, and handed to every codec built from this provider.
            self._server_token = server_token(settings.secret)
            found.append(Secret(self._server_token))
        return found

    def codec(self) -> Codec:
        return self._send_codec()

    def _send_codec(self) -> StreamCodec:
        from ._codec import StreamCodec

        return StreamCodec(self.settings, token=getattr(self, "_server_token", None))

    def webhook_codec(self) -> WebhookCodec:
        from ._codec_webhook import StreamWebhookCodec

        return StreamWebhookCodec(self.settings)

    def listen(self, context: ListenContext) -> AsyncIterator[Event]:
        if context.via is ListenMode.WEBSOCKET:
            from ._listen import WebsocketListener

            return WebsocketListener(self.settings, context).events()
        return super().listen(context)
