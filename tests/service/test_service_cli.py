"""Every misuse an operator can make is one line on stderr with a documented exit code."""

from __future__ import annotations

import io
import json
import re
import socket
import subprocess

import httpx
import pytest
from service_support import API_KEY, API_SECRET, EVENTKIT, listener, stream_body, stream_headers

from eventkit._cli import EXIT_CODES, EXIT_FAILED, EXIT_USAGE, build_parser, main

STREAM = ["--set", f"api_key={API_KEY}", "--set", f"api_secret={API_SECRET}"]


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def one_line(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1, err
    return lines[0]


def nested(depth: int) -> str:
    return '{"a": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    ("argv", "code", "needle"),
    [
        (["listen", "stream", "--port", "99999", *STREAM], EXIT_USAGE, "0-65535"),
        (["listen", "stream", "--port", "http", *STREAM], EXIT_USAGE, "not a port number"),
        (["listen", "stream", "--host", "no-such-host.invalid", "--port", "0", *STREAM], EXIT_USAGE, "cannot listen"),
        (["listen", "stream", "--via", "bogus", *STREAM], EXIT_USAGE, "--via must be one of"),
        (["listen", "stream", "--via", "tcp", *STREAM], EXIT_USAGE, "cannot listen via tcp"),
        (["listen", "stream", "--shutdown-timeout", "nan", *STREAM], EXIT_USAGE, "positive number"),
        (["listen", "stream", "--max-outage", "-1", *STREAM], EXIT_USAGE, "positive number"),
        (["send", "memory", "--to", "topic:t", "--name", "x", "--data", nested(5000)], EXIT_USAGE, "nested"),
        (["send", "memory", "--to", "topic:t", "--name", "x", "--data", nested(200)], EXIT_USAGE, "nested deeper"),
        (["check", "--to", "topic:t", "--name", "x", "--data", nested(5000)], EXIT_USAGE, "nested"),
        (["send", "memory", "--to", "topic:t", "--name", "x", "--set", "shutdown_timeout=0"], EXIT_USAGE, "shutdown"),
        (["send", "memory", "--to", "topic:t", "--name", "x", "--log-format", "xml"], EXIT_USAGE, "text or json"),
    ],
)
def test_misuse_is_one_line_with_its_exit_code(
    argv: list[str], code: int, needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    got, out = run(*argv)
    line = one_line(capsys.readouterr().err)
    assert got == code and out == ""
    assert needle in line
    assert "Traceback" not in line


def test_a_colon_for_equals_never_echoes_the_secret(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("send", "stream", "--to", "channel:messaging:g", "--name", "x", "--set", f"api_secret:{API_SECRET}")
    line = one_line(capsys.readouterr().err)
    assert code == EXIT_USAGE and "KEY=VALUE" in line and "'api_secret'" in line
    assert API_SECRET not in line and API_SECRET[:12] not in line


def test_a_nan_setting_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("send", "memory", "--to", "topic:t", "--name", "x", "--set", "shutdown_timeout=nan")
    line = one_line(capsys.readouterr().err)
    assert code == EXIT_USAGE and "SettingsError" in line


def test_a_port_in_use_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        code, _ = run("listen", "stream", "--port", str(taken.getsockname()[1]), *STREAM)
    finally:
        taken.close()
    line = one_line(capsys.readouterr().err)
    assert code == EXIT_FAILED and "already in use" in line


def test_exit_codes_are_in_the_help_and_the_docs() -> None:
    from pathlib import Path

    text = build_parser().format_help()
    docs = (Path(__file__).parents[2] / "docs" / "cli.md").read_text()
    for code in EXIT_CODES:
        assert re.search(rf"^\s+{code}\s", text, re.MULTILINE), text
        assert f"| {code} |" in docs


def test_verbosity_and_log_format_are_accepted_after_the_subcommand() -> None:
    done = subprocess.run([*EVENTKIT, "providers", "-vv", "--log-format=json"], capture_output=True, text=True)
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert done.returncode in (0, 1) and records, done.stderr
    assert {"time", "level", "logger", "message"} <= set(records[0])
    assert any(r["level"] == "DEBUG" for r in records)


def test_text_logs_carry_a_utc_timestamp() -> None:
    err = subprocess.run([*EVENTKIT, "-v", "providers", "-v"], capture_output=True, text=True).stderr
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO) ", err), err[:200]


def test_quiet_hides_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    run("send", "memory", "--to", "topic:t", "--name", "x", "-q", "--set", "namespace=q")
    assert capsys.readouterr().err == ""


def test_listen_count_ends_cleanly() -> None:
    with listener("--count", "2") as server:
        for n in (1, 2):
            body = stream_body(n)
            assert httpx.post(server.url, content=body, headers=stream_headers(body)).status_code == 200
        out, err = server.process.communicate(timeout=30)
    assert server.process.returncode == 0, err
    assert [json.loads(line)["data"]["n"] for line in out.splitlines()] == [1, 2]
    assert "aclose" not in err and "Traceback" not in err, err


def test_a_wrong_secret_shows_as_a_rate_limited_warning_at_the_default_level() -> None:
    with listener() as server:
        for n in range(5):
            body = stream_body(n)
            forged = httpx.post(server.url, content=body, headers=stream_headers(body, secret="not-the-secret"))
            assert forged.status_code == 401
        code, err = server.stop()
    assert code == 0
    warnings = [line for line in err.splitlines() if " WARNING eventkit.webhooks: " in line]
    assert len(warnings) == 1, err
    assert "refused (401)" in warnings[0] and re.match(r"^\d{4}-\d\d-\d\dT", warnings[0])


def test_max_outage_gives_up_with_exit_1_and_warnings() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    secret = "ami-secret-never-shown-0123"
    argv = [*EVENTKIT, "listen", f"ami://app:{secret}@127.0.0.1:{port}", "--max-outage", "1"]
    argv += ["--set", "backoff_initial=0.1", "--set", "backoff_max=0.2"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == EXIT_FAILED, done.stderr
    lines = done.stderr.strip().splitlines()
    assert any(" WARNING eventkit.asterisk: " in line and "cannot connect" in line for line in lines), done.stderr
    assert "max_outage" in lines[-1] and lines[-1].startswith("eventkit: UnavailableError: ")
    assert "Traceback" not in done.stderr and secret not in done.stderr
