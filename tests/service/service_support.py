"""Running ``eventkit listen`` as an operator would: a real process, real sockets."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

API_KEY = "svc-key"
API_SECRET = "svc-secret-0123456789-abcdefghij-VALUE"
EVENTKIT = [sys.executable, "-m", "eventkit"]


def stream_body(n: int = 1) -> bytes:
    return json.dumps({"type": "order_ready", "n": n, "user": {"id": "u"}}).encode()


def stream_headers(body: bytes, secret: str = API_SECRET) -> dict[str, str]:
    return {
        "x-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        "x-api-key": API_KEY,
        "x-webhook-id": str(uuid.uuid4()),
        "content-type": "application/json",
    }


class Listener:
    """An ``eventkit listen stream`` process serving webhooks on a free port."""

    def __init__(self, process: subprocess.Popen[str], url: str) -> None:
        self.process = process
        self.url = url
        match = re.match(r"http://([^:/]+):(\d+)", url)
        assert match, url
        self.host, self.port = match.group(1), int(match.group(2))

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=30)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[int, str]:
        self.process.send_signal(sig)
        _out, err = self.process.communicate(timeout=timeout)
        return self.process.returncode, err


@contextmanager
def listener(*extra: str, env: dict[str, str] | None = None) -> Iterator[Listener]:
    argv = [
        *EVENTKIT,
        "listen",
        "stream",
        "--port",
        "0",
        "--set",
        f"api_key={API_KEY}",
        "--set",
        f"api_secret={API_SECRET}",
        *extra,
    ]
    process = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stderr is not None
        seen = []
        while True:
            line = process.stderr.readline()
            if not line:
                raise AssertionError(f"eventkit listen ended before listening: {''.join(seen)}")
            seen.append(line)
            if line.startswith("listening: "):
                break
        yield Listener(process, line.split(" ", 1)[1].strip())
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def read_response(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes (b"" if it closed without a word)."""
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)
