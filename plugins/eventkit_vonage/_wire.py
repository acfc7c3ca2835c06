"""Vonage wire facts, in one place for the codec and the docs.

Sources: the create-custom-event page
(https://developer.vonage.com/en/conversation/code-snippets/event/create-custom-event: the
``custom:`` prefix, 100 characters, 4096 bytes), the Client SDK custom-events guide
(https://developer.vonage.com/en/vonage-client-sdk/in-app-messaging/guides/custom-events: ``:``
allowed in the type) and the Conversation API OpenAPI files in Nexmo/api-specification
(``definitions/conversation.yml``: the event and error shapes).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from eventkit.provider import (
    ValidationError,
    parse_time,
)

PROVIDER = "vonage"
CUSTOM_PREFIX = "custom:"
MAX_TYPE_LENGTH = 100
"""The whole ``type``, prefix included (Client SDK guide: "a total of 100 characters")."""
MAX_NAME_LENGTH = MAX_TYPE_LENGTH - len(CUSTOM_PREFIX)
NAME_PATTERN = r"[A-Za-z0-9_:-]+"
MAX_BODY_BYTES = 4096
"""Measured as UTF-8 compact JSON of ``body``; how Vonage counts is unconfirmed."""
CONVERSATION_ID = re.compile(r"CON-[A-Za-z0-9-]{1,64}")
"""``CON-`` + a UUID in practice (the Java SDK checks the UUID); here only the shape that keeps URLs sane."""


def events_path(conversation_id: str) -> tuple[str, ...]:
    """Path segments of the create-event endpoint; no trailing slash (the gateway no longer normalises it)."""
    from eventkit.provider import segment

    return ("v1", "conversations", segment(conversation_id, "to"), "events")


def event_id(fields: dict[str, Any]) -> str | None:
    """Vonage event ids are progressive integers; kept as text like every eventkit id."""
    value = fields.get("id")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        return None
    return str(value)


def event_time(fields: dict[str, Any]) -> tuple[datetime | None, str | None]:
    """The parsed ``timestamp`` (``None`` if absent or unreadable) and its raw text."""
    raw = fields.get("timestamp")
    if not isinstance(raw, str):
        return None, None
    try:
        return parse_time(raw), raw
    except ValidationError:
        return None, raw
