"""Bridges between real providers and their emulators on loopback, through a real SQLite store.

The migration scenario of issue 14: Stream webhooks mirrored into a Vonage
conversation, AMI user events mirrored into a Stream channel, counted at both ends;
a bridge killed mid-way and restarted on the same store; two bridges facing each
other; an event a destination refuses.
"""

from __future__ import annotations

import asyncio
import collections
import io
import json
from pathlib import Path

import pytest
from eventkit_asterisk.testing.sandbox import AmiSandbox, AriSandbox
from eventkit_stream.testing.sandbox import StreamSandbox
from eventkit_vonage.testing.sandbox import VONAGE_CONVERSATION, VonageSandbox

import eventkit
from eventkit._bridge import BRIDGE_KEY, BridgeRecord, BridgeRoute
from eventkit._cli import main
from eventkit.provider import wait_within

from .bridge_support import make_bridge, need, until


def vonage_events(vonage: VonageSandbox) -> list[dict[str, object]]:
    return list(vonage.emulator.events.get(VONAGE_CONVERSATION, []))


def stream_custom(stream: StreamSandbox, name: str) -> list[dict[str, object]]:
    return [e for e in stream.emulator.events if e["type"] == name]


async def test_stream_webhooks_mirrored_into_a_vonage_conversation(
    stream: StreamSandbox, vonage: VonageSandbox, store_url: str
) -> None:
    sent = 6
    records: list[BridgeRecord] = []
    async with (
        stream.connect_async(store=store_url) as source,
        vonage.connect_async() as destination,
        stream.connect_async() as app,
    ):
        route = BridgeRoute(destination, vonage.target, sender=vonage.sender, names={"order_ready": "OrderReady"})
        bridge, ready = make_bridge(stream, source, {"vonage": route}, store_url)
        async with bridge:
            task = asyncio.ensure_future(bridge.run(count=sent, on_record=records.append))
            await wait_within(ready.wait(), 10)
            for n in range(sent):
                await app.send("order_ready", {"n": n, "total": 12.5}, to=stream.target, sender=stream.sender)
            summary = await wait_within(task, 20)
            assert await bridge.drain(20) == 0
            summary = bridge.summary()
    # Both ends: six sent on Stream, six custom events in the Vonage conversation, in order.
    assert len(stream_custom(stream, "order_ready")) == sent
    got = vonage_events(vonage)
    assert [e["type"] for e in got] == ["custom:OrderReady"] * sent
    assert [e["body"]["n"] for e in got] == list(range(sent))  # type: ignore[index]
    assert all(e["body"][BRIDGE_KEY] == bridge.id and e["body"]["total"] == 12.5 for e in got)  # type: ignore[index]
    assert [r.status for r in records] == ["queued"] * sent
    assert all(r.forwarded_as == "OrderReady" and r.changes == ("name 'order_ready' -> 'OrderReady'",) for r in records)
    assert summary["received"] == sent and summary["destinations"]["vonage"]["queued"] == sent
    assert summary["destinations"]["vonage"]["delivered"] == sent


async def test_ami_user_events_mirrored_into_a_stream_channel(
    ami: AmiSandbox, stream: StreamSandbox, store_url: str
) -> None:
    sent = 5
    records: list[BridgeRecord] = []
    async with (
        ami.connect_async(store=store_url) as source,
        stream.connect_async() as destination,
        ami.connect_async() as pbx,
    ):
        route = BridgeRoute(destination, stream.target, sender=stream.sender)
        bridge, ready = make_bridge(ami, source, {"stream": route}, store_url, names={"OrderReady"})
        async with bridge:
            task = asyncio.ensure_future(bridge.run(count=sent, on_record=records.append))
            await wait_within(ready.wait(), 10)
            for n in range(sent):
                await pbx.send("OrderReady", {"OrderId": f"A-{n}", "Count": n}, to="ami")
            await wait_within(task, 20)
            assert await bridge.drain(20) == 0
    assert ami.emulator.user_events_received() == sent
    got = stream_custom(stream, "OrderReady")
    assert [e["OrderId"] for e in got] == [f"A-{n}" for n in range(sent)]
    # eventkit's AMI encoding is reversible, so a number sent on AMI arrives on Stream as a number.
    assert [e["Count"] for e in got] == list(range(sent))
    assert all(e[BRIDGE_KEY] == bridge.id and e["user"]["id"] == stream.sender for e in got)  # type: ignore[index]
    assert [r.status for r in records] == ["queued"] * sent and not any(r.changes for r in records)


async def test_flat_string_destination_conversion_is_reported_and_a_refused_event_dead_lettered(
    stream: StreamSandbox, ami: AmiSandbox, store_url: str
) -> None:
    records: list[BridgeRecord] = []
    seen_on_ami: list[eventkit.Event] = []
    async with (
        stream.connect_async(store=store_url) as source,
        ami.connect_async() as destination,
        ami.connect_async() as watcher,
        stream.connect_async() as app,
    ):
        watching = asyncio.Event()

        async def watch() -> None:
            async for event in watcher.listen(via="tcp", on_ready=lambda _: watching.set()):
                seen_on_ami.append(event)

        watch_task = asyncio.ensure_future(watch())
        await wait_within(watching.wait(), 10)
        bridge, ready = make_bridge(stream, source, {"ami": BridgeRoute(destination, "ami")}, store_url)
        async with bridge:
            task = asyncio.ensure_future(bridge.run(count=2, on_record=records.append))
            await wait_within(ready.wait(), 10)
            await app.send("priced", {"amount": 12, "paid": True, "lines": [1, 2]}, to=stream.target, sender="bot")
            # 'Response' is a reserved AMI header: AMI cannot carry this event as it is.
            await app.send("bad_for_ami", {"Response": "x"}, to=stream.target, sender="bot")
            await wait_within(task, 20)
            assert await bridge.drain(20) == 0
            dead = await bridge.dead_letters()
            summary = bridge.summary()
        await until(lambda: len(seen_on_ami) >= 1, what="the converted event on AMI")
        watch_task.cancel()
    converted, refused = records
    assert converted.status == "queued" and converted.changes == (
        "amount: int 12 -> '12'",
        "paid: bool true -> 'true'",
        "lines: a list travels as ekjson: text",
    )
    (event,) = [e for e in seen_on_ami if e.name == "priced"]
    assert event.data == {"amount": "12", "paid": "true", "lines": [1, 2], BRIDGE_KEY: bridge.id}
    assert refused.status == "refused" and refused.violations and "Response" in refused.violations[0]
    assert [(e.name, e.id) for e, _ in dead] == [("bad_for_ami", refused.source_id)]
    assert dead[0][1] is not None and dead[0][1].startswith("refused by asterisk")
    assert summary["refused"] == 1 and summary["destinations"]["ami"]["converted"] == 1
    assert summary["destinations"]["ami"]["delivered"] == 1
    assert ami.emulator.user_events_received() == 1  # the refused one never reached the platform
    # The command line lists the bridge's dead letters like any outbox's.
    out = io.StringIO()
    argv = ["outbox", "list", bridge.dead_key, "--store", store_url, "--dead"]
    assert await asyncio.to_thread(main, argv, out) == 0
    (listed,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert listed["event"]["id"] == refused.source_id and "Response" in listed["error"]


async def test_a_bridge_killed_mid_way_and_restarted_loses_nothing_and_flags_its_duplicates(
    stream: StreamSandbox, vonage: VonageSandbox, store_url: str
) -> None:
    sent = 12
    records: list[BridgeRecord] = []
    async with stream.connect_async() as app:
        # First run: the listener stores every webhook; the bridge forwards five, then dies in the sixth.
        async with stream.connect_async(store=store_url) as source, vonage.connect_async() as destination:
            route = BridgeRoute(destination, vonage.target, sender=vonage.sender)
            bridge, ready = make_bridge(stream, source, {"vonage": route}, store_url, consumer="bridge-host")
            await bridge.start()
            forwarding = bridge.forward()
            step = asyncio.ensure_future(forwarding.__anext__())
            await wait_within(ready.wait(), 10)
            for n in range(sent):
                await app.send("tick", {"n": n}, to=stream.target, sender=stream.sender)
            await until(
                lambda: sum(c.status == 200 for c in stream.emulator.webhook_log) == sent, what="every webhook stored"
            )
            records.append(await wait_within(step, 10))
            for _ in range(4):
                records.append(await wait_within(forwarding.__anext__(), 10))
            step = asyncio.ensure_future(forwarding.__anext__())
            await asyncio.sleep(0.005)  # somewhere inside the sixth event's handling
            step.cancel()  # killed: whatever it held is neither acknowledged nor finished
            try:
                records.append(await step)
            except (asyncio.CancelledError, StopAsyncIteration):
                pass
            await forwarding.aclose()
            # The drainers finish what was queued: a drainer killed mid-send is the outbox's own case
            # (its lease runs out, the item comes back flagged), covered by the delivery tests.
            assert await bridge.drain(20) == 0
            await bridge.aclose()
        assert len({r.source_id for r in records}) < sent  # the kill came mid-way
        stored = [c for c in stream.emulator.webhook_log if c.status == 200]
        assert len(stored) == sent  # acknowledged to Stream, so held in the store
        # Second run, same store and consumer name: picks up where the first stopped.
        async with stream.connect_async(store=store_url) as source, vonage.connect_async() as destination:
            route = BridgeRoute(destination, vonage.target, sender=vonage.sender)
            bridge, ready = make_bridge(stream, source, {"vonage": route}, store_url, consumer="bridge-host")
            async with bridge:
                task = asyncio.ensure_future(bridge.run(on_record=records.append))
                await until(lambda: len({r.source_id for r in records}) >= sent, what="every event forwarded")
                assert await bridge.drain(20) == 0
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    n_of = {call.webhook_id: json.loads(call.body)["n"] for call in stored}
    copies = collections.Counter(e["body"]["n"] for e in vonage_events(vonage))  # type: ignore[index]
    assert set(copies) == set(range(sent))  # nothing lost
    assert {n_of[r.source_id] for r in records} == set(range(sent))
    # Only the event in hand at the kill comes again; a second copy only of it, and flagged.
    again = {r.source_id for r in records if r.possible_duplicate or r.status == "duplicate"}
    assert len(again) <= 1
    assert {n for n, c in copies.items() if c > 1} <= {
        n_of[i] for i in again if any(r.possible_duplicate for r in records if r.source_id == i)
    }


async def _first_record_then_kill(
    stream: StreamSandbox, vonage: VonageSandbox, store_url: str, *, delivered: bool
) -> BridgeRecord:
    """Run a bridge until one event is queued, then stop it before it acknowledges that event."""
    async with stream.connect_async(store=store_url) as source, vonage.connect_async() as destination:
        route = BridgeRoute(destination, vonage.target, sender=vonage.sender)
        # deliver=False: the process dies before a drainer sends anything.
        bridge, ready = make_bridge(
            stream, source, {"vonage": route}, store_url, consumer="bridge-host", deliver=delivered
        )
        async with bridge:
            records = bridge.forward()
            first = asyncio.ensure_future(records.__anext__())
            await wait_within(ready.wait(), 10)
            async with stream.connect_async() as app:
                await app.send("tick", {"n": 1}, to=stream.target, sender=stream.sender)
            record = await wait_within(first, 10)
            if delivered:
                await until(lambda: len(vonage_events(vonage)) == 1, what="the copy delivered")
            await records.aclose()  # gone before asking for the next event: nothing acknowledged
    return record


async def _restart(stream: StreamSandbox, vonage: VonageSandbox, store_url: str) -> BridgeRecord:
    async with stream.connect_async(store=store_url) as source, vonage.connect_async() as destination:
        route = BridgeRoute(destination, vonage.target, sender=vonage.sender)
        bridge, _ = make_bridge(stream, source, {"vonage": route}, store_url, consumer="bridge-host")
        async with bridge:
            records: list[BridgeRecord] = []
            await wait_within(bridge.run(count=1, on_record=records.append), 10)
            assert await bridge.drain(10) == 0
    (record,) = records
    return record


async def test_a_redelivered_event_still_in_the_outbox_is_not_queued_twice(
    stream: StreamSandbox, vonage: VonageSandbox, store_url: str
) -> None:
    first = await _first_record_then_kill(stream, vonage, store_url, delivered=False)
    assert first.status == "queued" and vonage_events(vonage) == []
    again = await _restart(stream, vonage, store_url)
    assert again.source_id == first.source_id and again.status == "duplicate"
    assert [e["body"]["n"] for e in vonage_events(vonage)] == [1]  # type: ignore[index]


async def test_a_redelivered_event_already_delivered_is_queued_again_flagged(
    stream: StreamSandbox, vonage: VonageSandbox, store_url: str
) -> None:
    first = await _first_record_then_kill(stream, vonage, store_url, delivered=True)
    assert not first.possible_duplicate
    again = await _restart(stream, vonage, store_url)
    assert again.source_id == first.source_id and again.status == "queued" and again.possible_duplicate
    assert [e["body"]["n"] for e in vonage_events(vonage)] == [1, 1]  # type: ignore[index]


async def test_two_bridges_facing_each_other_forward_an_event_once_each_way(
    stream: StreamSandbox, vonage: VonageSandbox, tmp_path: Path
) -> None:
    there: list[BridgeRecord] = []
    back: list[BridgeRecord] = []
    url_a = f"sqlite:///{tmp_path / 'a.db'}"
    url_b = f"sqlite:///{tmp_path / 'b.db'}"
    async with (
        stream.connect_async(store=url_a) as stream_source,
        vonage.connect_async() as to_vonage,
        vonage.connect_async(store=url_b) as vonage_source,
        stream.connect_async() as to_stream,
        stream.connect_async() as stream_app,
        vonage.connect_async() as vonage_app,
    ):
        forward, ready_a = make_bridge(
            stream, stream_source, {"vonage": BridgeRoute(to_vonage, vonage.target, sender=vonage.sender)}, url_a
        )
        backward, ready_b = make_bridge(
            vonage, vonage_source, {"stream": BridgeRoute(to_stream, stream.target, sender="bridge-bot")}, url_b
        )
        async with forward, backward:
            tasks = [
                asyncio.ensure_future(forward.run(on_record=there.append)),
                asyncio.ensure_future(backward.run(on_record=back.append)),
            ]
            await wait_within(asyncio.gather(ready_a.wait(), ready_b.wait()), 10)
            await stream_app.send("from_stream", {"n": 1}, to=stream.target, sender=stream.sender)
            await vonage_app.send("from_vonage", {"n": 2}, to=vonage.target, sender=vonage.sender)
            # Each event crosses once, comes back to the other bridge, and stops there.
            await until(lambda: len(there) >= 2 and len(back) >= 2, what="both bridges to see both events")
            await forward.drain(10)
            await backward.drain(10)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    assert sorted((r.name, r.status) for r in there) == [("from_stream", "queued"), ("from_vonage", "skipped")]
    assert sorted((r.name, r.status) for r in back) == [("from_stream", "skipped"), ("from_vonage", "queued")]
    assert {r.reason for r in there + back if r.status == "skipped"} == {"loop"}
    assert [e["type"] for e in stream.emulator.events] == ["from_stream", "from_vonage"]
    assert [e["type"] for e in vonage_events(vonage)] == ["custom:from_vonage", "custom:from_stream"]


async def test_ari_websocket_events_mirrored_into_vonage(vonage: VonageSandbox, store_url: str) -> None:
    need(AriSandbox)
    sent = 3
    records: list[BridgeRecord] = []
    with AriSandbox() as ari:
        async with (
            ari.connect_async(store=store_url) as source,
            vonage.connect_async() as destination,
            ari.connect_async() as app,
        ):
            route = BridgeRoute(destination, vonage.target, sender=vonage.sender)
            bridge, ready = make_bridge(ari, source, {"vonage": route}, store_url)
            async with bridge:
                task = asyncio.ensure_future(bridge.run(count=sent, on_record=records.append))
                await wait_within(ready.wait(), 10)
                for n in range(sent):
                    await app.send("CallQueued", {"n": n, "queue": {"name": "sales"}}, to=ari.target)
                await wait_within(task, 20)
                assert await bridge.drain(20) == 0
        assert ari.emulator.post_count() == sent
    got = vonage_events(vonage)
    assert [e["body"]["n"] for e in got] == list(range(sent))  # type: ignore[index]
    assert all(e["body"]["queue"] == {"name": "sales"} for e in got)  # type: ignore[index]
    assert [r.status for r in records] == ["queued"] * sent
