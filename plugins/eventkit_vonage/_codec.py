"""The send codec: custom events to ``POST /v1/conversations/{id}/events``.

Sans-I/O: ``encode`` reads the clock (through the token cache) and nothing else.
Users write the bare event name; the ``custom:`` prefix Vonage requires is added
here and removed by the webhook decoder, so names round-trip unchanged.
"""

from __future__ import annotations

from typing import Any, Callable

import eventkit
from eventkit.provider import (
    ConversationTarget,
    Event,
    HttpRequest,
    HttpResponse,
    Receipt,
    Target,
    Violation,
    compact,
    join_url,
)

from ._errors import error_from_response
from ._jwt import TokenMinter
from ._settings import VonageSettings
from ._wire import CONVERSATION_ID, CUSTOM_PREFIX, PROVIDER, event_id, event_time, events_path

USER_AGENT = f"eventkit/{eventkit.__version__}"


def wire_body(event: Event) -> dict[str, Any]:
    """The create-event JSON, keys in the documented order; ``from`` only when there is a sender."""
    body: dict[str, Any] = {"type": CUSTOM_PREFIX + event.name}
    if event.sender:
        body["from"] = event.sender
    body["body"] = event.data
    return body


def wire_body_bytes(event: Event) -> bytes:
    """:func:`wire_body` serialised, with the data's bytes kept from the event's check."""
    skeleton = compact(wire_body(event) | {"body": {}})  # "body" keeps its place, last
    return skeleton[: skeleton.rindex("{}")].encode() + event.data_json() + b"}"


class VonageCodec:
    """Validates, encodes and reads answers; the name/size limits are the provider's declared ones."""

    def __init__(self, settings: VonageSettings, tokens: Callable[[], TokenMinter]) -> None:
        """``tokens`` is called when a request is encoded: validating needs no key (``eventkit check``)."""
        self.settings = settings
        self._tokens = tokens
        self.api_url = settings.api_url

    def __repr__(self) -> str:
        return f"<VonageCodec {self.api_url}>"

    def validate(self, event: Event, target: Target) -> list[Violation]:
        """What the generic limit checks (name length/pattern, body bytes) cannot know."""
        out = []
        if isinstance(target, ConversationTarget) and not CONVERSATION_ID.fullmatch(target.conversation_id):
            out.append(
                Violation(
                    "to",
                    "conversation_id",
                    f"{target.conversation_id!r} is not a conversation id (CON-<uuid>)",
                    PROVIDER,
                )
            )
        if not isinstance(event.data, dict):
            out.append(Violation("data", "object", "the event body must be a JSON object", PROVIDER))
        if self.settings.sub is not None and not event.sender:
            out.append(
                Violation(
                    "sender",
                    "required",
                    "with a user token (sub) Vonage needs 'from': pass sender=<MEM-id>",
                    PROVIDER,
                )
            )
        if event.sender is not None and not event.sender.strip():
            out.append(Violation("sender", "member_id", "sender must be a member id (MEM-<uuid>)", PROVIDER))
        return out

    def encode(self, event: Event, target: Target) -> HttpRequest:
        assert isinstance(target, ConversationTarget), "validated before encode"
        return HttpRequest(
            "POST",
            join_url(self.api_url, *events_path(target.conversation_id)),
            {
                "Authorization": f"Bearer {self._tokens().token()}",
                "Content-Type": "application/json",
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
            },
            wire_body_bytes(event),
        )

    def parse_response(self, request: HttpRequest, response: HttpResponse) -> Receipt:
        if not 200 <= response.status < 300:
            raise error_from_response(response)
        body = response.json_or_none()
        fields: dict[str, Any] = body if isinstance(body, dict) else {}
        when, timestamp = event_time(fields)
        details: dict[str, Any] = {}
        href = _href(fields)
        if href is not None:
            details["href"] = href
        if timestamp is not None:
            details["timestamp"] = timestamp
        return Receipt(
            status=response.status,
            id=event_id(fields),
            time=when,
            details=details,
        )


def _href(fields: dict[str, Any]) -> str | None:
    """``_links.self.href`` (v1 full event) or ``href`` (v0.x create response)."""
    links = fields.get("_links")
    if isinstance(links, dict):
        own = links.get("self")
        if isinstance(own, dict) and isinstance(own.get("href"), str):
            return str(own["href"])
    href = fields.get("href")
    return href if isinstance(href, str) else None
