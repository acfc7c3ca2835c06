"""connect / connect_async, send, send_many, listen and check through the memory provider."""

from __future__ import annotations

import asyncio
import itertools
import threading

import pytest

import eventkit
from eventkit import Event

_ns = itertools.count()


def namespace() -> str:
    return f"facade-{next(_ns)}"


async def test_async_send_and_listen_round_trip() -> None:
    ns = namespace()
    async with eventkit.connect_async("memory", namespace=ns, environ={}) as kit:
        ready = asyncio.Event()
        listener = kit.listen(names={"OrderReady"}, on_ready=lambda _: ready.set())
        first = asyncio.ensure_future(listener.__anext__())
        await asyncio.wait_for(ready.wait(), 5)
        await kit.send("Ignored", {}, to="topic:orders")
        result = await kit.send("OrderReady", {"OrderId": "1234", "n": [1, 2]}, to="topic:orders", sender="kitchen")
        event = await asyncio.wait_for(first, 5)
        await listener.aclose()
    assert result.ok and event.name == "OrderReady" and event.data == {"OrderId": "1234", "n": [1, 2]}
    assert event.sender == "kitchen" and event.provider == "memory" and event.target == "topic:orders"


def test_sync_listen_iterator_across_threads() -> None:
    ns = namespace()
    ready = threading.Event()
    with eventkit.connect("memory", namespace=ns, environ={}) as listener_kit:
        events = listener_kit.listen(on_ready=lambda _: ready.set())

        def sender() -> None:
            assert ready.wait(5)
            with eventkit.connect("memory", namespace=ns, environ={}) as kit:
                for i in range(3):
                    kit.send("tick", {"i": i}, to="topic:t")

        thread = threading.Thread(target=sender)
        thread.start()
        got = [next(events).data["i"] for _ in range(3)]
        thread.join()
        events.close()  # type: ignore[attr-defined]
    assert got == [0, 1, 2]


def test_send_accepts_events_and_mappings() -> None:
    with eventkit.connect("memory", namespace=namespace(), environ={}) as kit:
        event = Event("x", {"a": 1}, target="topic:t", id="fixed-id")
        assert kit.send(event).event.id == "fixed-id"
        assert kit.send(event, to="topic:other").target == "topic:other"
        assert kit.send({"name": "y", "data": {"b": 2}}, to="topic:t").event.data == {"b": 2}
        with pytest.raises(eventkit.ValidationError, match="no target"):
            kit.send("x", {})
        with pytest.raises(eventkit.ValidationError, match="inside the Event"):
            kit.send(event, {"a": 2})


def test_closed_client_refuses_to_send() -> None:
    kit = eventkit.connect("memory", namespace=namespace(), environ={})
    kit.send("x", {}, to="topic:t")
    kit.close()
    with pytest.raises(eventkit.CapabilityError, match="closed"):
        kit.send("x", {}, to="topic:t")


def test_injected_faults_are_retried_like_a_platform() -> None:
    import eventkit_memory

    ns = namespace()
    eventkit_memory.hub(ns).fail_next(503, times=2)
    with eventkit.connect("memory", namespace=ns, backoff_initial=0.001, environ={}) as kit:
        result = kit.send("x", {}, to="topic:t")
    assert result.ok and result.attempts == 3 and kit.stats["retries"] == 2


def test_check_reports_every_provider() -> None:
    report = eventkit.check("order.ready", {"x": 1}, to="topic:t", providers=["memory", "nope"])
    verdicts = {v.provider: v for v in report.verdicts}
    assert (
        verdicts["memory"].accepted
        and not verdicts["nope"].accepted
        and "unknown provider" in (verdicts["nope"].error or "")
    )
    assert not report.portable and report.accepted_by == ["memory"]
    assert report.to_dict()["providers"][0]["provider"] == "memory"


def test_check_needs_a_valid_target() -> None:
    with pytest.raises(eventkit.TargetError):
        eventkit.check("x", {}, to="user:")


def test_repr_masks_url_secrets() -> None:
    kit = eventkit.connect("memory://user:pa55word@localhost?namespace=n", environ={})
    assert "pa55word" not in repr(kit) and "***" in kit.url


def test_sync_listen_starts_before_the_first_next() -> None:
    ns = namespace()
    ready = threading.Event()
    with eventkit.connect("memory", namespace=ns, environ={}) as kit:
        events = kit.listen(on_ready=lambda _: ready.set())
        assert ready.wait(5), "the listener did not start until iterated"
        kit.send("first", {}, to="topic:t")
        assert next(events).name == "first"
        events.close()  # type: ignore[attr-defined]
