"""Slow and greedy clients against a real ``eventkit listen`` webhook server."""

from __future__ import annotations

import gzip
import json
import selectors
import socket
import time

import httpx
import pytest
from service_support import API_KEY, API_SECRET, listener, read_response, stream_body, stream_headers

import eventkit
from eventkit import WebhookReceiver

pytest.importorskip("uvicorn")


def _head(length: int) -> bytes:
    return (
        f"POST /webhooks/stream HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\n"
        f"content-length: {length}\r\n\r\n"
    ).encode()


def test_a_head_that_never_finishes_gets_408_and_is_closed() -> None:
    with listener("--header-timeout", "0.5") as server, server.connect() as sock:
        sock.sendall(b"POST /webhooks/stream HTTP/1.1\r\nhost: te")
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer


def test_a_body_that_stalls_gets_408_and_is_closed() -> None:
    with listener("--body-timeout", "0.5") as server, server.connect() as sock:
        sock.sendall(_head(1000) + b'{"type": "x"')
        answer = read_response(sock)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert b"request body timeout" in answer


def test_bytes_buffered_across_requests_are_capped_with_503_and_retry_after() -> None:
    with listener("--max-buffered-bytes", "100000", "--body-timeout", "20") as server:
        with server.connect() as hog:
            hog.sendall(_head(99_000) + b"x" * 90_000)  # held, waiting for the rest
            time.sleep(0.5)
            response = httpx.post(f"{server.url}", content=b"y" * 20_000, headers={"content-type": "application/json"})
            assert response.status_code == 503
            assert response.headers["retry-after"] == "1"
        # Once the hog is gone, its bytes are given back.
        body = stream_body()
        ok = httpx.post(server.url, content=body, headers=stream_headers(body))
        assert ok.status_code == 200, ok.text


def test_300_stalled_uploads_are_closed_and_memory_stays_bounded() -> None:
    """The slowloris case (benchmarks/slowloris.py runs 3,000): each upload sends its head
    and 32 KB of a 1 MB body, then stalls. Every one is answered and closed, and the
    server's RSS grows by tens of MB at most, not by what the clients promised."""
    count, sent_each = 300, 32 * 1024
    with listener("--body-timeout", "3", "--header-timeout", "3") as server:
        body = stream_body()
        assert httpx.post(server.url, content=body, headers=stream_headers(body)).status_code == 200
        before = server.rss_bytes()
        socks = []
        for _ in range(count):
            sock = server.connect()
            sock.sendall(_head(1_000_000) + b"z" * sent_each)
            socks.append(sock)
        time.sleep(1.0)  # let the server read what was sent
        during = server.rss_bytes()
        answers = _drain(socks)
        after_requests = httpx.get(f"{server.base}/healthz")
    growth_mb = (during - before) / 2**20
    assert growth_mb < 48, f"RSS grew by {growth_mb:.1f} MB for {count} stalled uploads"
    statuses = {a[:12] for a in answers}
    assert len(answers) == count and statuses <= {b"HTTP/1.1 408", b"HTTP/1.1 503"}, statuses
    assert after_requests.status_code == 200


def _drain(socks: list[socket.socket]) -> list[bytes]:
    """Read every socket until the server closes it."""
    selector = selectors.DefaultSelector()
    got: dict[socket.socket, bytearray] = {}
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        got[sock] = bytearray()
    open_ = set(socks)
    deadline = time.monotonic() + 60
    while open_ and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            try:
                chunk = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError:
                chunk = b""
            if chunk:
                got[sock] += chunk
            else:
                selector.unregister(sock)
                open_.discard(sock)
                sock.close()
    for sock in open_:
        sock.close()
    assert not open_, f"{len(open_)} connections still open"
    return [bytes(v) for v in got.values()]


def test_health_and_readiness_probes() -> None:
    with listener() as server:
        health = httpx.get(f"{server.base}/healthz")
        ready = httpx.get(f"{server.base}/readyz")
        wrong = httpx.get(server.url)
        post_health = httpx.post(f"{server.base}/healthz")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    assert ready.status_code == 200 and ready.json() == {"ready": True, "reasons": []}
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
    assert post_health.status_code == 405 and "GET" in post_health.headers["allow"]


async def test_readiness_checks_plug_in_and_say_why() -> None:
    class Store:
        def __init__(self) -> None:
            self.fail = False

        async def ping(self) -> None:
            if self.fail:
                raise OSError(f"disk full at redis://u:{API_SECRET}@h/0")

    store = Store()
    kit = eventkit.connect_async("stream", api_key=API_KEY, api_secret=API_SECRET, environ={})
    receiver = WebhookReceiver([kit.provider], readiness=[store.ping])
    transport = httpx.ASGITransport(app=receiver)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        assert (await client.get("/readyz")).status_code == 200
        store.fail = True
        answer = await client.get("/readyz")
        assert answer.status_code == 503
        reasons = answer.json()["reasons"]
        assert len(reasons) == 1 and "Store.ping" in reasons[0] and "OSError" in reasons[0]
        assert API_SECRET not in answer.text
        store.fail = False
        receiver.drain()
        assert (await client.get("/readyz")).json() == {"ready": False, "reasons": ["shutting down"]}
        body = stream_body()
        refused = await client.post("/webhooks/stream", content=body, headers=stream_headers(body))
        assert refused.status_code == 503 and "retry-after" in refused.headers
    await kit.aclose()


async def test_a_signed_body_over_the_cap_after_gunzip_is_413() -> None:
    kit = eventkit.connect_async("stream", api_key=API_KEY, api_secret=API_SECRET, max_webhook_bytes=4096, environ={})
    receiver = WebhookReceiver([kit.provider])
    plain = json.dumps({"type": "big", "pad": "A" * 10_000, "user": {"id": "u"}}).encode()
    packed = gzip.compress(plain)
    assert len(packed) < 4096 < len(plain)
    status, payload = await receiver.handle("stream", stream_headers(plain), packed)
    assert status == 413, payload
    assert receiver.stats["rejected_size"] == 1 and receiver.stats["events"] == 0
    await kit.aclose()


def test_connections_past_the_cap_get_503_and_are_closed() -> None:
    with listener("--max-connections", "5", "--header-timeout", "30") as server:
        held = [server.connect() for _ in range(5)]
        for sock in held:
            sock.sendall(b"POST /webhooks/stream HTTP/1.1\r\n")
        time.sleep(0.3)
        with server.connect() as extra:
            answer = read_response(extra)
        for sock in held:
            sock.close()
    assert answer.startswith(b"HTTP/1.1 503 "), answer
