"""The receiver's framework-facing parts: root_path, header case, and handle_sync across threads."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from frameworks_support import ENVIRON, stream_webhook
from starlette.applications import Starlette
from starlette.routing import Mount

import eventkit
from eventkit import Event, EventkitError, WebhookReceiver
from eventkit._webhooks import lower_headers


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    kit = eventkit.connect("stream", environ=ENVIRON)
    receiver = WebhookReceiver([kit.provider])
    yield receiver
    receiver.close()


def test_lower_headers_accepts_mappings_and_pairs_and_joins_repeats() -> None:
    assert lower_headers({"X-Signature": "a", "Content-Type": "b"}) == {"x-signature": "a", "content-type": "b"}
    assert lower_headers([("X-Forwarded-For", "1"), ("x-forwarded-for", "2")]) == {"x-forwarded-for": "1, 2"}


async def test_handle_matches_header_names_in_any_case(receiver: WebhookReceiver) -> None:
    got: list[Event] = []
    receiver.on(got.append)
    headers, body = stream_webhook("o-1")
    assert await receiver.handle("stream", headers, body) == (200, {"received": 1})
    # The same delivery id, in other cases still, is the platform's retry.
    assert await receiver.handle("stream", {k.upper(): v for k, v in headers.items()}, body) == (
        200,
        {"duplicate": True},
    )
    assert [e.data for e in got] == [{"order_id": "o-1"}]


async def test_handle_refuses_a_forged_call_whatever_the_case(receiver: WebhookReceiver) -> None:
    headers, body = stream_webhook("o-2", secret="not-the-secret")
    status, payload = await receiver.handle("stream", headers, body)
    assert status == 401 and receiver.stats["rejected_signature"] == 1, payload


@pytest.mark.parametrize("convention", ["full path (ASGI spec)", "remainder (older Starlette)"])
async def test_mounted_receiver_honours_root_path(receiver: WebhookReceiver, convention: str) -> None:
    """Whichever way the host passes the mount, /hooks/... answers and the bare path does not."""

    async def mounted(scope, receive, send):  # type: ignore[no-untyped-def]
        scope = dict(scope)
        full = scope["path"]
        if not full.startswith("/hooks/") and full != "/hooks":
            scope["path"], scope["root_path"] = full, ""
        elif convention.startswith("full"):
            scope["root_path"] = "/hooks"
        else:
            scope["path"], scope["root_path"] = full[len("/hooks") :], "/hooks"
        await receiver(scope, receive, send)

    transport = httpx.ASGITransport(app=mounted)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers, body = stream_webhook("o-3")
        answer = await client.post("/hooks/webhooks/stream", content=body, headers=headers)
        assert answer.status_code == 200, answer.text
        assert (await client.get("/hooks/healthz")).json() == {"status": "ok"}
        assert (await client.get("/hooks/readyz")).status_code == 200
        assert (await client.get("/hooks/webhooks/nobody")).status_code == 404
        assert (await client.get("/other/healthz")).status_code == 404


async def test_a_mount_named_like_the_prefix_routes_in_the_remainder_convention(receiver: WebhookReceiver) -> None:
    """Mounted at /webhooks with older Starlette: path "/webhooks/stream", root_path "/webhooks"."""
    headers, body = stream_webhook("o-4")
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/webhooks/stream",
        "root_path": "/webhooks",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    await receiver(scope, receive, send)
    assert sent[0]["status"] == 200


async def test_starlette_mount_for_real(receiver: WebhookReceiver) -> None:
    app = Starlette(routes=[Mount("/hooks", app=receiver)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        headers, body = stream_webhook("o-5")
        assert (await client.post("/hooks/webhooks/stream", content=body, headers=headers)).json() == {"received": 1}
        assert (await client.get("/hooks/healthz")).status_code == 200
        assert (await client.post("/webhooks/stream", content=body, headers=headers)).status_code == 404


async def test_handle_sync_delivers_to_consumers_on_their_own_loop(receiver: WebhookReceiver) -> None:
    """handle_sync runs on the receiver's loop thread; an events() consumer awaiting on this loop
    must be woken (a plain put from another thread would leave it asleep)."""
    # Debug mode makes a non-thread-safe call onto this loop from another thread raise.
    asyncio.get_running_loop().set_debug(True)
    handled: list[tuple[str, Event]] = []
    receiver.on(lambda event: handled.append((threading.current_thread().name, event)))
    subscription = receiver.events()
    waiting = asyncio.ensure_future(subscription.__anext__())
    await asyncio.sleep(0)  # the consumer is now parked in get()

    headers, body = stream_webhook("o-6")
    assert await asyncio.to_thread(receiver.handle_sync, "stream", headers, body) == (200, {"received": 1})
    event = await asyncio.wait_for(waiting, 5)
    assert event.data == {"order_id": "o-6"}
    # The subscription opened the store on this loop, so handle_sync ran here, and so did the handler.
    assert [(name, e.data["order_id"]) for name, e in handled] == [(threading.current_thread().name, "o-6")]
    subscription.close()


async def test_handle_sync_from_many_threads_while_the_asgi_path_serves(receiver: WebhookReceiver) -> None:
    asyncio.get_running_loop().set_debug(True)  # cross-thread misuse of this loop raises
    subscription = receiver.events()
    calls = [stream_webhook(f"t-{i}") for i in range(40)]
    errors: list[BaseException] = []

    def worker(chunk: list[tuple[dict[str, str], bytes]]) -> None:
        try:
            for headers, body in chunk:
                assert receiver.handle_sync("stream", headers, body) == (200, {"received": 1})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(calls[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=receiver), base_url="http://t") as client:
        for i in range(10):
            headers, body = stream_webhook(f"a-{i}")
            assert (await client.post("/webhooks/stream", content=body, headers=headers)).status_code == 200
    await asyncio.to_thread(lambda: [thread.join(30) for thread in threads])
    assert errors == []
    got = [await asyncio.wait_for(subscription.__anext__(), 5) for _ in range(50)]
    assert sorted(e.data["order_id"] for e in got) == sorted(
        [f"t-{i}" for i in range(40)] + [f"a-{i}" for i in range(10)]
    )
    assert receiver.stats["events"] == 50
    subscription.close()


async def test_a_consumer_behind_its_look_ahead_loses_nothing_across_threads() -> None:
    # Past queue_size the events wait in the store (never dropped) and arrive in order.
    kit = eventkit.connect("stream", environ=ENVIRON)
    receiver = WebhookReceiver([kit.provider], queue_size=1)
    try:
        subscription = receiver.events()
        for i in range(3):
            headers, body = stream_webhook(f"q-{i}")
            await asyncio.to_thread(receiver.handle_sync, "stream", headers, body)
        got = [await asyncio.wait_for(subscription.__anext__(), 5) for _ in range(3)]
        assert [e.data["order_id"] for e in got] == ["q-0", "q-1", "q-2"]
        assert receiver.stats["dropped"] == 0
    finally:
        receiver.close()


def test_handle_sync_without_any_running_loop_and_close(receiver: WebhookReceiver) -> None:
    got: list[Event] = []
    receiver.on(got.append)
    headers, body = stream_webhook("s-1")
    assert receiver.handle_sync("stream", headers, body) == (200, {"received": 1})
    assert receiver.handle_sync("stream", headers, body) == (200, {"duplicate": True})
    forged, forged_body = stream_webhook("s-2", secret="forged")
    assert receiver.handle_sync("stream", forged, forged_body)[0] == 401
    thread = receiver._loop.thread if receiver._loop else None
    receiver.close()
    assert thread is not None and not thread.is_alive()
    assert [e.data for e in got] == [{"order_id": "s-1"}]


def test_handle_sync_refuses_to_deadlock_its_own_loop(receiver: WebhookReceiver) -> None:
    outcome: list[BaseException] = []

    def nested(event: Event) -> None:
        try:
            receiver.handle_sync("stream", {}, b"{}")
        except EventkitError as exc:
            outcome.append(exc)

    receiver.on(nested)
    headers, body = stream_webhook("n-1")
    assert receiver.handle_sync("stream", headers, body)[0] == 200
    assert len(outcome) == 1 and "own loop" in str(outcome[0])


async def test_an_empty_prefix_answers_right_under_the_mount() -> None:
    kit = eventkit.connect("stream", environ=ENVIRON)
    receiver = WebhookReceiver([kit.provider], prefix="/")
    assert receiver.paths == ["/stream"]
    app = Starlette(routes=[Mount("/hooks", app=receiver)])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        headers, body = stream_webhook("p-1")
        assert (await client.post("/hooks/stream", content=body, headers=headers)).json() == {"received": 1}
        assert (await client.get("/hooks/healthz")).json() == {"status": "ok"}
        assert (await client.post("/hooks/webhooks/stream", content=body, headers=headers)).status_code == 404


def test_handle_sync_refuses_a_store_left_on_a_stopped_loop() -> None:
    kit = eventkit.connect("stream", environ=ENVIRON)
    receiver = WebhookReceiver([kit.provider])
    asyncio.run(receiver.open())  # opened on a loop that is gone once run() returns
    headers, body = stream_webhook("gone-1")
    with pytest.raises(EventkitError, match="opened on an event loop that has stopped"):
        receiver.handle_sync("stream", headers, body)
