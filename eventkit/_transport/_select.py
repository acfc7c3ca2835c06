"""Which engine sends: the ``http_engine`` setting, what the user injected, and what is installed.

* ``httpx`` whenever the user hands eventkit an httpx client or transport (their
  pool, proxies, hooks, ``MockTransport``), or asks for it;
* ``stdlib`` (``http.client``) for blocking sends otherwise, falling back to
  httpx when proxy variables are set, since ``http.client`` does not read them;
* ``aiohttp`` for async sends when it is installed (extra ``fast``), httpx otherwise.
"""

from __future__ import annotations

import os
from typing import Any

from .._errors import CapabilityError, SettingsError
from .._settings import TransportSettings
from ._base import AsyncEngine, SyncEngine

ENGINES = ("auto", "httpx", "stdlib", "aiohttp")
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")


def _wants_httpx(policy: TransportSettings, injected: Any) -> bool:
    if injected is not None or policy.http_transport is not None or policy.http_engine == "httpx":
        return True
    return policy.http_engine == "auto" and any(os.environ.get(v) for v in PROXY_VARIABLES)


def sync_engine(policy: TransportSettings, provider: str) -> SyncEngine:
    if _wants_httpx(policy, policy.http_client):
        from ._httpx import HttpxEngine

        return HttpxEngine(policy, provider)
    if policy.http_engine == "aiohttp":
        raise SettingsError("http_engine 'aiohttp' is async only; the sync client uses 'stdlib' or 'httpx'")
    from ._stdlib import StdlibEngine

    return StdlibEngine(policy, provider)


def async_engine(policy: TransportSettings, provider: str) -> AsyncEngine:
    if _wants_httpx(policy, policy.async_http_client):
        from ._httpx import AsyncHttpxEngine

        return AsyncHttpxEngine(policy, provider)
    if policy.http_engine == "stdlib":
        raise SettingsError("http_engine 'stdlib' is sync only; the async client uses 'aiohttp' or 'httpx'")
    try:
        from ._aiohttp import AiohttpEngine
    except ImportError:
        if policy.http_engine == "aiohttp":
            raise CapabilityError("http_engine 'aiohttp' needs aiohttp: pip install 'eventkit-cpaas[fast]'") from None
        from ._httpx import AsyncHttpxEngine

        return AsyncHttpxEngine(policy, provider)
    return AiohttpEngine(policy, provider)
