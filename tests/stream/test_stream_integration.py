"""The real provider against the Stream emulator on loopback: REST, webhooks and the websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from eventkit_stream.testing.emulator import StreamEmulator, sign

import eventkit
from eventkit import AuthenticationError, Event, NotFoundError, RateLimitedError, ValidationError


@pytest.fixture(scope="module")
def emulator() -> Iterator[StreamEmulator]:
    with StreamEmulator(health_interval=0.3, users={"tommaso", "listener"}) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _reset(emulator: StreamEmulator) -> None:
    emulator.webhook_url = None
    emulator.webhook_gzip = False
    emulator.disabled_types.clear()


def settings(emulator: StreamEmulator, **extra: Any) -> dict[str, Any]:
    return {
        "api_key": emulator.api_key,
        "api_secret": emulator.api_secret,
        "base_url": emulator.url,
        "environ": {},
        **extra,
    }


def ws_settings(emulator: StreamEmulator, **extra: Any) -> dict[str, Any]:
    return settings(
        emulator,
        listen_user="listener",
        watch=("messaging:general",),
        reconnect_initial=0.05,
        reconnect_max=0.2,
        **extra,
    )


# Sending


def test_channel_event_reaches_the_platform_authenticated(emulator: StreamEmulator) -> None:
    with eventkit.connect("stream", **settings(emulator)) as kit:
        result = kit.send("friendship_request", {"text": "hi"}, to="channel:messaging:general", sender="server-bot")
    request = emulator.log[-1]
    assert request.path == "/channels/messaging/general/event"
    assert request.query == {"api_key": emulator.api_key}
    assert jwt.decode(request.headers["authorization"], emulator.api_secret, algorithms=["HS256"]) == {"server": True}
    assert request.headers["stream-auth-type"] == "jwt"
    assert request.headers["x-stream-client"].startswith("eventkit-")
    assert request.json() == {"event": {"type": "friendship_request", "text": "hi", "user": {"id": "server-bot"}}}
    assert result.status == 201 and result.receipt is not None
    assert result.receipt.details["cid"] == "messaging:general"
    assert result.rate_limit is not None and result.rate_limit.limit == 10000
    assert emulator.events[-1]["user"]["id"] == "server-bot"


def test_percent_encoded_ids_reach_one_channel(emulator: StreamEmulator) -> None:
    with eventkit.connect("stream", **settings(emulator)) as kit:
        kit.send("ping", {}, to="channel:messaging:a/b?c", sender="bot")
    assert emulator.log[-1].path == "/channels/messaging/a%2Fb%3Fc/event"
    assert emulator.events[-1]["cid"] == "messaging:a/b?c"


async def test_user_event_and_unknown_user(emulator: StreamEmulator) -> None:
    async with eventkit.connect_async("stream", **settings(emulator)) as kit:
        result = await kit.send("friendship_request", {"text": "be my friend"}, to="user:tommaso")
        assert result.ok and result.status == 201
        assert emulator.log[-1].json() == {"event": {"type": "friendship_request", "text": "be my friend"}}
        with pytest.raises(NotFoundError) as caught:
            await kit.send("friendship_request", {}, to="user:nobody")
        assert caught.value.code == 16 and caught.value.status == 404


@pytest.mark.parametrize(
    ("override", "code"),
    [({"api_secret": "wrong-secret-0123456789abcdef-0123456789abcdef"}, 43), ({"api_key": "other-app"}, 2)],
)
def test_bad_credentials_are_authentication_errors(
    emulator: StreamEmulator, override: dict[str, Any], code: int
) -> None:
    kit = eventkit.connect("stream", **{**settings(emulator), **override})
    with kit, pytest.raises(AuthenticationError) as caught:
        kit.send("ping", {}, to="user:tommaso")
    assert caught.value.code == code and not caught.value.retryable
    assert caught.value.provider == "stream"


def test_custom_events_disabled_on_the_channel_type(emulator: StreamEmulator) -> None:
    emulator.disabled_types.add("livestream")
    with eventkit.connect("stream", **settings(emulator)) as kit, pytest.raises(ValidationError) as caught:
        kit.send("ping", {}, to="channel:livestream:show", sender="bot")
    assert caught.value.code == 18


def test_edge_429_then_success(emulator: StreamEmulator) -> None:
    emulator.fail_next(429, 0.1, json=False)
    with eventkit.connect("stream", backoff_initial=0, **settings(emulator)) as kit:
        result = kit.send("ping", {}, to="user:tommaso")
        assert result.ok and result.attempts == 2
        emulator.fail_next(429, 120)
        failed = kit.send_many([{"name": "ping", "target": "user:tommaso"}], concurrency=1)[0]
    assert isinstance(failed.error, RateLimitedError) and failed.attempts == 1
    assert failed.error.retry_after is not None and failed.error.retry_after > 100


def test_validation_failures_send_nothing(emulator: StreamEmulator) -> None:
    before = emulator.requests
    with eventkit.connect("stream", **settings(emulator)) as kit:
        for kwargs in (
            {"event": "ping", "to": "channel:messaging:general"},
            {"event": "a.b", "to": "user:tommaso"},
            {"event": "ping", "data": {"blob": "x" * 6000}, "to": "user:tommaso"},
            {"event": "ping", "data": {"created_at": "now"}, "to": "user:tommaso"},
        ):
            with pytest.raises(ValidationError):
                kit.send(**kwargs)
    assert emulator.requests == before


# Webhooks


@pytest.fixture
async def webhook_listener(emulator: StreamEmulator) -> AsyncIterator[tuple[eventkit.AsyncClient, list[Event]]]:
    out: list[Event] = []
    ready = asyncio.Event()
    async with eventkit.connect_async("stream", **settings(emulator)) as kit:
        addresses: list[str] = []

        def on_ready(address: str) -> None:
            addresses.append(address)
            emulator.webhook_url = address
            ready.set()

        async def consume() -> None:
            async for event in kit.listen(via="webhook", port=0, on_ready=on_ready):
                out.append(event)

        task = asyncio.ensure_future(consume())
        await asyncio.wait_for(ready.wait(), 5)
        try:
            yield kit, out
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def wait_for_count(out: list[Any], count: int, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if len(out) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"expected {count}, got {len(out)}")


async def test_webhook_round_trip_gzip(
    emulator: StreamEmulator, webhook_listener: tuple[eventkit.AsyncClient, list[Event]]
) -> None:
    kit, out = webhook_listener
    emulator.webhook_gzip = True
    await kit.send("order_ready", {"order": {"id": 7, "items": ["a"]}}, to="channel:messaging:general", sender="bot")
    await kit.send("nudge", {"n": 1}, to="user:tommaso")
    await wait_for_count(out, 2)
    by_name = {e.name: e for e in out}
    channel = by_name["order_ready"]
    assert channel.data == {"order": {"id": 7, "items": ["a"]}}
    assert (channel.sender, channel.target, channel.source) == ("bot", "channel:messaging:general", "stream:webhook")
    assert channel.meta["cid"] == "messaging:general"
    user = by_name["nudge"]
    assert (user.data, user.target, user.sender) == ({"n": 1}, "user:tommaso", None)


async def test_forged_and_replayed_webhooks_deliver_nothing(
    emulator: StreamEmulator, webhook_listener: tuple[eventkit.AsyncClient, list[Event]]
) -> None:
    _kit, out = webhook_listener
    payload = {"type": "forged", "cid": "messaging:general", "created_at": "2024-01-01T00:00:00Z"}
    assert await asyncio.to_thread(emulator.send_webhook, payload, signature="0" * 64) == 401
    body = json.dumps(payload).encode()
    assert await asyncio.to_thread(emulator.send_webhook, body, signature=sign("guess", body)) == 401
    assert await asyncio.to_thread(emulator.send_webhook, payload, webhook_id="w-1") == 200
    assert await asyncio.to_thread(emulator.send_webhook, payload, webhook_id="w-1", attempt=2) == 200
    assert await asyncio.to_thread(emulator.send_webhook, payload, webhook_id="w-2") == 401
    await asyncio.sleep(0.05)
    assert [e.name for e in out] == ["forged"]
    assert out[0].id == "w-1"


async def test_builtin_webhooks_are_accepted_but_not_yielded(
    emulator: StreamEmulator, webhook_listener: tuple[eventkit.AsyncClient, list[Event]]
) -> None:
    kit, out = webhook_listener
    assert await asyncio.to_thread(emulator.send_webhook, {"type": "message.new", "cid": "messaging:general"}) == 200
    await kit.send("after", {}, to="user:tommaso")
    await wait_for_count(out, 1)
    assert [e.name for e in out] == ["after"]


# Websocket


async def start_ws(kit: eventkit.AsyncClient, **options: Any) -> tuple[asyncio.Future[None], list[Event], list[str]]:
    out: list[Event] = []
    addresses: list[str] = []
    ready = asyncio.Event()

    def on_ready(address: str) -> None:
        addresses.append(address)
        ready.set()

    async def consume() -> None:
        async for event in kit.listen(via="websocket", on_ready=on_ready, **options):
            out.append(event)

    task = asyncio.ensure_future(consume())
    done, _ = await asyncio.wait({task, asyncio.ensure_future(ready.wait())}, timeout=5, return_when="FIRST_COMPLETED")
    if task in done:
        task.result()
    assert ready.is_set()
    return task, out, addresses


@contextlib.asynccontextmanager
async def ws_listener(
    client_settings: dict[str, Any], **options: Any
) -> AsyncIterator[tuple[eventkit.AsyncClient, list[Event], list[str]]]:
    async with eventkit.connect_async("stream", **client_settings) as kit:
        task, out, addresses = await start_ws(kit, **options)
        try:
            yield kit, out, addresses
        finally:
            await stop(task)


async def stop(task: asyncio.Future[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_websocket_receives_channel_and_user_events(emulator: StreamEmulator) -> None:
    async with ws_listener(ws_settings(emulator)) as (kit, out, addresses):
        assert addresses == ["stream:user:listener"]
        connect = emulator.log[-1]
        assert connect.path == "/channels/messaging/general/query"
        assert jwt.decode(connect.headers["authorization"], emulator.api_secret, algorithms=["HS256"]) == {
            "user_id": "listener"
        }
        await kit.send("chan", {"x": [1, 2]}, to="channel:messaging:general", sender="bot")
        await kit.send("other", {}, to="channel:messaging:elsewhere", sender="bot")
        await kit.send("mine", {"y": True}, to="user:listener")
        await kit.send("theirs", {}, to="user:tommaso")
        await wait_for_count(out, 2)
        await asyncio.sleep(0.05)
        assert [(e.name, e.data, e.target) for e in out] == [
            ("chan", {"x": [1, 2]}, "channel:messaging:general"),
            ("mine", {"y": True}, "user:listener"),
        ]
        assert out[0].sender == "bot" and out[0].source == "stream:ws:listener"


async def test_websocket_survives_garbage_and_builtins(emulator: StreamEmulator) -> None:
    async with ws_listener(ws_settings(emulator)) as (kit, out, _):
        await kit.send("before", {}, to="user:listener")
        await wait_for_count(out, 1)
        for frame in ("not json", "[1, 2]", '{"type": 5}', json.dumps({"type": "typing.start", "cid": "a:b"})):
            assert await asyncio.to_thread(emulator.push, frame, user="listener") == 1
        await kit.send("after", {}, to="user:listener")
        await wait_for_count(out, 2)
        assert [e.name for e in out] == ["before", "after"]
        assert kit.stats["dropped_frames"] == 3 and kit.stats["skipped_builtin"] == 1


async def test_websocket_reconnects_after_a_server_restart(emulator: StreamEmulator) -> None:
    async with ws_listener(ws_settings(emulator)) as (kit, out, addresses):
        await kit.send("one", {}, to="channel:messaging:general", sender="bot")
        await wait_for_count(out, 1)
        connects = emulator.connects
        await asyncio.to_thread(emulator.restart)
        for _ in range(500):
            if emulator.connects > connects and any(
                "messaging:general" in c.watching for c in list(emulator.connections.values())
            ):
                break
            await asyncio.sleep(0.01)
        await kit.send("two", {}, to="channel:messaging:general", sender="bot")
        await wait_for_count(out, 2)
        assert [e.name for e in out] == ["one", "two"]
        assert kit.stats["reconnects"] >= 1 and kit.stats["resubscribed"] >= 1
        assert addresses == ["stream:user:listener"]


async def test_websocket_silence_triggers_a_reconnect() -> None:
    with StreamEmulator(health_interval=5.0) as quiet:
        async with ws_listener(ws_settings(quiet, health_timeout=0.2, ping_interval=5)) as (kit, _out, _):
            for _ in range(300):
                if kit.stats["reconnects"] >= 1 and kit.stats["resubscribed"] >= 1:
                    break
                await asyncio.sleep(0.01)
            assert kit.stats["reconnects"] >= 1 and kit.stats["resubscribed"] >= 1


async def test_websocket_pings_are_answered(emulator: StreamEmulator) -> None:
    async with ws_listener(ws_settings(emulator, ping_interval=0.05, health_timeout=0.5)) as (kit, _out, _):
        await asyncio.sleep(0.4)
        assert kit.stats["reconnects"] == 0


async def test_websocket_bad_credentials_end_the_listener(emulator: StreamEmulator) -> None:
    bad = {**ws_settings(emulator), "api_secret": "wrong-secret-0123456789abcdef-0123456789abcdef"}
    async with eventkit.connect_async("stream", **bad) as kit:
        with pytest.raises(AuthenticationError) as caught:
            async for _ in kit.listen(via="websocket"):
                pass
    assert caught.value.code == 43


async def test_websocket_needs_a_user(emulator: StreamEmulator) -> None:
    async with eventkit.connect_async("stream", **settings(emulator)) as kit:
        with pytest.raises(eventkit.SettingsError):
            async for _ in kit.listen(via="websocket"):
                pass
        with pytest.raises(eventkit.SettingsError):
            async for _ in kit.listen(via="websocket", user="u", watch="no-colon"):
                pass


async def test_listen_options_override_settings(emulator: StreamEmulator) -> None:
    async with ws_listener(settings(emulator, reconnect_initial=0.05), user="tommaso", watch=["channel:team:a"]) as (
        kit,
        out,
        addresses,
    ):
        assert addresses == ["stream:user:tommaso"]
        await kit.send("t", {}, to="channel:team:a", sender="bot")
        await wait_for_count(out, 1)


async def test_no_secret_in_logs(emulator: StreamEmulator, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with ws_listener(ws_settings(emulator)) as (kit, _out, _):
        await asyncio.to_thread(emulator.restart)
        await kit.send("x", {}, to="user:listener")
        await asyncio.sleep(0.3)
    token = emulator.user_token("listener")
    # The emulator's own server logs are the platform's, not the client's.
    client = [r for r in caplog.records if not r.name.startswith(("uvicorn", "websockets.server"))]
    assert any(r.name == "eventkit.stream.websocket" for r in client)
    text = "\n".join(r.getMessage() for r in client)
    assert emulator.api_secret not in text and token not in text
