"""Stream settings: credentials, where the API lives, and the knobs for facts the vendor never confirmed."""

from __future__ import annotations

import attrs

from eventkit.provider import Secret, setting

DEFAULT_BASE_URL = "https://chat.stream-io-api.com"


@attrs.frozen
class StreamSettings:
    api_key: str | None = setting(
        required=True, env=("STREAM_API_KEY",), url="username", help="the Stream app's API key (sent as ?api_key=)"
    )
    api_secret: Secret | None = setting(
        required=True,
        secret=True,
        env=("STREAM_API_SECRET",),
        url="password",
        help="signs the server and user JWTs and verifies webhook signatures",
    )
    base_url: str = setting(DEFAULT_BASE_URL, env=("STREAM_CHAT_URL",), help="API host: a region, proxy or emulator")
    max_payload_bytes: int = setting(
        5120,
        help="largest event data (compact JSON) sent; Stream's real limit for custom events is unconfirmed",
    )
    allow_dotted_channel_events: bool = setting(
        False,
        help="let channel event names contain '.' (unconfirmed whether Stream accepts them; built-in names stay refused)",
    )
    builtin_events: bool = setting(
        False, help="also yield Stream's built-in events (message.new, ...) when listening, not only custom ones"
    )
    listen_user: str | None = setting(help="the user id the websocket listener connects as")
    watch: tuple[str, ...] = setting((), help="channel cids ('type:id') the websocket listener watches")
    ws_url: str | None = setting(help="websocket base URL (default: base_url with http -> ws)")
    health_timeout: float = setting(35.0, help="seconds without any websocket frame before reconnecting")
    ping_interval: float = setting(25.0, help="seconds between the listener's health.check pings")
    reconnect_initial: float = setting(0.5, help="first websocket reconnect delay, doubled up to reconnect_max")
    reconnect_max: float = setting(15.0, help="longest websocket reconnect delay in seconds")
    max_webhook_bytes: int = setting(1 << 20, help="largest webhook body accepted, after gunzip")

    def __attrs_post_init__(self) -> None:
        from eventkit.provider import SettingsError

        problems = []
        if self.max_payload_bytes < 1:
            problems.append("max_payload_bytes must be >= 1")
        if self.max_webhook_bytes < 1:
            problems.append("max_webhook_bytes must be >= 1")
        if self.health_timeout <= 0 or self.ping_interval <= 0:
            problems.append("health_timeout and ping_interval must be > 0")
        if self.reconnect_initial < 0 or self.reconnect_max < 0:
            problems.append("reconnect delays must be >= 0")
        for cid in self.watch:
            kind, colon, ident = cid.partition(":")
            if not colon or not kind or not ident:
                problems.append(f"watch entry {cid!r} is not a cid 'type:id'")
        if problems:
            raise SettingsError("; ".join(problems), provider="stream")

    @property
    def secret(self) -> str:
        """The API secret's value; only token minting and webhook verification call this."""
        return self.api_secret.reveal() if self.api_secret is not None else ""
