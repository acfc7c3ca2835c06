"""Application JWTs (RS256): the key is parsed once, tokens are reused until near expiry.

Vonage's own SDK signs a fresh token for every request; RSA signing is the
expensive part of a send, and a token is valid for its whole lifetime, so one
token serves every request until ``token_refresh_margin`` before it expires.
PyJWT and cryptography are imported here, lazily, so ``import eventkit_vonage``
stays cheap.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

from eventkit.provider import ConfigurationError, SettingsError

from ._settings import VonageSettings, acl_claim

Clock = Callable[[], float]


def _crypto_missing() -> ConfigurationError:
    return ConfigurationError(
        "Vonage application JWTs (RS256) need cryptography: pip install 'eventkit-cpaas[crypto]'", provider="vonage"
    )


def _pem_text(settings: VonageSettings) -> bytes:
    """The PEM bytes from the setting or the file; never echoes any of it in an error."""
    if settings.private_key is not None:
        text = settings.private_key.reveal().strip()
        if "-----BEGIN" not in text:
            # The vonage SDK's Auth(private_key=...) takes a file path too, and its users'
            # configurations pass one: accept a path that names a readable file.
            return _read_key_file(text, "private_key")
        if "\n" not in text and "\\n" in text:
            # Keys pasted into environment variables often carry literal "\n".
            text = text.replace("\\n", "\n")
        return text.encode()
    if settings.private_key_path is None:
        raise SettingsError("vonage needs private_key or private_key_path", provider="vonage")
    return _read_key_file(settings.private_key_path, "private_key_path")


def _read_key_file(value: str, setting_name: str) -> bytes:
    """A key file's bytes. ``private_key`` may hold key material, so its value is never echoed."""
    path = Path(value).expanduser()
    try:
        return path.read_bytes()
    except (OSError, ValueError) as exc:
        if setting_name == "private_key":
            raise SettingsError(
                "private_key must be PEM text (-----BEGIN ... PRIVATE KEY-----) or the path of a readable key file",
                provider="vonage",
            ) from None
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise SettingsError(f"cannot read private_key_path {str(path)!r}: {reason}", provider="vonage") from None


def load_private_key(settings: VonageSettings) -> Any:
    """The RSA private key object, or a :class:`SettingsError` that names no key material."""
    data = _pem_text(settings)
    try:
        from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
    except ImportError:
        raise _crypto_missing() from None
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # The library's message can quote the input; say only which kind of failure.
        reason = (
            "it is encrypted (give an unencrypted key)" if "encrypted" in str(exc).lower() else "not a valid PEM key"
        )
        raise SettingsError(f"unreadable Vonage private key: {reason}", provider="vonage") from None
    except Exception:  # unsupported algorithms and backend errors vary by version
        raise SettingsError("unreadable Vonage private key", provider="vonage") from None
    if not isinstance(key, RSAPrivateKey):
        raise SettingsError("the Vonage private key must be an RSA key (RS256)", provider="vonage")
    return key


class TokenMinter:
    """Mints application JWTs and caches the current one; thread-safe (sync ``send_many`` uses threads)."""

    def __init__(self, settings: VonageSettings, *, clock: Clock = time.time) -> None:
        if settings.application_id is None:
            raise SettingsError("vonage needs application_id", provider="vonage")
        try:
            import jwt  # noqa: F401  (fail at connect, not at first send)
        except ImportError:
            raise _crypto_missing() from None
        self.application_id = settings.application_id
        self.ttl = settings.token_ttl
        self.margin = settings.token_refresh_margin
        self.extra: dict[str, Any] = {}
        if settings.sub is not None:
            self.extra["sub"] = settings.sub
        if settings.acl is not None:
            self.extra["acl"] = acl_claim(settings.acl)
        self._key = load_private_key(settings)
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0
        self.minted = 0
        """How many tokens were signed (observable reuse)."""

    def __repr__(self) -> str:
        return f"<TokenMinter application_id={self.application_id!r} minted={self.minted}>"

    def claims(self, now: float) -> dict[str, Any]:
        iat = int(now)
        return {
            **self.extra,
            "application_id": self.application_id,
            "iat": iat,
            "jti": str(uuid.uuid4()),
            "exp": iat + int(self.ttl),
        }

    def token(self) -> str:
        """The cached token, or a new one if it is within the refresh margin of expiring."""
        now = self._clock()
        with self._lock:
            if self._token is None or now >= self._expires - self.margin:
                import jwt

                claims = self.claims(now)
                self._token = jwt.encode(claims, self._key, algorithm="RS256", headers={"typ": "JWT"})
                self._expires = float(claims["exp"])
                self.minted += 1
            return self._token
