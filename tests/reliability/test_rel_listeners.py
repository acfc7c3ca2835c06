"""Every long-lived listener (AMI, ARI, RELAY, Stream websocket) through garbage, a restart and an outage.

One scenario for all four: an event; garbage frames then an event; a server
restart then an event; the server refusing connections for a while, then back,
then an event. Each event sent after the listener is back must arrive exactly
once, and the counters (``reconnects``, ``connect_failures``, ``resubscribed``,
``dropped_frames``, ``received``) must tell the story under the same names.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import attrs
import pytest
from eventkit_asterisk.testing.emulator import AmiEmulator, AmiUser, AriEmulator
from eventkit_signalwire.testing.emulator import SignalWireEmulator
from eventkit_stream.testing.emulator import StreamEmulator

import eventkit
from eventkit import Event

FAST = {"backoff_initial": 0.02, "backoff_max": 0.1, "timeout": 3.0}
OUTAGE = 0.4
"""Seconds the server refuses connections: several reconnect attempts at this backoff."""


@attrs.define
class Listener:
    """How to drive one listener's server: send through it, break it, feed it garbage."""

    settings: dict[str, Any]
    via: str
    target: str
    server: Any
    garbage: Callable[[], None]
    garbage_frames: int
    subscribed: Callable[[], bool]
    sender: str | None = None


@contextlib.contextmanager
def ami_listener() -> Iterator[Listener]:
    server = AmiEmulator({"app": AmiUser("ami-secret-pw", read=("user",), write=("user",))}, auth_fail_delay=0.01)
    server.start()
    try:
        settings = {"host": "127.0.0.1", "port": server.port, "username": "app", "secret": "ami-secret-pw", **FAST}

        def garbage() -> None:
            server.broadcast_raw(b"garbage without a colon\r\n\r\nEvent: UserEvent\r\nPrivilege: user,all\r\n\r\n")

        yield Listener(settings, "tcp", "ami", server, garbage, 2, lambda: server.session_count() >= 1)
    finally:
        server.close()


@contextlib.contextmanager
def ari_listener() -> Iterator[Listener]:
    server = AriEmulator({"asterisk": "ari-secret-pw"}, apps=("ek",))
    server.start()
    try:
        settings = {
            "ari_url": server.url,
            "ari_username": "asterisk",
            "ari_password": "ari-secret-pw",
            "ari_app": "ek",
            **FAST,
        }

        def garbage() -> None:
            for text in ("not json", '{"type": "ChannelUserevent"}', "[1, 2"):
                server.send_raw("ek", text)

        yield Listener(settings, "websocket", "app:ek", server, garbage, 3, lambda: "ek" in server.connected_apps())
    finally:
        server.close()


@contextlib.contextmanager
def relay_listener() -> Iterator[Listener]:
    with SignalWireEmulator() as emu:
        settings = {
            "project_id": emu.project_id,
            "api_token": emu.api_token,
            "base_url": emu.url,
            "relay_url": emu.relay_url,
            "environ": {},
            **FAST,
        }

        def garbage() -> None:
            emu.send_raw("not json")
            emu.send_raw('{"jsonrpc": "1.0", "method": "signalwire.event"}')
            emu.send_raw("[1, 2, 3]")
            # An unhashable event_type used to escape is_user_event as a TypeError and end the listener.
            emu.push_frame("signalwire.event", {"event_type": {"not": "a string"}})

        call = "0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10"
        yield Listener(settings, "websocket", f"call:{call}", emu, garbage, 3, lambda: emu.connected() >= 1)


@contextlib.contextmanager
def stream_listener() -> Iterator[Listener]:
    with StreamEmulator(health_interval=0.3) as emu:
        settings = {
            "api_key": emu.api_key,
            "api_secret": emu.api_secret,
            "base_url": emu.url,
            "environ": {},
            "listen_user": "listener",
            "watch": ("messaging:general",),
            "reconnect_initial": 0.02,
            "reconnect_max": 0.1,
            **FAST,
        }

        def garbage() -> None:
            emu.push("not json")
            emu.push("[1, 2")
            emu.push('{"no": "type"}')

        def subscribed() -> bool:
            return any("messaging:general" in c.watching for c in list(emu.connections.values()))

        yield Listener(settings, "websocket", "channel:messaging:general", emu, garbage, 3, subscribed, "bot")


LISTENERS: dict[str, Callable[[], contextlib.AbstractContextManager[Listener]]] = {
    "ami": ami_listener,
    "ari": ari_listener,
    "relay": relay_listener,
    "stream": stream_listener,
}


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}: not reached in time"
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def collecting(kit: eventkit.AsyncClient, via: str) -> AsyncIterator[list[Event]]:
    out: list[Event] = []
    ready = asyncio.Event()

    async def run() -> None:
        async for event in kit.listen(via=via, on_ready=lambda _: ready.set()):
            out.append(event)

    task = asyncio.ensure_future(run())
    try:
        await until(lambda: ready.is_set() or task.done(), "listener ready")
        if task.done():
            task.result()
        yield out
        assert not task.done(), "the listener ended"
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize("name", sorted(LISTENERS))
async def test_listener_survives_garbage_restart_and_outage(name: str) -> None:
    with LISTENERS[name]() as setup:
        async with (
            eventkit.connect_async(_provider(name), **setup.settings) as kit,
            collecting(kit, setup.via) as out,
        ):
            sent: list[str] = []

            async def send_and_see(label: str) -> None:
                await kit.send(label, {"step": label}, to=setup.target, sender=setup.sender)
                sent.append(label)
                await until(lambda: len(out) >= len(sent), f"{name}: event {label!r} delivered")

            stats = kit.stats
            await until(setup.subscribed, "subscribed")
            await send_and_see("first")

            await asyncio.to_thread(setup.garbage)
            await send_and_see("after_garbage")
            assert stats["dropped_frames"] == setup.garbage_frames

            await asyncio.to_thread(setup.server.restart)
            await until(lambda: stats["resubscribed"] >= 1 and setup.subscribed(), "back after restart")
            await send_and_see("after_restart")

            await asyncio.to_thread(setup.server.stop)
            failures = stats["connect_failures"]
            await until(lambda: stats["connect_failures"] > failures, "a refused reconnect")
            await asyncio.sleep(OUTAGE)
            await asyncio.to_thread(setup.server.start)
            await until(lambda: stats["resubscribed"] >= 2 and setup.subscribed(), "back after the outage")
            await send_and_see("after_outage")

            await asyncio.sleep(0.1)  # room for a duplicate to show up, if any
            assert [e.name for e in out] == sent
            assert [e.data for e in out] == [{"step": s} for s in sent]
            counts = stats.snapshot()
    assert counts["received"] == len(sent)
    assert counts["resubscribed"] == 2
    assert counts["reconnects"] >= counts["resubscribed"] + 1  # at least one refused attempt in the outage
    assert counts["connect_failures"] >= 1
    assert counts["dropped_frames"] == setup.garbage_frames
    print("LISTENER", name, {k: counts[k] for k in sorted(counts)})


def _provider(name: str) -> str:
    return {"ami": "asterisk", "ari": "asterisk", "relay": "signalwire", "stream": "stream"}[name]
