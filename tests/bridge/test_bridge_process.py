"""``eventkit bridge`` as a real process, SIGKILLed mid-stream and restarted on the same SQLite file.

What Stream got a 200 for is held; after the restart every such event reaches the
Vonage conversation, and every copy beyond the first is accounted for by a flag:
``possible_duplicate`` on a record (queued again after the restart) or the
destination's ``resent_after_lease`` (a drainer killed mid-send).
"""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventkit_stream.testing.emulator import sign
from eventkit_stream.testing.sandbox import StreamSandbox
from eventkit_vonage.testing.sandbox import VONAGE_CONVERSATION, VonageSandbox

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

ROOT = Path(__file__).resolve().parents[2]


class BridgeProcess:
    """One ``python -m eventkit bridge`` with its stdout lines collected by a thread."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eventkit", "bridge", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=str(ROOT),
        )
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            self.lines.append(json.loads(text))

    def listening(self, timeout: float = 30.0) -> str:
        assert self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.proc.stderr.readline()
            if text.startswith("listening: "):
                return text.split(": ", 1)[1].strip()
            if not text and self.proc.poll() is not None:
                break
        raise AssertionError("the bridge process never listened")

    def wait_for(self, check: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"gave up waiting for {what} (exit {self.proc.poll()})")
            time.sleep(0.01)

    def stop(self, sig: int) -> int:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
        code = self.proc.wait(30)
        self._reader.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code

    def records(self) -> list[dict[str, Any]]:
        return [line for line in self.lines if "summary" not in line]


def test_a_sigkilled_bridge_process_restarted_on_its_store_loses_nothing_acknowledged(
    stream: StreamSandbox, vonage: VonageSandbox, tmp_path: Path
) -> None:
    s, v = stream.settings(), vonage.settings()
    argv = [
        *["stream", "--via", "webhook", "--port", "0", "--to", f"vonage={vonage.target}"],
        *["--sender", f"vonage={vonage.sender}", "--store", f"sqlite:///{tmp_path / 'bridge.db'}"],
        *["--consumer", "bridge-host", "--outbox-lease", "1", "--drain-timeout", "20"],
        *["--set", f"api_key={s['api_key']}", "--set", f"api_secret={s['api_secret']}"],
        *["--set-to", f"vonage:application_id={v['application_id']}", "--set-to", f"vonage:base_url={v['base_url']}"],
        *["--set-to", f"vonage:private_key={v['private_key']}"],
        *["--set-to", f"vonage:signature_secret={v['signature_secret']}"],
    ]
    sent = 200
    first = BridgeProcess(argv)
    url = first.listening()
    answers: dict[int, int] = {}

    def post(lane: int) -> None:  # ten lanes at once: the receiver stores faster than one bridge forwards
        with httpx.Client(timeout=10) as client:
            for n in range(lane, sent, 10):
                body = json.dumps({"type": "tick", "n": n, "cid": "messaging:general", "user": {"id": "john"}})
                headers = {"X-Signature": sign(s["api_secret"], body.encode()), "X-Webhook-Id": f"wh-{n}"}
                try:
                    answers[n] = client.post(url, content=body, headers=headers).status_code
                except httpx.HTTPError:
                    answers[n] = 0

    posters = [threading.Thread(target=post, args=(lane,)) for lane in range(10)]
    for poster in posters:
        poster.start()
    try:
        first.wait_for(lambda: len(first.lines) >= 30, "thirty forwards")
    finally:
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        for poster in posters:
            poster.join(60)
    acknowledged = {n for n, status in answers.items() if status == 200}
    before = {r["source_id"] for r in first.records()}
    # Killed mid-stream: the bridge had forwarded some, not all (how many webhooks were answered by
    # then depends on the machine; every answered one is in the store, which is what is tested).
    assert 30 <= len(before) < sent

    second = BridgeProcess(argv)
    url = second.listening()
    # Stream's retries of every call (same X-Webhook-Id): those stored before the kill are not stored twice.
    assert all(answers.get(n) != 200 for n in set(range(sent)) - acknowledged)
    lanes = [threading.Thread(target=post, args=(lane,)) for lane in range(10)]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join(60)
    assert all(answers.get(n) == 200 for n in range(sent))
    want = {f"wh-{n}" for n in range(sent)}
    second.wait_for(lambda: want <= before | {r["source_id"] for r in second.records()}, "every event forwarded")
    assert second.stop(signal.SIGINT) == 0  # Ctrl-C: drains, prints its summary, exits 0
    (summary,) = [line["summary"] for line in second.lines if "summary" in line]
    assert summary["pending"] == 0

    copies = collections.Counter(e["body"]["n"] for e in vonage.emulator.events.get(VONAGE_CONVERSATION, []))
    assert set(copies) == set(range(sent))  # nothing acknowledged is lost
    extra = sum(copies.values()) - len(copies)
    flagged = sum(1 for r in second.records() if r.get("possible_duplicate"))
    flagged += summary["destinations"]["vonage"]["resent_after_lease"]
    assert extra <= flagged  # every repeat was flagged, none silent
    assert all(r["status"] in ("queued", "duplicate") for r in first.records() + second.records())
