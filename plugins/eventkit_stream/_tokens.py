"""Stream's two JWT forms: the server token and the per-user token (HS256, the API secret).

PyJWT is imported here, inside the functions, so importing the plugin stays cheap.
"""

from __future__ import annotations

from typing import Any


def server_token(secret: str) -> str:
    """HS256 over ``{"server": true}``: no ``exp`` or ``iat``, so one token serves the client's life."""
    import jwt

    return jwt.encode({"server": True}, secret, algorithm="HS256")


def user_token(secret: str, user_id: str, *, exp: int | None = None, iat: int | None = None) -> str:
    """HS256 over ``{"user_id": ...}`` (plus ``exp``/``iat`` when given): what a websocket connects with."""
    import jwt

    claims: dict[str, Any] = {"user_id": user_id}
    if exp is not None:
        claims["exp"] = exp
    if iat is not None:
        claims["iat"] = iat
    return jwt.encode(claims, secret, algorithm="HS256")
