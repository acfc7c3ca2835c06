"""Proofs of durable delivery with real processes, real SIGKILL and a real SQLite file (issue 12, item 6).

Each test starts the processes in ``delivery_procs.py`` and kills them with
SIGKILL at a point where an in-memory design loses events; what was acknowledged
must still be delivered after a restart on the same store.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "vonage"))

from delivery_procs import STREAM_KEY, STREAM_SECRET
from vonage_support import custom_webhook, signed_headers

from eventkit._store import open_store
from eventkit._store.codec import decode_event

PROCS = Path(__file__).with_name("delivery_procs.py")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


class Proc:
    """A child process whose stdout is read line by line as JSON."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(PROCS), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(Path(__file__).resolve().parents[2]),
        )

    async def line(self, timeout: float = 20.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        text = await asyncio.wait_for(asyncio.to_thread(self.proc.stdout.readline), timeout)
        if not text:
            err = self.proc.stderr.read() if self.proc.stderr is not None else ""
            raise AssertionError(f"process ended: {err[-2000:]}")
        out: dict[str, Any] = json.loads(text)
        return out

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def stream_call(n: int, webhook_id: str | None = None) -> tuple[dict[str, str], bytes]:
    body = json.dumps(
        {
            "type": "proof",
            "n": n,
            "cid": "messaging:general",
            "user": {"id": "john"},
            "created_at": "2024-01-01T00:00:00Z",
        }
    ).encode()
    signature = hmac.new(STREAM_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"x-signature": signature, "x-webhook-id": webhook_id or f"wh-{n}", "x-api-key": STREAM_KEY}
    return headers, body


async def stored_events(url: str, group: str = "proof-check") -> list[Any]:
    """Every event the store holds, read as a fresh consumer group."""
    out = []
    async with open_store(url) as store:
        while True:
            batch = await store.read(group, "checker", count=500, timeout=0)
            if not batch:
                return out
            out.extend(decode_event(d.payload) for d in batch)
            await store.ack(group, [d.id for d in batch])


async def start_receiver(url: str, *extra: str) -> tuple[Proc, str]:
    proc = Proc("receiver", url, *extra)
    port = (await proc.line())["port"]
    return proc, f"http://127.0.0.1:{port}/webhooks"


FAST = "synchronous=normal"
"""These proofs kill processes, not machines: SQLite's ``normal`` sync loses nothing a process crash can lose."""


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'events.db'}?{FAST}"


@pytest.fixture
async def receiver_proc(store_url: str) -> AsyncIterator[list[Proc]]:
    procs: list[Proc] = []
    yield procs
    for proc in procs:
        proc.kill()


PROOF_COUNT = int(os.environ.get("EVENTKIT_PROOF_COUNT", "1000"))
"""Webhooks and outbox events per proof: 1,000 by default (fast); EVENTKIT_PROOF_COUNT=5000 for issue 12's figure."""


async def test_receiver_killed_under_5000_webhooks_delivers_every_acknowledged_one_once(
    store_url: str, receiver_proc: list[Proc]
) -> None:
    total = PROOF_COUNT
    proc, base = await start_receiver(store_url)
    receiver_proc.append(proc)
    where = {"url": base}
    acknowledged: set[int] = set()
    answers: Counter[int] = Counter()
    restarted = asyncio.Event()

    async def platform(client: httpx.AsyncClient, n: int) -> None:
        """Stream's behaviour: retry a webhook until it gets a 2xx (same body, same X-Webhook-Id)."""
        headers, body = stream_call(n)
        while True:
            try:
                r = await client.post(f"{where['url']}/stream", content=body, headers=headers)
                answers[r.status_code] += 1
                if 200 <= r.status_code < 300:
                    acknowledged.add(n)
                    return
            except httpx.HTTPError:
                answers[0] += 1
            await asyncio.sleep(0.02)

    async def killer() -> None:
        while len(acknowledged) < total // 3:
            await asyncio.sleep(0.005)
        proc.kill()  # SIGKILL mid-stream: requests in flight get no answer
        fresh, url = await start_receiver(store_url)
        receiver_proc.append(fresh)
        where["url"] = url
        restarted.set()

    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(timeout=5.0, limits=limits) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(total):
            queue.put_nowait(n)

        async def worker() -> None:
            while not queue.empty():
                await platform(client, queue.get_nowait())

        await asyncio.gather(killer(), *(worker() for _ in range(64)))
    assert restarted.is_set() and answers[0] > 0  # the kill really cut requests off
    receiver_proc[-1].kill()
    events = await stored_events(store_url)
    delivered = Counter(int(e.data["n"]) for e in events)
    assert set(delivered) == acknowledged == set(range(total))
    assert max(delivered.values()) == 1  # retries of a stored delivery were deduplicated


async def test_a_consumer_killed_at_event_k_gets_it_again_flagged_redelivered(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}?{FAST}"
    k = 4
    go = tmp_path / "all-posted"
    first = Proc("consumer", url, str(k), str(go))
    try:
        hook = (await first.line())["url"]
        async with httpx.AsyncClient(timeout=5.0) as client:
            for n in range(8):
                headers, body = stream_call(n)
                assert (await client.post(hook, content=body, headers=headers)).status_code == 200
        go.touch()
        printed = [await first.line() for _ in range(k)]
        assert [p["n"] for p in printed] == list(range(k))
        assert first.proc.wait(20) == -signal.SIGKILL
    finally:
        first.kill()
    second = Proc("consumer", url, "-1", str(go))
    try:
        await second.line()  # listening
        rest = [await second.line() for _ in range(8 - k)]
    finally:
        second.kill()
    assert [r["n"] for r in rest] == list(range(k, 8))
    assert rest[0]["redelivered"] is True and rest[0]["attempts"] == 2
    assert not any(r["redelivered"] for r in rest[1:])


async def test_outbox_sender_killed_mid_5000_a_new_client_drains_all(tmp_path: Path) -> None:
    import eventkit
    from eventkit.testing.emulators.stream import StreamEmulator

    url = f"sqlite:///{tmp_path / 'outbox.db'}?{FAST}"
    total = PROOF_COUNT
    with StreamEmulator() as emu:
        sender = Proc("outbox", url, emu.url, str(total))
        try:
            assert (await sender.line(30))["queued"] == total  # durably queued before any send
            while len(emu.events) < total // 4:
                await asyncio.sleep(0.005)
            os.kill(sender.proc.pid, signal.SIGKILL)
            assert sender.proc.wait(10) == -signal.SIGKILL
        finally:
            sender.kill()
        before = len(emu.events)
        assert before < total
        async with eventkit.connect_async(
            "stream",
            api_key=emu.api_key,
            api_secret=emu.api_secret,
            base_url=emu.url,
            environ={},
            store=url,
            outbox=True,
            outbox_lease=1.0,
        ) as kit:
            assert await kit.drain(20 + total / 50) == 0
            flagged = {int(r.event.data["n"]) for r in kit.outbox_results if r.possible_duplicate}  # type: ignore[call-overload]
        held = Counter(int(e["n"]) for e in emu.events)
    assert set(held) == set(range(total))
    duplicates = {n for n, times in held.items() if times > 1}
    assert duplicates <= flagged  # a repeat only where the drainer said it may repeat
    assert len(flagged) <= 2 * kit.transport.concurrency  # only what was in flight at the kill


async def test_a_full_store_answers_503_with_retry_after_and_keeps_what_it_stored(
    tmp_path: Path, receiver_proc: list[Proc]
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}?max_events=5&{FAST}"
    proc, base = await start_receiver(url)
    receiver_proc.append(proc)
    statuses = []
    async with httpx.AsyncClient(timeout=5.0) as client:
        for n in range(8):
            headers, body = stream_call(n)
            r = await client.post(f"{base}/stream", content=body, headers=headers)
            statuses.append(r.status_code)
            if r.status_code == 503:
                assert r.headers["retry-after"] == "1"
    assert statuses == [200] * 5 + [503] * 3
    proc.kill()
    events = await stored_events(url)
    assert sorted(int(e.data["n"]) for e in events) == [0, 1, 2, 3, 4]


async def test_a_captured_stream_and_vonage_webhook_replayed_after_a_restart_is_refused(
    store_url: str, receiver_proc: list[Proc]
) -> None:
    stream_headers, stream_body = stream_call(1, webhook_id=str(uuid.uuid4()))
    vonage_body = json.dumps(custom_webhook("captured")).encode()
    vonage_headers = signed_headers(vonage_body)
    proc, base = await start_receiver(store_url)
    receiver_proc.append(proc)
    async with httpx.AsyncClient(timeout=5.0) as client:
        r1 = await client.post(f"{base}/stream", content=stream_body, headers=stream_headers)
        r2 = await client.post(f"{base}/vonage", content=vonage_body, headers=vonage_headers)
        assert (r1.json(), r2.json()) == ({"received": 1}, {"received": 1})
        proc.kill()
        fresh, base = await start_receiver(store_url)
        receiver_proc.append(fresh)
        r1 = await client.post(f"{base}/stream", content=stream_body, headers=stream_headers)
        r2 = await client.post(f"{base}/vonage", content=vonage_body, headers=vonage_headers)
    assert (r1.status_code, r1.json()) == (200, {"duplicate": True})
    assert (r2.status_code, r2.json()) == (200, {"duplicate": True})
    fresh.kill()
    assert len(await stored_events(store_url)) == 2


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="RSS is read from /proc (Linux)")
async def test_a_stalled_consumer_keeps_the_receiver_memory_flat(tmp_path: Path, receiver_proc: list[Proc]) -> None:
    """A subscriber that never reads: the store fills, then webhooks get 503; the receiver's RSS stays put."""
    proc, base = await start_receiver("memory://?max_events=100", "stalled")
    receiver_proc.append(proc)
    pad = "x" * 100_000
    async with httpx.AsyncClient(timeout=5.0) as client:

        async def post(n: int) -> int:
            body = json.dumps({"type": "big", "n": n, "pad": pad, "user": {"id": "john"}}).encode()
            signature = hmac.new(STREAM_SECRET.encode(), body, hashlib.sha256).hexdigest()
            headers = {"x-signature": signature, "x-webhook-id": f"big-{n}", "x-api-key": STREAM_KEY}
            r = await client.post(f"{base}/stream", content=body, headers=headers)
            return r.status_code

        first = [await post(n) for n in range(120)]
        assert first.count(200) == 100 and first.count(503) == 20
        before = rss_bytes(proc.proc.pid)
        later: list[int] = []
        for start in range(120, 420, 20):  # 30 MB more bodies, 20 at a time, all refused
            later += await asyncio.gather(*(post(n) for n in range(start, start + 20)))
        after = rss_bytes(proc.proc.pid)
    assert set(later) == {503}
    assert after - before < 10 * 2**20, f"RSS grew {(after - before) / 2**20:.1f} MiB under a stalled consumer"
