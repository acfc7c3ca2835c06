"""The provider contract: what a plugin supplies, found through the entry point group
``eventkit.providers``.

A provider class declares its name, capabilities and settings, and builds a
sans-I/O codec. HTTP providers stop there: the client sends what their codec
encodes with the core's HTTP transport (see :mod:`eventkit._wiring`). Providers
with their own wire (AMI, websockets, in-process) also supply an async sender
and/or a listener. This module is a contract only: it imports no transport,
listener or client module.
"""

from __future__ import annotations

import abc
import re
from typing import Any, AsyncIterator, ClassVar, Mapping, Protocol, cast

import attrs

from ._capabilities import Capabilities, Limits, ListenMode, SenderRule
from ._codec import Codec, WebhookCodec
from ._errors import Violation
from ._event import Event
from ._listening import QueueSink, Sink
from ._results import SendResult
from ._secrets import Redactor, Secret
from ._settings import Policy, missing_required, secrets_of, settings_from_url
from ._stats import Counters
from ._targets import Target


class AsyncSender(Protocol):
    """Sends validated events; returns a result per event, raising only for bugs."""

    async def send(self, event: Event, target: Target) -> SendResult: ...

    async def aclose(self) -> None: ...


class SyncSender(Protocol):
    def send(self, event: Event, target: Target) -> SendResult: ...

    def close(self) -> None: ...


@attrs.frozen
class ListenContext:
    """What a listener is asked for and where it reports."""

    names: frozenset[str] | None
    via: ListenMode
    transport: Policy
    stats: Counters
    options: Mapping[str, Any] = attrs.field(factory=dict)
    sink: Sink = attrs.field(default=attrs.Factory(lambda self: QueueSink(self.stats), takes_self=True))
    """Where the listener hands every received event, awaited before it ACKs or reads on."""


class Provider(abc.ABC):
    """Base class of every provider, built-in or third-party."""

    name: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    Settings: ClassVar[type[Any]]
    url_schemes: ClassVar[tuple[str, ...]] = ()
    """Extra URL schemes that mean this provider (``<name>`` and ``<name>+http(s)`` always do)."""
    docs: ClassVar[str] = ""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.redactor = Redactor(self.secrets())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.settings!r}>"

    # Settings

    @classmethod
    def settings_from_url(cls, url: str) -> dict[str, Any]:
        return settings_from_url(cls.Settings, url)

    def missing_credentials(self) -> list[str]:
        """Settings that must be given before anything is sent."""
        return missing_required(self.settings)

    def secrets(self) -> list[Secret]:
        return secrets_of(self.settings)

    def limits(self) -> Limits:
        """The limits in force: the declared defaults unless settings change them."""
        return self.capabilities.limits

    # Sans-I/O

    @abc.abstractmethod
    def codec(self) -> Codec:
        """The provider's codec, built from its settings (cached by the caller)."""

    def webhook_codec(self) -> WebhookCodec | None:
        """A codec that verifies and decodes this platform's webhooks, if it sends any."""
        return None

    def validate(self, event: Event, target: Target, codec: Codec | None = None) -> list[Violation]:
        """Every reason this provider would refuse ``event`` at ``target``."""
        form = self.capabilities.form_for(target.kind)
        if form is None:
            forms = ", ".join(f.form for f in self.capabilities.targets)
            return [
                Violation("to", "target", f"{self.name} cannot send to {str(target)!r}; it sends to {forms}", self.name)
            ]
        violations = []
        if form.sender is SenderRule.REQUIRED and not event.sender:
            violations.append(
                Violation("sender", "required", f"{self.name} needs a sender for {form.form} targets", self.name)
            )
        violations.extend(generic_violations(self, event))
        violations.extend((codec or self.codec()).validate(event, target))
        return violations

    # I/O: each method may return ``NotImplemented``, meaning "the client's default".
    # The defaults themselves (the core HTTP sender for an HTTP codec, the webhook
    # receiver for a webhook codec) are chosen by eventkit._wiring, so this contract
    # never imports a transport or a listener.

    def open_async_sender(self, transport: Policy, stats: Counters, codec: Codec) -> AsyncSender:
        """The provider's own async sender, or ``NotImplemented`` for the client's default.

        The default sends an :class:`HttpCodec`'s requests with the core's HTTP transport;
        a provider with another wire (AMI, websockets, in-process) overrides this.
        """
        return cast(AsyncSender, NotImplemented)

    def open_sync_sender(self, transport: Policy, stats: Counters, codec: Codec) -> SyncSender | None:
        """A native sync sender; ``None`` to run the async one on a background loop;
        ``NotImplemented`` for the client's default (the blocking HTTP sender for an HTTP codec).
        """
        return cast("SyncSender | None", NotImplemented)

    def default_listen_mode(self) -> ListenMode | None:
        """The mode ``listen()`` and ``eventkit listen`` use when none is named.

        The first declared mode, unless the provider knows better from its settings
        (Asterisk given only ARI credentials listens over the ARI websocket, not AMI).
        """
        modes = self.capabilities.listen
        return modes[0] if modes else None

    def listen(self, context: ListenContext) -> AsyncIterator[Event]:
        """Yield received events until cancelled, or ``NotImplemented`` for the client's default.

        A listener hands each event to ``context.sink`` and awaits ``accept`` before
        it acknowledges the event to the platform or reads the next frame (that is
        what makes an ACK mean "stored"), and yields nothing; a listener that yields
        events instead has them handed to the sink by the core, one by one. Socket
        listeners run their sessions with :class:`eventkit.provider.Reconnector`.

        The default listens via webhooks when ``context.via`` asks for them and
        :meth:`webhook_codec` gives a codec; an override handles its own modes and
        returns ``super().listen(context)`` for the rest.
        """
        return cast(AsyncIterator[Event], NotImplemented)


def generic_violations(provider: Provider, event: Event) -> list[Violation]:
    """The declared limits, checked the same way for every provider."""
    limits = provider.limits()
    out = []
    if limits.max_name_length is not None and len(event.name) > limits.max_name_length:
        out.append(
            Violation(
                "name",
                "max_length",
                f"{len(event.name)} characters, more than {limits.max_name_length}",
                provider.name,
            )
        )
    if limits.name_pattern is not None and not re.fullmatch(limits.name_pattern, event.name):
        out.append(Violation("name", "pattern", f"{event.name!r} does not match {limits.name_pattern}", provider.name))
    if limits.max_keys is not None and len(event.data) > limits.max_keys:
        out.append(Violation("data", "max_keys", f"{len(event.data)} keys, more than {limits.max_keys}", provider.name))
    if limits.max_payload_bytes is not None:
        size = len(event.data_json())  # kept from the constructor's check: no second walk
        if size > limits.max_payload_bytes:
            out.append(
                Violation(
                    "data",
                    "max_bytes",
                    f"{size} bytes of compact JSON, more than {limits.max_payload_bytes}",
                    provider.name,
                )
            )
    return out
