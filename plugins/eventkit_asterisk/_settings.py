"""Settings for the two Asterisk interfaces: AMI (TCP) and ARI (HTTP + websocket).

A connection may configure either or both; which credentials are needed
depends on the target (``ami`` needs AMI, ``app:<name>`` needs ARI), so that is
checked per target when sending, and ``connect()`` only insists on one set.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import attrs

from eventkit.provider import Secret, SettingsError, mask_url, setting

AUTH_MODES = ("plain", "md5")


def _no_line_breaks(name: str, value: str | Secret | None) -> None:
    text = value.reveal() if isinstance(value, Secret) else value
    if text is not None and any(c in text for c in "\r\n\x00"):
        # The value goes into an AMI header line: a CR/LF would inject headers.
        raise SettingsError(f"setting {name!r} cannot contain CR, LF or NUL")


@attrs.frozen
class AsteriskSettings:
    # AMI
    host: str = setting("127.0.0.1", url="host", help="AMI host (manager.conf bindaddr)")
    port: int | None = setting(url="port", help="AMI port; default 5038, or 5039 with tls")
    username: str | None = setting(url="username", help="AMI user: a [section] of manager.conf")
    secret: Secret | None = setting(secret=True, url="password", help="the AMI user's secret=")
    tls: bool = setting(False, help="AMI over TLS (manager.conf tlsenable, port 5039)")
    auth: str = setting("plain", help="AMI login: 'plain' (Secret) or 'md5' (Challenge, then an MD5 key)")
    events_mask: str = setting("user", help="Events mask a listener logs in with (user events need 'user')")
    ping_interval: float = setting(20.0, help="seconds between AMI Ping keep-alives; 0 disables them")
    # ARI
    ari_url: str | None = setting(help="ARI base URL without /ari, e.g. http://127.0.0.1:8088 (http.conf)")
    ari_username: str | None = setting(help="ARI user: a [section] of ari.conf with type=user")
    ari_password: Secret | None = setting(secret=True, help="the ARI user's password=")
    ari_api_key: Secret | None = setting(
        secret=True, help="ARI credentials as 'user:password' sent as api_key= (instead of Basic auth)"
    )
    ari_app: str | None = setting(help="the Stasis application a websocket listener registers as")
    ari_subscribe_all: bool = setting(False, help="listen with subscribeAll=true (events of every channel)")

    def __attrs_post_init__(self) -> None:
        for name in ("username", "secret", "events_mask"):
            _no_line_breaks(name, getattr(self, name))
        if self.auth not in AUTH_MODES:
            raise SettingsError(f"setting 'auth' must be one of {', '.join(AUTH_MODES)}, not {self.auth!r}")
        if self.ping_interval < 0:
            raise SettingsError("setting 'ping_interval' must be >= 0")
        if self.port is not None and not 0 < self.port < 65536:
            raise SettingsError("setting 'port' must be a TCP port")
        if self.ari_url is not None and not self.ari_url.startswith(("http://", "https://")):
            raise SettingsError("setting 'ari_url' must be an http:// or https:// URL")

    @property
    def ami_port(self) -> int:
        if self.port is not None:
            return self.port
        return 5039 if self.tls else 5038

    @property
    def has_ami(self) -> bool:
        return bool(self.username) and bool(self.secret)

    @property
    def has_ari(self) -> bool:
        basic = bool(self.ari_username) and bool(self.ari_password)
        return bool(self.ari_url) and (basic or bool(self.ari_api_key))

    @property
    def ws_url(self) -> str:
        assert self.ari_url is not None
        base = self.ari_url.rstrip("/")
        return "ws" + base[4:] if base.startswith("http") else base


def settings_from_url(url: str) -> dict[str, Any]:
    """``ami[s]://user:secret@host:5038`` and ``ari[s]://user:pass@host:8088[/prefix]?app=name``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise SettingsError(f"bad URL {mask_url(url)}") from None
    scheme = parts.scheme.lower()
    out: dict[str, Any] = {}
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    if scheme in ("ari", "aris"):
        host = parts.hostname or "127.0.0.1"
        host = f"[{host}]" if ":" in host else host
        netloc = f"{host}:{port if port is not None else 8088}"
        out["ari_url"] = urlunsplit(("https" if scheme == "aris" else "http", netloc, parts.path.rstrip("/"), "", ""))
        if parts.username:
            out["ari_username"] = unquote(parts.username)
        if parts.password:
            out["ari_password"] = unquote(parts.password)
        if "app" in query:
            out["ari_app"] = query.pop("app")
    else:
        # ami://, amis://, asterisk://
        if parts.hostname:
            out["host"] = parts.hostname
        if port is not None:
            out["port"] = port
        if parts.username:
            out["username"] = unquote(parts.username)
        if parts.password:
            out["secret"] = unquote(parts.password)
        if scheme == "amis":
            out["tls"] = True
    out.update(query)
    return out
