"""The real provider against the emulator on loopback: sends, JWT checks, errors, signed webhooks."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from eventkit_vonage.testing.emulator import VonageEmulator
from vonage_support import (
    APPLICATION_ID,
    CONVERSATION,
    MEMBER,
    SIGNATURE_SECRET,
    custom_webhook,
    key_pair,
    private_pem,
    public_pem,
    settings,
)

import eventkit
from eventkit import AuthenticationError, Event, NotFoundError, ValidationError

TARGET = f"conversation:{CONVERSATION}"
NOW = int(time.time())


@pytest.fixture(scope="module")
def emulator() -> Iterator[VonageEmulator]:
    with VonageEmulator(
        public_key=public_pem(), application_id=APPLICATION_ID, signature_secret=SIGNATURE_SECRET
    ) as running:
        yield running


def _kit(emulator: VonageEmulator, **extra: Any) -> eventkit.Client:
    return eventkit.connect("vonage", **settings(base_url=emulator.url, **extra))


def test_send_is_stored_and_answered_with_id_and_time(emulator: VonageEmulator) -> None:
    before = len(emulator.events.get(CONVERSATION, []))
    with _kit(emulator) as kit:
        result = kit.send("order_ready", {"order": 1234, "text": "héllo"}, to=TARGET, sender=MEMBER)
    stored = emulator.events[CONVERSATION][-1]
    assert len(emulator.events[CONVERSATION]) == before + 1
    assert stored["type"] == "custom:order_ready"
    assert stored["body"] == {"order": 1234, "text": "héllo"}
    assert stored["from"] == MEMBER
    assert result.id == str(stored["id"])
    assert result.status == 201
    assert result.receipt is not None and result.receipt.time is not None
    assert result.receipt.details["href"].endswith(f"/events/{stored['id']}")


def test_one_token_serves_many_sends(emulator: VonageEmulator) -> None:
    seen = len(emulator.tokens_seen)
    with _kit(emulator) as kit:
        results = kit.send_many([Event(f"n{i}", {"i": i}, target=TARGET) for i in range(5)])
    assert all(r.ok for r in results)
    jtis = {claims["jti"] for claims in emulator.tokens_seen[seen:]}
    assert len(jtis) == 1


def test_key_of_another_application_is_refused_by_the_platform(emulator: VonageEmulator) -> None:
    other = key_pair("other")[0].decode()
    with _kit(emulator, private_key=other, max_attempts=1) as kit, pytest.raises(AuthenticationError) as caught:
        kit.send("e", {}, to=TARGET)
    assert caught.value.code == "system:error:invalid-token"
    assert other.splitlines()[1] not in str(caught.value) + repr(caught.value.body)


def test_wrong_application_id_is_refused(emulator: VonageEmulator) -> None:
    with _kit(emulator, application_id="someone-else", max_attempts=1) as kit, pytest.raises(AuthenticationError):
        kit.send("e", {}, to=TARGET)


def test_user_token_without_from_is_refused_before_io_and_by_the_platform(emulator: VonageEmulator) -> None:
    before = emulator.requests
    with _kit(emulator, sub="alice") as kit:
        with pytest.raises(ValidationError):
            kit.send("e", {}, to=TARGET)
        assert emulator.requests == before
        assert kit.send("e", {}, to=TARGET, sender=MEMBER).ok
    token = emulator.tokens_seen[-1]
    assert token["sub"] == "alice"


def test_unknown_conversation_is_not_found() -> None:
    with VonageEmulator(public_key=public_pem(), application_id=APPLICATION_ID, auto_create=False) as strict:
        known = strict.create_conversation()
        with eventkit.connect("vonage", **settings(base_url=strict.url, max_attempts=1)) as kit:
            assert kit.send("e", {}, to=f"conversation:{known}").ok
            with pytest.raises(NotFoundError) as caught:
                kit.send("e", {}, to=TARGET)
        assert caught.value.code == "conversation:error:not-found"


def _raw_post(emulator: VonageEmulator, path: str, body: Any) -> httpx.Response:
    with eventkit.connect("vonage", **settings(base_url=emulator.url)) as kit:
        token = kit.provider.tokens().token()
    return httpx.post(
        emulator.url + path, content=json.dumps(body).encode(), headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "custom:" + "x" * 94, "body": {}}, "type"),
        ({"type": "custom:bad.name", "body": {}}, "type"),
        ({"type": "text", "body": {}}, "type"),
        ({"type": "custom:ok", "body": {"blob": "x" * 4090}}, "body"),
        ({"type": "custom:ok", "body": [1]}, "body"),
    ],
)
def test_emulator_enforces_the_documented_limits(emulator: VonageEmulator, body: Any, field: str) -> None:
    """What the plugin refuses before I/O, the emulator refuses too, Vonage-shaped."""
    response = _raw_post(emulator, f"/v1/conversations/{CONVERSATION}/events", body)
    assert response.status_code == 400
    error = response.json()
    assert error["code"] == "http:error:validation-fail"
    assert {p["name"] for p in error["invalid_parameters"]} == {field}


def test_trailing_slash_is_not_normalised(emulator: VonageEmulator) -> None:
    response = _raw_post(emulator, f"/v1/conversations/{CONVERSATION}/events/", {"type": "custom:ok", "body": {}})
    assert response.status_code == 404


@pytest.mark.parametrize(
    "claims",
    [
        {"application_id": APPLICATION_ID, "iat": NOW, "jti": "x"},  # no exp
        {"application_id": APPLICATION_ID, "iat": NOW, "jti": "x", "exp": NOW + 90_000},  # over 24 h
    ],
)
def test_emulator_refuses_tokens_outside_the_documented_claims(
    emulator: VonageEmulator, claims: dict[str, Any]
) -> None:
    """Tokens without exp, or living longer than 24 h, are refused (the emulator itself is checked)."""
    token = jwt.encode(claims, private_pem(), algorithm="RS256")
    response = httpx.post(
        f"{emulator.url}/v1/conversations/{CONVERSATION}/events",
        json={"type": "custom:ok", "body": {}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 401
    assert response.json()["code"] == "system:error:invalid-token"


async def test_listen_through_signed_webhooks_and_refuse_forgeries(emulator: VonageEmulator) -> None:
    """The full path: send -> emulator -> signed RTC webhook -> receiver -> listen(); forgeries never arrive."""
    got: list[Event] = []
    ready = asyncio.Event()
    address: list[str] = []

    def on_ready(url: str) -> None:
        address.append(url)
        emulator.webhook_url = url
        ready.set()

    async with eventkit.connect_async("vonage", **settings(base_url=emulator.url)) as kit:

        async def consume() -> None:
            async for event in kit.listen(via="webhook", port=0, on_ready=on_ready):
                got.append(event)
                if len(got) == 2:
                    return

        listener = asyncio.ensure_future(consume())
        await asyncio.wait_for(ready.wait(), 5)
        async with httpx.AsyncClient() as client:
            forged_body = json.dumps(custom_webhook("forged")).encode()
            forged = await client.post(
                address[0],
                content=forged_body,
                headers=emulator.sign_webhook(forged_body, secret="not-the-secret-0123456789-abcdefgh"),
            )
            tampered = await client.post(
                address[0],
                content=json.dumps(custom_webhook("tampered")).encode(),
                headers=emulator.sign_webhook(forged_body),
            )
            stale = await client.post(
                address[0], content=forged_body, headers=emulator.sign_webhook(forged_body, iat=1_600_000_000)
            )
            unsigned = await client.post(address[0], content=forged_body)
        assert [r.status_code for r in (forged, tampered, stale, unsigned)] == [401, 401, 401, 401]
        first = await kit.send("first", {"n": 1}, to=TARGET, sender=MEMBER)
        await kit.send("second", {"nested": {"list": [1, "two"]}}, to=TARGET)
        await asyncio.wait_for(listener, 5)
    assert [e.name for e in got] == ["first", "second"]
    assert got[0].data == {"n": 1} and got[0].sender == MEMBER and got[0].target == TARGET
    assert got[0].id == first.id
    assert got[1].data == {"nested": {"list": [1, "two"]}} and got[1].sender is None
    assert kit.stats["rejected_signature"] == 4
