"""The bridge's pure parts and its refusals before any I/O."""

from __future__ import annotations

import asyncio

import pytest

import eventkit
from eventkit._bridge import Bridge, BridgeRecord, BridgeRoute, convert_payload
from eventkit.provider import wait_within

from .bridge_support import until


def test_strings_mode_turns_scalars_into_text_and_reports_each_change() -> None:
    data, changes = convert_payload(
        {"text": "hi", "n": 12, "price": 1.5, "ok": True, "none": None, "items": [1, 2]}, "auto", flat=True
    )
    assert data == {"text": "hi", "n": "12", "price": "1.5", "ok": "true", "none": "", "items": [1, 2]}
    assert changes == [
        "n: int 12 -> '12'",
        "price: float 1.5 -> '1.5'",
        "ok: bool true -> 'true'",
        "none: null -> ''",
        "items: a list travels as ekjson: text",
    ]


def test_keep_mode_leaves_values_to_the_provider_and_still_reports() -> None:
    data, changes = convert_payload({"n": 12, "s": "ekjson:x"}, "keep", flat=True)
    assert data == {"n": 12, "s": "ekjson:x"}
    assert changes == [
        "n: int 12 travels as 'ekjson:12'",
        "s: a string starting with 'ekjson:' travels escaped as ekjson: text",
    ]


def test_a_json_destination_changes_nothing_unless_asked_for_strings() -> None:
    payload = {"n": 12, "nested": {"a": [1]}}
    assert convert_payload(payload, "auto", flat=False) == (payload, [])
    assert convert_payload(payload, "keep", flat=False) == (payload, [])
    data, changes = convert_payload(payload, "strings", flat=False)
    assert data == {"n": "12", "nested": 'ekjson:{"a":[1]}'}
    assert len(changes) == 2


def test_record_json_leaves_out_what_is_not_set() -> None:
    record = BridgeRecord("skipped", "id-1", "E", reason="loop")
    assert record.to_dict() == {"status": "skipped", "source_id": "id-1", "name": "E", "reason": "loop"}
    queued = BridgeRecord("queued", "id-2", "E", destination="d", changes=("x",), possible_duplicate=True)
    assert queued.to_dict()["possible_duplicate"] is True and queued.to_dict()["changes"] == ["x"]


def _ami() -> eventkit.AsyncClient:
    return eventkit.connect_async("asterisk", host="127.0.0.1", port=1, username="u", secret="s", environ={})


def _memory(namespace: str = "bridge") -> eventkit.AsyncClient:
    return eventkit.connect_async("memory", namespace=namespace, environ={})


def test_a_bridge_needs_a_durable_store() -> None:
    with pytest.raises(eventkit.SettingsError, match="durable store"):
        Bridge(_memory(), {"ami": BridgeRoute(_ami(), "ami")}, store="memory://")


def test_a_destination_route_resolves_and_an_unknown_one_is_refused_before_io(store_url: str) -> None:
    with pytest.raises(eventkit.SettingsError, match=r"no route '@orders' \(routes: none configured\)"):
        Bridge(_memory(), {"ami": BridgeRoute(_ami(), "@orders")}, store=store_url)
    routed = eventkit.connect_async(
        "asterisk", host="127.0.0.1", port=1, username="u", secret="s", routes={"orders": "ami"}, environ={}
    )
    bridge = Bridge(_memory(), {"ami": BridgeRoute(routed, "@orders")}, store=store_url)
    assert [d.target for d in bridge.destinations.values()] == ["ami"]


def test_a_target_the_destination_cannot_serve_is_refused_before_io(store_url: str) -> None:
    with pytest.raises(eventkit.SettingsError, match="cannot send to"):
        Bridge(_memory(), {"ami": BridgeRoute(_ami(), "topic:orders")}, store=store_url)


def test_a_marker_key_a_destination_refuses_is_refused_before_io(store_url: str) -> None:
    # AMI reserves 'Event' as a header: a loop guard under that key could not travel.
    with pytest.raises(eventkit.SettingsError, match="refuses what the bridge would send"):
        Bridge(_memory(), {"ami": BridgeRoute(_ami(), "ami")}, store=store_url, marker="Event")


def test_a_mapped_name_a_destination_refuses_is_refused_before_io(store_url: str) -> None:
    route = BridgeRoute(_ami(), "ami", names={"order_ready": "Order\nReady"})
    with pytest.raises(eventkit.SettingsError, match="destination 'ami'"):
        Bridge(_memory(), {"ami": route}, store=store_url)


def test_two_destinations_on_one_provider_would_share_an_outbox(store_url: str) -> None:
    with pytest.raises(eventkit.SettingsError, match="share one outbox"):
        Bridge(_memory(), {"a": BridgeRoute(_ami(), "ami"), "b": BridgeRoute(_ami(), "ami")}, store=store_url)


def test_bad_payload_mode_and_empty_destinations(store_url: str) -> None:
    with pytest.raises(eventkit.SettingsError, match="payload must be"):
        Bridge(_memory(), {"ami": BridgeRoute(_ami(), "ami", payload="lossy")}, store=store_url)
    with pytest.raises(eventkit.SettingsError, match="at least one destination"):
        Bridge(_memory(), {}, store=store_url)
    with pytest.raises(eventkit.SettingsError, match="non-empty names"):
        BridgeRoute(_ami(), "ami", names={"": "X"})


def test_the_default_id_names_source_and_destinations_and_skips_own_senders(store_url: str) -> None:
    bridge = Bridge(_memory(), {"ami": BridgeRoute(_ami(), "ami", sender="bridge-bot")}, store=store_url)
    assert bridge.id == "memory>ami" and bridge.group == "bridge:memory>ami"
    assert "bridge-bot" in bridge.skip_senders


async def test_in_process_bridge_skips_its_own_sender_and_marked_events(store_url: str) -> None:
    received: list[eventkit.Event] = []
    records: list[BridgeRecord] = []
    async with (
        eventkit.connect_async("memory", namespace="bridge-src", store=store_url, environ={}) as source,
        eventkit.connect_async("memory", namespace="bridge-dst", environ={}) as destination,
        eventkit.connect_async("memory", namespace="bridge-dst", environ={}) as watcher,
        eventkit.connect_async("memory", namespace="bridge-src", environ={}) as app,
    ):
        watching = asyncio.Event()

        async def watch() -> None:
            async for event in watcher.listen(on_ready=lambda _: watching.set()):
                received.append(event)

        watch_task = asyncio.ensure_future(watch())
        await wait_within(watching.wait(), 5)
        ready = asyncio.Event()
        route = BridgeRoute(destination, "topic:out", sender="bridge-bot", names={"a": "A"})
        bridge = Bridge(source, {"dst": route}, store=store_url, listen_options={"on_ready": lambda _: ready.set()})
        async with bridge:
            task = asyncio.ensure_future(bridge.run(count=3, on_record=records.append))
            await wait_within(ready.wait(), 5)
            await app.send("a", {"n": 1}, to="topic:in", sender="bridge-bot")  # written as the bridge: skipped
            await app.send("a", {"n": 2, "eventkit_bridge": "other"}, to="topic:in")  # came from a bridge
            await app.send("a", {"n": 3}, to="topic:in", sender="someone")
            await wait_within(task, 10)
            assert await bridge.drain(10) == 0
        await until(lambda: bool(received), what="the forwarded event")
        watch_task.cancel()
    assert [(r.status, r.reason) for r in records] == [("skipped", "sender"), ("skipped", "loop"), ("queued", None)]
    assert [(e.name, e.data, e.sender) for e in received] == [
        ("A", {"n": 3, "eventkit_bridge": bridge.id}, "bridge-bot")
    ]
    assert bridge.summary()["skipped_sender"] == 1 and bridge.summary()["skipped_loop"] == 1
