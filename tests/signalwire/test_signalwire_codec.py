"""REST codec against SignalWire's OpenAPI shapes (signalwire/docs ``fern/apis/signalwire-rest/openapi.yaml``): request bytes, Call Leg receipt, error bodies."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from eventkit_signalwire import SignalWireCodec, SignalWireSettings, rest_error

import eventkit
from eventkit import (
    AuthenticationError,
    CallTarget,
    Event,
    MissingCredentialsError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    Secret,
    UnavailableError,
    ValidationError,
)
from eventkit.provider import HttpResponse

CALL = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
LEG = {
    "id": "0e9c80d7-a149-4917-892d-420043709f45",
    "from": "+12069708643",
    "to": "+15550198765",
    "direction": "outbound-api",
    "source": "realtime_api",
    "url": None,
    "charge": 0,
    "created_at": "2024-05-06T12:20:00Z",
    "charge_details": [{"description": "Outbound Voice", "charge": 0.004}],
    "status": "queued",
    "duration": None,
    "duration_ms": None,
    "billing_ms": None,
    "type": "relay_pstn_call",
    "parent_id": None,
}


def codec(**kw: Any) -> SignalWireCodec:
    values: dict[str, Any] = {"project_id": "p-123", "api_token": Secret("PTtok3n"), "space": "example", **kw}
    return SignalWireCodec(SignalWireSettings(**values))


def test_request_matches_the_spec_example_byte_for_byte() -> None:
    event = Event("ignored", {"action": "custom_action", "data": "example"})
    request = codec(name_key="").encode(event, CallTarget(CALL))
    assert request.method == "POST"
    assert request.url == "https://example.signalwire.com/api/calling/calls"
    assert request.content == (
        b'{"command":"calling.user_event","id":"3fa85f64-5717-4562-b3fc-2c963f66afa6",'
        b'"params":{"event":{"action":"custom_action","data":"example"}}}'
    )
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"p-123:PTtok3n").decode()
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


def test_event_name_travels_under_the_name_key() -> None:
    request = codec().encode(Event("order_ready", {"order_id": "A-1"}), CallTarget(CALL))
    assert request.json()["params"] == {"event": {"type": "order_ready", "order_id": "A-1"}}
    request = codec(name_key="action").encode(Event("order.confirmed", {"amount": 49.99}), CallTarget(CALL))
    assert request.json()["params"]["event"] == {"action": "order.confirmed", "amount": 49.99}


@pytest.mark.parametrize(
    ("settings", "url"),
    [
        ({"space": "example"}, "https://example.signalwire.com/api/calling/calls"),
        ({"space": "acme.signalwire.com"}, "https://acme.signalwire.com/api/calling/calls"),
        ({"space": "example", "base_url": "http://127.0.0.1:9/"}, "http://127.0.0.1:9/api/calling/calls"),
    ],
)
def test_base_url_from_space_or_given(settings: dict[str, Any], url: str) -> None:
    assert codec(**settings).encode(Event("x"), CallTarget(CALL)).url == url


def test_call_leg_becomes_the_receipt() -> None:
    c = codec()
    request = c.encode(Event("x"), CallTarget(CALL))
    receipt = c.parse_response(request, HttpResponse(200, {}, json.dumps(LEG).encode()))
    assert receipt.status == 200
    assert receipt.id == LEG["id"]
    assert receipt.details["call_status"] == "queued"
    assert receipt.details["type"] == "relay_pstn_call"
    assert receipt.details["direction"] == "outbound-api"
    assert "parent_id" not in receipt.details  # null fields are left out
    assert receipt.rate_limit is None


def test_non_json_success_still_succeeds() -> None:
    c = codec()
    receipt = c.parse_response(c.encode(Event("x"), CallTarget(CALL)), HttpResponse(200, {}, b"OK"))
    assert receipt.status == 200 and receipt.id is None


@pytest.mark.parametrize(
    ("status", "body", "cls"),
    [
        (400, {"error": "Bad Request"}, ValidationError),
        (401, {"error": "Unauthorized"}, AuthenticationError),
        (403, {"error": "Forbidden"}, PermissionDeniedError),
        (404, {"error": "Not Found"}, NotFoundError),
        (500, {"error": "Internal Server Error"}, UnavailableError),
    ],
)
def test_error_bodies_map_by_status(status: int, body: dict[str, Any], cls: type[Exception]) -> None:
    error = rest_error(HttpResponse(status, {}, json.dumps(body).encode()))
    assert type(error) is cls
    assert error.status == status
    assert error.message == body["error"]
    assert error.body == body
    assert error.provider == "signalwire"


def test_422_lists_every_error_as_a_violation() -> None:
    body = {
        "errors": [
            {
                "type": "validation_error",
                "code": "missing_required_parameter",
                "message": "url must be a valid http or https url",
                "attribute": "url",
                "url": "https://signalwire.com/docs/apis/error-codes",
            },
            {
                "type": "validation_error",
                "code": "invalid_command_attempted",
                "message": "The specified command is invalid.",
            },
        ]
    }
    error = rest_error(HttpResponse(422, {}, json.dumps(body).encode()))
    assert isinstance(error, ValidationError) and not error.retryable
    assert error.code == "missing_required_parameter"
    assert [(v.field, v.rule) for v in error.violations] == [
        ("url", "missing_required_parameter"),
        ("event", "invalid_command_attempted"),
    ]


def test_429_rate_limit_with_retry_after() -> None:
    body = {"errors": [{"type": "rate_limit", "code": "rate_limit_exceeded", "message": "Too Many Requests"}]}
    error = rest_error(HttpResponse(429, {"retry-after": "3"}, json.dumps(body).encode()))
    assert isinstance(error, RateLimitedError) and error.retryable
    assert error.code == "rate_limit_exceeded"
    assert error.retry_after == 3.0


def test_plain_text_429_from_an_edge_proxy() -> None:
    error = rest_error(HttpResponse(429, {}, b"slow down"))
    assert isinstance(error, RateLimitedError)
    assert error.body == "slow down"


# Validation before the wire.


def _mock_kit(**kw: Any) -> tuple[eventkit.Client, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=LEG)

    settings = {"project_id": "p-123", "api_token": "PTtok3n", "space": "example", **kw}
    kit = eventkit.connect("signalwire", http_transport=httpx.MockTransport(handler), environ={}, **settings)
    return kit, seen


@pytest.mark.parametrize("call_id", ["not-a-uuid", "3fa85f64571745620b3fc2c963f66afa6", CALL + "x", "../calls"])
def test_bad_call_id_is_refused_before_io(call_id: str) -> None:
    kit, seen = _mock_kit()
    with kit, pytest.raises(ValidationError) as caught:
        kit.send("e", {}, to=f"call:{call_id}")
    assert caught.value.violations[0].rule == "uuid"
    assert seen == []


def test_non_object_event_is_refused() -> None:
    kit, seen = _mock_kit()
    with kit:
        for bad in (["a", "b"], "text", 3):
            with pytest.raises(ValidationError):
                kit.send("e", bad, to=f"call:{CALL}")  # type: ignore[arg-type]
    assert seen == []


def test_name_key_collision_and_bad_id_are_both_reported() -> None:
    kit, _ = _mock_kit()
    with kit:
        violations = kit.validate("e", {"type": "x"}, to="call:nope")
    assert {v.rule for v in violations} == {"uuid", "reserved"}


def test_payload_limit_is_configurable() -> None:
    kit, seen = _mock_kit(max_payload_bytes=20)
    with kit, pytest.raises(eventkit.PayloadTooLargeError):
        kit.send("e", {"blob": "x" * 50}, to=f"call:{CALL}")
    kit, seen = _mock_kit(max_payload_bytes=0)
    with kit:
        assert kit.send("e", {"blob": "x" * 100_000}, to=f"call:{CALL}").ok
    assert len(seen) == 1


def test_missing_credentials_before_any_io() -> None:
    with pytest.raises(MissingCredentialsError) as caught:
        eventkit.connect("signalwire", project_id="p", environ={})
    assert "api_token" in str(caught.value) and "space" in str(caught.value)
    with pytest.raises(MissingCredentialsError, match="space"):
        eventkit.connect("signalwire", project_id="p", api_token="t", environ={})


def test_settings_from_environment_and_url() -> None:
    env = {"SIGNALWIRE_PROJECT_ID": "p-env", "SIGNALWIRE_API_TOKEN": "tok-env-1", "SIGNALWIRE_SPACE": "envspace"}
    with eventkit.connect("signalwire", environ=env) as kit:
        assert kit.provider.settings.project_id == "p-env"
        assert kit.provider.settings.rest_base_url == "https://envspace.signalwire.com"
    with eventkit.connect(
        "signalwire", environ={"SIGNALWIRE_TOKEN": "alias-tok", "SIGNALWIRE_PROJECT_ID": "p", "SIGNALWIRE_SPACE": "s"}
    ) as kit:
        assert kit.provider.settings.api_token.reveal() == "alias-tok"
    with eventkit.connect("signalwire+http://proj:s3cr3t-tok@127.0.0.1:8080", environ={}) as kit:
        assert kit.provider.settings.rest_base_url == "http://127.0.0.1:8080"
        assert "s3cr3t-tok" not in repr(kit) + repr(kit.provider)


def test_mocked_send_returns_call_status_and_hides_the_token_in_errors() -> None:
    kit, seen = _mock_kit()
    with kit:
        result = kit.send("order_ready", {"n": 1}, to=f"call:{CALL}")
    assert result.ok and result.id == LEG["id"] and result.receipt is not None
    assert result.receipt.details["call_status"] == "queued"
    assert json.loads(seen[0].content) == {
        "command": "calling.user_event",
        "id": CALL,
        "params": {"event": {"type": "order_ready", "n": 1}},
    }

    def echo_token(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "Unauthorized: " + request.headers["authorization"] + " PTtok3n"})

    with (
        eventkit.connect(
            "signalwire",
            project_id="p-123",
            api_token="PTtok3n",
            space="example",
            environ={},
            http_transport=httpx.MockTransport(echo_token),
        ) as kit,
        pytest.raises(AuthenticationError) as caught,
    ):
        kit.send("e", {}, to=f"call:{CALL}")
    shown = str(caught.value) + repr(caught.value.body)
    assert "PTtok3n" not in shown
    assert base64.b64encode(b"p-123:PTtok3n").decode() not in shown
