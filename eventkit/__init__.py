"""eventkit: one API to send and receive custom events on communication platforms.

>>> import eventkit
>>> kit = eventkit.connect("memory")
>>> kit.send("order_ready", {"order": 1234}, to="topic:orders").ok
True

This package exports the application developer's API: ``connect`` and the
clients, events, targets, results, errors, capabilities, ``check`` and the
ASGI ``WebhookReceiver``. The plugin author's kit (the provider contract,
codecs and their helpers, ``RetryLoop``, ``Counters``, ...) is
:mod:`eventkit.provider`. Kit names that used to be exported here still
resolve for one release, with a :class:`DeprecationWarning` naming their new home.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from ._bridge import Bridge, BridgeRecord, BridgeRoute
from ._capabilities import Capabilities, Limits, ListenMode, PayloadModel, SenderRule, TargetForm
from ._client import AsyncClient, Client, connect, connect_async
from ._errors import (
    AuthenticationError,
    CapabilityError,
    ConfigurationError,
    ConflictError,
    DuplicateProviderError,
    EventkitError,
    GoneError,
    MissingCredentialsError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PluginLoadError,
    ProtocolError,
    ProviderNotFoundError,
    RateLimitedError,
    SendTimeoutError,
    SettingsError,
    SignatureError,
    TargetError,
    UnavailableError,
    UnsupportedTargetError,
    ValidationError,
    Violation,
)
from ._event import DeliveryInfo, Event
from ._json import JSON, JSONObject
from ._results import RateLimit, Receipt, SendResult
from ._secrets import Secret
from ._targets import (
    AmiTarget,
    AppTarget,
    CallTarget,
    ChannelTarget,
    ConversationTarget,
    OtherTarget,
    Target,
    TopicTarget,
    UserTarget,
    parse_target,
)
from ._typed import InvalidPayloadError, Typed, event, key

if TYPE_CHECKING:  # imported on first use (see __getattr__): `import eventkit` stays light
    from ._check import PortabilityReport, ProviderVerdict, check
    from ._logging import SecretFilter, install_secret_filter
    from ._many import AsyncManyClient, ManyClient, connect_many, connect_many_async
    from ._serve import ServerLimits
    from ._telemetry import Telemetry
    from ._typed_check import FieldReport, TypeReport, TypeVerdict
    from ._webhooks import WebhookReceiver

_LAZY = {
    "PortabilityReport": "_check",
    "ProviderVerdict": "_check",
    "check": "_check",
    "SecretFilter": "_logging",
    "install_secret_filter": "_logging",
    "AsyncManyClient": "_many",
    "ManyClient": "_many",
    "connect_many": "_many",
    "connect_many_async": "_many",
    "ServerLimits": "_serve",
    "Telemetry": "_telemetry",
    "FieldReport": "_typed_check",
    "TypeReport": "_typed_check",
    "TypeVerdict": "_typed_check",
    "WebhookReceiver": "_webhooks",
}
"""Exported names whose modules load on first use: the portability check, many-provider
clients, the webhook receiver and its server pieces are not needed to send one event."""

__version__ = "0.1.0"

__all__ = [
    "AmiTarget",
    "AppTarget",
    "AsyncClient",
    "AsyncManyClient",
    "AuthenticationError",
    "CallTarget",
    "Capabilities",
    "CapabilityError",
    "ChannelTarget",
    "Client",
    "ConfigurationError",
    "ConflictError",
    "ConversationTarget",
    "DuplicateProviderError",
    "Event",
    "EventkitError",
    "FieldReport",
    "GoneError",
    "InvalidPayloadError",
    "JSON",
    "JSONObject",
    "Limits",
    "DeliveryInfo",
    "Bridge",
    "BridgeRecord",
    "BridgeRoute",
    "ListenMode",
    "ManyClient",
    "MissingCredentialsError",
    "NotFoundError",
    "OtherTarget",
    "PayloadModel",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PluginLoadError",
    "PortabilityReport",
    "ProtocolError",
    "ProviderNotFoundError",
    "ProviderVerdict",
    "RateLimit",
    "RateLimitedError",
    "Receipt",
    "Secret",
    "SecretFilter",
    "SendResult",
    "SendTimeoutError",
    "SenderRule",
    "ServerLimits",
    "SettingsError",
    "SignatureError",
    "Target",
    "TargetError",
    "TargetForm",
    "Telemetry",
    "TopicTarget",
    "TypeReport",
    "TypeVerdict",
    "Typed",
    "UnavailableError",
    "UnsupportedTargetError",
    "UserTarget",
    "ValidationError",
    "Violation",
    "WebhookReceiver",
    "check",
    "connect",
    "connect_async",
    "connect_many",
    "connect_many_async",
    "event",
    "install_secret_filter",
    "key",
    "parse_target",
]

# Plugin-author names exported here before eventkit.provider existed: still reachable
# for one release (0.2 removes them), each access warning where the name now lives.
_MOVED_TO_PROVIDER = frozenset(
    {
        "AsyncSender",
        "Codec",
        "Counters",
        "HttpCodec",
        "HttpRequest",
        "HttpResponse",
        "ListenContext",
        "Provider",
        "Redactor",
        "RetryLoop",
        "SyncSender",
        "TransportSettings",
        "WebhookCodec",
        "WebhookDelivery",
        "compact",
        "compact_bytes",
        "copy_json",
        "error_for_status",
        "from_status",
        "has_rate_limit_headers",
        "join_url",
        "json_body",
        "json_problems",
        "load_json",
        "mask_url",
        "parse_time",
        "rate_limit_from_headers",
        "retry_after_seconds",
        "segment",
        "setting",
        "wait_within",
    }
)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value  # once: later lookups are plain attribute reads
        return value
    if name in _MOVED_TO_PROVIDER:
        from . import provider

        warnings.warn(
            f"eventkit.{name} is part of the plugin author's kit: import it from eventkit.provider "
            f"(the root eventkit module stops exporting it in 0.2)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(provider, name)
    raise AttributeError(f"module 'eventkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
