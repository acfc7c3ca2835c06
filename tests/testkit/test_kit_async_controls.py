"""Emulator controls from async tests: the ``_async`` forms work on the loop that serves the
listener, and the blocking forms that would deadlock there refuse with a pointer to them.

Each test runs a real listener (webhook receiver, RELAY, AMI, ARI) on the test's own event
loop, which is exactly where a blocking control used to freeze for its whole timeout.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from eventkit_asterisk.testing.sandbox import ARI_APP, AmiSandbox, AriSandbox
from eventkit_signalwire.testing.sandbox import SIGNALWIRE_CALL, SignalWireSandbox
from eventkit_stream.testing.sandbox import StreamSandbox
from eventkit_vonage.testing.sandbox import VonageSandbox

import eventkit
from eventkit import Event
from eventkit.testing import BlockingControlError, ProviderCase
from eventkit.testing.sandbox import Sandbox


class Listening:
    """Events from a sandbox's listening path, collected on the running loop."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.changed = asyncio.Event()

    async def first(self, name: str, timeout: float = 10.0) -> Event:
        async def wait() -> Event:
            while True:
                for event in self.events:
                    if event.name == name:
                        return event
                self.changed.clear()
                await self.changed.wait()

        return await asyncio.wait_for(wait(), timeout)


@asynccontextmanager
async def listening(sandbox: Sandbox) -> AsyncIterator[tuple[eventkit.AsyncClient, Listening]]:
    ready = asyncio.Event()

    def on_ready(address: str) -> None:
        sandbox.on_listening(address)
        ready.set()

    out = Listening()
    async with sandbox.connect_async() as kit:

        async def consume() -> None:
            async for event in kit.listen(via=sandbox.listen_via, on_ready=on_ready, **sandbox.listen_options()):
                out.events.append(event)
                out.changed.set()

        task = asyncio.ensure_future(consume())
        try:
            await asyncio.wait_for(ready.wait(), 10)
            yield kit, out
        finally:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass


@pytest.fixture(scope="module")
def stream() -> Any:
    with StreamSandbox() as sandbox:
        yield sandbox


async def test_stream_send_webhook_async_reaches_a_receiver_on_the_calling_loop(stream: StreamSandbox) -> None:
    emulator = stream.emulator
    async with listening(stream) as (_kit, out):
        body = emulator.channel_event_body("async_hook", {"n": 1}, stream.target, "bot")
        status = await emulator.send_webhook_async(body)
        event = await out.first("async_hook")
    assert status == 200
    assert event.data == {"n": 1}


async def test_stream_blocking_send_webhook_refuses_on_a_running_loop(stream: StreamSandbox) -> None:
    emulator = stream.emulator
    async with listening(stream):
        body = emulator.channel_event_body("blocked_hook", {}, stream.target, "bot")
        with pytest.raises(BlockingControlError, match=r"await emulator\.send_webhook_async"):
            emulator.send_webhook(body)
        with pytest.raises(BlockingControlError, match="wait_webhooks_async"):
            emulator.wait_webhooks(1)


def test_stream_blocking_send_webhook_still_works_from_sync_code(stream: StreamSandbox) -> None:
    emulator = stream.emulator
    body = emulator.channel_event_body("sync_hook", {}, stream.target, "bot")
    # No listener: the connection is refused, which the blocking form reports as 0.
    assert emulator.send_webhook(body, url="http://127.0.0.1:9/nothing") == 0


async def test_stream_push_async_and_wait_webhooks_async(stream: StreamSandbox) -> None:
    emulator = stream.emulator
    before = len(emulator.webhook_log)
    assert await emulator.push_async({"type": "health.check"}, user="nobody-connected") == 0
    async with listening(stream) as (kit, out):
        await kit.send("pushed_then_hooked", {"k": 2}, to=stream.target, sender=stream.sender)
        calls = await emulator.wait_webhooks_async(before + 1)
        await out.first("pushed_then_hooked")
    assert len(calls) >= before + 1


async def test_signalwire_async_controls() -> None:
    with SignalWireSandbox() as sandbox:
        emulator = sandbox.emulator
        async with listening(sandbox) as (_kit, out):
            assert await emulator.wait_until_async(lambda: emulator.connected() == 1)
            with pytest.raises(BlockingControlError, match="wait_until_async"):
                emulator.wait_until(lambda: True)
            assert await emulator.push_user_event_async(SIGNALWIRE_CALL, {"type": "relay_async", "a": 1}) == 1
            event = await out.first("relay_async")
            assert event.data == {"a": 1}
            await emulator.ping_all_async()
            await emulator.send_raw_async("not json at all")
            assert await emulator.push_user_event_async(SIGNALWIRE_CALL, {"type": "after_garbage"}) == 1
            await out.first("after_garbage")
            assert await emulator.wait_until_async(lambda: emulator.unacked() == 0)


async def test_ami_async_controls() -> None:
    with AmiSandbox() as sandbox:
        emulator = sandbox.emulator
        async with listening(sandbox) as (_kit, out):
            await emulator.emit_event_async([("Event", "UserEvent"), ("UserEvent", "AmiAsync"), ("K", "v")])
            assert (await out.first("AmiAsync")).data == {"K": "v"}
            blob = await emulator.dialplan_async("same => n,UserEvent(Dialled,Order: 7)")
            assert blob["eventname"] == "Dialled"
            assert (await out.first("Dialled")).data == {"Order": "7"}
            await emulator.broadcast_raw_async(b"Event: UserEvent\r\nUserEvent: Raw\r\nX: y\r\n\r\n")
            assert (await out.first("Raw")).data == {"X": "y"}


async def test_ari_send_raw_async() -> None:
    with AriSandbox() as sandbox:
        emulator = sandbox.emulator
        async with listening(sandbox) as (_kit, out):
            frame = {
                "type": "ChannelUserevent",
                "eventname": "AriAsync",
                "userevent": {"eventname": "AriAsync", "k": 1},
                "application": ARI_APP,
            }
            await emulator.send_raw_async(ARI_APP, json.dumps(frame))
            assert (await out.first("AriAsync")).data == {"k": 1}


async def test_vonage_wait_webhooks_async() -> None:
    with VonageSandbox() as sandbox:
        emulator = sandbox.emulator
        async with listening(sandbox) as (kit, out):
            with pytest.raises(BlockingControlError, match="wait_webhooks_async"):
                emulator.wait_webhooks(1)
            await kit.send("vonage_async", {"n": 3}, to=sandbox.target, sender=sandbox.sender)
            results = await emulator.wait_webhooks_async(1)
            assert results[:1] == [200]
            assert (await out.first("vonage_async")).data == {"n": 3}


async def test_provider_case_round_trip_async_and_the_sync_form_refuses(stream: StreamSandbox) -> None:
    case = ProviderCase(stream)
    trip = await case.round_trip_async("case_async", {"id": 1})
    assert trip.received is not None and trip.received.data == {"id": 1}
    with pytest.raises(BlockingControlError, match=r"await case\.round_trip_async"):
        case.round_trip("case_sync", {})
    # The module-level coroutine works from async code too (it never raises; the error is in the trip).
    from eventkit.testing import round_trip

    second = await round_trip(stream, "module_async", {"id": 2})
    assert second.ok and second.received is not None and second.received.data == {"id": 2}
