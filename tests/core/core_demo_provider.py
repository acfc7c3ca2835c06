"""A small HTTP provider used to test the core's transport and facade without a vendor."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

import attrs

from eventkit import (
    Capabilities,
    Event,
    Limits,
    ListenMode,
    Receipt,
    Secret,
    SignatureError,
    Target,
    TargetForm,
    Violation,
)
from eventkit.provider import (
    HttpRequest,
    HttpResponse,
    Provider,
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


@attrs.frozen
class DemoSettings:
    token: Secret | None = setting(required=True, secret=True, url="password")
    base_url: str = setting("https://demo.invalid")


class DemoCodec:
    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings

    def validate(self, event: Event, target: Target) -> list[Violation]:
        return [Violation("data", "reserved", "'type' is reserved", "demo")] if "type" in event.data else []

    def encode(self, event: Event, target: Target) -> HttpRequest:
        assert self.settings.token is not None
        return HttpRequest(
            "POST",
            join_url(self.settings.base_url, "topics", segment(str(target).split(":", 1)[1], "topic"), "events"),
            {"authorization": f"Bearer {self.settings.token.reveal()}", "content-type": "application/json"},
            json_body({"name": event.name, "data": event.data}),
        )

    def parse_response(self, request: HttpRequest, response: HttpResponse) -> Receipt:
        body = response.json_or_none()
        if 200 <= response.status < 300:
            return Receipt(
                status=response.status,
                id=(body or {}).get("id"),
                rate_limit=rate_limit_from_headers(response.headers),
            )
        message = body.get("message", "error") if isinstance(body, dict) else "error"
        raise from_status(
            response.status,
            message,
            provider="demo",
            body=body if body is not None else response.content.decode("utf-8", "replace"),
            retry_after=retry_after_seconds(response.headers),
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookDelivery:
        assert self.settings.token is not None
        expected = hmac.new(self.settings.token.reveal().encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, headers.get("x-signature", "")):
            raise SignatureError("bad signature", provider="demo")
        payload = load_json(body, "demo")
        event = Event.received(payload["name"], payload.get("data", {}), provider="demo", raw=body)
        return WebhookDelivery([event], headers.get("x-id"))


class DemoProvider(Provider):
    name = "demo"
    Settings = DemoSettings
    capabilities = Capabilities(
        targets=(TargetForm("topic", "topic:<name>"),),
        listen=(ListenMode.WEBHOOK,),
        limits=Limits(max_payload_bytes=64, max_name_length=10),
    )

    def codec(self) -> DemoCodec:
        return DemoCodec(self.settings)

    def webhook_codec(self) -> DemoCodec:
        return DemoCodec(self.settings)


def sign(token: str, body: bytes) -> str:
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
