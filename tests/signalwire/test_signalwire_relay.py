"""The RELAY listener and REST sender against the emulator on loopback (real uvicorn, real websockets)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from eventkit_signalwire._codec_relay import connect_request
from eventkit_signalwire._settings import SignalWireSettings
from eventkit_signalwire.relay import send_user_event
from eventkit_signalwire.testing.emulator import SignalWireEmulator

import eventkit
from eventkit import (
    AuthenticationError,
    Event,
    GoneError,
    NotFoundError,
    Secret,
    ValidationError,
)

CALL = "5b1c7a52-0f0e-4c1c-9c43-1f6f3b0a9e21"
FAST = {"backoff_initial": 0.01, "backoff_max": 0.05, "timeout": 5.0}


@pytest.fixture
def emulator() -> Any:
    with SignalWireEmulator() as emu:
        yield emu


def settings(emu: SignalWireEmulator, **kw: Any) -> dict[str, Any]:
    return {
        "project_id": emu.project_id,
        "api_token": emu.api_token,
        "base_url": emu.url,
        "relay_url": emu.relay_url,
        "environ": {},
        **FAST,
        **kw,
    }


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.005)


class Listening:
    """A listener running in the background of a test, collecting events."""

    def __init__(self, kit: eventkit.AsyncClient, **options: Any) -> None:
        self.events: list[Event] = []
        self.ready = asyncio.Event()
        self.kit = kit
        self.options = options
        self.task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        async for event in self.kit.listen(via="websocket", on_ready=lambda _: self.ready.set(), **self.options):
            self.events.append(event)

    async def __aenter__(self) -> Listening:
        self.task = asyncio.ensure_future(self._run())
        done, _ = await asyncio.wait(
            {self.task, asyncio.ensure_future(self.ready.wait())}, timeout=5, return_when=asyncio.FIRST_COMPLETED
        )
        if self.task in done:
            self.task.result()
        assert self.ready.is_set()
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass

    async def wait_for(self, count: int) -> list[Event]:
        await until(lambda: len(self.events) >= count or (self.task is not None and self.task.done()))
        if self.task is not None and self.task.done():
            self.task.result()
        return self.events


async def test_rest_send_comes_back_over_relay_with_acks(emulator: SignalWireEmulator) -> None:
    async with eventkit.connect_async("signalwire", **settings(emulator)) as kit, Listening(kit) as listening:
        result = await kit.send("order_ready", {"order_id": "A-1", "n": [1, {"x": None}]}, to=f"call:{CALL}")
        assert result.ok and result.id == CALL and result.receipt is not None
        assert result.receipt.details["call_status"] == "answered"
        (event,) = await listening.wait_for(1)
    assert (event.name, event.data) == ("order_ready", {"order_id": "A-1", "n": [1, {"x": None}]})
    assert event.provider == "signalwire" and event.source == f"call:{CALL}"
    assert event.meta["event_type"] == "calling.user_event"
    assert emulator.rest_bodies[-1] == {
        "command": "calling.user_event",
        "id": CALL,
        "params": {"event": {"type": "order_ready", "order_id": "A-1", "n": [1, {"x": None}]}},
    }
    assert emulator.unacked() == 0 and emulator.acked == 1
    connect = emulator.connects[0]
    assert connect["event_acks"] is True and connect["version"] == {"major": 2, "minor": 0, "revision": 0}
    assert "protocol" not in connect


async def test_sync_client_sends_with_basic_auth(emulator: SignalWireEmulator) -> None:
    with eventkit.connect("signalwire", **settings(emulator)) as kit:
        assert kit.send("ping", {}, to=f"call:{CALL}").ok
    assert emulator.requests == 1


async def test_wrong_credentials_are_typed_errors(emulator: SignalWireEmulator) -> None:
    async with eventkit.connect_async("signalwire", **settings(emulator, api_token="wrong-token")) as kit:
        with pytest.raises(AuthenticationError) as caught:
            await kit.send("e", {}, to=f"call:{CALL}")
        assert caught.value.status == 401 and "wrong-token" not in str(caught.value)
        with pytest.raises(AuthenticationError):
            async for _ in kit.listen(via="websocket"):
                pass
    assert emulator.connects == []


async def test_unknown_and_ended_calls_are_not_found() -> None:
    with SignalWireEmulator(auto_calls=False) as emu:
        ended = emu.add_call()
        emu.end_call(ended)
        async with eventkit.connect_async("signalwire", **settings(emu, max_attempts=1)) as kit:
            for call in (CALL, ended):
                with pytest.raises(NotFoundError):
                    await kit.send("e", {}, to=f"call:{call}")
            assert (await kit.send("e", {}, to=f"call:{emu.add_call()}")).ok


async def test_jwt_authentication(emulator: SignalWireEmulator) -> None:
    token = emulator.issue_jwt()
    relay_only = {"jwt_token": token, "relay_url": emulator.relay_url, "environ": {}, **FAST}
    async with eventkit.connect_async("signalwire", **relay_only) as kit, Listening(kit) as listening:
        assert "jwt_token" in json.dumps(emulator.connects[0]["authentication"])
        emulator.push_user_event(CALL, {"type": "hello", "a": 1})
        (event,) = await listening.wait_for(1)
        assert (event.name, event.data) == ("hello", {"a": 1})
        with pytest.raises(ValidationError, match="project_id and api_token"):
            await kit.send("e", {}, to=f"call:{CALL}")
        assert token not in repr(kit.provider.settings)
    expired = emulator.issue_jwt(ttl=-10)
    async with eventkit.connect_async("signalwire", **{**relay_only, "jwt_token": expired}) as kit:
        with pytest.raises(AuthenticationError):
            async for _ in kit.listen(via="websocket"):
                pass


async def test_garbage_frames_are_counted_and_the_listener_keeps_going(emulator: SignalWireEmulator) -> None:
    async with eventkit.connect_async("signalwire", **settings(emulator)) as kit, Listening(kit) as listening:
        emulator.send_raw("this is not json")
        emulator.send_raw('{"jsonrpc": "1.0", "method": "signalwire.event"}')
        emulator.send_raw("[1, 2, 3]")
        emulator.push_frame("signalwire.event", {"event_type": "calling.user_event", "params": {"event": "nope"}})
        emulator.push_frame("signalwire.event", {"event_type": "calling.user_event", "params": "nope"})
        emulator.push_frame("signalwire.event", {"event_type": "calling.call.state", "params": {"call_state": "ended"}})
        emulator.push_frame("acme.unknown", {})
        await until(lambda: emulator.answers["acme.unknown (error)"] == 1)
        await kit.send("after_garbage", {"ok": True}, to=f"call:{CALL}")
        (event,) = await listening.wait_for(1)
        assert event.name == "after_garbage"
        assert kit.stats["dropped_frames"] == 5
        assert kit.stats["ignored_events"] == 1
        assert kit.stats["reconnects"] == 0
    assert emulator.unacked() == 0


async def test_server_restart_mid_listen_resumes_the_protocol(emulator: SignalWireEmulator) -> None:
    async with eventkit.connect_async("signalwire", **settings(emulator)) as kit, Listening(kit) as listening:
        await kit.send("before", {"i": 1}, to=f"call:{CALL}")
        await listening.wait_for(1)
        protocol = next(iter(emulator.sessions))
        await asyncio.to_thread(emulator.restart)
        await until(lambda: len(emulator.connects) == 2 and emulator.connected() == 1)
        resumed = emulator.connects[1]
        assert resumed["protocol"] == protocol
        assert resumed["authorization_state"].startswith("state-")
        await kit.send("after", {"i": 2}, to=f"call:{CALL}")
        events = await listening.wait_for(2)
        assert [e.name for e in events] == ["before", "after"]
        assert kit.stats["reconnects"] >= 1
    assert emulator.unacked() == 0


async def test_disconnect_request_is_answered_and_followed_by_a_resume(emulator: SignalWireEmulator) -> None:
    async with eventkit.connect_async("signalwire", **settings(emulator)) as kit, Listening(kit) as listening:
        emulator.ping_all()
        await until(lambda: emulator.answers["signalwire.ping"] == 1)
        emulator.disconnect_all(restart=True)
        await until(lambda: len(emulator.connects) == 2 and emulator.connected() == 1)
        assert emulator.connects[1]["protocol"] == next(iter(emulator.sessions))
        assert emulator.answers["signalwire.disconnect"] == 1
        await until(lambda: emulator.answers["signalwire.event"] == 2)  # authorization state, once per connect
        await kit.send("after_disconnect", {}, to=f"call:{CALL}")
        (event,) = await listening.wait_for(1)
        assert event.name == "after_disconnect"
    assert len(emulator.sessions) == 1


@pytest.mark.parametrize("shape", ["wrapped", "flat", "browser"])
async def test_both_payload_shapes_decode_the_same(shape: str) -> None:
    with SignalWireEmulator(user_event_shape=shape) as emu:  # type: ignore[arg-type]
        async with eventkit.connect_async("signalwire", **settings(emu)) as kit, Listening(kit) as listening:
            await kit.send("shaped", {"k": "v"}, to=f"call:{CALL}")
            emu.push_user_event(CALL, {"no_name": True})
            first, second = await listening.wait_for(2)
        assert (first.name, first.data) == ("shaped", {"k": "v"})
        assert (second.name, second.data) == ("user_event", {"no_name": True})
        expected_type = "user_event" if shape == "browser" else "calling.user_event"
        assert first.meta["event_type"] == expected_type


async def test_contexts_are_sent_and_filter_calls() -> None:
    with SignalWireEmulator() as emu:
        office = emu.add_call(context="office")
        elsewhere = emu.add_call(context="warehouse")
        async with (
            eventkit.connect_async("signalwire", **settings(emu, contexts="office")) as kit,
            Listening(kit) as listening,
        ):
            assert emu.connects[0]["contexts"] == ["office"]
            assert emu.push_user_event(elsewhere, {"type": "not_for_us"}) == 0
            assert emu.push_user_event(office, {"type": "for_us"}) == 1
            (event,) = await listening.wait_for(1)
            assert event.name == "for_us"


def test_names_filter_and_blocking_listen(emulator: SignalWireEmulator) -> None:
    ready = threading.Event()
    got: list[Event] = []
    with eventkit.connect("signalwire", **settings(emulator)) as kit:
        stream = kit.listen(["wanted"], via="websocket", on_ready=lambda _: ready.set())

        def consume() -> None:
            for event in stream:
                got.append(event)
                if len(got) == 2:
                    break

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        assert ready.wait(5)
        kit.send("unwanted", {}, to=f"call:{CALL}")
        kit.send("wanted", {"n": 1}, to=f"call:{CALL}")
        kit.send("wanted", {"n": 2}, to=f"call:{CALL}")
        consumer.join(5)
        assert not consumer.is_alive()
    assert [(e.name, e.data) for e in got] == [("wanted", {"n": 1}), ("wanted", {"n": 2})]
    assert emulator.wait_until(lambda: emulator.unacked() == 0)


# Sending over a RELAY connection the caller holds.


async def _relay_session(emu: SignalWireEmulator) -> Any:
    from websockets.asyncio.client import connect

    ws = await connect(emu.relay_url)
    frame = connect_request(SignalWireSettings(project_id=emu.project_id, api_token=Secret(emu.api_token)))
    await ws.send(json.dumps(frame))
    while True:
        answer = json.loads(await ws.recv())
        if answer.get("id") == frame["id"]:
            assert "result" in answer
            return ws


async def test_relay_send_result_codes(emulator: SignalWireEmulator) -> None:
    live, gone = emulator.add_call(), emulator.add_call()
    emulator.end_call(gone)
    node = emulator.calls[live].node_id
    ws = await _relay_session(emulator)
    try:
        receipt = await send_user_event(ws, node_id=node, call_id=live, event={"type": "over_relay", "x": 1})
        assert receipt.status == 200 and receipt.details["message"] == "Event sent"
        assert emulator.calls[live].user_events == [{"type": "over_relay", "x": 1}]
        with pytest.raises(GoneError) as gone_error:
            await send_user_event(ws, node_id=node, call_id=gone, event={})
        assert gone_error.value.code == "410"
        with pytest.raises(NotFoundError):
            await send_user_event(ws, node_id=node, call_id=CALL, event={})
        sent_before = len(emulator.relay_requests)
        with pytest.raises(ValidationError) as invalid:
            await send_user_event(ws, node_id="node", call_id="call", event=["not", "an", "object"])  # type: ignore[arg-type]
        assert {v.field for v in invalid.value.violations} == {"node_id", "call_id", "event"}
        assert len(emulator.relay_requests) == sent_before
    finally:
        await ws.close()


async def test_listener_survives_an_unreachable_server_until_it_comes_back() -> None:
    emu = SignalWireEmulator().start()
    emu.stop()
    try:
        async with eventkit.connect_async("signalwire", **settings(emu)) as kit:
            listening = Listening(kit)
            task = asyncio.ensure_future(listening.__aenter__())
            await until(lambda: kit.stats["reconnects"] >= 2)
            await asyncio.to_thread(emu.start)
            await asyncio.wait_for(task, 5)
            await kit.send("late", {}, to=f"call:{CALL}")
            (event,) = await listening.wait_for(1)
            assert event.name == "late"
            await listening.__aexit__(None, None, None)
    finally:
        emu.close()


async def _never() -> AsyncIterator[None]:  # pragma: no cover - keeps the helper types honest
    if False:
        yield None
