"""``eventkit bridge`` end to end: AMI user events into a Stream channel, and its refusals of bad input."""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
from eventkit_asterisk.testing.sandbox import AmiSandbox
from eventkit_stream.testing.sandbox import StreamSandbox

from eventkit._cli import EXIT_USAGE, main


def _wait(check: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


def test_cli_bridges_ami_into_stream_with_a_mapping_and_prints_a_line_per_event(
    ami: AmiSandbox, stream: StreamSandbox, tmp_path: Path
) -> None:
    out = io.StringIO()
    s = stream.settings()
    argv = [
        "bridge",
        "asterisk",
        "--to",
        f"stream={stream.target}",
        "--store",
        f"sqlite:///{tmp_path / 'bridge.db'}",
        "--map",
        "stream:OrderReady=order_ready",
        "--sender",
        f"stream={stream.sender}",
        "--count",
        "3",
        *["--set", f"host={ami.emulator.host}", "--set", f"port={ami.emulator.port}"],
        *["--set", "username=app", "--set", f"secret={ami.secret}"],
        *["--set-to", f"stream:api_key={s['api_key']}", "--set-to", f"stream:api_secret={s['api_secret']}"],
        *["--set-to", f"stream:base_url={s['base_url']}"],
    ]
    codes: list[int] = []
    runner = threading.Thread(target=lambda: codes.append(main(argv, out)))
    runner.start()
    try:
        _wait(lambda: ami.emulator.session_count() >= 1, "the bridge's AMI session")
        with ami.connect() as pbx:
            for n in range(3):
                pbx.send("OrderReady", {"OrderId": str(n)}, to="ami")
    finally:
        runner.join(30)
    assert codes == [0]
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    records, summary = lines[:-1], lines[-1]["summary"]
    assert [r["status"] for r in records] == ["queued"] * 3
    assert {r["forwarded_as"] for r in records} == {"order_ready"}
    assert summary["destinations"]["stream"]["delivered"] == 3 and summary["pending"] == 0
    got = [e for e in stream.emulator.events if e["type"] == "order_ready"]
    assert [e["OrderId"] for e in got] == ["0", "1", "2"]


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--to", "stream"], "DEST=TARGET"),
        (["--to", "stream=channel:messaging:x", "--map", "vonage:a=b"], "DEST one of stream"),
        (["--to", "stream=channel:messaging:x", "--sender", "bot"], "--sender needs DEST=..."),
        (["--to", "stream=channel:messaging:x", "--count", "0"], "--count"),
    ],
)
def test_cli_refuses_bad_options_before_any_io(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["bridge", "memory", "--store", f"sqlite:///{tmp_path / 'b.db'}", *extra], io.StringIO())
    assert code == EXIT_USAGE
    assert message in capsys.readouterr().err


def test_cli_refuses_a_memory_store(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bridge", "memory", "--to", "memory=topic:t", "--store", "memory://", "--set", "namespace=x"]
    argv += ["--set-to", "memory:namespace=y"]
    assert main(argv, io.StringIO()) == EXIT_USAGE
    assert "durable store" in capsys.readouterr().err
