"""The command line's store options: listen resumes, send --outbox, outbox and dead-letters commands."""

from __future__ import annotations

import asyncio
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from delivery_procs import STREAM_KEY, STREAM_SECRET
from test_delivery_proofs import start_receiver, stream_call

from eventkit._cli import main
from eventkit.testing.emulators.stream import StreamEmulator

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listen(url: str, port: int, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eventkit",
            "listen",
            "stream",
            "--via",
            "webhook",
            "--port",
            str(port),
            "--store",
            url,
            "--count",
            str(count),
            "--set",
            f"api_key={STREAM_KEY}",
            "--set",
            f"api_secret={STREAM_SECRET}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(ROOT),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def test_a_restarted_listen_on_the_same_store_prints_the_rest(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    receiver, base = await start_receiver(url)  # webhooks arrive before any listen runs
    try:
        async with httpx.AsyncClient(timeout=5.0) as client:
            for n in range(6):
                headers, body = stream_call(n)
                r = await client.post(f"{base}/stream", content=body, headers=headers)
                assert r.json() == {"received": 1}
    finally:
        receiver.kill()
    for expected in ([0, 1, 2], [3, 4, 5]):
        proc = listen(url, free_port(), 3)
        out, err = await asyncio.to_thread(proc.communicate, timeout=20)
        assert proc.returncode == 0, err
        assert [json.loads(line)["data"]["n"] for line in out.splitlines()] == expected


def run(*argv: str) -> tuple[int, list[dict[str, object]]]:
    buffer = io.StringIO()
    code = main(list(argv), out=buffer)
    return code, [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_send_outbox_queues_when_it_must_wait_and_outbox_drain_delivers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'outbox.db'}"
    with StreamEmulator() as emu:
        creds = [
            "--set",
            f"api_key={emu.api_key}",
            "--set",
            f"api_secret={emu.api_secret}",
            "--set",
            f"base_url={emu.url}",
        ]
        send = ["send", "stream", "--to", "channel:messaging:general", "--name", "hello", "--sender", "tommaso"]
        code, (row,) = run(*send, "--data", '{"n": 1}', "--outbox", "--store", url, *creds)
        assert code == 0 and row["ok"] is True and "queued" not in row
        emu.fail_next(503, times=50)
        code, (row,) = run(*send, "--data", '{"n": 2}', "--outbox", "--store", url, *creds, "--set", "max_attempts=1")
        assert code == 0 and row["queued"] is True
        code, listed = run("outbox", "list", "stream", "--store", url)
        assert code == 0 and [item["event"]["name"] for item in listed] == ["hello"]  # type: ignore[index]
        with emu._lock:
            emu._faults.clear()
        code, rows = run("outbox", "drain", "stream", "--store", url, "--timeout", "10", *creds)
        assert code == 0 and rows[-1] == {"remaining": 0}
        assert [e["n"] for e in emu.events] == [1, 2]
        code, rows = run("outbox", "purge", "--store", url)
        assert code == 0 and rows == [{"purged": 0}]


def test_dead_letters_list_and_replay(tmp_path: Path) -> None:
    import asyncio

    from eventkit import Event
    from eventkit._store import Inbound, open_store
    from eventkit._store.codec import encode_event

    url = f"sqlite:///{tmp_path / 'events.db'}"

    async def make_dead() -> None:
        async with open_store(url) as store:
            await store.append([Inbound("stream", encode_event(Event("poison", {"x": 1})), "k")])
            for _ in range(2):
                await store.read("stream:default", "c", count=1, timeout=0, claim_idle=0, max_attempts=1)
                time.sleep(0.01)

    asyncio.run(make_dead())
    code, rows = run("dead-letters", "list", "--store", url)
    assert code == 0 and len(rows) == 1 and rows[0]["group"] == "stream:default"
    assert rows[0]["event"]["name"] == "poison"  # type: ignore[index]
    code, rows = run("dead-letters", "replay", "--store", url, "--group", "stream:default")
    assert code == 0 and rows == [{"replayed": 1}]
    code, rows = run("dead-letters", "list", "--store", url)
    assert rows == []
