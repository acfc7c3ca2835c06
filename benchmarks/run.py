"""eventkit benchmarks: every figure is a ratio to a reference measured in the same run.

    .venv/bin/python benchmarks/run.py            # all cases, 7 interleaved rounds each
    .venv/bin/python benchmarks/run.py --quick    # short rounds: proves every case runs (CI)
    .venv/bin/python benchmarks/run.py stream_sync ami_decode   # some cases

How the figures are made honest:

* interleaved rounds: in every round the subject and its references each run once,
  in an order that rotates from round to round, so a noisy neighbour on this
  shared machine slows both sides rather than one;
* every figure is reported as median, min and max of its rounds; the ratio is
  the ratio of medians, with the range of per-round ratios beside it;
* the subject builds its Event inside the timing (``kit.send(name, data, ...)``),
  and raw references do what a user of that library does for the same result:
  serialise the body, send it, read the reply and parse its JSON;
* the client is pinned to core 0 and every server (loopback reference HTTP
  server, AMI emulator, uvicorn) runs in its own process on core 1;
* the webhook receiver is driven by an external load generator, ``wrk`` (Debian:
  ``apt-get install wrk``), itself pinned to core 0; without wrk that case says
  so and is skipped;
* ``panoramisk`` is the AMI decode reference when installed
  (``pip install panoramisk``; a benchmark reference, not a dependency).

``target`` is the goal from the performance issue, checked and reported here,
never asserted in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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
    def round_ratios(self) -> list[float]:
        """Subject over reference within each round (same length when interleaved)."""
        if self.reference is None or len(self.reference.rates) != len(self.subject.rates):
            return []
        return [s / r for s, r in zip(self.subject.rates, self.reference.rates, strict=True) if r]

    @property
    def met(self) -> bool | None:
        if self.ratio_goal is not None and self.ratio is not None:
            return self.ratio <= self.ratio_goal if self.lower_is_better else self.ratio >= self.ratio_goal
        if self.absolute_goal is not None:
            if self.lower_is_better:
                return self.subject.median <= self.absolute_goal
            return self.subject.median >= self.absolute_goal
        return None


def interleaved(n_rounds: int, sides: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Each side once per round, the order rotating from round to round."""
    names = list(sides)
    out: dict[str, list[float]] = {name: [] for name in names}
    for index in range(n_rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            out[name].append(sides[name]())
    return out


async def ainterleaved(n_rounds: int, sides: dict[str, Callable[[], Awaitable[float]]]) -> dict[str, list[float]]:
    names = list(sides)
    out: dict[str, list[float]] = {name: [] for name in names}
    for index in range(n_rounds):
        shift = index % len(names)
        for name in names[shift:] + names[:shift]:
            gc.collect()
            out[name].append(await sides[name]())
    return out


def timed(count: int, fn: Callable[[], Any]) -> float:
    """Operations per second of ``count`` sequential calls."""
    started = time.perf_counter()
    for _ in range(count):
        fn()
    return count / (time.perf_counter() - started)


async def timed_concurrent(count: int, width: int, fn: Callable[[], Awaitable[Any]]) -> float:
    """Operations per second of ``count`` calls, ``width`` workers awaiting them side by side."""
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


# Payloads and providers


SIZES = {"100B": 100, "1KiB": 1024, "4KiB": 4096}


def payload(size: int) -> dict[str, Any]:
    """Event data whose compact JSON is about ``size`` bytes: text fields and one nested object."""
    data: dict[str, Any] = {"text": "Hey there, long time no see!", "meta": {"n": 1, "tags": ["a", "b"], "ok": True}}
    index = 0
    while len(json.dumps(data, separators=(",", ":"))) < size - 40:
        data[f"field_{index}"] = "x" * 30
        index += 1
    return data


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


class RawRequest:
    """What a raw client user writes by hand: the URL and headers, and the body built per send.

    Taken from eventkit's own encoding of one event so both sides send the same
    bytes to the same URL; ``body()`` rebuilds the dict and serialises it each
    time, as a user of the raw library would.
    """

    def __init__(self, kit: Any, provider: str, data: dict[str, Any]) -> None:
        spec = HTTP_CASES[provider]
        event = kit.make_event("friendship_request", data, to=spec["to"], sender=spec["sender"])
        request = kit.codec.encode(event, kit.prepare(event))
        self.method: str = request.method
        self.url: str = request.url
        self.headers: dict[str, str] = dict(request.headers)
        parts = urlsplit(self.url)
        self.path = parts.path + (f"?{parts.query}" if parts.query else "")
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        wire = json.loads(request.content)
        self._build = _body_builder(provider, wire, data)
        assert self.body() == request.content, "the raw body must be the bytes eventkit sends"

    def body(self) -> bytes:
        return json.dumps(self._build(), ensure_ascii=False, separators=(",", ":")).encode()


def _body_builder(provider: str, wire: dict[str, Any], data: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    if provider == "stream":
        sender = wire["event"]["user"]["id"]
        return lambda: {"event": {"type": "friendship_request", **data, "user": {"id": sender}}}
    if provider == "signalwire":
        event = wire["params"]["event"]
        name_key = next(iter(event)) if event and next(iter(event)) not in data else None
        head = {k: v for k, v in wire.items() if k != "params"}
        if name_key:
            return lambda: {**head, "params": {"event": {name_key: event[name_key], **data}}}
        return lambda: {**head, "params": {"event": dict(data)}}
    head = {k: v for k, v in wire.items() if k != "body"}
    return lambda: {**head, "body": data}


def _check_reply(status: int, content: bytes) -> None:
    assert 200 <= status < 300, status
    json.loads(content)  # every side parses the reply, as eventkit does for its receipt


# HTTP sends


def case_http_sync(
    provider: str, loopback: Loopback, n_rounds: int, count: int, sizes: list[str]
) -> list[Outcome] | str:
    """Sync sends against raw httpx.Client and raw http.client (keep-alive), same bytes, same reply parsing."""
    import httpx

    import eventkit

    if not _installed(provider):
        return f"{provider} provider not installed"
    spec = HTTP_CASES[provider]

    def one_size(kit: Any, size_name: str) -> list[Outcome]:
        outcomes: list[Outcome] = []
        data = payload(SIZES[size_name]) if provider == "stream" else spec["data"]
        raw = RawRequest(kit, provider, data)
        client = httpx.Client()
        conn = http.client.HTTPConnection(raw.host, raw.port)

        def ours() -> None:
            kit.send("friendship_request", data, to=spec["to"], sender=spec["sender"])

        def raw_httpx() -> None:
            r = client.request(raw.method, raw.url, headers=raw.headers, content=raw.body())
            _check_reply(r.status_code, r.read())

        def raw_stdlib() -> None:
            conn.request(raw.method, raw.path, body=raw.body(), headers=raw.headers)
            r = conn.getresponse()
            _check_reply(r.status, r.read())

        for warm in (ours, raw_httpx, raw_stdlib):
            timed(20, warm)
        got = interleaved(
            n_rounds,
            {
                "ours": lambda: timed(count, ours),
                "httpx": lambda: timed(count, raw_httpx),
                "stdlib": lambda: timed(count, raw_stdlib),
            },
        )
        client.close()
        conn.close()
        label = f"{provider}_sync" + (f"_{size_name}" if provider == "stream" else "")
        shown = f" ({size_name} data)" if provider == "stream" else ""
        subject = Figure(f"eventkit {provider} sync send{shown}", got["ours"])
        outcomes.append(
            Outcome(
                f"{label}/httpx",
                subject,
                Figure("raw httpx.Client, same bytes, reply parsed", got["httpx"]),
                ">= 1.7x raw httpx.Client",
                ratio_goal=1.7,
            )
        )
        outcomes.append(
            Outcome(
                f"{label}/http.client",
                subject,
                Figure("raw http.client keep-alive, same bytes, reply parsed", got["stdlib"]),
                ">= 0.8x raw http.client",
                ratio_goal=0.8,
            )
        )
        return outcomes

    with eventkit.connect(provider, **spec["settings"](loopback.url), environ={}) as kit:
        return [outcome for size_name in sizes for outcome in one_size(kit, size_name)]


def case_stream_async(
    loopback: Loopback, n_rounds: int, count: int, shapes: list[tuple[int, str]]
) -> list[Outcome] | str:
    """``width`` sends in flight: eventkit's AsyncClient against raw aiohttp, same bytes, same reply parsing."""
    import aiohttp

    import eventkit

    if not _installed("stream"):
        return "stream provider not installed"
    spec = HTTP_CASES["stream"]
    outcomes = []

    async def measure(width: int, size_name: str) -> dict[str, list[float]]:
        data = payload(SIZES[size_name])
        async with eventkit.connect_async(
            "stream", **spec["settings"](loopback.url), concurrency=width, environ={}
        ) as kit:
            raw = RawRequest(kit, "stream", data)

            async def ours() -> None:
                await kit.send("friendship_request", data, to=spec["to"], sender=spec["sender"])

            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=width)) as session:

                async def raw_one() -> None:
                    async with session.request(raw.method, raw.url, data=raw.body(), headers=raw.headers) as r:
                        _check_reply(r.status, await r.read())

                await timed_concurrent(width * 4, width, raw_one)
                await timed_concurrent(width * 4, width, ours)
                return await ainterleaved(
                    n_rounds,
                    {
                        "ours": lambda: timed_concurrent(count, width, ours),
                        "raw": lambda: timed_concurrent(count, width, raw_one),
                    },
                )

    for width, size_name in shapes:
        got = asyncio.run(measure(width, size_name))
        outcomes.append(
            Outcome(
                f"stream_async_{width}_{size_name}",
                Figure(f"eventkit stream AsyncClient.send, {width} in flight ({size_name} data)", got["ours"]),
                Figure(f"raw aiohttp, {width} in flight, same bytes, reply parsed", got["raw"]),
                ">= 0.85x raw aiohttp",
                ratio_goal=0.85,
            )
        )
    return outcomes


def case_payload(n_rounds: int, count: int) -> list[Outcome]:
    """The CPU of one send before any I/O: Event built and checked, target validated, request encoded.

    The reference is what any client does at least: build the body dict and
    serialise it. No socket, so the figure is steady enough for callgrind too.
    """
    import eventkit

    spec = HTTP_CASES["stream"]
    kit = eventkit.connect("stream", **spec["settings"]("http://127.0.0.1:9"), environ={})

    def one_size(size_name: str, size: int) -> Outcome:
        data = payload(size)
        raw = RawRequest(kit, "stream", data)

        def ours() -> None:
            event = kit.make_event("friendship_request", data, to=spec["to"], sender=spec["sender"])
            kit.codec.encode(event, kit.prepare(event))

        got = interleaved(n_rounds, {"ours": lambda: timed(count, ours), "raw": lambda: timed(count, raw.body)})
        return Outcome(
            f"payload_{size_name}",
            Figure(f"Event + validate + encode, stream ({size_name} data)", got["ours"], "events/s"),
            Figure("build the body dict + json.dumps (the floor)", got["raw"], "events/s"),
            "(CPU before I/O: where walking the payload twice shows)",
        )

    try:
        return [one_size(size_name, size) for size_name, size in SIZES.items()]
    finally:
        kit.close()


def case_engines(loopback: Loopback, n_rounds: int, count: int) -> list[Outcome] | str:
    """Stream through each HTTP engine: the choice behind the sync and async defaults."""
    import eventkit

    if not _installed("stream"):
        return "stream provider not installed"
    spec = HTTP_CASES["stream"]
    settings = spec["settings"](loopback.url)

    kits = {
        engine: eventkit.connect("stream", **settings, http_engine=engine, environ={}) for engine in ("stdlib", "httpx")
    }
    try:
        sends = {
            engine: (lambda kit=kit: kit.send("friendship_request", spec["data"], to=spec["to"], sender=spec["sender"]))
            for engine, kit in kits.items()
        }
        for send in sends.values():
            timed(20, send)
        sync = interleaved(n_rounds, {engine: (lambda s=send: timed(count, s)) for engine, send in sends.items()})
    finally:
        for kit in kits.values():
            kit.close()

    async def async_rates() -> dict[str, list[float]]:
        async with (
            eventkit.connect_async("stream", **settings, http_engine="aiohttp", concurrency=50, environ={}) as fast,
            eventkit.connect_async("stream", **settings, http_engine="httpx", concurrency=50, environ={}) as slow,
        ):

            def sender(kit: Any) -> Callable[[], Awaitable[Any]]:
                return lambda: kit.send("friendship_request", spec["data"], to=spec["to"], sender=spec["sender"])

            for kit in (fast, slow):
                await timed_concurrent(200, 50, sender(kit))
            return await ainterleaved(
                n_rounds,
                {
                    "aiohttp": lambda: timed_concurrent(count, 50, sender(fast)),
                    "httpx": lambda: timed_concurrent(count, 50, sender(slow)),
                },
            )

    concurrent = asyncio.run(async_rates())
    return [
        Outcome(
            "engine_sync",
            Figure("stream sync, stdlib http.client engine (default)", sync["stdlib"]),
            Figure("stream sync, httpx engine", sync["httpx"]),
            "(the sync default's reason)",
        ),
        Outcome(
            "engine_async_50",
            Figure("stream async 50 in flight, aiohttp engine (default)", concurrent["aiohttp"]),
            Figure("stream async 50 in flight, httpx engine", concurrent["httpx"]),
            "(the async default's reason)",
        ),
    ]


# Start-up


def _import_wall_ms(module: str) -> float:
    """A fresh interpreter importing ``module``, minus nothing: process wall time in ms."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)
    return (time.perf_counter() - started) * 1000


def _importtime_ms(module: str) -> float:
    """Cumulative import time of ``module`` as ``-X importtime`` reports it, in ms."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True, check=True
    )
    last = [line for line in out.stderr.splitlines() if line.rstrip().endswith(f"| {module}")][-1]
    return int(last.split("|")[1]) / 1000


def case_import(n_rounds: int) -> list[Outcome]:
    wall = interleaved(
        n_rounds,
        {
            "eventkit": lambda: _import_wall_ms("eventkit"),
            "httpx": lambda: _import_wall_ms("httpx"),
            "bare": lambda: _import_wall_ms("sys"),
        },
    )
    cumulative = interleaved(
        n_rounds, {"eventkit": lambda: _importtime_ms("eventkit"), "httpx": lambda: _importtime_ms("httpx")}
    )
    bare = statistics.median(wall["bare"])
    return [
        Outcome(
            "import_wall_ms",
            Figure("python -c 'import eventkit' (fresh process, wall)", wall["eventkit"], "ms"),
            Figure("python -c 'import httpx' (fresh process, wall)", wall["httpx"], "ms"),
            "<= 1.2x import httpx",
            ratio_goal=1.2,
            lower_is_better=True,
            note=f"a bare interpreter takes {bare:.0f} ms of each",
        ),
        Outcome(
            "import_cumulative_ms",
            Figure("import eventkit (-X importtime, cumulative)", cumulative["eventkit"], "ms"),
            Figure("import httpx (-X importtime, cumulative)", cumulative["httpx"], "ms"),
            "<= 1.2x import httpx",
            ratio_goal=1.2,
            lower_is_better=True,
        ),
    ]


def _wall_ms(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=False)
    return (time.perf_counter() - started) * 1000


def case_cli_providers(n_rounds: int) -> Outcome:
    exe = str(Path(sys.executable).parent / "eventkit")
    got = interleaved(
        n_rounds,
        {"cli": lambda: _wall_ms([exe, "providers"]), "bare": lambda: _wall_ms([sys.executable, "-c", "pass"])},
    )
    return Outcome(
        "cli_providers_ms",
        Figure("eventkit providers (process wall)", got["cli"], "ms"),
        Figure("python -c pass (process wall)", got["bare"], "ms"),
        "<= 300 ms",
        absolute_goal=300,
        lower_is_better=True,
    )


# AMI


AMI_FRAME = (
    b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: Local/emit@events-00000000;2\r\nChannelState: 6\r\n"
    b"ChannelStateDesc: Up\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\n"
    b"ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: events\r\nExten: emit\r\n"
    b"Priority: 2\r\nUniqueid: 1795553055.1\r\nLinkedid: 1795553055.0\r\nUserEvent: OrderReady\r\n"
    b"OrderId: ORD-1\r\nAmount: 49.99\r\nNote: a:b c\r\n\r\n"
)
"""The dialplan ``UserEvent`` captured from a running Asterisk (master, AMI 13.0.0): 20 headers."""


def _split_parser(chunks: list[bytes]) -> int:
    """The floor: a 20-line split parser that only builds dicts (no case rules, no events)."""
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


def _panoramisk_parser(chunks: list[bytes]) -> int:
    """panoramisk's decode path: ``AMIProtocol.data_received``'s split, then ``Message.from_line``."""
    from panoramisk.message import Message

    pending, count = "", 0
    for chunk in chunks:
        text = pending + chunk.decode("utf-8", "ignore")
        *blocks, pending = text.split("\r\n\r\n")
        for block in blocks:
            message = Message.from_line(block.strip())
            count += message is not None and message.get("Event") == "UserEvent"
    return count


def case_ami_decode(n_rounds: int, frames: int) -> list[Outcome] | str:
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
        elapsed = time.perf_counter() - started
        assert count == frames
        return count / elapsed

    def reference(parse: Callable[[list[bytes]], int]) -> Callable[[], float]:
        def run() -> float:
            started = time.perf_counter()
            count = parse(chunks)
            elapsed = time.perf_counter() - started
            assert count == frames
            return frames / elapsed

        return run

    sides: dict[str, Callable[[], float]] = {"ours": ours, "split": reference(_split_parser)}
    try:
        import panoramisk  # noqa: F401
    except ImportError:
        have_panoramisk = False
    else:
        have_panoramisk = True
        sides["panoramisk"] = reference(_panoramisk_parser)
    got = interleaved(n_rounds, sides)
    subject = Figure("AMI UserEvent frames parsed and decoded to Events", got["ours"], "events/s")
    outcomes = [
        Outcome(
            "ami_decode/split",
            subject,
            Figure("20-line split parser (dicts only)", got["split"], "events/s"),
            ">= 0.5x the split parser",
            ratio_goal=0.5,
        )
    ]
    if have_panoramisk:
        outcomes.append(
            Outcome(
                "ami_decode/panoramisk",
                subject,
                Figure("panoramisk Message.from_line (dict-like messages)", got["panoramisk"], "events/s"),
                ">= 2x panoramisk",
                ratio_goal=2.0,
            )
        )
    else:
        outcomes[0].note = "panoramisk not installed (pip install panoramisk): its reference was skipped"
    return outcomes


def _start_process(script: str, *args: str) -> tuple[subprocess.Popen[str], int]:
    """A benchmark server script on a free port, once it says it is ready."""
    from eventkit.testing import free_port

    port = free_port()
    server = subprocess.Popen([sys.executable, str(HERE / script), *args, str(port)], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server, port


def _raw_user_event(action_id: str, i: int) -> bytes:
    """The raw client's ``UserEvent`` action: the bytes eventkit sends for the same event (checked)."""
    return (
        f"Action: UserEvent\r\nActionID: {action_id}\r\nUserEvent: OrderReady\r\nOrderId: {i}\r\nNote: a:b c\r\n\r\n"
    ).encode()


class _RawAmi:
    """The reference: a minimal asyncio AMI client (login, pipelined actions, futures per ActionID)."""

    def __init__(self) -> None:
        self.pending: dict[str, asyncio.Future[bytes]] = {}
        self.ids = 0

    async def open(self, port: int) -> None:
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", port)
        await self.reader.readline()  # the banner
        self.task = asyncio.ensure_future(self._read())
        login = b"Action: Login\r\nActionID: login\r\nUsername: bench\r\nSecret: bench-secret\r\nEvents: off\r\n\r\n"
        answer = await self._send("login", login)
        assert b"Response: Success" in answer, answer

    async def _read(self) -> None:
        buf = b""
        while chunk := await self.reader.read(65536):
            *frames, buf = (buf + chunk).split(b"\r\n\r\n")
            for frame in frames:
                start = frame.find(b"ActionID: ")
                if start >= 0:
                    end = frame.find(b"\r\n", start)
                    future = self.pending.pop(frame[start + 10 : end if end >= 0 else None].decode(), None)
                    if future is not None:
                        future.set_result(frame)

    async def _send(self, action_id: str, data: bytes) -> bytes:
        future = asyncio.get_running_loop().create_future()
        self.pending[action_id] = future
        self.writer.write(data)
        return await future

    async def user_event(self, i: int) -> None:
        self.ids += 1
        action_id = f"raw-{self.ids}"
        answer = await self._send(action_id, _raw_user_event(action_id, i))
        assert answer.startswith(b"Response: Success"), answer

    async def close(self) -> None:
        self.writer.close()
        self.task.cancel()


async def _panoramisk_sides(port: int, count: int) -> tuple[Callable[[], Awaitable[float]], Callable[[], Any]] | None:
    try:
        from panoramisk import Manager
    except ImportError:
        return None
    manager = Manager(host="127.0.0.1", port=port, username="bench", secret="bench-secret", ping_delay=0)
    await manager.connect()

    async def run() -> float:
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(
                manager.send_action(
                    {"Action": "UserEvent", "UserEvent": "OrderReady", "OrderId": str(i), "Note": "a:b c"}
                )
                for i in range(count)
            )
        )
        rate = count / (time.perf_counter() - started)
        assert all(a.success for a in answers), answers[0]
        return rate

    return run, manager.close


def case_ami_pipelined(n_rounds: int, count: int) -> list[Outcome] | str:
    """UserEvent actions, 256 in flight on one connection: eventkit, a raw asyncio client and panoramisk."""
    if not _installed("asterisk"):
        return "asterisk provider not installed"
    from eventkit_asterisk._codec_ami import encode_ami
    from eventkit_asterisk._frames import encode_action

    import eventkit

    probe = eventkit.Event("OrderReady", {"OrderId": "7", "Note": "a:b c"}, target="ami")
    assert encode_action(encode_ami(probe, "id-1")) == _raw_user_event("id-1", 7), "the raw client sends other bytes"
    server, port = _start_process("_ami_server.py")
    width = 256
    notes: list[str] = []

    async def measure() -> dict[str, list[float]]:
        settings = {"host": "127.0.0.1", "port": port, "username": "bench", "secret": "bench-secret"}
        raw = _RawAmi()
        await raw.open(port)
        async with eventkit.connect_async("asterisk", concurrency=width, **settings, environ={}) as kit:
            await kit.send("Warmup", {"n": "0"}, to="ami")

            async def ours() -> float:
                started = time.perf_counter()  # the events are built inside the timing
                events = [
                    eventkit.Event("OrderReady", {"OrderId": str(i), "Note": "a:b c"}, target="ami")
                    for i in range(count)
                ]
                results = await kit.send_many(events, concurrency=width)
                rate = count / (time.perf_counter() - started)
                assert all(r.ok for r in results), next(r.error for r in results if not r.ok)
                return rate

            async def reference() -> float:
                numbers = iter(range(count))

                async def worker() -> None:
                    for i in numbers:
                        await raw.user_event(i)

                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(width)))
                return count / (time.perf_counter() - started)

            sides: dict[str, Callable[[], Awaitable[float]]] = {"ours": ours, "raw": reference}
            closers: list[Callable[[], Any]] = []
            extra = await _panoramisk_sides(port, count)
            if extra is None:
                notes.append("panoramisk not installed: its side was skipped")
            else:
                sides["panoramisk"], close = extra
                closers.append(close)
            try:
                return await ainterleaved(n_rounds, sides)
            finally:
                await raw.close()
                for close in closers:
                    close()

    try:
        got = asyncio.run(measure())
    finally:
        server.terminate()
        server.wait(5)
    subject = Figure(
        "eventkit UserEvent actions, 256 in flight on one AMI connection (emulator)", got["ours"], "actions/s"
    )
    outcomes = [
        Outcome(
            "ami_pipelined/raw",
            subject,
            Figure("raw asyncio client, same frames, 256 in flight", got["raw"], "actions/s"),
            ">= 0.8x a raw asyncio client",
            ratio_goal=0.8,
            note="; ".join(notes),
        )
    ]
    if "panoramisk" in got:
        outcomes.append(
            Outcome(
                "ami_pipelined/panoramisk",
                subject,
                Figure("panoramisk Manager.send_action, all in flight", got["panoramisk"], "actions/s"),
                "(reference only)",
            )
        )
    return outcomes


# Webhooks

WEBHOOK_SECRET = "bench-secret-0123456789"  # benchmarks/_webhook_server.py's
WRK_SCRIPT = r"""
-- POST signed Stream webhooks: signatures precomputed (one file line: "<signature> <body>"), and more
-- distinct bodies than the receiver's replay memory holds, each request with a new delivery id.
local counter = 0
local signatures, bodies = {}, {}
function setup(thread)
  thread:set("prefix", tostring(math.random(1, 1000000000)))
end
function init(args)
  for line in io.lines(args[1]) do
    local space = line:find(" ", 1, true)
    signatures[#signatures + 1] = line:sub(1, space - 1)
    bodies[#bodies + 1] = line:sub(space + 1)
  end
  wrk.method = "POST"
  wrk.headers["content-type"] = "application/json"
  wrk.headers["x-api-key"] = "bench-key"
end
function request()
  counter = counter + 1
  local i = counter % #bodies + 1
  wrk.headers["x-signature"] = signatures[i]
  wrk.headers["x-webhook-id"] = "wh-" .. prefix .. "-" .. counter
  return wrk.format(nil, nil, nil, bodies[i])
end
"""


def _wrk(url: str, seconds: float, bodies: Path, script: Path) -> float:
    """Requests per second wrk reports for one run (wrk on core 0, 1 thread, 50 connections)."""
    cmd = ["wrk", "-t1", "-c50", f"-d{max(1, round(seconds))}s", "-s", str(script), url, "--", str(bodies)]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        cmd = ["taskset", "-c", "0", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if "Non-2xx or 3xx responses" in out:
        raise AssertionError(f"wrk saw failed requests:\n{out}")
    return float(next(line for line in out.splitlines() if line.startswith("Requests/sec:")).split()[1])


def signed_webhooks(secret: str, count: int) -> list[tuple[str, bytes]]:
    """``count`` distinct Stream webhook bodies with their signatures (hex HMAC-SHA256)."""
    out = []
    for n in range(count):
        body = json.dumps(
            {
                "type": "friendship_request",
                "text": f"hi #{n}",
                "cid": "messaging:general",
                "channel_type": "messaging",
                "channel_id": "general",
                "user": {"id": "tommaso"},
                "created_at": "2024-01-01T00:00:00.000000Z",
            },
            separators=(",", ":"),
        ).encode()
        out.append((hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), body))
    return out


def case_webhook(n_rounds: int, seconds: float) -> Outcome | str:
    if not _installed("stream"):
        return "stream provider not installed"
    if shutil.which("wrk") is None:
        return "wrk not installed (Debian/Ubuntu: apt-get install wrk); the receiver is measured only by an external load generator"
    import urllib.request

    lines = [f"{signature} {body.decode()}\n" for signature, body in signed_webhooks(WEBHOOK_SECRET, 60_000)]
    # "minimal" is a second reference, reported beside the target: a hand-written receiver that
    # checks the HMAC and parses the JSON, and keeps nothing (no replay memory, no dedupe, no store).
    paths = {"ours": ("stream", "/webhooks/stream"), "bare": ("bare", "/"), "minimal": ("minimal", "/")}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "signed.lua"
        script.write_text(WRK_SCRIPT)
        bodies = Path(tmp) / "bodies.txt"
        bodies.write_text("".join(lines))

        def one_round(name: str) -> float:
            # A fresh server each round: the receiver's default store (memory://, bounded at
            # 100,000 events) keeps what nobody consumes, and answers 503 once full; a run must
            # measure accepted webhooks only (wrk's non-2xx check would fail it otherwise).
            kind, path = paths[name]
            server, port = _start_process("_webhook_server.py", kind)
            try:
                for _ in range(100):  # uvicorn prints "ready" before it listens
                    try:
                        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
                        break
                    except OSError as exc:
                        if getattr(exc, "code", None):  # an HTTP answer (404/405): it listens
                            break
                        time.sleep(0.05)
                return _wrk(f"http://127.0.0.1:{port}{path}", seconds, bodies, script)
            finally:
                server.terminate()
                server.wait(5)

        got = interleaved(n_rounds, {name: (lambda n=name: one_round(n)) for name in paths})
    minimal = statistics.median(got["minimal"])
    return Outcome(
        "webhook_stream",
        Figure(
            "signed Stream webhooks verified, deduped, decoded, stored (uvicorn, own process, wrk)",
            got["ours"],
            "req/s",
        ),
        Figure("bare ASGI app reading the body, answering 200 (same uvicorn config, wrk)", got["bare"], "req/s"),
        ">= 0.8x bare ASGI",
        ratio_goal=0.8,
        note=(
            f"uvicorn {_uvicorn_setup()} on both sides, access log off; a minimal hand-written receiver "
            f"(HMAC + json.loads, nothing kept) {minimal:,.0f} req/s "
            f"({min(got['minimal']):,.0f}-{max(got['minimal']):,.0f}), eventkit "
            f"{statistics.median(got['ours']) / minimal:.2f}x of it"
        ),
    )


def _uvicorn_setup() -> str:
    """Which HTTP parser and loop uvicorn's defaults ("auto") pick here: httptools/uvloop when installed."""
    import importlib.util

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    return f"{http} + {loop}"


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
                        "unit": o.subject.unit,
                        "median": o.subject.median,
                        "min": min(o.subject.rates),
                        "max": max(o.subject.rates),
                        "reference": o.reference.name if o.reference else None,
                        "reference_median": o.reference.median if o.reference else None,
                        "reference_min": min(o.reference.rates) if o.reference else None,
                        "reference_max": max(o.reference.rates) if o.reference else None,
                        "ratio": o.ratio,
                        "round_ratios": o.round_ratios,
                        "target": o.target,
                        "met": o.met,
                        "note": o.note,
                    }
                    for o in outcomes
                ]
                + [{"case": case, "skipped": why} for case, why in skipped.items()],
                indent=2,
            )
        )
        return
    print(
        f"{'case':<28} {'median':>9} {'min':>9} {'max':>9} {'unit':>8} | {'ref med':>9} {'ref min':>9} {'ref max':>9}"
        f" | {'ratio':>6} {'(rounds)':>13}  target / met"
    )
    for o in outcomes:
        fmt = "9.1f" if o.subject.unit in ("%", "ms") else "9.0f"
        ref = (
            f"{o.reference.median:{fmt}} {min(o.reference.rates):{fmt}} {max(o.reference.rates):{fmt}}"
            if o.reference
            else " " * 29
        )
        ratio = f"{o.ratio:6.3f}" if o.ratio is not None else " " * 6
        spread = o.round_ratios
        rounds_text = f"{min(spread):.2f}-{max(spread):.2f}" if spread else ""
        met = {True: "met", False: "NOT MET", None: "-"}[o.met]
        print(
            f"{o.case:<28} {o.subject.median:{fmt}} {min(o.subject.rates):{fmt}} {max(o.subject.rates):{fmt}}"
            f" {o.subject.unit:>8} | {ref} | {ratio} {rounds_text:>13}  {o.target} / {met}"
            + (f"  ({o.note})" if o.note else "")
        )
    for case, why in skipped.items():
        print(f"{case:<28} skipped: {why}")


CASES = [
    "stream_sync",
    "signalwire_sync",
    "vonage_sync",
    "stream_async",
    "payload",
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
    parser.add_argument("--quick", action="store_true", help="two short rounds per case (CI: the scripts work)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    quick = args.quick
    n_rounds = 2 if quick else args.rounds
    http_count = 50 if quick else 2000
    selected = args.cases or CASES
    for case in selected:
        if case not in CASES:
            parser.error(f"unknown case {case!r}")
    outcomes: list[Outcome] = []
    skipped: dict[str, str] = {}
    needs_loopback = {"stream_sync", "signalwire_sync", "vonage_sync", "stream_async", "engines"}
    loopback = Loopback() if needs_loopback.intersection(selected) else None
    sizes = list(SIZES)
    try:
        for case in selected:
            result: list[Outcome] | Outcome | str
            if case.endswith("_sync"):
                assert loopback is not None
                provider = case.split("_")[0]
                result = case_http_sync(
                    provider, loopback, n_rounds, http_count, sizes if provider == "stream" else ["1"]
                )
            elif case == "stream_async":
                assert loopback is not None
                shapes = [(50, size) for size in sizes] + [(1, "1KiB"), (200, "1KiB")]
                result = case_stream_async(loopback, n_rounds, 400 if quick else 5000, shapes)
            elif case == "payload":
                result = case_payload(n_rounds, 200 if quick else 20_000)
            elif case == "engines":
                assert loopback is not None
                result = case_engines(loopback, n_rounds, 100 if quick else 1000)
            elif case == "ami_decode":
                result = case_ami_decode(n_rounds, 2_000 if quick else 50_000)
            elif case == "ami_pipelined":
                result = case_ami_pipelined(n_rounds, 500 if quick else 20_000)
            elif case == "webhook":
                result = case_webhook(n_rounds, 1 if quick else 5)
            elif case == "memory_rss":
                result = case_memory_rss(20_000 if quick else 1_000_000)
            elif case == "ami_rss":
                result = case_ami_rss(10_000 if quick else 200_000)
            elif case == "import":
                result = case_import(3 if quick else 11)
            else:
                result = case_cli_providers(3 if quick else 11)
            if isinstance(result, str):
                skipped[case] = result
            elif isinstance(result, list):
                outcomes.extend(result)
            else:
                outcomes.append(result)
    finally:
        if loopback is not None:
            loopback.close()
    if quick and not args.json:
        print("quick mode: two short rounds per case; it proves the scripts run, its figures judge nothing\n")
    report(outcomes, skipped, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
