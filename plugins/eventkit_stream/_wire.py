"""What Stream puts on the wire around custom data: the fields it owns, its built-in event
names, and how a received event object becomes an eventkit event.

Custom data travels flat beside Stream's own fields (GetStream/stream-chat-python
``stream_chat/channel.py`` ``send_event``; ``WSEvent`` in GetStream/protocol
``openapi/chat-openapi.yaml``), so the
set of owned field names is what separates the two, on send (refuse collisions) and
on receipt (everything else is data).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eventkit.provider import Event, JSONObject, ProtocolError, ValidationError, parse_time

PROVIDER = "stream"

WSEVENT_FIELDS = frozenset(
    {
        "automoderation",
        "automoderation_scores",
        "channel",
        "channel_id",
        "channel_last_message_at",
        "channel_type",
        "cid",
        "connection_id",
        "created_at",
        "created_by",
        "custom",
        "me",
        "member",
        "message",
        "message_update",
        "parent_id",
        "poll",
        "poll_vote",
        "reaction",
        "reason",
        "team",
        "thread",
        "thread_id",
        "type",
        "user",
        "user_id",
        "watcher_count",
    }
)
"""The properties of ``WSEvent``, the shape of every event Stream delivers.

Taken once from Stream's chat OpenAPI, GetStream/protocol ``openapi/chat-openapi.yaml``
(v236.0.4, ``components.schemas.WSEvent.properties``). A test reads the spec and fails when
this set and the spec's list differ, so regenerate it from the spec when the spec changes.
"""

OWNED_FIELDS = WSEVENT_FIELDS | frozenset(
    {
        # Not on WSEvent but on other event schemas of the same OpenAPI: ``received_at``
        # (HealthCheckEvent, CustomEvent), ``channel_member_count`` (Channel*Event, Member*Event),
        # ``members`` (UserGroupMember*Event).
        "received_at",
        "members",
        "channel_member_count",
    }
)
"""Top-level event fields Stream owns; custom data may not use these names."""

BUILTIN_EVENTS = frozenset(
    {
        "channel.created",
        "channel.deleted",
        "channel.hidden",
        "channel.muted",
        "channel.truncated",
        "channel.unmuted",
        "channel.updated",
        "channel.visible",
        "connection.changed",
        "connection.recovered",
        "health.check",
        "member.added",
        "member.removed",
        "member.updated",
        "message.deleted",
        "message.new",
        "message.read",
        "message.updated",
        "message.flagged",
        "notification.added_to_channel",
        "notification.channel_deleted",
        "notification.channel_mutes_updated",
        "notification.channel_truncated",
        "notification.invite_accepted",
        "notification.invite_rejected",
        "notification.invited",
        "notification.mark_read",
        "notification.mark_unread",
        "notification.message_new",
        "notification.mutes_updated",
        "notification.removed_from_channel",
        "reaction.deleted",
        "reaction.new",
        "reaction.updated",
        "typing.start",
        "typing.stop",
        "user.banned",
        "user.deleted",
        "user.flagged",
        "user.presence.changed",
        "user.unbanned",
        "user.updated",
        "user.watching.start",
        "user.watching.stop",
    }
)
"""Stream's built-in event types (PY-docs ``events.md``); all of them contain a '.'."""


def is_builtin(name: str) -> bool:
    """Built-in types use '.', which user custom events may not (https://getstream.io/chat/docs/node/custom_events/)."""
    return name in BUILTIN_EVENTS or "." in name


def parse_frame(raw: str | bytes) -> Any:
    """A websocket frame's JSON; anything else is a :class:`ProtocolError`, never another exception.

    ``json.loads`` raises ``ValueError`` for bad JSON or bad UTF-8 and ``RecursionError`` for
    deep nesting (a frame of 2,000 ``[`` is enough): a listener must turn every one of them
    into a typed error it can count, not end on it.
    """
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError("a Stream websocket frame is not JSON", provider=PROVIDER) from None


def decode_frame(raw: str | bytes, *, source: str, user: str | None = None) -> Event | None:
    """One websocket frame as an event; ``None`` for a ``health.check``; :class:`ProtocolError` otherwise."""
    obj = parse_frame(raw)
    if isinstance(obj, dict) and obj.get("type") == "health.check":
        return None
    return decode_event(obj, source=source, user=user)


def decode_event(obj: Any, *, source: str, user: str | None = None, id: str | None = None) -> Event:
    """One Stream event object (websocket frame or webhook body) as an eventkit event.

    ``user`` is the listening user, used as the target of events that carry no
    ``cid`` (user custom events) when the event names none itself.
    """
    if not isinstance(obj, Mapping):
        raise ProtocolError("a Stream event must be a JSON object", provider=PROVIDER)
    name = obj.get("type")
    if not isinstance(name, str) or not name:
        raise ProtocolError("a Stream event needs a string 'type'", provider=PROVIDER)
    data: JSONObject = {}
    custom = obj.get("custom")
    if isinstance(custom, dict):
        data.update(custom)
    meta: JSONObject = {}
    for key, value in obj.items():  # one pass: custom data, or a field Stream owns
        if key not in OWNED_FIELDS:
            data[key] = value
        elif key != "type" and key != "custom":
            meta[key] = value
    author = obj.get("user")
    author_id = author.get("id") if isinstance(author, Mapping) else obj.get("user_id")
    author_id = author_id if isinstance(author_id, str) and author_id else None
    target, sender = _target_and_sender(obj, author_id, user)
    return Event.received(
        name,
        data,
        provider=PROVIDER,
        raw=obj,
        id=id,
        time=_time(obj.get("created_at")),
        target=target,
        source=source,
        sender=sender,
        meta=meta,
    )


def _target_and_sender(obj: Mapping[str, Any], author: str | None, user: str | None) -> tuple[str | None, str | None]:
    cid = obj.get("cid")
    if not isinstance(cid, str) or ":" not in cid:
        ctype, cident = obj.get("channel_type"), obj.get("channel_id")
        cid = f"{ctype}:{cident}" if isinstance(ctype, str) and isinstance(cident, str) else None
    if cid is not None:
        return f"channel:{cid}", author
    # A user custom event has no channel; the user it names (if any) is the one it was sent to.
    who = author or user
    return (f"user:{who}" if who else None), None


def _time(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return parse_time(value)
        except ValidationError:
            return None
    return None
