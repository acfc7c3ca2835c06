"""Vonage settings: the application credentials, the API host and the webhook policy.

Everything here is checked at ``connect()`` so a wrong setup fails before any
I/O; the private key itself is parsed once by :mod:`._jwt`.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from eventkit.provider import Secret, SettingsError, setting

DEFAULT_BASE_URL = "https://api.nexmo.com"

# Conversation API data centres as the Client SDK's data-centre page lists them
# (https://developer.vonage.com/en/vonage-client-sdk/configure-data-center). Whether server REST calls must use them is unconfirmed, so
# the default stays api.nexmo.com and a region is an explicit choice.
REGIONS: dict[str, str] = {
    "us-3": "https://api-us-3.vonage.com",
    "us-4": "https://api-us-4.vonage.com",
    "eu-3": "https://api-eu-3.vonage.com",
    "eu-4": "https://api-eu-4.vonage.com",
    "ap-3": "https://api-ap-3.vonage.com",
    "ap-4": "https://api-ap-4.vonage.com",
}
REGION_ALIASES: dict[str, str] = {
    "virginia": "us-3",
    "oregon": "us-4",
    "dublin": "eu-3",
    "frankfurt": "eu-4",
    "singapore": "ap-3",
    "sydney": "ap-4",
}
MAX_TOKEN_TTL = 24 * 3600.0
"""Vonage's documented ceiling for an application JWT's lifetime."""


@attrs.frozen
class VonageSettings:
    application_id: str | None = setting(
        required=True,
        env=("VONAGE_APPLICATION_ID",),
        url="username",
        help="the Vonage application's id (the JWT's application_id claim)",
    )
    private_key: Secret | None = setting(
        secret=True,
        env=("VONAGE_PRIVATE_KEY",),
        help="the application's RSA private key: PEM text (PKCS#8 or PKCS#1) or the path of a key file, as the vonage SDK takes it",
    )
    private_key_path: str | None = setting(
        env=("VONAGE_PRIVATE_KEY_PATH", "VONAGE_APPLICATION_PRIVATE_KEY_PATH"),
        help="a file holding the application's PEM private key",
    )
    base_url: str | None = setting(
        help=f"API host, proxy or emulator (default {DEFAULT_BASE_URL}, or the region's host)",
    )
    region: str | None = setting(
        help="a Conversation API data centre: " + ", ".join(REGIONS) + " (or " + ", ".join(REGION_ALIASES) + ")",
    )
    token_ttl: float = setting(
        900.0, help="lifetime of each application JWT in seconds (Vonage default 900, max 86400)"
    )
    token_refresh_margin: float = setting(60.0, help="mint a new JWT this many seconds before the cached one expires")
    sub: str | None = setting(help="JWT 'sub' (a user name): makes the token a user token; 'from' is then required")
    acl: Any = setting(help='JWT \'acl\' claim: a mapping or JSON text like {"paths": {"/*/conversations/**": {}}}')
    signature_secret: Secret | None = setting(
        secret=True,
        env=("VONAGE_SIGNATURE_SECRET",),
        help="verifies signed webhooks (HS256 JWT in Authorization)",
    )
    allow_unsigned_webhooks: bool = setting(False, help="accept webhook calls that carry no verifiable signature")
    webhook_max_age: float = setting(300.0, help="refuse signed webhooks whose 'iat' is older than this (seconds)")
    webhook_clock_skew: float = setting(60.0, help="tolerate a webhook 'iat' this far in the future (seconds)")
    require_payload_hash: bool = setting(True, help="refuse signed webhooks whose JWT has no payload_hash claim")
    include_non_custom: bool = setting(False, help="also yield non-custom RTC events (member:joined, text, ...)")

    def __attrs_post_init__(self) -> None:
        problems = []
        if self.private_key is not None and self.private_key_path is not None:
            problems.append("give private_key or private_key_path, not both")
        if self.region is not None and region_url(self.region) is None:
            problems.append(f"unknown region {self.region!r} (one of {', '.join([*REGIONS, *REGION_ALIASES])})")
        if self.region is not None and self.base_url is not None:
            problems.append("give region or base_url, not both")
        if not 1 <= self.token_ttl <= MAX_TOKEN_TTL:
            problems.append(f"token_ttl must be between 1 and {MAX_TOKEN_TTL:.0f} seconds")
        if not 0 <= self.token_refresh_margin < self.token_ttl:
            problems.append("token_refresh_margin must be >= 0 and less than token_ttl")
        if self.webhook_max_age <= 0 or self.webhook_clock_skew < 0:
            problems.append("webhook_max_age must be > 0 and webhook_clock_skew >= 0")
        if self.acl is not None:
            try:
                acl_claim(self.acl)
            except SettingsError as exc:
                problems.append(exc.message)
        if problems:
            raise SettingsError("; ".join(problems), provider="vonage")

    @property
    def api_url(self) -> str:
        if self.base_url:
            return self.base_url.rstrip("/")
        if self.region is not None:
            url = region_url(self.region)
            if url is not None:
                return url
        return DEFAULT_BASE_URL


def region_url(region: str) -> str | None:
    key = region.strip().lower()
    return REGIONS.get(REGION_ALIASES.get(key, key))


def acl_claim(value: Any) -> dict[str, Any]:
    """The ``acl`` claim as a JSON object, from a mapping or JSON text (env vars give text)."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise SettingsError("acl must be a JSON object", provider="vonage") from None
    if not isinstance(value, dict):
        raise SettingsError("acl must be a JSON object", provider="vonage")
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise SettingsError("acl must hold only JSON values", provider="vonage") from None
    return value
