"""The ``asterisk`` provider: user events over AMI (TCP) and ARI (HTTP + websocket),
and ``UserEvent()`` lines for the dialplan.

* ``ami``: the AMI ``UserEvent`` action; every AMI session reading ``user``
  events gets it. Listen with ``via="tcp"``.
* ``app:<name>[?source=channel:<id>...]``: ARI ``POST /ari/events/user/{name}``
  to one Stasis application. Listen with ``via="websocket"``.
* :func:`render_user_event` / :func:`render_extensions_line`: the same event as
  dialplan, for extensions.conf.

Wire facts and their sources: ``docs/providers/asterisk.md``.
"""

from __future__ import annotations

from typing import Any, AsyncIterator

from eventkit.provider import (
    Capabilities,
    Codec,
    Counters,
    Event,
    Limits,
    ListenContext,
    ListenMode,
    PayloadModel,
    Policy,
    Provider,
    SenderRule,
    TargetForm,
)

from ._codec import MAPPING, AsteriskCodec
from ._codec_ami import decode_user_event, encode_ami
from ._codec_ari import AriCodec, decode_ari_event, decode_ari_frame
from ._dialplan import render_extensions_line, render_user_event, validate_dialplan
from ._errors import ami_error
from ._frames import AmiFrame, AmiParser, MalformedFrame, encode_action
from ._settings import AsteriskSettings, settings_from_url
from ._values import MARKER, decode_value, encode_value
from ._wire import DIALPLAN_LINE_ROOM, MAX_AMI_KEYS, MAX_DIALPLAN_LINE_BYTES, MAX_LINE_CONTENT

__all__ = [
    "DIALPLAN_LINE_ROOM",
    "MARKER",
    "MAX_DIALPLAN_LINE_BYTES",
    "AmiFrame",
    "AmiParser",
    "AriCodec",
    "AsteriskCodec",
    "AsteriskProvider",
    "AsteriskSettings",
    "MalformedFrame",
    "ami_error",
    "decode_ari_event",
    "decode_ari_frame",
    "decode_user_event",
    "decode_value",
    "encode_action",
    "encode_ami",
    "encode_value",
    "render_extensions_line",
    "render_user_event",
    "validate_dialplan",
]


class AsteriskProvider(Provider):
    name = "asterisk"
    Settings = AsteriskSettings
    url_schemes = ("ami", "amis", "ari", "aris")
    docs = "docs/providers/asterisk.md"
    capabilities = Capabilities(
        targets=(
            TargetForm("ami", "ami", "every AMI session reading user events (UserEvent action)", SenderRule.IGNORED),
            TargetForm(
                "app",
                "app:<name>",
                "one ARI Stasis application, optionally tied to ?source=channel:<id>|bridge:<id>|endpoint:<tech>/<res>",
                SenderRule.IGNORED,
            ),
        ),
        listen=(ListenMode.TCP, ListenMode.WEBSOCKET),
        payload=PayloadModel.FLAT_STRINGS,
        limits=Limits(
            max_name_length=MAX_LINE_CONTENT - len("UserEvent: "),
            name_pattern=r"[^\s\x00-\x1f\x7f](?:[^\x00-\x1f\x7f]*[^\s\x00-\x1f\x7f])?",
            max_keys=MAX_AMI_KEYS,
            notes=(
                "AMI: 128 lines per action (so 125 keys), 1022 bytes per 'Key: value' line, no CR/LF/NUL, "
                "keys without ':' or surrounding whitespace, not Action/ActionID/UserEvent/Event/Privilege/"
                "Response/eventname, unique ignoring case",
                "ARI: request body at most 40960 bytes; integers within signed 64 bits; "
                "sources channel:, bridge:, endpoint: only",
                "dialplan: at most 100 keys; no '${' or '$[', values without surrounding whitespace; "
                f"an extensions.conf line at most {MAX_DIALPLAN_LINE_BYTES} bytes (Asterisk skips longer lines), "
                f"of which render_user_event leaves {DIALPLAN_LINE_ROOM} for the line's start",
            ),
        ),
        description="Asterisk 12+: AMI UserEvent action and event, ARI user events, dialplan UserEvent().",
        mapping=MAPPING,
    )

    @classmethod
    def settings_from_url(cls, url: str) -> dict[str, Any]:
        return settings_from_url(url)

    def missing_credentials(self) -> list[str]:
        s: AsteriskSettings = self.settings
        if s.has_ami or s.has_ari:
            return []
        return ["username", "secret"] if not s.ari_url else ["ari_username", "ari_password"]

    def default_listen_mode(self) -> ListenMode:
        """ARI credentials alone (an ``ari://`` URL) listen on the ARI websocket; otherwise AMI.

        With both sets AMI stays the default: it sees every user event, dialplan ones
        included, where an ARI application sees only its own and its channels'.
        """
        s: AsteriskSettings = self.settings
        if s.has_ari and not s.has_ami:
            return ListenMode.WEBSOCKET
        return ListenMode.TCP

    def codec(self) -> Codec:
        return AsteriskCodec(self.settings)

    def open_async_sender(self, transport: Policy, stats: Counters, codec: Codec) -> Any:
        from ._send import AsteriskSender

        return AsteriskSender(self, transport, stats)

    def open_sync_sender(self, transport: Policy, stats: Counters, codec: Codec) -> None:
        return None

    def listen(self, context: ListenContext) -> AsyncIterator[Event]:
        from ._listen import listen_ami, listen_ari

        if context.via is ListenMode.TCP:
            return listen_ami(self, context)
        if context.via is ListenMode.WEBSOCKET:
            return listen_ari(self, context)
        return super().listen(context)
