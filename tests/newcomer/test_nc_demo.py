"""`eventkit demo` and the sandboxes under it: real providers against the emulators, on loopback."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from eventkit_asterisk.testing.sandbox import AmiSandbox
from eventkit_stream.testing.sandbox import StreamSandbox

from eventkit import SendTimeoutError, _cli, _demo
from eventkit.testing import sandbox as sandbox_module
from eventkit.testing.sandbox import SANDBOXES, round_trip_sync


def _demo_json(*argv: str) -> tuple[int, list[dict[str, Any]]]:
    out = io.StringIO()
    code = _cli.main(["demo", "--json", *argv], out=out)
    return code, json.loads(out.getvalue())


def test_the_demo_round_trips_through_every_vendor() -> None:
    code, rows = _demo_json()
    assert code == 0
    assert [r["sandbox"] for r in rows] == list(SANDBOXES)
    for row in rows:
        assert row["ok"], row
        assert row["received"]["name"] == _demo.DEMO_EVENT
        assert row["received"]["data"] == _demo.DEMO_DATA
        assert row["received"]["provider"] == row["provider"]
        assert row["round_trip_ms"] > 0
        assert row["wire"]["bytes"] == len(row["wire"]["text"].encode())
    by = {r["sandbox"]: r for r in rows}
    # AMI carries strings: the number went as 'ekjson:1234', and the table says so.
    assert "order: ekjson:1234\r\n" in by["asterisk-ami"]["wire"]["text"]
    assert any("'ekjson:1234'" in change for change in by["asterisk-ami"]["changes"])
    assert by["vonage"]["wire"]["summary"].startswith("POST /v1/conversations/")
    assert '"type":"custom:order_ready"' in by["vonage"]["wire"]["text"]
    assert by["stream"]["wire"]["summary"] == "POST /channels/messaging/general/event"


def test_the_table_names_each_provider_and_hides_credentials() -> None:
    out = io.StringIO()
    assert _cli.main(["demo", "--provider", "stream", "--provider", "asterisk-ami"], out=out) == 0
    text = out.getvalue()
    assert "Stream (webhook)" in text and "Asterisk AMI (tcp)" in text and "Vonage" not in text
    assert "2 of 2 round trips ok" in text
    assert "api_key=" not in text and "secret" not in text.lower()


class _BrokenStream(StreamSandbox):
    def _start(self) -> None:
        raise OSError("port in use (simulated)")


class _DeafStream(StreamSandbox):
    """The webhook URL is never given to the emulator, so nothing comes back."""

    def on_listening(self, address: str) -> None:
        pass


def test_a_failing_provider_shows_its_error_and_the_demo_exits_non_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SANDBOXES, "stream", _BrokenStream)
    out = io.StringIO()
    code = _cli.main(["demo", "--provider", "stream", "--provider", "asterisk-ami"], out=out)
    assert code == 1
    assert "FAILED OSError: port in use (simulated)" in out.getvalue()
    assert "1 of 2 round trips ok" in out.getvalue()


def test_a_missing_extra_is_reported_in_the_row(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module.importlib_util, "find_spec", lambda name: None)
    code, rows = _demo_json("--provider", "vonage")
    assert code == 1
    assert "pip install 'eventkit-cpaas[all]'" in rows[0]["error"]


def test_nothing_coming_back_ends_at_the_timeout() -> None:
    with _DeafStream() as sandbox:
        started = time.monotonic()
        trip = round_trip_sync(sandbox, "ping", {"n": 1}, timeout=0.5)
    assert isinstance(trip.error, SendTimeoutError)
    assert "waiting for the event to come back" in str(trip.error)
    assert trip.result is not None and trip.result.ok  # the send itself landed
    assert time.monotonic() - started < 5


def test_a_stopped_emulator_is_an_error_not_a_hang() -> None:
    sandbox = AmiSandbox().start()
    settings = sandbox.settings()
    sandbox.close()
    sandbox.settings = lambda: {**settings, "max_attempts": 1}  # type: ignore[method-assign]
    trip = round_trip_sync(sandbox, "Ping", {}, timeout=1)
    # The AMI listener keeps reconnecting (as it should); the round trip gives up at its timeout.
    assert isinstance(trip.error, SendTimeoutError) and not trip.ok
    assert "starting the listener" in str(trip.error)


@pytest.mark.parametrize("argv", [["demo", "--provider", "nope"], ["demo", "--timeout", "0"]])
def test_bad_demo_arguments_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli.main(argv, out=io.StringIO()) == 2
    assert "eventkit demo:" in capsys.readouterr().err
