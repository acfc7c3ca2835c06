"""HTTP transport: the codecs' request values, sent by one of three engines.

Codecs speak :class:`HttpRequest` / :class:`HttpResponse` values, so the engine
under them is this package's choice, not any provider's:

* ``_base``: the engine interface, the failure kinds every engine maps to, TLS;
* ``_senders``: the two senders (:class:`HttpSender`, :class:`AsyncHttpSender`);
* ``_stdlib``, ``_httpx``, ``_aiohttp``: one module per engine, each with one
  error table (``ERRORS``);
* ``_select``: which engine a client gets (``http_engine``, injection, what is installed);
  only it imports an engine module, so the graph is ``_senders -> _select -> engines -> _base``.

The engine modules import their library, so they load only when chosen:
``import eventkit`` imports neither httpx nor aiohttp.
"""

from __future__ import annotations

from typing import Any

from ._base import AsyncEngine, Failure, SyncEngine, map_error, tls_context
from ._select import ENGINES, async_engine, sync_engine
from ._senders import AsyncHttpSender, HttpSender

__all__ = [
    "ENGINES",
    "AiohttpEngine",
    "AsyncEngine",
    "AsyncHttpSender",
    "AsyncHttpxEngine",
    "Failure",
    "HttpSender",
    "HttpxEngine",
    "StdlibEngine",
    "SyncEngine",
    "async_engine",
    "map_error",
    "sync_engine",
    "tls_context",
]

_LAZY = {
    "HttpxEngine": "._httpx",
    "AsyncHttpxEngine": "._httpx",
    "AiohttpEngine": "._aiohttp",
    "StdlibEngine": "._stdlib",
}


def __getattr__(name: str) -> Any:
    """The engine classes, imported on first use (each pulls in its HTTP library)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module, __name__), name)
