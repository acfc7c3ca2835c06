from __future__ import annotations

import io
import json
import threading
import time

import eventkit_memory
import pytest

from eventkit._cli import main


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_send_prints_the_result_as_json() -> None:
    code, out = run("send", "memory", "--to", "topic:t", "--name", "hi", "--data", '{"a": 1}', "--set", "namespace=cli")
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["provider"] == "memory" and result["event"]["name"] == "hi"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["send", "nope", "--to", "topic:t", "--name", "x"], "unknown provider 'nope'"),
        (["send", "memory", "--to", "topic:", "--name", "x"], "TargetError"),
        (["send", "memory", "--to", "topic:t", "--name", "x", "--data", "{oops"], "not valid JSON"),
        (["send", "memory", "--to", "topic:t", "--name", "x", "--data", "[1]"], "must be a JSON object"),
        (["send", "memory", "--to", "topic:t", "--name", "x", "--set", "bogus=1"], "unknown setting 'bogus'"),
        (["send", "memory", "--to", "topic:t", "--name", "x", "--set", "novalue"], "KEY=VALUE"),
        (["send", "memory", "--name", "x"], "--to"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run(*argv)
    err = capsys.readouterr().err
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


def test_failed_send_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    eventkit_memory.hub("cli-fail").fail_next(403)
    code, out = run("send", "memory", "--to", "topic:t", "--name", "x", "--set", "namespace=cli-fail")
    err = capsys.readouterr().err
    assert code == 1 and json.loads(out)["error"]["type"] == "PermissionDeniedError"
    assert "PermissionDeniedError" in err and len(err.strip().splitlines()) == 1


def test_providers_table_and_json() -> None:
    code, out = run("providers", "--json", "--settings")
    payload = json.loads(out)
    assert payload["providers"]["memory"]["payload"] == "json"
    assert any(s["name"] == "namespace" for s in payload["providers"]["memory"]["settings"])
    assert code in (0, 1) and (code == 1) == bool(payload["failures"])
    _, table = run("providers")
    assert table.splitlines()[0].split() == ["provider", "targets", "listen", "payload"]


def test_check_table() -> None:
    code, out = run("check", "--to", "topic:t", "--name", "x", "--provider", "memory")
    assert code == 0 and "memory" in out and "yes" in out
    code, out = run("check", "--to", "topic:t", "--name", "x", "--provider", "memory", "--provider", "absent", "--json")
    assert code == 1 and json.loads(out)["providers"][1]["accepted"] is False


def test_listen_prints_json_lines() -> None:
    hub = eventkit_memory.hub("cli-listen")
    out = io.StringIO()
    codes: list[int] = []
    thread = threading.Thread(
        target=lambda: codes.append(
            main(["listen", "memory", "--set", "namespace=cli-listen", "--count", "2", "--name", "b"], out=out)
        )
    )
    thread.start()
    deadline = time.monotonic() + 5
    while not hub._subscribers and time.monotonic() < deadline:
        time.sleep(0.01)
    for name in ("a", "b", "b"):
        assert run("send", "memory", "--to", "topic:t", "--name", name, "--set", "namespace=cli-listen")[0] == 0
    thread.join(5)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert codes == [0] and [line["name"] for line in lines] == ["b", "b"]
    assert set(lines[0]) >= {"name", "data", "source", "sender", "provider", "id", "time"}


def test_version() -> None:
    assert run("--version")[1].startswith("eventkit ")
