"""examples/django_app through Django's test Client, and its WSGI handler under wsgiref on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from frameworks_support import ENVIRON, order_ids, stream_webhook

import eventkit

pytest.importorskip("django", reason="examples/django_app needs django (a dev dependency)")
from django_app import app as django_example


@pytest.fixture
def receiver() -> Iterator[eventkit.WebhookReceiver]:
    receiver = django_example.make_receiver(ENVIRON)
    django_example.setup(receiver)
    yield receiver
    receiver.close()


def django_headers(headers: dict[str, str]) -> dict[str, str]:
    """The test Client takes headers as WSGI environ keys; the view sees them as X-Signature again."""
    return {
        "CONTENT_TYPE" if k.lower() == "content-type" else "HTTP_" + k.upper().replace("-", "_"): v
        for k, v in headers.items()
    }


def test_test_client_delivers_a_signed_webhook_and_refuses_a_forged_one(receiver: eventkit.WebhookReceiver) -> None:
    from django.test import Client

    got: list[eventkit.Event] = []
    receiver.on(got.append)
    client = Client()
    headers, body = stream_webhook("dj-1")
    answer = client.generic("POST", "/webhooks/stream", body, **django_headers(headers))
    assert answer.status_code == 200 and answer.json() == {"received": 1}
    forged, forged_body = stream_webhook("dj-2", secret="forged-secret")
    assert client.generic("POST", "/webhooks/stream", forged_body, **django_headers(forged)).status_code == 401
    assert client.get("/webhooks/stream").status_code == 405
    assert order_ids(got) == ["dj-1"]


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def test_wsgi_handler_under_wsgiref_on_loopback(receiver: eventkit.WebhookReceiver) -> None:
    got: list[eventkit.Event] = []
    arrived = threading.Event()
    receiver.on(lambda event: (got.append(event), arrived.set()))
    application = django_example.wsgi_application(receiver)
    server: WSGIServer = make_server("127.0.0.1", 0, application, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, name="wsgiref", daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/webhooks/stream"
        headers, body = stream_webhook("dj-3")
        answer = httpx.post(url, content=body, headers=headers)
        assert answer.status_code == 200 and answer.json() == {"received": 1}
        assert arrived.wait(10) and order_ids(got) == ["dj-3"]
        forged, forged_body = stream_webhook("dj-4", secret="forged-secret")
        assert httpx.post(url, content=forged_body, headers=forged).status_code == 401
        assert order_ids(got) == ["dj-3"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
