"""Every bad input a caller can give is refused before anything reaches the wire."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import eventkit
from eventkit import PayloadTooLargeError, UnsupportedTargetError, ValidationError

SECRET = "validation-secret-0123456789abcdef-0123456789"


class Wire:
    """An httpx transport that records requests; any request here means validation failed."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(201, json={"duration": "0.1ms"})


@pytest.fixture
def wire() -> Wire:
    return Wire()


def kit(wire: Wire, **settings: Any) -> eventkit.Client:
    return eventkit.connect(
        "stream",
        environ={},
        api_key="key",
        api_secret=SECRET,
        http_transport=httpx.MockTransport(wire),
        **settings,
    )


def rules(exc: ValidationError) -> set[tuple[str, str]]:
    return {(v.field, v.rule) for v in exc.violations}


def test_channel_event_without_sender(wire: Wire) -> None:
    with kit(wire) as k, pytest.raises(ValidationError) as caught:
        k.send("ping", {}, to="channel:messaging:general")
    assert ("sender", "required") in rules(caught.value)
    assert wire.requests == []


def test_dotted_user_event_type(wire: Wire) -> None:
    with kit(wire) as k, pytest.raises(ValidationError) as caught:
        k.send("order.ready", {}, to="user:tommaso")
    assert ("name", "no_dot") in rules(caught.value)
    assert wire.requests == []


def test_builtin_names_are_reserved_on_channels_even_when_dots_are_allowed(wire: Wire) -> None:
    with kit(wire, allow_dotted_channel_events=True) as k:
        with pytest.raises(ValidationError) as caught:
            k.send("typing.start", {}, to="channel:messaging:general", sender="bot")
        assert rules(caught.value) == {("name", "reserved")}
        assert k.send("custom.event", {}, to="channel:messaging:general", sender="bot").ok
    assert len(wire.requests) == 1


def test_dotted_channel_names_are_refused_by_default(wire: Wire) -> None:
    with kit(wire) as k, pytest.raises(ValidationError) as caught:
        k.send("custom.event", {}, to="channel:messaging:general", sender="bot")
    assert rules(caught.value) == {("name", "no_dot")}
    assert wire.requests == []


@pytest.mark.parametrize("key", ["type", "user", "user_id", "cid", "created_at", "custom", "channel_id", "parent_id"])
def test_keys_stream_owns_are_refused(wire: Wire, key: str) -> None:
    with kit(wire) as k, pytest.raises(ValidationError) as caught:
        k.send("ping", {key: "x", "fine": 1}, to="channel:messaging:general", sender="bot")
    assert rules(caught.value) == {(f"data.{key}", "reserved_key")}
    assert wire.requests == []


def test_oversize_payload_default_and_configured(wire: Wire) -> None:
    with kit(wire) as k:
        with pytest.raises(PayloadTooLargeError):
            k.send("ping", {"blob": "x" * 5120}, to="user:u")
        # 5120 bytes of compact JSON exactly is allowed: {"b":"..."} is 8 bytes of framing.
        assert k.send("ping", {"b": "x" * (5120 - 8)}, to="user:u").ok
    with kit(wire, max_payload_bytes=100) as k, pytest.raises(PayloadTooLargeError):
        k.send("ping", {"blob": "x" * 100}, to="user:u")
    assert len(wire.requests) == 1


def test_every_violation_is_reported_at_once(wire: Wire) -> None:
    with kit(wire) as k:
        violations = k.validate(
            "typing.start", {"type": "x", "user": {}, "blob": "y" * 6000}, to="channel:messaging:general"
        )
    found = {(v.field, v.rule) for v in violations}
    assert found >= {
        ("sender", "required"),
        ("name", "reserved"),
        ("data.type", "reserved_key"),
        ("data.user", "reserved_key"),
        ("data", "max_bytes"),
    }
    assert all(v.provider == "stream" for v in violations)


@pytest.mark.parametrize("target", ["call:abc", "topic:orders", "conversation:CON-1", "ami", "app:x"])
def test_undeclared_targets_name_the_declared_forms(wire: Wire, target: str) -> None:
    with kit(wire) as k, pytest.raises(UnsupportedTargetError) as caught:
        k.send("ping", {}, to=target, sender="bot")
    assert "channel:<type>:<id>" in str(caught.value) and "user:<id>" in str(caught.value)
    assert wire.requests == []


@pytest.mark.parametrize(
    ("name", "to"),
    [("ping", "user:.."), ("ping", "channel:messaging:."), ("bad\x01name", "user:u"), ("ping", "channel:..:x")],
)
def test_path_and_control_character_problems(wire: Wire, name: str, to: str) -> None:
    with kit(wire) as k, pytest.raises(ValidationError):
        k.send(name, {}, to=to, sender="bot")
    assert wire.requests == []


def test_sender_is_ignored_for_user_targets(wire: Wire) -> None:
    with kit(wire) as k:
        assert k.send("ping", {"a": 1}, to="user:u", sender="bot").ok
    assert wire.requests[0].read() == b'{"event":{"type":"ping","a":1}}'


def test_bad_input_in_send_many_fails_alone(wire: Wire) -> None:
    with kit(wire) as k:
        results = k.send_many(
            [
                {"name": "ok", "data": {"a": 1}, "target": "channel:messaging:general", "sender": "bot"},
                {"name": "bad", "data": {"cid": 1}, "target": "channel:messaging:general", "sender": "bot"},
                {"name": "no.dots", "data": {}, "target": "user:u"},
            ]
        )
    assert [r.ok for r in results] == [True, False, False]
    assert len(wire.requests) == 1
