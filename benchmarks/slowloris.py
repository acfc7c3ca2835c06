"""Slow clients against ``eventkit listen``: how much memory they cost and how long they hold on.

    .venv/bin/python benchmarks/slowloris.py                 # 3,000 stalled uploads, 3 rounds
    .venv/bin/python benchmarks/slowloris.py --uploads 300 --rounds 1

Each round starts a fresh ``eventkit listen stream`` process (webhook server with its
default limits except ``--body-timeout``/``--header-timeout``), measures its RSS, opens
``--uploads`` connections, and interleaves three kinds of slow client: a head that never
finishes, a 1 MB upload that sends ``--sent`` bytes and stalls, and one that drips a byte
per second. It reports the server's RSS growth while all are stalled, as a ratio to the
bytes the clients actually sent (the reference: what a server that buffers everything
holds) and to what they promised (Content-Length), how many were closed by the server,
with which status, and the time from the last upload to the last close as a ratio of
the body timeout. Nothing here is asserted; tests/service/test_service_limits.py checks
the bounded behaviour on 300 uploads.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import selectors
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def start(timeout: float) -> tuple[subprocess.Popen[str], str, int]:
    argv = [sys.executable, "-m", "eventkit", "listen", "stream", "--port", "0"]
    argv += ["--set", "api_key=bench", "--set", "api_secret=bench-secret-0123456789"]
    argv += ["--body-timeout", str(timeout), "--header-timeout", str(timeout)]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    threading.Thread(target=process.stderr.read, daemon=True).start()  # a full pipe would block the server
    match = re.search(r"http://([^:]+):(\d+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"listen did not start: {line}{process.stderr.read()}")
    return process, match.group(1), int(match.group(2))


HEAD = b"POST /webhooks/stream HTTP/1.1\r\nhost: bench\r\ncontent-type: application/json\r\ncontent-length: 1000000\r\n\r\n"


def one_round(uploads: int, sent: int, timeout: float) -> dict[str, float]:
    process, host, port = start(timeout)
    try:
        time.sleep(0.5)
        before = rss(process.pid)
        socks: list[tuple[socket.socket, str]] = []
        total_sent = 0
        for n in range(uploads):
            sock = socket.create_connection((host, port))
            kind = ("head", "upload", "drip")[n % 3]
            if kind == "head":
                sock.sendall(HEAD[:30])
                total_sent += 30
            elif kind == "upload":
                sock.sendall(HEAD + b"z" * sent)
                total_sent += len(HEAD) + sent
            else:
                sock.sendall(HEAD + b"{")
                total_sent += len(HEAD) + 1
            socks.append((sock, kind))
        last_sent = time.monotonic()
        time.sleep(min(1.0, timeout / 3))
        during = rss(process.pid)
        selector = selectors.DefaultSelector()
        answers: dict[socket.socket, bytearray] = {}
        kinds = {}
        for sock, kind in socks:
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
            answers[sock] = bytearray()
            kinds[sock] = kind
        open_ = {s for s, _ in socks}
        next_drip = time.monotonic() + 1
        deadline = time.monotonic() + timeout * 4 + 30
        while open_ and time.monotonic() < deadline:
            if time.monotonic() >= next_drip:
                for sock in list(open_):
                    if kinds[sock] == "drip":
                        try:
                            sock.send(b" ")
                        except OSError:
                            pass
                next_drip += 1
            for key, _ in selector.select(timeout=0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    answers[sock] += chunk
                else:
                    selector.unregister(sock)
                    open_.discard(sock)
        closed_at = time.monotonic()
        statuses = Counter(bytes(a[9:12]).decode() or "closed" for a in answers.values())
        for sock in answers:
            sock.close()
        return {
            "rss_before_mb": before / 2**20,
            "rss_growth_mb": (during - before) / 2**20,
            "growth_per_sent": (during - before) / max(total_sent, 1),
            "growth_per_promised": (during - before) / (uploads * 1_000_000),
            "still_open": len(open_),
            "close_after_timeout_ratio": (closed_at - last_sent) / timeout,
            **{f"status_{k}": float(v) for k, v in statuses.items()},
        }
    finally:
        process.terminate()
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=3000)
    parser.add_argument("--sent", type=int, default=64 * 1024, help="bytes each stalled upload sends")
    parser.add_argument("--timeout", type=float, default=5.0, help="the server's header and body timeout")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, args.uploads * 2 + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    os.chdir(ROOT)
    rounds = [one_round(args.uploads, args.sent, args.timeout) for _ in range(args.rounds)]
    print(
        f"slowloris: {args.uploads} slow clients (1/3 head, 1/3 {args.sent} B upload, 1/3 drip), timeout {args.timeout}s"
    )
    for key in rounds[0]:
        values = [r.get(key, 0.0) for r in rounds]
        print(f"  {key:28} median {statistics.median(values):10.3f}  min {min(values):10.3f}  max {max(values):10.3f}")


if __name__ == "__main__":
    main()
