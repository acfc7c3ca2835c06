"""check() and `eventkit check --type` on an event type: what each provider can carry, from the type alone."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import attrs
import pytest
from typed_support import OrderReady, Refund, full_order

import eventkit
from eventkit import _cli


@eventkit.event("order.ready")
@attrs.frozen
class Clashing:
    """Names other providers own: Stream's ``type``/``user``, AMI's ``Event`` header, SignalWire's name key."""

    type: str
    user: str
    event: str = attrs.field(metadata=eventkit.key("Event"))
    bad_header: str = attrs.field(metadata=eventkit.key("a:b"))


def test_a_portable_type_is_carried_everywhere() -> None:
    report = eventkit.check(OrderReady, providers=["memory", "asterisk", "stream", "signalwire"])
    assert report.portable and report.event == "OrderReady"
    assert report.type == "typed_support.OrderReady"
    keys = {f.key: f.wire for f in report.fields}
    assert keys["OrderId"] == "string" and keys["amount"] == "string (decimal, lossless)"
    assert keys["lines"] == "array" and keys["address"] == "object or null"
    asterisk = next(v for v in report.verdicts if v.provider == "asterisk")
    assert asterisk.payload == "flat-strings" and asterisk.targets == ("ami", "app:eventkit-check")
    assert any("ekjson" in n and "lines" in n for n in asterisk.notes)
    assert not any("OrderId" in n for n in asterisk.notes), "a string field travels as itself"


def test_reserved_names_and_header_rules_are_reported_per_provider() -> None:
    report = eventkit.check(Clashing, providers=["stream", "asterisk", "signalwire", "memory"])
    by = {v.provider: v for v in report.verdicts}
    assert not report.portable and report.accepted_by == ["memory"]
    assert by["stream"].refused_keys == ["type", "user"]
    assert {v.rule for v in by["stream"].violations if v.field == "name"} == {"no_dot"}
    assert set(by["asterisk"].refused_keys) == {"Event", "a:b"}
    assert any("(at ami)" in str(v) for v in by["asterisk"].violations), "ARI takes 'Event'; AMI does not"
    assert by["signalwire"].refused_keys == ["type"]


def test_a_given_target_is_the_only_one_checked() -> None:
    report = eventkit.check(Refund, to="user:bob", providers=["stream", "vonage"])
    by = {v.provider: v for v in report.verdicts}
    assert by["stream"].accepted and by["stream"].targets == ("user:bob",)
    assert not by["vonage"].accepted and by["vonage"].violations[0].rule == "target"


def test_a_provider_is_checked_in_full_without_credentials() -> None:
    # Vonage's codec mints tokens only to encode, so validation needs no key (eventkit check).
    (verdict,) = eventkit.check(Clashing, providers=["vonage"]).verdicts
    assert not verdict.accepted and verdict.violations[0].rule == "pattern"
    assert not any("only the declared limits" in n for n in verdict.notes)


def test_check_on_an_instance_validates_that_event() -> None:
    report = eventkit.check(full_order(), to="channel:messaging:general", sender="bot", providers=["stream"])
    assert isinstance(report, eventkit.PortabilityReport) and report.portable


def test_unknown_providers_are_reported_not_raised() -> None:
    report = eventkit.check(Refund, providers=["absent"])
    assert report.verdicts[0].error and not report.portable


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return _cli.main(list(argv), out=out), out.getvalue()


def test_cli_check_type_table_and_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    code, text = run("check", "--type", "typed_support:OrderReady", "--provider", "asterisk", "--provider", "stream")
    assert code == 0
    assert "OrderId" in text and "string (decimal, lossless)" in text and "flat-strings" in text
    code, text = run("check", "--type", "test_typed_check:Clashing", "--provider", "stream", "--json")
    assert code == _cli.EXIT_FAILED
    (stream,) = json.loads(text)["providers"]
    assert stream["accepted"] is False and any("'type' is a field Stream owns" in v for v in stream["violations"])


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--type", "no_such_module_here:X"],
        ["check", "--type", "typed_support:Nope"],
        ["check", "--type", "typed_support"],
        ["check", "--type", "typed_support:OrderReady", "--name", "x"],
        ["check"],
    ],
)
def test_cli_check_type_usage_errors(argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(Path(__file__).parent))
    code, _ = run(*argv)
    assert code == _cli.EXIT_USAGE


def test_cli_imports_from_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "my_events_mod.py").write_text(
        "import attrs, eventkit\n\n@eventkit.event('ping')\n@attrs.frozen\nclass Ping:\n    n: int\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    code, text = run("check", "--type", "my_events_mod:Ping", "--provider", "memory")
    assert code == 0 and "ping" in text
