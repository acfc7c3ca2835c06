"""The client-side wiring and the slimmer RetryLoop, at the unit layer.

A provider's I/O methods return ``NotImplemented`` to ask for the client's
default; the wiring picks the HTTP sender for an HTTP codec, the webhook
listener for a webhook codec, and refuses everything else with a typed error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from core_demo_provider import DemoCodec, DemoProvider, DemoSettings

from eventkit import CapabilityError, Event, Receipt, TopicTarget
from eventkit._transport import AsyncHttpSender, HttpSender
from eventkit._webhooks import listen_via_webhooks
from eventkit._wiring import listen, open_async_sender, open_sync_sender
from eventkit.provider import (
    Capabilities,
    Counters,
    EventkitError,
    ListenContext,
    ListenMode,
    Policy,
    Provider,
    Redactor,
    RetryLoop,
    Secret,
    TargetForm,
    TransportSettings,
)


@attrs.frozen
class NoWireSettings:
    pass


class NoWireCodec:
    def validate(self, event: Event, target: Any) -> list[Any]:
        return []


class NoWire(Provider):
    """Declares a listen mode and overrides nothing: the wiring has no default for it."""

    name = "nowire"
    Settings = NoWireSettings
    capabilities = Capabilities(targets=(TargetForm("topic", "topic:<name>"),), listen=(ListenMode.WEBSOCKET,))

    def codec(self) -> NoWireCodec:
        return NoWireCodec()


class OwnListener(NoWire):
    def listen(self, context: ListenContext) -> AsyncIterator[Event]:
        if context.via is ListenMode.WEBSOCKET:
            return self._events()
        return super().listen(context)

    async def _events(self) -> AsyncIterator[Event]:
        yield Event("mine", {})


def context(via: ListenMode) -> ListenContext:
    return ListenContext(names=None, via=via, transport=Policy(), stats=Counters())


def test_the_contract_defaults_ask_for_the_clients_choice() -> None:
    provider = DemoProvider(DemoSettings())
    codec = provider.codec()
    assert provider.open_async_sender(Policy(), Counters(), codec) is NotImplemented
    assert provider.open_sync_sender(Policy(), Counters(), codec) is NotImplemented
    assert provider.listen(context(ListenMode.WEBHOOK)) is NotImplemented


def test_an_http_codec_gets_the_core_http_senders() -> None:
    provider = DemoProvider(DemoSettings())
    codec = DemoCodec(DemoSettings())
    assert isinstance(open_async_sender(provider, Policy(), Counters(), codec), AsyncHttpSender)
    sync = open_sync_sender(provider, Policy(), Counters(), codec)
    assert isinstance(sync, HttpSender)
    sync.close()


def test_no_http_codec_means_no_default_sender() -> None:
    provider = NoWire(NoWireSettings())
    with pytest.raises(CapabilityError, match="nowire does not send events"):
        open_async_sender(provider, Policy(), Counters(), provider.codec())
    assert open_sync_sender(provider, Policy(), Counters(), provider.codec()) is None


async def test_webhook_listening_is_the_wiring_default() -> None:
    events = listen(DemoProvider(DemoSettings()), context(ListenMode.WEBHOOK))
    assert type(events) is type(listen_via_webhooks(DemoProvider(DemoSettings()), context(ListenMode.WEBHOOK)))


async def test_a_providers_own_listener_wins_and_the_rest_is_refused() -> None:
    provider = OwnListener(NoWireSettings())
    assert [e.name async for e in listen(provider, context(ListenMode.WEBSOCKET))] == ["mine"]
    with pytest.raises(CapabilityError, match=r"nowire cannot listen via webhook \(it listens via websocket\)"):
        listen(provider, context(ListenMode.WEBHOOK))


def failing(message: str) -> Any:
    def attempt() -> Receipt:
        raise EventkitError(message)

    return attempt


def test_retry_loop_takes_a_name_and_a_redactor() -> None:
    loop = RetryLoop("acme", Policy(max_attempts=1), Counters(), redactor=Redactor([Secret("hunter2-secret")]))
    result = loop.run(Event("x", {}), TopicTarget("t"), failing("refused for hunter2-secret"))
    assert result.error is not None
    assert (result.provider, result.error.provider) == ("acme", "acme")
    assert "hunter2-secret" not in result.error.message and "***" in result.error.message


def test_retry_loop_still_accepts_a_provider() -> None:
    provider = DemoProvider(DemoSettings(token=Secret("tok-abcdef")))
    loop = RetryLoop(provider, Policy(max_attempts=1), Counters())
    result = loop.run(Event("x", {}), TopicTarget("t"), failing("bad tok-abcdef"))
    assert result.error is not None and result.provider == "demo"
    assert "tok-abcdef" not in result.error.message


def test_transport_settings_is_the_old_name_of_policy() -> None:
    assert TransportSettings is Policy
