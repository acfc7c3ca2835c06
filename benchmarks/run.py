"""eventkit benchmarks: every figure is a ratio to a reference measured in the same run.

    .venv/bin/python benchmarks/run.py            # all cases, 7 rounds each
    .venv/bin/python benchmarks/run.py --quick    # 1 short round each: proves the scripts work (CI)
    .venv/bin/python benchmarks/run.py stream_sync ami_decode   # some cases

The client is pinned to core 0 and the loopback reference server to core 1
(when the machine has two). Each case prints median, min and max of the rounds
and the ratio of medians to its reference; `target` is the goal from the
performance issue, checked here and reported, never asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@attrs.define
class Figure:
    name: str
    rates: list[float]
    unit: str = "ops/s"

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


@attrs.define
class Outcome:
    case: str
    subject: Figure
    reference: Figure | None
    target: str
    ratio_goal: float | None = None
    absolute_goal: float | None = None
    lower_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.reference is None or not self.reference.median:
            return None
        return self.subject.median / self.reference.median

    @property
    def met(self) -> bool | None:
        if self.ratio_goal is not None and self.ratio is not None:
            return self.ratio >= self.ratio_goal
        if self.absolute_goal is not None:
            if self.lower_is_better:
                return self.subject.median <= self.absolute_goal
            return self.subject.median >= self.absolute_goal
        return None


def rounds(fn: Callable[[], float], n: int) -> list[float]:
    out = []
    for _ in range(n):
        gc.collect()
        out.append(fn())
    return out


def timed(count: int, fn: Callable[[], Any]) -> float:
    """Operations per second of ``count`` sequential calls."""
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return count / (time.perf_counter() - started)


async def timed_concurrent(count: int, width: int, fn: Callable[[], Any]) -> float:
    per_worker = max(1, count // width)

    async def worker() -> None:
        for _ in range(per_worker):
            await fn()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return per_worker * width / (time.perf_counter() - started)


class Loopback:
    """The reference HTTP server in its own process, on the other core."""

    def __init__(self) -> None:
        from eventkit.testing import free_port

        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "_loopback.py"), str(self.port)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready"
        self.url = f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(5)


# Settings that point each HTTP provider at the loopback server.


def _rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


HTTP_CASES: dict[str, dict[str, Any]] = {
    "stream": {
        "settings": lambda url: {"api_key": "bench-key", "api_secret": "bench-secret-0123456789", "base_url": url},
        "to": "channel:messaging:general",
        "sender": "bench-bot",
        "data": {"text": "Hey there, long time no see!"},
    },
    "signalwire": {
        "settings": lambda url: {"project_id": "bench-project", "api_token": "PTbench0123456789", "base_url": url},
        "to": "call:0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10",
        "sender": None,
        "data": {"text": "Hey there"},
    },
    "vonage": {
        "settings": lambda url: {
            "application_id": "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
            "private_key": _rsa_pem(),
            "base_url": url,
        },
        "to": "conversation:CON-6b4a3f1e-2c7d-4e8f-9a0b-1c2d3e4f5a6b",
        "sender": None,
        "data": {"text": "Hey there"},
    },
}


def _installed(provider: str) -> bool:
    from eventkit import _registry

    try:
        _registry.load(provider)
    except Exception:
        return False
    return True


def case_http_sync(provider: str, loopback: Loopback, n_rounds: int, count: int, goal: float) -> Outcome | str:
    import httpx

    import eventkit

    if not _installed(provider):
        return f"{provider} provider not installed"
    spec = HTTP_CASES[provider]
    kit = eventkit.connect(provider, **spec["settings"](loopback.url), environ={})
    event = kit.make_event("friendship_request", spec["data"], to=spec["to"], sender=spec["sender"])
    request = kit.codec.encode(event, kit.prepare(event))  # type: ignore[attr-defined]
    raw = httpx.Client()

    def raw_send() -> None:
        r = raw.request(request.method, request.url, headers=request.headers, content=request.content)
        r.read()

    def ours() -> None:
        kit.send("friendship_request", spec["data"], to=spec["to"], sender=spec["sender"])

    raw_send(), ours()
    subject = Figure(f"eventkit {provider} sync send", rounds(lambda: timed(count, ours), n_rounds))
    reference = Figure("raw httpx.Client, same request", rounds(lambda: timed(count, raw_send), n_rounds))
    kit.close()
    raw.close()
    return Outcome(f"{provider}_sync", subject, reference, f">= {goal}x raw httpx.Client", ratio_goal=goal)


def case_stream_async(loopback: Loopback, n_rounds: int, count: int) -> Outcome | str:
    import aiohttp

    import eventkit

    if not _installed("stream"):
        return "stream provider not installed"
    spec = HTTP_CASES["stream"]
    width = 50

    async def measure() -> tuple[list[float], list[float]]:
        async with eventkit.connect_async(
            "stream", **spec["settings"](loopback.url), concurrency=width, environ={}
        ) as kit:
            event = kit.make_event("friendship_request", spec["data"], to=spec["to"], sender=spec["sender"])
            request = kit.codec.encode(event, kit.prepare(event))  # type: ignore[attr-defined]

            async def ours_batch() -> float:
                events = [
                    eventkit.Event("friendship_request", spec["data"], target=spec["to"], sender=spec["sender"])
                    for _ in range(count)
                ]
                started = time.perf_counter()
                results = await kit.send_many(events, concurrency=width)
                elapsed = time.perf_counter() - started
                assert all(r.ok for r in results), results[0].error
                return count / elapsed

            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=width)) as session:

                async def raw_one() -> None:
                    async with session.request(
                        request.method, request.url, data=request.content, headers=dict(request.headers)
                    ) as r:
                        await r.read()

                await timed_concurrent(width * 4, width, raw_one)
                await ours_batch()
                ours_rates, raw_rates = [], []
                for _ in range(n_rounds):
                    gc.collect()
                    ours_rates.append(await ours_batch())
                    gc.collect()
                    raw_rates.append(await timed_concurrent(count, width, raw_one))
        return ours_rates, raw_rates

    ours_rates, raw_rates = asyncio.run(measure())
    return Outcome(
        "stream_async_50",
        Figure("eventkit stream send_many, 50 in flight", ours_rates),
        Figure("raw aiohttp, 50 in flight, same request", raw_rates),
        ">= 0.8x raw aiohttp",
        ratio_goal=0.8,
    )


def _import_ms() -> float:
    """Cumulative import time of eventkit as ``-X importtime`` reports it, in ms."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import eventkit"], capture_output=True, text=True, check=True
    )
    last = [line for line in out.stderr.splitlines() if line.rstrip().endswith("| eventkit")][-1]
    return int(last.split("|")[1]) / 1000


def _wall_ms(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False)
    return (time.perf_counter() - started) * 1000


def case_import(n_rounds: int) -> Outcome:
    subject = Figure("import eventkit (-X importtime, cumulative)", [_import_ms() for _ in range(n_rounds)], "ms")
    reference = Figure("import httpx (same measure)", [_httpx_import_ms() for _ in range(n_rounds)], "ms")
    return Outcome("import_ms", subject, reference, "<= 150 ms", absolute_goal=150, lower_is_better=True)


def _httpx_import_ms() -> float:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import httpx"], capture_output=True, text=True, check=True
    )
    last = [line for line in out.stderr.splitlines() if line.rstrip().endswith("| httpx")][-1]
    return int(last.split("|")[1]) / 1000


def case_cli_providers(n_rounds: int) -> Outcome:
    exe = str(Path(sys.executable).parent / "eventkit")
    subject = Figure("eventkit providers (process wall)", [_wall_ms([exe, "providers"]) for _ in range(n_rounds)], "ms")
    reference = Figure(
        "python -c pass (process wall)", [_wall_ms([sys.executable, "-c", "pass"]) for _ in range(n_rounds)], "ms"
    )
    return Outcome("cli_providers_ms", subject, reference, "<= 300 ms", absolute_goal=300, lower_is_better=True)


def case_engines(loopback: Loopback, n_rounds: int, count: int) -> list[Outcome] | str:
    """Stream through each HTTP engine: the choice behind the sync and async defaults."""
    import eventkit

    if not _installed("stream"):
        return "stream provider not installed"
    spec = HTTP_CASES["stream"]

    def sync_rate(engine: str) -> list[float]:
        with eventkit.connect("stream", **spec["settings"](loopback.url), http_engine=engine, environ={}) as kit:
            send = lambda: kit.send("friendship_request", spec["data"], to=spec["to"], sender=spec["sender"])  # noqa: E731
            send()
            return rounds(lambda: timed(count, send), n_rounds)

    async def async_rate(engine: str) -> list[float]:
        async with eventkit.connect_async(
            "stream", **spec["settings"](loopback.url), http_engine=engine, concurrency=50, environ={}
        ) as kit:
            rates = []
            for _ in range(n_rounds + 1):
                events = [
                    eventkit.Event("friendship_request", spec["data"], target=spec["to"], sender=spec["sender"])
                    for _ in range(count)
                ]
                started = time.perf_counter()
                await kit.send_many(events, concurrency=50)
                rates.append(count / (time.perf_counter() - started))
            return rates[1:]

    return [
        Outcome(
            "engine_sync",
            Figure("stream sync, stdlib http.client engine (default)", sync_rate("stdlib")),
            Figure("stream sync, httpx engine", sync_rate("httpx")),
            "(the sync default's reason)",
        ),
        Outcome(
            "engine_async_50",
            Figure("stream async 50 in flight, aiohttp engine (default)", asyncio.run(async_rate("aiohttp"))),
            Figure("stream async 50 in flight, httpx engine", asyncio.run(async_rate("httpx"))),
            "(the async default's reason)",
        ),
    ]


# AMI


AMI_FRAME = (
    b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: Local/emit@events-00000000;2\r\nChannelState: 6\r\n"
    b"ChannelStateDesc: Up\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\n"
    b"ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: events\r\nExten: emit\r\n"
    b"Priority: 2\r\nUniqueid: 1795553055.1\r\nLinkedid: 1795553055.0\r\nUserEvent: OrderReady\r\n"
    b"OrderId: ORD-1\r\nAmount: 49.99\r\nNote: a:b c\r\n\r\n"
)
"""The dialplan ``UserEvent`` captured from a running Asterisk (vendor note, appendix): 20 headers."""


def _split_parser(chunks: list[bytes]) -> int:
    """The reference: a 20-line split parser that only builds dicts."""
    buf, count = b"", 0
    for chunk in chunks:
        buf += chunk
        *blocks, buf = buf.split(b"\r\n\r\n")
        for block in blocks:
            headers = {}
            for line in block.decode().split("\r\n"):
                key, _, value = line.partition(": ")
                headers[key] = value
            count += headers.get("Event") == "UserEvent"
    return count


def case_ami_decode(n_rounds: int, frames: int) -> Outcome | str:
    if not _installed("asterisk"):
        return "asterisk provider not installed"
    from eventkit_asterisk._codec_ami import decode_user_event
    from eventkit_asterisk._frames import AmiParser

    data = AMI_FRAME * frames
    chunks = [data[i : i + 65536] for i in range(0, len(data), 65536)]

    def ours() -> float:
        parser = AmiParser()
        started = time.perf_counter()
        count = 0
        for chunk in chunks:
            for frame in parser.feed(chunk):
                if decode_user_event(frame) is not None:  # type: ignore[arg-type]
                    count += 1
        assert count == frames
        return count / (time.perf_counter() - started)

    def reference() -> float:
        started = time.perf_counter()
        assert _split_parser(chunks) == frames
        return frames / (time.perf_counter() - started)

    return Outcome(
        "ami_decode",
        Figure("AMI UserEvent frames parsed and decoded to Events", rounds(ours, n_rounds), "events/s"),
        Figure("20-line split parser (dicts only)", rounds(reference, n_rounds), "events/s"),
        ">= 150k events/s",
        absolute_goal=150_000,
    )


def _start_process(script: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    """A benchmark server script on a free port, once it says it is ready."""
    from eventkit.testing import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, str(HERE / script), *args, str(port)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server, port


def case_ami_pipelined(n_rounds: int, count: int) -> Outcome | str:
    if not _installed("asterisk"):
        return "asterisk provider not installed"
    import eventkit

    server, port = _start_process("_ami_server.py")

    async def measure() -> list[float]:
        settings = {"host": "127.0.0.1", "port": port, "username": "bench", "secret": "bench-secret"}
        async with eventkit.connect_async("asterisk", concurrency=256, **settings, environ={}) as kit:
            await kit.send("Warmup", {"n": "0"}, to="ami")
            rates = []
            for _ in range(n_rounds):
                events = [
                    eventkit.Event("OrderReady", {"OrderId": str(i), "Note": "a:b c"}, target="ami")
                    for i in range(count)
                ]
                started = time.perf_counter()
                results = await kit.send_many(events, concurrency=256)
                rates.append(count / (time.perf_counter() - started))
                assert all(r.ok for r in results), next(r.error for r in results if not r.ok)
            return rates

    try:
        rates = asyncio.run(measure())
    finally:
        server.terminate()
        server.wait(5)
    return Outcome(
        "ami_pipelined",
        Figure("UserEvent actions, 256 in flight on one AMI connection (emulator, own process)", rates, "actions/s"),
        None,
        ">= 20k actions/s",
        absolute_goal=20_000,
    )


# Webhooks


def case_webhook(n_rounds: int, count: int) -> Outcome | str:
    if not _installed("stream"):
        return "stream provider not installed"
    import hashlib
    import hmac

    import aiohttp

    secret = "bench-secret-0123456789"

    def signed_body(n: int) -> tuple[bytes, str]:
        body = json.dumps(
            {
                "type": "friendship_request",
                "text": f"hi #{n}",
                "cid": "messaging:general",
                "channel_type": "messaging",
                "channel_id": "general",
                "user": {"id": "tommaso"},
                "created_at": "2024-01-01T00:00:00.000000Z",
            }
        ).encode()
        return body, hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()

    # Bodies are signed before timing: the load generator measures the server, not itself.
    prepared = [signed_body(n) for n in range(count * n_rounds + 1)]

    def measure(kind: str, path: str) -> list[float]:
        server, port = _start_process("_webhook_server.py", kind)
        url = f"http://127.0.0.1:{port}{path}"
        counter = iter(range(10**9))

        async def run() -> float:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as session:
                for _ in range(100):  # uvicorn prints "ready" before it listens
                    try:
                        async with session.get(url) as r:
                            await r.read()
                        break
                    except aiohttp.ClientConnectionError:
                        await asyncio.sleep(0.05)

                async def one() -> None:
                    n = next(counter)
                    body, signature = prepared[n % len(prepared)]
                    headers = {
                        "content-type": "application/json",
                        "x-signature": signature,
                        "x-webhook-id": f"wh-{n}",
                        "x-api-key": "bench-key",
                    }
                    async with session.post(url, data=body, headers=headers) as r:
                        await r.read()
                        assert r.status == 200, r.status

                return await timed_concurrent(count, 50, one)

        try:
            return [asyncio.run(run()) for _ in range(n_rounds)]
        finally:
            server.terminate()
            server.wait(5)

    ours = measure("stream", "/webhooks/stream")
    reference = measure("bare", "/")
    return Outcome(
        "webhook_stream",
        Figure("signed Stream webhooks verified, deduped, decoded (uvicorn, own process)", ours, "req/s"),
        Figure("bare ASGI app answering 200 (uvicorn, own process)", reference, "req/s"),
        ">= 0.5x bare ASGI",
        ratio_goal=0.5,
    )


def eventkit_secret(value: str) -> Any:
    from eventkit import Secret

    return Secret(value)


# Memory


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _rss_outcome(case: str, what: str, checkpoints: list[int]) -> Outcome:
    """Growth from the first checkpoint (after 10% of the events, past warm-up) to the peak."""
    base = checkpoints[0]
    growth = max(checkpoints) / base - 1
    return Outcome(
        case,
        Figure(what, [growth * 100], "%"),
        None,
        "<= 10% growth",
        absolute_goal=10,
        lower_is_better=True,
        note=f"RSS {base // 1024} MiB after 10%, {max(checkpoints) // 1024} MiB peak",
    )


def case_memory_rss(total: int) -> Outcome:
    import eventkit

    checkpoints: list[int] = []

    async def run() -> None:
        async with eventkit.connect_async("memory", namespace="bench-rss", environ={}) as kit:
            ready = asyncio.Event()
            received = 0
            done = asyncio.Event()

            async def listen() -> None:
                nonlocal received
                async for _event in kit.listen(on_ready=lambda _: ready.set()):
                    received += 1
                    if received % (total // 10) == 0:
                        checkpoints.append(_rss_kib())
                    if received >= total:
                        done.set()
                        return

            task = asyncio.ensure_future(listen())
            await ready.wait()
            event = eventkit.Event("tick", {"n": 1, "text": "memory benchmark"}, target="topic:rss")
            sender = kit._get_sender()
            target = kit.prepare(event)
            for i in range(total):
                await sender.send(event, target)
                if i % 1000 == 0:
                    await asyncio.sleep(0)
            await done.wait()
            await task

    asyncio.run(run())
    return _rss_outcome("memory_rss", f"listener RSS growth over {total:,} events (memory provider)", checkpoints)


def case_ami_rss(total: int) -> Outcome | str:
    """A listener's RSS while ``total`` UserEvents arrive from the AMI emulator (own process)."""
    if not _installed("asterisk"):
        return "asterisk provider not installed"
    import eventkit

    server, port = _start_process("_ami_server.py")
    settings = {"host": "127.0.0.1", "port": port, "username": "bench", "secret": "bench-secret"}
    checkpoints: list[int] = []

    async def run() -> None:
        async with (
            eventkit.connect_async("asterisk", **settings, environ={}) as listener,
            eventkit.connect_async("asterisk", concurrency=256, **settings, environ={}) as sender,
        ):
            ready = asyncio.Event()
            received = 0
            done = asyncio.Event()

            async def listen() -> None:
                nonlocal received
                async for _event in listener.listen({"Tick"}, via="tcp", on_ready=lambda _: ready.set()):
                    received += 1
                    if received % (total // 10) == 0:
                        checkpoints.append(_rss_kib())
                    if received >= total:
                        done.set()
                        return

            task = asyncio.ensure_future(listen())
            await ready.wait()
            batch = 5000
            for start in range(0, total, batch):
                events = [
                    eventkit.Event("Tick", {"n": str(i), "note": "rss"}, target="ami")
                    for i in range(start, start + batch)
                ]
                results = await sender.send_many(events, concurrency=256)
                assert all(r.ok for r in results)
            await asyncio.wait_for(done.wait(), 120)
            await task

    try:
        asyncio.run(run())
    finally:
        server.terminate()
        server.wait(5)
    return _rss_outcome(
        "ami_rss", f"AMI listener RSS growth over {total:,} events (emulator, own process)", checkpoints
    )


def report(outcomes: list[Outcome], skipped: dict[str, str], as_json: bool) -> None:
    if as_json:
        print(
            json.dumps(
                [
                    {
                        "case": o.case,
                        "subject": o.subject.name,
                        "median": o.subject.median,
                        "min": min(o.subject.rates),
                        "max": max(o.subject.rates),
                        "reference": o.reference.name if o.reference else None,
                        "reference_median": o.reference.median if o.reference else None,
                        "ratio": o.ratio,
                        "target": o.target,
                        "met": o.met,
                        "note": o.note,
                    }
                    for o in outcomes
                ],
                indent=2,
            )
        )
        return
    print(
        f"{'case':<18} {'median':>10} {'min':>10} {'max':>10} {'unit':>6} {'ref median':>11} {'ratio':>7}  target / met"
    )
    for o in outcomes:
        ref = f"{o.reference.median:11.0f}" if o.reference else " " * 11
        ratio = f"{o.ratio:7.3f}" if o.ratio is not None else " " * 7
        met = {True: "met", False: "NOT MET", None: "-"}[o.met]
        fmt = "10.1f" if o.subject.unit == "%" else "10.0f"
        print(
            f"{o.case:<18} {o.subject.median:{fmt}} {min(o.subject.rates):{fmt}} {max(o.subject.rates):{fmt}} {o.subject.unit:>6} {ref} {ratio}  {o.target} / {met}"
            + (f"  ({o.note})" if o.note else "")
        )
    for case, why in skipped.items():
        print(f"{case:<18} skipped: {why}")


CASES = [
    "stream_sync",
    "signalwire_sync",
    "vonage_sync",
    "stream_async_50",
    "engines",
    "ami_decode",
    "ami_pipelined",
    "webhook",
    "memory_rss",
    "ami_rss",
    "import",
    "cli_providers",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help=f"cases to run (default: all): {', '.join(CASES)}")
    parser.add_argument("--quick", action="store_true", help="one short round per case (CI: the scripts work)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    n_rounds = 1 if args.quick else args.rounds
    http_count = 50 if args.quick else 2000
    selected = args.cases or CASES
    outcomes: list[Outcome] = []
    skipped: dict[str, str] = {}
    loopback = Loopback() if any(c.endswith(("_sync", "_50")) or c == "engines" for c in selected) else None
    try:
        for case in selected:
            result: Outcome | str
            if case in ("stream_sync", "signalwire_sync"):
                assert loopback is not None
                result = case_http_sync(case.split("_")[0], loopback, n_rounds, http_count, 1.0)
            elif case == "vonage_sync":
                assert loopback is not None
                result = case_http_sync("vonage", loopback, n_rounds, http_count, 0.8)
            elif case == "stream_async_50":
                assert loopback is not None
                result = case_stream_async(loopback, n_rounds, 500 if args.quick else 5000)
            elif case == "engines":
                assert loopback is not None
                engines = case_engines(loopback, n_rounds, 100 if args.quick else 1000)
                if isinstance(engines, str):
                    skipped[case] = engines
                else:
                    outcomes.extend(engines)
                continue
            elif case == "ami_decode":
                result = case_ami_decode(n_rounds, 2_000 if args.quick else 50_000)
            elif case == "ami_pipelined":
                result = case_ami_pipelined(n_rounds, 500 if args.quick else 20_000)
            elif case == "webhook":
                result = case_webhook(n_rounds, 200 if args.quick else 5_000)
            elif case == "memory_rss":
                result = case_memory_rss(20_000 if args.quick else 1_000_000)
            elif case == "ami_rss":
                result = case_ami_rss(10_000 if args.quick else 200_000)
            elif case == "import":
                result = case_import(3 if args.quick else 11)
            elif case == "cli_providers":
                result = case_cli_providers(3 if args.quick else 11)
            else:
                parser.error(f"unknown case {case!r}")
            if isinstance(result, str):
                skipped[case] = result
            else:
                outcomes.append(result)
    finally:
        if loopback is not None:
            loopback.close()
    if args.quick and not args.json:
        print("quick mode: one short round per case; it proves the scripts run, its figures judge nothing\n")
    report(outcomes, skipped, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
