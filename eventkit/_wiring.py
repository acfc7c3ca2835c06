"""Client-side wiring: which sender and listener a provider gets when it brings none.

The provider contract (:mod:`eventkit._provider`) only describes what a plugin
supplies. Choosing the core's HTTP sender for an :class:`~eventkit.provider.HttpCodec`
is the client's business and lives here, so the contract never imports the
transport. The transport is imported inside the functions (a documented lazy
import): it pulls in ``ssl``, ``http.client`` and the engines, which
``import eventkit`` should not pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._codec import HttpCodec
    from ._provider import AsyncSender, Provider, SyncSender
    from ._settings import TransportSettings
    from ._stats import Counters


def async_http_sender(provider: Provider, codec: HttpCodec, policy: TransportSettings, stats: Counters) -> AsyncSender:
    """The core's async HTTP sender for ``codec``'s requests, under ``policy``."""
    from ._transport import AsyncHttpSender  # lazy: see the module docstring

    return AsyncHttpSender(provider, codec, policy, stats)


def http_sender(provider: Provider, codec: HttpCodec, policy: TransportSettings, stats: Counters) -> SyncSender:
    """The core's blocking HTTP sender for ``codec``'s requests, under ``policy``."""
    from ._transport import HttpSender  # lazy: see the module docstring

    return HttpSender(provider, codec, policy, stats)
