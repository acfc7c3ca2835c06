"""eventkit: one API to send and receive custom events on communication platforms.

>>> import eventkit
>>> kit = eventkit.connect("memory")
>>> kit.send("order_ready", {"order": 1234}, to="topic:orders").ok
True
"""

from ._aio import wait_within
from ._capabilities import Capabilities, Limits, ListenMode, PayloadModel, SenderRule, TargetForm
from ._check import PortabilityReport, ProviderVerdict, check
from ._client import AsyncClient, Client, connect, connect_async
from ._codec import (
    Codec,
    HttpCodec,
    HttpRequest,
    HttpResponse,
    WebhookCodec,
    WebhookDelivery,
    has_rate_limit_headers,
    join_url,
    json_body,
    load_json,
    rate_limit_from_headers,
    retry_after_seconds,
    segment,
)
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
    error_for_status,
    from_status,
)
from ._event import Event, parse_time
from ._json import JSON, JSONObject, compact, compact_bytes, copy_json, json_problems
from ._logging import SecretFilter, Throttle, install_secret_filter
from ._provider import AsyncSender, ListenContext, Provider, SyncSender
from ._results import RateLimit, Receipt, SendResult
from ._retry import RetryLoop
from ._secrets import Redactor, Secret
from ._serve import ServerLimits
from ._settings import TransportSettings, mask_url, setting
from ._stats import Counters
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
from ._webhooks import WebhookReceiver

__version__ = "0.1.0"

__all__ = [
    "JSON",
    "AmiTarget",
    "AppTarget",
    "AsyncClient",
    "AsyncSender",
    "AuthenticationError",
    "CallTarget",
    "Capabilities",
    "CapabilityError",
    "ChannelTarget",
    "Client",
    "Codec",
    "ConfigurationError",
    "ConflictError",
    "ConversationTarget",
    "Counters",
    "DuplicateProviderError",
    "Event",
    "EventkitError",
    "GoneError",
    "HttpCodec",
    "HttpRequest",
    "HttpResponse",
    "JSONObject",
    "Limits",
    "ListenContext",
    "ListenMode",
    "MissingCredentialsError",
    "NotFoundError",
    "OtherTarget",
    "PayloadModel",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PluginLoadError",
    "PortabilityReport",
    "ProtocolError",
    "Provider",
    "ProviderNotFoundError",
    "ProviderVerdict",
    "RateLimit",
    "RateLimitedError",
    "Receipt",
    "Redactor",
    "RetryLoop",
    "Secret",
    "SecretFilter",
    "SendResult",
    "SendTimeoutError",
    "ServerLimits",
    "SenderRule",
    "SettingsError",
    "SignatureError",
    "SyncSender",
    "Target",
    "TargetError",
    "TargetForm",
    "Throttle",
    "TopicTarget",
    "TransportSettings",
    "UnavailableError",
    "UnsupportedTargetError",
    "UserTarget",
    "ValidationError",
    "Violation",
    "WebhookCodec",
    "WebhookDelivery",
    "WebhookReceiver",
    "check",
    "compact",
    "compact_bytes",
    "connect",
    "connect_async",
    "copy_json",
    "error_for_status",
    "from_status",
    "has_rate_limit_headers",
    "install_secret_filter",
    "join_url",
    "json_body",
    "json_problems",
    "load_json",
    "mask_url",
    "parse_target",
    "parse_time",
    "rate_limit_from_headers",
    "retry_after_seconds",
    "segment",
    "setting",
    "wait_within",
]
