"""Durable delivery figures: webhook ingest per store, consume, and the outbox against a direct send.

    .venv/bin/python benchmarks/delivery.py            # 5 interleaved rounds
    .venv/bin/python benchmarks/delivery.py --quick    # 1 short round: proves the script works (CI)
    .venv/bin/python benchmarks/delivery.py --only outbox   # just the outbox part (or --only ingest)

Ingest: receiver processes (``_delivery_server.py``, uvicorn, one per core) take signed Stream
webhooks from ``wrk`` (an external load generator: ``apt-get install wrk``; without it the
ingest cases say so and are skipped), each call with its own ``X-Webhook-Id`` so none is a
duplicate. Counted: 2xx answers per second (a 2xx means the event is in the store). One and two
receiver processes, for ``memory://``, ``sqlite://`` (``synchronous=full`` and ``normal``) and
``redis://`` (127.0.0.1:6379/15, when reachable). Consume: the events one ingest round stored,
read and acknowledged by one consumer group, per second. Outbox: ``send_many`` of Stream events
to a loopback server, directly and through ``outbox=True`` (until ``drain``) on SQLite
(``synchronous=full`` and ``normal``) and Redis (when reachable), events/s, both sides connected
with ``concurrency=50``: one target (the outbox keeps order per target, so against direct sends
one at a time) and fifty targets (against fifty direct sends in flight).

Each case's rounds alternate with the others' (interleaved), and every figure is printed with
its min, median and max; ratios are of medians within this run.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _delivery_server import SECRET  # noqa: E402

REDIS = "redis://127.0.0.1:6379/15"

# Stream refuses a signed body seen before under another delivery id (replay), so every call
# carries its own body and signature, signed here ahead of time (wrk's Lua has no HMAC).
WRK_SCRIPT = """
local calls = {}
local index = 0
function init(args)
  for line in io.lines(args[1]) do
    local id, sig, body = line:match("([^\\t]+)\\t([^\\t]+)\\t(.*)")
    calls[#calls + 1] = {id, sig, body}
  end
end
function request()
  index = index % #calls + 1
  local call = calls[index]
  local headers = {["Content-Type"] = "application/json", ["X-Webhook-Id"] = call[1], ["X-Signature"] = call[2]}
  return wrk.format("POST", "/webhooks/stream", headers, call[3])
end
"""


def signed_calls(path: Path, prefix: str, count: int) -> None:
    """``count`` distinct signed Stream webhook calls, one per line: id, signature, body."""
    with path.open("w") as out:
        for n in range(count):
            body = json.dumps({"type": "order_ready", "n": n, "run": prefix, "cid": "messaging:general"})
            signature = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).hexdigest()
            out.write(f"{prefix}-{n}\t{signature}\t{body}\n")


def free_port() -> int:
    from eventkit.testing import free_port as pick

    return pick()


def redis_reachable() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS, socket_timeout=1).ping()
        return True
    except Exception:
        return False


def start_receivers(store: str, count: int) -> tuple[list[subprocess.Popen[str]], list[int]]:
    procs, ports = [], []
    for index in range(count):
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "_delivery_server.py"), store, str(port), str(index + 1)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        procs.append(proc)
        ports.append(port)
    deadline = time.monotonic() + 10
    for port in ports:  # uvicorn binds after "ready": wait for the socket
        while not _listening(port):
            if time.monotonic() > deadline:
                raise RuntimeError("a receiver did not start")
            time.sleep(0.05)
    return procs, ports


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def stop(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def wrk(ports: list[int], seconds: float, script: Path, calls: int) -> tuple[float, int]:
    """2xx answers per second across the receivers, and how many non-2xx there were."""
    runs = []
    for port in ports:
        path = script.parent / f"calls-{uuid.uuid4().hex}.tsv"
        signed_calls(path, uuid.uuid4().hex[:10], calls)
        runs.append(
            subprocess.Popen(
                [
                    "wrk",
                    "-t1",
                    "-c16",
                    f"-d{max(1, round(seconds))}s",
                    "-s",
                    str(script),
                    f"http://127.0.0.1:{port}",
                    "--",
                    str(path),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    total_ok = 0.0
    bad = 0
    for run in runs:
        out, _ = run.communicate(timeout=seconds + 30)
        rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        failed = int(non2xx.group(1)) if non2xx else 0
        bad += failed
        total_ok += rate * (requests - failed) / max(requests, 1)
    return total_ok, bad


async def consume(store_url: str) -> float:
    from eventkit._store import open_store

    store = open_store(store_url)
    await store.open()
    try:
        started = time.perf_counter()
        count = 0
        while True:
            got = await store.read("bench", "c", count=200, timeout=0)
            if not got:
                break
            await store.ack("bench", [d.id for d in got])
            count += len(got)
        return count / (time.perf_counter() - started) if count else 0.0
    finally:
        await store.aclose()


def store_url(kind: str, tmp: Path, tag: str) -> str:
    if kind == "memory":
        return "memory://?max_events=2000000&max_bytes=2GiB"
    if kind.startswith("sqlite"):
        sync = kind.split("-", 1)[1]
        return f"sqlite:///{tmp / f'{tag}.db'}?synchronous={sync}&max_events=2000000&max_bytes=2GiB"
    return f"{REDIS}?prefix=bench-{tag}&max_events=2000000&max_bytes=2GiB"


async def clean_redis(url: str) -> None:
    import redis.asyncio as redis_asyncio

    prefix = url.split("prefix=", 1)[1].split("&", 1)[0]
    client = redis_asyncio.Redis.from_url(REDIS)
    try:
        async for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            await client.delete(key)
    finally:
        await client.aclose()


OUTBOX_CASES = {
    # name: (targets, events in flight on the direct side). The outbox keeps order per target, so
    # one target is compared with ordered direct sends (one at a time), and fifty targets with fifty
    # direct sends in flight. Both sides connect with concurrency=OUTBOX_CONCURRENCY: the drainer
    # runs that many targets at once, as send_many runs that many events.
    "1 target, in order": (1, 1),
    "50 targets, 50 in flight": (50, 50),
}
OUTBOX_CONCURRENCY = 50


def outbox_stores(redis: bool) -> list[str]:
    """The stores the outbox is measured on: SQLite with both sync modes, and Redis when reachable."""
    return ["sqlite-full", "sqlite-normal"] + (["redis"] if redis else [])


def outbox_case(rounds: int, events: int, kinds: list[str]) -> dict[str, dict[str, list[float]]]:
    import eventkit

    loop_port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(HERE / "_loopback.py"), str(loop_port)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    server.stdout.readline()
    settings = {
        "api_key": "k",
        "api_secret": "s",
        "base_url": f"http://127.0.0.1:{loop_port}",
        "environ": {},
        "concurrency": OUTBOX_CONCURRENCY,
    }
    sides = ["direct"] + [f"outbox ({kind})" for kind in kinds]
    rates: dict[str, dict[str, list[float]]] = {case: {side: [] for side in sides} for case in OUTBOX_CASES}
    tmp = Path(tempfile.mkdtemp(prefix="eventkit-outbox-bench-"))

    async def once(kind: str | None, targets: int, concurrency: int) -> float:
        extra: dict[str, Any] = {}
        url = ""
        if kind is not None:
            url = store_url(kind, tmp, uuid.uuid4().hex[:12])
            extra = {"store": url, "outbox": True}
        try:
            async with eventkit.connect_async("stream", **settings, **extra) as kit:
                started = time.perf_counter()
                evs = [
                    {
                        "name": "order_ready",
                        "data": {"n": i},
                        "target": f"channel:messaging:c{i % targets}",
                        "sender": "bot",
                    }
                    for i in range(events)
                ]
                results = await kit.send_many(evs, concurrency=concurrency)
                if kind is not None:
                    left = await kit.drain(120)
                    assert left == 0, f"{left} left in the outbox"
                assert all(r.error is None for r in results)
                return events / (time.perf_counter() - started)
        finally:
            if kind == "redis":
                await clean_redis(url)

    try:
        for _ in range(rounds):
            for case, (targets, concurrency) in OUTBOX_CASES.items():
                for side, kind in zip(sides, [None, *kinds], strict=True):
                    # A round that stalls fails loudly instead of hanging the whole run.
                    rates[case][side].append(asyncio.run(asyncio.wait_for(once(kind, targets, concurrency), 600)))
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return rates


def figure(rates: list[float]) -> str:
    if not rates:
        return "-"
    return f"{statistics.median(rates):>9,.0f}  (min {min(rates):,.0f}, max {max(rates):,.0f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per round")
    parser.add_argument("--events", type=int, default=2000, help="events per outbox round")
    parser.add_argument("--quick", action="store_true", help="1 short round (figures judge nothing)")
    parser.add_argument(
        "--only", choices=["ingest", "outbox"], help="run one part: webhook ingest and consume, or the outbox"
    )
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.seconds, args.events = 1, 1.0, 200
    have_redis = redis_reachable()
    kinds = ["memory", "sqlite-full", "sqlite-normal"] + (["redis"] if have_redis else [])
    ingest: dict[str, list[float]] = {}
    consumed: dict[str, list[float]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="eventkit-delivery-bench-"))
    have_wrk = shutil.which("wrk") is not None
    outbox: dict[str, dict[str, list[float]]] = {}
    script = tmp / "post.lua"
    script.write_text(WRK_SCRIPT)
    calls = int(args.seconds * 8000)  # more than a receiver takes in the run: none repeats
    try:
        if have_wrk and args.only != "outbox":
            for _ in range(args.rounds):
                for kind in kinds:
                    for receivers in (1, 2):
                        if kind == "memory" and receivers == 2:
                            continue  # two processes cannot share an in-memory store
                        tag = uuid.uuid4().hex[:12]
                        url = store_url(kind, tmp, tag)
                        procs, ports = start_receivers(url, receivers)
                        try:
                            rate, bad = wrk(ports, args.seconds, script, calls)
                        finally:
                            stop(procs)
                        name = f"{kind}, {receivers} receiver{'s' if receivers > 1 else ''}"
                        ingest.setdefault(name, []).append(rate)
                        if bad:
                            print(f"  note: {name}: {bad} non-2xx answers (not counted)", file=sys.stderr)
                        if kind != "memory" and receivers == 1:
                            consumed.setdefault(kind, []).append(asyncio.run(consume(url)))
                        if kind == "redis":
                            asyncio.run(clean_redis(url))
        if args.only != "ingest":
            outbox = outbox_case(args.rounds, args.events, outbox_stores(have_redis))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\nrounds: {args.rounds}, wrk {args.seconds:g}s per round, cores: {os.cpu_count()}")
    if args.only == "outbox":
        pass
    elif not have_wrk:
        print("ingest: skipped (wrk is not installed: apt-get install wrk)")
    else:
        base = statistics.median(ingest["memory, 1 receiver"])
        print("\nwebhook ingest (2xx/s, the event stored before the answer)")
        for name, rates in ingest.items():
            print(f"  {name:<28} {figure(rates)}   {statistics.median(rates) / base:.2f}x memory")
        print("\nconsume (events/s read and acknowledged by one group)")
        for name, rates in consumed.items():
            print(f"  {name:<28} {figure(rates)}")
    if outbox:
        print(f"\nsend_many of {args.events} Stream events, then drain (events/s; concurrency={OUTBOX_CONCURRENCY})")
    for case, pair in outbox.items():
        direct = statistics.median(pair["direct"])
        for name, rates in pair.items():
            label = f"{case}: {name}"
            print(f"  {label:<42} {figure(rates)}   {statistics.median(rates) / direct:.2f}x direct")
    if args.quick:
        print("\n(--quick: one short round; the figures judge nothing)")


if __name__ == "__main__":
    main()
