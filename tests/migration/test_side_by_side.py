"""Moving between vendors: Stream and Vonage side by side, one route name, one merged stream back."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

import eventkit
from eventkit.testing.sandbox import Sandbox

ROUTES = {
    "stream": {"orders": "channel:messaging:orders"},
    "vonage": {"orders": None},  # filled with the sandbox's conversation
}


def _settings(sandbox: Sandbox) -> dict[str, Any]:
    settings = sandbox.settings()
    routes = dict(ROUTES[sandbox.provider])
    if sandbox.provider == "vonage":
        routes["orders"] = sandbox.target
    return {**settings, "routes": routes}


async def test_one_send_reaches_both_vendors_and_both_come_back_merged(
    eventkit_sandbox: Callable[[str], Sandbox],
) -> None:
    stream, vonage = eventkit_sandbox("stream"), eventkit_sandbox("vonage")
    before = {"stream": stream.requests_seen(), "vonage": vonage.requests_seen()}
    ready: dict[str, asyncio.Event] = {"stream": asyncio.Event(), "vonage": asyncio.Event()}
    loop = asyncio.get_running_loop()

    def on_ready(sandbox: Sandbox) -> Callable[[str], None]:
        def done(address: str) -> None:
            sandbox.on_listening(address)
            loop.call_soon_threadsafe(ready[sandbox.provider].set)

        return done

    async with eventkit.connect_many_async({"stream": _settings(stream), "vonage": _settings(vonage)}) as many:
        listener = many.listen(
            "order_ready",
            options={
                "stream": {**stream.listen_options(), "on_ready": on_ready(stream)},
                "vonage": {**vonage.listen_options(), "on_ready": on_ready(vonage)},
            },
        )
        first = asyncio.ensure_future(listener.__anext__())
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in ready.values())), 10)

        results = await many.send("order_ready", {"order": 1234}, to="@orders", sender=vonage.sender)
        assert set(results) == {"stream", "vonage"}
        assert all(r.ok for r in results.values()), results
        assert results["stream"].target == "channel:messaging:orders"
        assert results["vonage"].target == vonage.target
        assert results["stream"].event.id == results["vonage"].event.id

        received = [await asyncio.wait_for(first, 10), await asyncio.wait_for(listener.__anext__(), 10)]
        await listener.aclose()  # type: ignore[attr-defined]

    assert sorted(e.provider or "" for e in received) == ["stream", "vonage"]
    assert all(e.name == "order_ready" and e.data["order"] == 1234 for e in received)
    assert stream.requests_seen() == before["stream"] + 1
    assert vonage.requests_seen() == before["vonage"] + 1


def test_one_providers_failure_is_its_own_result(eventkit_sandbox: Callable[[str], Sandbox]) -> None:
    stream, vonage = eventkit_sandbox("stream"), eventkit_sandbox("vonage")
    vonage.inject_error(403)
    with eventkit.connect_many({"stream": _settings(stream), "vonage": _settings(vonage)}) as many:
        results = many.send("order_ready", {"order": 1}, to="@orders", sender=vonage.sender)
    assert results["stream"].ok
    assert isinstance(results["vonage"].error, eventkit.PermissionDeniedError)


def test_a_provider_without_the_route_fails_alone_before_any_io(eventkit_sandbox: Callable[[str], Sandbox]) -> None:
    stream, vonage = eventkit_sandbox("stream"), eventkit_sandbox("vonage")
    before = vonage.requests_seen()
    with eventkit.connect_many({"stream": _settings(stream), "vonage": vonage.settings()}) as many:
        results = many.send("order_ready", {"order": 1}, to="@orders", sender="bot")
    assert results["stream"].ok
    assert isinstance(results["vonage"].error, eventkit.TargetError)
    assert vonage.requests_seen() == before


def test_connect_many_refuses_one_provider_twice_and_an_empty_list() -> None:
    with pytest.raises(eventkit.SettingsError, match="more than once"):
        eventkit.connect_many(["memory", "memory"])
    with pytest.raises(eventkit.SettingsError, match="at least one"):
        eventkit.connect_many([])
    with pytest.raises(eventkit.SettingsError, match="several providers"):
        eventkit.connect_many("memory")
