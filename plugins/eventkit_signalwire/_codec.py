"""The REST codec: ``calling.user_event`` on a live call, as one HTTP request.

``POST {base}/api/calling/calls`` with HTTP Basic ``project_id:api_token`` and
``{"command": "calling.user_event", "id": <call id>, "params": {"event": {...}}}``;
the 200 answer is the call's Call Leg, read into the receipt.
"""

from __future__ import annotations

import base64

from eventkit.provider import (
    CallTarget,
    Event,
    HttpRequest,
    HttpResponse,
    JSONObject,
    Receipt,
    Target,
    Violation,
    compact,
    join_url,
    json_body,
    merged_object,
    rate_limit_from_headers,
)

from ._errors import rest_error
from ._settings import SignalWireSettings
from ._wire import PROVIDER, USER_EVENT_COMMAND, event_object, name_key_violations, uuid_violations

CALLS_PATH = ("api", "calling", "calls")
_LEG_FIELDS = ("id", "status", "type", "direction", "from", "to", "parent_id", "created_at", "source")


def basic_auth(project_id: str, token: str) -> str:
    return "Basic " + base64.b64encode(f"{project_id}:{token}".encode()).decode("ascii")


def user_event_body(call_id: str, event: JSONObject) -> JSONObject:
    """The REST command body, keys in the order SignalWire's spec example shows."""
    return {"command": USER_EVENT_COMMAND, "id": call_id, "params": {"event": event}}


class SignalWireCodec:
    """Sans-I/O REST codec; the core's HTTP transport sends what it encodes."""

    def __init__(self, settings: SignalWireSettings) -> None:
        self.settings = settings

    def credential_violations(self) -> list[Violation]:
        out = []
        if not self.settings.project_id or not self.settings.api_token:
            out.append(Violation("credentials", "settings", "REST sends need project_id and api_token", PROVIDER))
        if self.settings.rest_base_url is None:
            out.append(Violation("space", "settings", "REST sends need space or base_url", PROVIDER))
        return out

    def validate(self, event: Event, target: Target) -> list[Violation]:
        out: list[Violation] = []
        if isinstance(target, CallTarget):
            out.extend(uuid_violations(target.call_id, "to", "the call id"))
        out.extend(name_key_violations(event.data, self.settings.name_key))
        out.extend(self.credential_violations())
        return out

    def encode(self, event: Event, target: Target) -> HttpRequest:
        assert isinstance(target, CallTarget)
        base = self.settings.rest_base_url
        token = self.settings.api_token
        assert base is not None and token is not None and self.settings.project_id
        name_key = self.settings.name_key
        if name_key and name_key in event.data:  # refused by validate; serialised as before if encoded anyway
            body = json_body(user_event_body(target.call_id, event_object(event.name, event.data, name_key)))
        else:  # the data's bytes kept from the event's check, spliced in: no second walk
            skeleton = compact(user_event_body(target.call_id, {}))
            head = skeleton[: skeleton.rindex("{}")].encode()  # up to '"event":'
            inner = merged_object(event.data_json(), {name_key: event.name} if name_key else {})
            body = head + inner + b"}}"
        return HttpRequest(
            "POST",
            join_url(base, *CALLS_PATH),
            {
                "Authorization": basic_auth(self.settings.project_id, token.reveal()),
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
            body,
        )

    def parse_response(self, request: HttpRequest, response: HttpResponse) -> Receipt:
        if 200 <= response.status < 300:
            return call_leg_receipt(response)
        raise rest_error(response)


def call_leg_receipt(response: HttpResponse) -> Receipt:
    """The Call Leg's ids and status: the call the event went to, not an event id."""
    leg = response.json_or_none()
    details: JSONObject = {}
    leg_id = None
    if isinstance(leg, dict):
        for key in _LEG_FIELDS:
            value = leg.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                details["call_status" if key == "status" else key] = value
        leg_id = leg.get("id") if isinstance(leg.get("id"), str) else None
    limit = rate_limit_from_headers(response.headers)
    has_limit = any(v is not None for v in (limit.limit, limit.remaining, limit.reset))
    return Receipt(status=response.status, id=leg_id, details=details, rate_limit=limit if has_limit else None)
