"""Stream's two JWT forms: the server token and the per-user token (HS256, the API secret).

PyJWT is imported here, inside the functions, so importing the plugin stays cheap.
"""

from __future__ import annotations

import warnings
from typing import Any


def _encode(claims: dict[str, Any], secret: str) -> str:
    import jwt
    from jwt.warnings import InsecureKeyLengthWarning

    # Stream issues the secret; its length is not the caller's choice, so PyJWT's advice is noise here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256")


def server_token(secret: str) -> str:
    """HS256 over ``{"server": true}``: no ``exp`` or ``iat``, so one token serves the client's life."""
    return _encode({"server": True}, secret)


def user_token(secret: str, user_id: str, *, exp: int | None = None, iat: int | None = None) -> str:
    """HS256 over ``{"user_id": ...}`` (plus ``exp``/``iat`` when given): what a websocket connects with."""
    claims: dict[str, Any] = {"user_id": user_id}
    if exp is not None:
        claims["exp"] = exp
    if iat is not None:
        claims["iat"] = iat
    return _encode(claims, secret)
