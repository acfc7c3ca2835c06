"""What Stream puts on the wire around custom data: the fields it owns, its built-in event
names, and how a received event object becomes an eventkit event.

Custom data travels flat beside Stream's own fields (vendor note §1.3, §4.2), so the
set of owned field names is what separates the two, on send (refuse collisions) and
on receipt (everything else is data).
"""

from __future__ import annotations

from typing import Any, Mapping

from eventkit.provider import Event, JSONObject, ProtocolError, ValidationError, parse_time

PROVIDER = "stream"

OWNED_FIELDS = frozenset(
    {
        # EventRequest / WSEvent fields (vendor note §1.3, §1.4, §6)
        "type",
        "user",
        "user_id",
        "cid",
        "channel_id",
        "channel_type",
        "created_at",
        "received_at",
        "custom",
        "connection_id",
        "parent_id",
        "team",
        "watcher_count",
        "message",
        "channel",
        "member",
        "me",
        "reaction",
        "thread",
        "created_by",
        "members",
        "channel_member_count",
        "channel_last_message_at",
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
    """Built-in types use '.', which user custom events may not (vendor note §5.3)."""
    return name in BUILTIN_EVENTS or "." in name


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
    for key, value in obj.items():
        if key not in OWNED_FIELDS:
            data[key] = value
    meta: JSONObject = {k: v for k, v in obj.items() if k in OWNED_FIELDS and k not in ("type", "custom")}
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
