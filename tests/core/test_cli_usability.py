"""The command line explains itself: help on every option, exit codes, target forms and
environment in ``--help``, ``--data @FILE|-``, "did you mean" for misspelt settings, a
credentials hint naming every variable that works, and ``--format human|json``."""

from __future__ import annotations

import argparse
import io
import json
import re
import threading
import time
from pathlib import Path

import eventkit_memory
import pytest

import eventkit
from eventkit import Event, MissingCredentialsError, SettingsError
from eventkit._cli import TARGET_FORMS, _human_event, _printable, build_parser, main
from eventkit._registry import load_all


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


# Help text


def test_every_option_of_every_command_has_help() -> None:
    parser = build_parser()
    blank = []
    for name, sub in {"eventkit": parser, **subparsers(parser)}.items():
        for action in sub._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not (action.help or "").strip():
                blank.append(f"{name} {'/'.join(action.option_strings) or action.dest}")
    assert not blank, f"options without help: {blank}"
    # The options the issue named, by name, so a rename cannot hide them.
    helps = {o: a.help for a in subparsers(parser)["send"]._actions for o in a.option_strings}
    for option in ("--to", "--name", "--sender", "--set", "--data", "--format"):
        assert (helps[option] or "").strip(), option


@pytest.mark.parametrize("command", [None, "send", "check"])
def test_help_lists_exit_codes_and_target_forms(command: str | None) -> None:
    parser = build_parser()
    text = (parser if command is None else subparsers(parser)[command]).format_help()
    for code in ("0", "1", "2", "70"):
        assert re.search(rf"^  {code}\s+\S", text, re.M), f"exit code {code} missing"
    for form in ("call:<id>", "channel:<type>:<id>", "user:<id>", "conversation:<CON-id>", "ami", "app:<name>"):
        assert re.search(rf"^  {re.escape(form)}\s", text, re.M), form
    assert "topic:<name>" in text and "@route" in text and "eventkit providers" in text


@pytest.mark.parametrize("command", [None, "send", "listen"])
def test_help_lists_the_environment(command: str | None) -> None:
    parser = build_parser()
    text = (parser if command is None else subparsers(parser)[command]).format_help()
    assert "EVENTKIT_<PROVIDER>_<SETTING>" in text and "EVENTKIT_CONFIG" in text
    assert "EVENTKIT_<PROVIDER>_ROUTES" in text


def test_the_help_target_forms_cover_every_built_in_provider() -> None:
    """The static list in --help cannot drift from what the built-in providers declare."""
    loaded, _ = load_all()
    listed = {form.split(":", 1)[0] for form, _ in TARGET_FORMS}
    builtin = ("memory", "signalwire", "asterisk", "stream", "vonage")
    declared = {f.kind for name in builtin if name in loaded for f in loaded[name].capabilities.targets}
    assert declared, "no built-in provider loaded"
    assert declared <= listed, f"--help misses {declared - listed}"


# --data @FILE and --data -


def listen_in_thread(namespace: str, *extra: str) -> tuple[threading.Thread, io.StringIO, list[int]]:
    hub = eventkit_memory.hub(namespace)
    out = io.StringIO()
    codes: list[int] = []
    argv = ["listen", "memory", "--set", f"namespace={namespace}", "--count", "1", *extra]
    thread = threading.Thread(target=lambda: codes.append(main(argv, out=out)))
    thread.start()
    deadline = time.monotonic() + 5
    while not hub._subscribers and time.monotonic() < deadline:
        time.sleep(0.01)
    return thread, out, codes


def test_send_reads_data_from_a_file(tmp_path: Path) -> None:
    payload = tmp_path / "order.json"
    payload.write_text('{"OrderId": "1234", "note": "caf\u00e9"}', encoding="utf-8")
    thread, out, codes = listen_in_thread("cli-data-file")
    code, _ = run(
        "send", "memory", "--to", "topic:t", "--name", "o", "--data", f"@{payload}", "--set", "namespace=cli-data-file"
    )
    thread.join(5)
    assert code == 0 and codes == [0]
    assert json.loads(out.getvalue())["data"] == {"OrderId": "1234", "note": "caf\u00e9"}


def test_send_reads_data_from_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO('{"from": "stdin"}\n'))
    thread, out, codes = listen_in_thread("cli-data-stdin")
    code, _ = run(
        "send", "memory", "--to", "topic:t", "--name", "o", "--data", "-", "--set", "namespace=cli-data-stdin"
    )
    thread.join(5)
    assert code == 0 and codes == [0]
    assert json.loads(out.getvalue())["data"] == {"from": "stdin"}


def test_check_reads_data_from_a_file_and_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A key Asterisk AMI cannot carry (a line break in it) makes the verdict depend on the data read.
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"bad\nkey": 1}))
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"ok": 1}))
    argv = ("check", "--to", "ami", "--name", "x", "--provider", "memory", "--provider", "asterisk", "--json")
    code_good, out_good = run(*argv, "--data", f"@{good}")
    code_bad, out_bad = run(*argv, "--data", f"@{bad}")
    assert code_good == 0 and json.loads(out_good)["portable"] is True
    assert code_bad == 1 and json.loads(out_bad)["portable"] is False
    monkeypatch.setattr("sys.stdin", io.StringIO(bad.read_text()))
    code_stdin, out_stdin = run(*argv, "--data", "-")
    assert code_stdin == 1 and json.loads(out_stdin) == json.loads(out_bad)


@pytest.mark.parametrize(
    "data, message",
    [
        ("@{missing}", "cannot read it"),
        ("@", "needs a file name"),
        ("@{notjson}", "not valid JSON"),
        ("@{array}", "must be a JSON object"),
        ("@{latin1}", "not UTF-8"),
    ],
)
def test_bad_data_files_are_one_line_and_exit_2(
    data: str, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notjson").write_text("{oops")
    (tmp_path / "array").write_text("[1]")
    (tmp_path / "latin1").write_bytes(b'{"a": "caf\xe9"}')
    files = {name: tmp_path / name for name in ("notjson", "array", "latin1")}
    arg = data.format(missing=tmp_path / "absent.json", **files)
    code, out = run("send", "memory", "--to", "topic:t", "--name", "x", "--data", arg)
    err = capsys.readouterr().err
    assert code == 2 and out == ""
    assert message in err and len(err.strip().splitlines()) == 1


# Did you mean


def test_a_misspelt_setting_gets_a_suggestion_and_the_known_list() -> None:
    with pytest.raises(SettingsError) as caught:
        eventkit.connect("stream", environ={}, api_key="k", api_secert="s")
    message = str(caught.value)
    assert "unknown setting 'api_secert' for stream; did you mean 'api_secret'?" in message
    assert "known: " in message and "api_key" in message.split("known: ")[1]


def test_a_misspelt_transport_setting_is_suggested_too() -> None:
    with pytest.raises(SettingsError, match=r"did you mean 'timeout'\?"):
        eventkit.connect("memory", environ={}, timout=3)


def test_no_suggestion_for_a_name_like_none_of_them() -> None:
    with pytest.raises(SettingsError) as caught:
        eventkit.connect("memory", environ={}, bogus=1)
    assert "did you mean" not in str(caught.value) and "unknown setting 'bogus'" in str(caught.value)


def test_several_misspelt_settings_each_get_theirs() -> None:
    with pytest.raises(SettingsError) as caught:
        eventkit.connect("stream", environ={}, api_key="k", api_secert="s", timout=3, zzz=1)
    message = str(caught.value)
    assert "did you mean 'api_secret' for 'api_secert', 'timeout' for 'timout'?" in message
    assert "'zzz'" in message.split("did you mean")[0]


def test_the_cli_shows_the_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = run("send", "memory", "--to", "topic:t", "--name", "x", "--set", "namespaec=a")
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'namespace'?" in err and len(err.strip().splitlines()) == 1


def test_a_misspelt_setting_in_eventkit_toml_is_suggested(tmp_path: Path) -> None:
    config = tmp_path / "eventkit.toml"
    config.write_text('[memory]\nnamespaec = "x"\n')
    with pytest.raises(SettingsError, match=r"did you mean 'namespace'\?"):
        eventkit.connect("memory", environ={}, config=str(config))


# The credentials hint


def test_the_credentials_hint_names_every_variable_that_works() -> None:
    with pytest.raises(MissingCredentialsError) as caught:
        eventkit.connect("vonage", environ={})
    message = str(caught.value)
    for name in (
        "EVENTKIT_VONAGE_APPLICATION_ID",
        "VONAGE_APPLICATION_ID",
        "EVENTKIT_VONAGE_PRIVATE_KEY",
        "VONAGE_PRIVATE_KEY",
        "EVENTKIT_VONAGE_PRIVATE_KEY_PATH",
        "VONAGE_PRIVATE_KEY_PATH",
        "VONAGE_APPLICATION_PRIVATE_KEY_PATH",
    ):
        assert re.search(rf"\b{name}\b", message), name
    assert " OR " not in message and "PRIVATE_KEY OR PRIVATE_KEY_PATH" not in message
    assert names_in_hint(message, "vonage")["VONAGE_APPLICATION_PRIVATE_KEY_PATH"] == "private_key_path"


def names_in_hint(message: str, provider: str) -> dict[str, str]:
    """Every variable the hint names, mapped to the setting it fills (as the hint says)."""
    ours, _, vendor = message.split(" needs ", 1)[1].rsplit(" [", 1)[0].partition("; the vendor's variables work too: ")
    found = {n: n.removeprefix(f"EVENTKIT_{provider.upper()}_").lower() for n in re.findall(r"EVENTKIT_\w+", ours)}
    for clause in vendor.split(", ") if vendor else []:
        names, _, setting = clause.rpartition(" for ")
        found.update({n: setting for n in names.split(" or ")})
    return found


def test_the_names_in_the_hint_are_the_ones_connect_reads() -> None:
    """Each variable the SignalWire hint names, used alone for its setting, satisfies it."""
    with pytest.raises(MissingCredentialsError) as caught:
        eventkit.connect("signalwire", environ={})
    named = names_in_hint(str(caught.value), "signalwire")
    assert set(named.values()) == {"project_id", "api_token", "space"}
    assert {"SIGNALWIRE_PROJECT_ID", "SIGNALWIRE_API_TOKEN", "SIGNALWIRE_TOKEN", "SIGNALWIRE_SPACE"} <= set(named)
    values = {"project_id": "p", "api_token": "t", "space": "example"}
    for name, setting in named.items():
        environ = {f"EVENTKIT_SIGNALWIRE_{other.upper()}": values[other] for other in values if other != setting}
        environ[name] = values[setting]
        with eventkit.connect("signalwire", environ=environ) as kit:
            assert kit.provider.missing_credentials() == [], environ
        with pytest.raises(MissingCredentialsError, match=setting):
            eventkit.connect("signalwire", environ={k: v for k, v in environ.items() if k != name})


def test_the_cli_prints_the_hint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    for key in [k for k in os.environ if k.startswith(("VONAGE_", "EVENTKIT_"))]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no ./eventkit.toml
    code, _ = run("send", "vonage", "--to", "conversation:CON-1", "--name", "x", "--set", "application_id=a")
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "MissingCredentialsError" in err and "VONAGE_APPLICATION_PRIVATE_KEY_PATH" in err


# --format human|json


def test_send_human_is_one_readable_line() -> None:
    code, out = run(
        "send", "memory", "--to", "topic:t", "--name", "hi", "--set", "namespace=cli-human", "--format", "human"
    )
    assert code == 0 and out.count("\n") == 1
    assert out.startswith("ok memory topic:t hi ") and "attempts=1" in out and " ms" in out
    with pytest.raises(ValueError):
        json.loads(out)


def test_send_human_failure_names_the_error(capsys: pytest.CaptureFixture[str]) -> None:
    eventkit_memory.hub("cli-human-fail").fail_next(403)
    code, out = run(
        "send", "memory", "--to", "topic:t", "--name", "x", "--set", "namespace=cli-human-fail", "--format", "human"
    )
    assert code == 1 and out.startswith("failed memory topic:t x ") and "PermissionDeniedError" in out
    assert out.count("\n") == 1 and "PermissionDeniedError" in capsys.readouterr().err


def test_send_json_stays_the_default() -> None:
    _, default = run("send", "memory", "--to", "topic:t", "--name", "hi", "--set", "namespace=cli-default")
    _, explicit = run(
        "send", "memory", "--to", "topic:t", "--name", "hi", "--set", "namespace=cli-default", "--format", "json"
    )
    assert set(json.loads(default)) == set(json.loads(explicit)) and json.loads(default)["ok"] is True


def test_listen_human_prints_a_readable_line_per_event() -> None:
    thread, out, codes = listen_in_thread("cli-listen-human", "--format", "human")
    code, _ = run(
        "send",
        "memory",
        "--to",
        "topic:kitchen",
        "--name",
        "OrderReady",
        "--data",
        '{"OrderId": "1234"}',
        "--sender",
        "till-1",
        "--set",
        "namespace=cli-listen-human",
    )
    thread.join(5)
    assert code == 0 and codes == [0]
    (line,) = out.getvalue().splitlines()
    stamp, provider, name, target, *rest = line.split(" ")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+Z", stamp)
    assert (provider, name, target) == ("memory", "OrderReady", "topic:kitchen")
    assert " ".join(rest) == 'from till-1 {"OrderId":"1234"}'


def test_a_peer_cannot_break_the_human_line() -> None:
    event = Event.received(
        "a\nb\x1b[2J", {"k": "v\nw", "esc": "\x1b[31m"}, provider="memory", raw=None, sender="x\ry", target="t\u2028u"
    )
    line = _human_event(event)
    assert line.isprintable() and "\\n" in line and "\\x1b" in line and "\\r" in line
    assert _printable("plain text") == "plain text"
