"""The plugin author's kit: everything a provider package imports from eventkit.

Application code imports :mod:`eventkit` (connect, clients, events, targets,
results, errors). A provider package (built-in or third-party) imports this
module instead, and nothing else under ``eventkit._*``; a test holds every
plugin in this repository to that. The names fall in groups:

* the contract: :class:`Provider`, :class:`Capabilities` and its parts,
  :class:`ListenContext`, the sender protocols;
* sans-I/O codecs: :class:`HttpCodec`, :class:`WebhookCodec`, their request and
  delivery values, and the helpers codecs share (:func:`segment`,
  :func:`json_body`, :func:`join_url`, :func:`load_json`, the rate-limit helpers);
* sending: :class:`RetryLoop` (the one retry policy), :func:`async_http_sender`
  (the core's HTTP sender, for a provider that routes some targets over HTTP),
  :class:`Policy` (the retry/timeout settings; ``TransportSettings`` is its
  deprecated old name), :class:`Counters`;
* errors: the hierarchy plus :func:`from_status` / :func:`error_for_status`;
* settings and secrets: :func:`setting`, :func:`mask_url`, :class:`Secret`,
  :class:`Redactor`;
* JSON and asyncio helpers: :func:`copy_json`, :func:`json_problems`,
  :func:`compact`, :func:`compact_bytes`, :func:`merged_object`, :func:`parse_object`, :func:`wait_within`;
* ASGI helpers for an app a plugin serves: :func:`read_body` (with its cap and
  :class:`BodyTooLargeError`), :func:`answer`, :func:`answer_json`.

The user-facing names (``Event``, targets, results, errors) are the same objects
as in :mod:`eventkit`; they are repeated here so a plugin has one import.
"""

from __future__ import annotations

from ._aio import wait_within
from ._asgi import BodyTooLargeError, answer, answer_json, read_body
from ._capabilities import Capabilities, Limits, ListenMode, PayloadModel, SenderRule, TargetForm
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
    EventkitError,
    GoneError,
    MissingCredentialsError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ProtocolError,
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
from ._json import JSON, JSONObject, compact, compact_bytes, copy_json, json_problems, merged_object, parse_object
from ._listening import Backoff, Connected, Reconnector, Sink, sink_only
from ._logging import Throttle
from ._provider import AsyncSender, ListenContext, Provider, SyncSender
from ._results import RateLimit, Receipt, SendResult
from ._retry import RetryLoop
from ._secrets import Redactor, Secret
from ._settings import Policy, TransportSettings, mask_url, setting
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
from ._wiring import async_http_sender, http_sender

__all__ = [
    "sink_only",
    "Sink",
    "Reconnector",
    "Connected",
    "Backoff",
    # The contract
    "AsyncSender",
    "Throttle",
    "Capabilities",
    "Limits",
    "ListenContext",
    "ListenMode",
    "PayloadModel",
    "Provider",
    "SenderRule",
    "SyncSender",
    "TargetForm",
    # Codecs and their helpers
    "Codec",
    "HttpCodec",
    "HttpRequest",
    "HttpResponse",
    "WebhookCodec",
    "WebhookDelivery",
    "has_rate_limit_headers",
    "join_url",
    "json_body",
    "load_json",
    "rate_limit_from_headers",
    "retry_after_seconds",
    "segment",
    # Sending
    "Counters",
    "Policy",
    "RetryLoop",
    "TransportSettings",
    "async_http_sender",
    "http_sender",
    # Settings and secrets
    "Redactor",
    "Secret",
    "mask_url",
    "setting",
    # JSON and asyncio helpers
    "JSON",
    "JSONObject",
    "compact",
    "compact_bytes",
    "copy_json",
    "json_problems",
    "merged_object",
    "parse_object",
    "wait_within",
    # ASGI helpers (webhook apps a plugin serves)
    "BodyTooLargeError",
    "answer",
    "answer_json",
    "read_body",
    # Values shared with the user API
    "AmiTarget",
    "AppTarget",
    "CallTarget",
    "ChannelTarget",
    "ConversationTarget",
    "Event",
    "OtherTarget",
    "RateLimit",
    "Receipt",
    "SendResult",
    "Target",
    "TopicTarget",
    "UserTarget",
    "parse_target",
    "parse_time",
    # Errors
    "AuthenticationError",
    "CapabilityError",
    "ConfigurationError",
    "ConflictError",
    "EventkitError",
    "GoneError",
    "MissingCredentialsError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitedError",
    "SendTimeoutError",
    "SettingsError",
    "SignatureError",
    "TargetError",
    "UnavailableError",
    "UnsupportedTargetError",
    "ValidationError",
    "Violation",
    "error_for_status",
    "from_status",
]
