"""``eventkit listen`` stops as a service should: drain, answer, exit 0."""

from __future__ import annotations

import signal
import socket
import time

import httpx
import pytest
from service_support import listener, read_response, stream_body, stream_headers

pytest.importorskip("uvicorn")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_with_a_half_sent_request_in_flight_drains_and_exits_0(sig: int) -> None:
    with listener("--shutdown-timeout", "2", "--body-timeout", "60") as server:
        body = stream_body()
        assert httpx.post(server.url, content=body, headers=stream_headers(body)).status_code == 200
        with server.connect() as sock:
            sock.sendall(b'POST /webhooks/stream HTTP/1.1\r\nhost: t\r\ncontent-length: 5000\r\n\r\n{"type": ')
            time.sleep(0.3)
            code, err = server.stop(sig, timeout=20)
            answer = read_response(sock)
        refused = socket.socket()
        with pytest.raises(OSError):
            refused.connect((server.host, server.port))
        refused.close()
    assert code == 0, err
    assert f"stopping: {signal.Signals(sig).name}" in err
    assert "Traceback" not in err, err
    # The request in flight was refused, not dropped: the platform retries a 503.
    assert answer.startswith(b"HTTP/1.1 503 "), answer
    assert b"retry-after: 5" in answer.lower()


def test_a_request_that_completes_during_the_drain_is_answered() -> None:
    with listener("--shutdown-timeout", "6") as server:
        body = stream_body(7)
        head = f"POST /webhooks/stream HTTP/1.1\r\nhost: t\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in stream_headers(body).items()) + "\r\n"
        with server.connect() as sock:
            sock.sendall(head.encode() + body[:5])
            time.sleep(0.3)
            server.process.send_signal(signal.SIGTERM)
            time.sleep(0.5)
            sock.sendall(body[5:])
            answer = read_response(sock)
        out, err = server.process.communicate(timeout=20)
    assert server.process.returncode == 0, err
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert '"n": 7' in out
