"""Client-side wiring: which sender and listener a provider gets when it brings none.

The provider contract (:mod:`eventkit._provider`) only describes what a plugin
supplies; a provider method returning ``NotImplemented`` asks for the client's
default, chosen here:

* async sender: the core's HTTP sender for an :class:`~eventkit.provider.HttpCodec`;
* sync sender: the core's blocking HTTP sender for an ``HttpCodec``, else ``None``
  (the client runs the async sender on a background loop);
* listener: the webhook receiver when webhooks are asked for and the provider has
  a webhook codec.

The transport is imported inside the functions (a documented lazy import): it
pulls in ``ssl``, ``http.client`` and the engines, which ``import eventkit``
should not pay for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, AsyncIterator

from ._capabilities import ListenMode
from ._codec import Codec, HttpCodec
from ._errors import CapabilityError
from ._event import Event

if TYPE_CHECKING:
    from ._provider import AsyncSender, ListenContext, Provider, SyncSender
    from ._settings import Policy
    from ._stats import Counters


def async_http_sender(provider: Provider, codec: HttpCodec, policy: Policy, stats: Counters) -> AsyncSender:
    """The core's async HTTP sender for ``codec``'s requests, under ``policy``."""
    from ._transport import AsyncHttpSender  # lazy: see the module docstring

    return AsyncHttpSender(provider, codec, policy, stats)


def http_sender(provider: Provider, codec: HttpCodec, policy: Policy, stats: Counters) -> SyncSender:
    """The core's blocking HTTP sender for ``codec``'s requests, under ``policy``."""
    from ._transport import HttpSender  # lazy: see the module docstring

    return HttpSender(provider, codec, policy, stats)


def open_async_sender(provider: Provider, policy: Policy, stats: Counters, codec: Codec) -> AsyncSender:
    """The provider's async sender, or the core's HTTP sender for an HTTP codec."""
    sender = provider.open_async_sender(policy, stats, codec)
    if sender is not NotImplemented:
        return sender
    if isinstance(codec, HttpCodec):
        return async_http_sender(provider, codec, policy, stats)
    raise CapabilityError(f"{provider.name} does not send events", provider=provider.name)


def open_sync_sender(provider: Provider, policy: Policy, stats: Counters, codec: Codec) -> SyncSender | None:
    """A native blocking sender, or ``None`` to run the async sender on a background loop."""
    sender = provider.open_sync_sender(policy, stats, codec)
    if sender is not NotImplemented:
        return sender
    if isinstance(codec, HttpCodec):
        return http_sender(provider, codec, policy, stats)
    return None


def listen(provider: Provider, context: ListenContext) -> AsyncIterator[Event]:
    """The provider's listener for ``context.via``, or the webhook receiver's."""
    events = provider.listen(context)
    if events is not NotImplemented:
        return events
    if context.via is ListenMode.WEBHOOK and provider.webhook_codec() is not None:
        from ._webhooks import listen_via_webhooks  # the receiver loads when a webhook listener starts

        return listen_via_webhooks(provider, context)
    raise CapabilityError(
        f"{provider.name} cannot listen via {context.via.value} "
        f"(it listens via {', '.join(m.value for m in provider.capabilities.listen) or 'nothing'})",
        provider=provider.name,
    )
