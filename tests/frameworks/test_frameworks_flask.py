"""examples/flask_app.py through Flask's test client and through a real werkzeug server on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import httpx
import pytest
from frameworks_support import ENVIRON, order_ids, stream_webhook

import eventkit
from eventkit._portal import BackgroundLoop

flask_app = pytest.importorskip("flask_app", reason="examples/flask_app.py needs flask (a dev dependency)")
from werkzeug.serving import make_server  # noqa: E402


@pytest.fixture
def receiver() -> Iterator[eventkit.WebhookReceiver]:
    receiver = flask_app.make_receiver(ENVIRON)
    yield receiver
    receiver.close()


def test_test_client_delivers_a_signed_webhook_and_refuses_a_forged_one(receiver: eventkit.WebhookReceiver) -> None:
    got: list[eventkit.Event] = []
    receiver.on(got.append)
    client = flask_app.create_app(receiver).test_client()
    headers, body = stream_webhook("fl-1")
    answer = client.post("/webhooks/stream", data=body, headers=headers)
    assert answer.status_code == 200 and answer.get_json() == {"received": 1}
    assert client.post("/webhooks/stream", data=body, headers=headers).get_json() == {"duplicate": True}
    forged, forged_body = stream_webhook("fl-2", secret="forged-secret")
    assert client.post("/webhooks/stream", data=forged_body, headers=forged).status_code == 401
    assert client.post("/webhooks/nobody", data=body, headers=headers).status_code == 404
    assert order_ids(got) == ["fl-1"]


def test_werkzeug_server_threads_deliver_to_an_async_consumer(receiver: eventkit.WebhookReceiver) -> None:
    """A threaded WSGI server calls handle_sync from its request threads; an ``events()`` consumer
    on another event loop (here a background one, in an app an async worker) gets every event."""
    consumer = BackgroundLoop("consumer", timeout=30, close_timeout=10)

    async def subscribe() -> eventkit._webhooks.Subscription:
        return receiver.events()

    subscription = consumer.run(subscribe())
    server = make_server("127.0.0.1", 0, flask_app.create_app(receiver), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="werkzeug", daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/webhooks/stream"
        calls = [stream_webhook(f"wz-{i}") for i in range(6)]
        with httpx.Client() as http:
            for headers, body in calls:
                answer = http.post(url, content=body, headers=headers)
                assert answer.status_code == 200 and answer.json() == {"received": 1}
            forged, forged_body = stream_webhook("wz-x", secret="forged-secret")
            assert http.post(url, content=forged_body, headers=forged).status_code == 401

        async def take(n: int) -> list[eventkit.Event]:
            return [await asyncio.wait_for(subscription.__anext__(), 10) for _ in range(n)]

        got = consumer.run(take(6))
        assert sorted(order_ids(got)) == sorted(f"wz-{i}" for i in range(6))
        assert receiver.stats["rejected_signature"] == 1
    finally:
        server.shutdown()
        thread.join(10)
        subscription.close()
        consumer.close()
