"""SignalWire settings: credentials, where the space lives, and RELAY/SWML options."""

from __future__ import annotations

import attrs

from eventkit.provider import Secret, setting

DEFAULT_RELAY_URL = "wss://relay.signalwire.com"
DEFAULT_MAX_PAYLOAD_BYTES = 65536


@attrs.frozen
class SignalWireSettings:
    project_id: str | None = setting(
        required=True,
        env=("SIGNALWIRE_PROJECT_ID",),
        url="username",
        help="the project id (Basic auth user for REST, `project` for RELAY)",
    )
    api_token: Secret | None = setting(
        required=True,
        secret=True,
        env=("SIGNALWIRE_API_TOKEN", "SIGNALWIRE_TOKEN"),
        url="password",
        help="the project's API token (needs the Voice scope for calling commands)",
    )
    space: str | None = setting(
        env=("SIGNALWIRE_SPACE",),
        help="the space name (`example` for https://example.signalwire.com) or its host name",
    )
    base_url: str | None = setting(help="the REST base URL; overrides `space` (proxies, emulators)")
    relay_url: str = setting(
        DEFAULT_RELAY_URL, env=("SIGNALWIRE_RELAY_URL",), help="the RELAY websocket URL (wss://<host>, no path)"
    )
    jwt_token: Secret | None = setting(
        secret=True, help="RELAY authentication with a JWT instead of project_id/api_token"
    )
    contexts: tuple[str, ...] = setting((), help="RELAY contexts to receive events for (comma list)")
    signing_key: Secret | None = setting(
        secret=True,
        env=("SIGNALWIRE_SIGNING_KEY",),
        help="the project's signing key: SWML fetches must carry a valid X-Signalwire-Signature",
    )
    name_key: str = setting(
        "type",
        help="key of the SignalWire event object that carries the eventkit event name ('' to send data as is)",
    )
    max_payload_bytes: int | None = setting(
        DEFAULT_MAX_PAYLOAD_BYTES,
        help="refuse event objects larger than this (compact JSON); SignalWire documents no limit, 0 disables",
    )
    agent: str = setting("eventkit-signalwire/0.1", help="the `agent` string sent in signalwire.connect")

    def __attrs_post_init__(self) -> None:
        from eventkit.provider import SettingsError

        if self.max_payload_bytes is not None and self.max_payload_bytes < 0:
            raise SettingsError("max_payload_bytes must be >= 0", provider="signalwire")
        for context in self.contexts:
            if not context or any(c.isspace() for c in context):
                raise SettingsError(f"bad RELAY context {context!r}", provider="signalwire")
        if not self.relay_url.startswith(("ws://", "wss://")):
            raise SettingsError("relay_url must be a ws:// or wss:// URL", provider="signalwire")

    @property
    def rest_base_url(self) -> str | None:
        """Where REST commands go: ``base_url``, else the space's host."""
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.space:
            space = self.space.strip().removeprefix("https://").rstrip("/")
            host = space if "." in space else f"{space}.signalwire.com"
            return f"https://{host}"
        return None
