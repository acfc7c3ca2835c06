"""Acme Rooms for eventkit: a complete third-party provider in one small module.

Acme Rooms is a made-up platform: ``POST /v1/rooms/{room}/events`` with a
bearer key sends ``{"name", "data", "from"}`` to a room, and Acme posts each
event to the application's webhook URL, signed with HMAC-SHA256 of the body
under the webhook secret (``X-Acme-Signature``, hex), with a delivery id
(``X-Acme-Delivery``) that stays the same across Acme's retries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from typing import Any

import attrs

from eventkit.provider import (
    Capabilities,
    Codec,
    Event,
    HttpRequest,
    HttpResponse,
    Limits,
    ListenMode,
    OtherTarget,
    PayloadModel,
    ProtocolError,
    Receipt,
    Secret,
    SenderRule,
    SignatureError,
    Target,
    TargetForm,
    Violation,
    WebhookCodec,
    WebhookDelivery,
    from_status,
    join_url,
    json_body,
    load_json,
    rate_limit_from_headers,
    retry_after_seconds,
    segment,
    setting,
)
from eventkit.provider import Provider as _Provider

NAME = "acme"
ROOM_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
RESERVED = frozenset({"name", "from"})


@attrs.frozen
class AcmeSettings:
    api_key: Secret | None = setting(
        required=True, secret=True, env=("ACME_API_KEY",), url="password", help="bearer key for the REST API"
    )
    webhook_secret: Secret | None = setting(
        secret=True, env=("ACME_WEBHOOK_SECRET",), help="verifies X-Acme-Signature on webhooks (needed to listen)"
    )
    base_url: str = setting("https://api.acme.example", env=("ACME_URL",), help="API host, proxy or emulator")


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class AcmeCodec:
    """Sans-I/O: every violation, the request, and the answer mapped to a receipt or an error."""

    def __init__(self, settings: AcmeSettings) -> None:
        self.settings = settings

    def validate(self, event: Event, target: Target) -> list[Violation]:
        out = []
        if isinstance(target, OtherTarget) and not ROOM_ID.fullmatch(target.value):
            out.append(Violation("to", "room_id", "a room id is 1-64 of a-z, 0-9 and '-', starting alphanumeric", NAME))
        for key in event.data:
            if key in RESERVED:
                out.append(Violation(f"data.{key}", "reserved", f"{key!r} is Acme's own field", NAME))
        return out

    def encode(self, event: Event, target: Target) -> HttpRequest:
        assert isinstance(target, OtherTarget) and self.settings.api_key is not None
        url = join_url(self.settings.base_url, "v1", "rooms", segment(target.value, "room"), "events")
        body: dict[str, Any] = {"name": event.name, "data": event.data}
        if event.sender:
            body["from"] = event.sender
        headers = {"authorization": f"Bearer {self.settings.api_key.reveal()}", "content-type": "application/json"}
        return HttpRequest("POST", url, headers, json_body(body))

    def parse_response(self, request: HttpRequest, response: HttpResponse) -> Receipt:
        answer = response.json_or_none()
        if 200 <= response.status < 300 and isinstance(answer, dict):
            return Receipt(response.status, str(answer.get("id")), rate_limit=rate_limit_from_headers(response.headers))
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        raise from_status(
            response.status,
            str(error.get("message") or f"Acme answered {response.status}"),
            provider=NAME,
            code=error.get("code"),
            body=answer,
            retry_after=retry_after_seconds(response.headers),
        )


class AcmeWebhookCodec:
    def __init__(self, settings: AcmeSettings) -> None:
        self.settings = settings

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        if self.settings.webhook_secret is None:
            raise SignatureError("set webhook_secret to verify Acme webhooks", provider=NAME)
        expected = sign(self.settings.webhook_secret.reveal(), body)
        if not hmac.compare_digest(expected, headers.get("x-acme-signature", "")):
            raise SignatureError("bad X-Acme-Signature", provider=NAME)
        payload = load_json(body, NAME)
        if not isinstance(payload, dict) or not isinstance(payload.get("name"), str):
            raise ProtocolError("an Acme webhook is an object with a string 'name'", provider=NAME)
        data = payload.get("data")
        event = Event.received(
            payload["name"],
            data if isinstance(data, dict) else {"value": data},
            provider=NAME,
            raw=payload,
            id=str(payload.get("id")) if payload.get("id") is not None else None,
            target=f"room:{payload.get('room')}",
            sender=payload.get("from") if isinstance(payload.get("from"), str) else None,
        )
        return WebhookDelivery([event], headers.get("x-acme-delivery"))


class AcmeProvider(_Provider):
    name = NAME
    Settings = AcmeSettings
    capabilities = Capabilities(
        targets=(TargetForm("room", "room:<id>", "every member of one Acme room", SenderRule.OPTIONAL),),
        listen=(ListenMode.WEBHOOK,),
        payload=PayloadModel.JSON,
        limits=Limits(max_payload_bytes=4096, max_name_length=64, name_pattern=r"[A-Za-z0-9_.-]+"),
        description="Acme Rooms (an example third-party provider).",
        mapping="a received non-object 'data' arrives as {'value': data}",
    )

    def codec(self) -> Codec:
        return AcmeCodec(self.settings)

    def webhook_codec(self) -> WebhookCodec:
        return AcmeWebhookCodec(self.settings)


__all__ = ["AcmeCodec", "AcmeProvider", "AcmeSettings", "AcmeWebhookCodec", "sign"]
