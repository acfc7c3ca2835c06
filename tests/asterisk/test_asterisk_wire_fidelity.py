"""What a real Asterisk 22 showed eventkit got wrong (issue 19), each with the vendor fact.

* Dialplan lines: ``main/config.c`` reads extensions.conf with an 8192-byte line buffer. On
  Asterisk 22.10.1 an ``exten => ...`` line of 8,190 bytes loads and its ``UserEvent()`` arrives;
  8,191 bytes is logged ``Line N too long, skipping`` and the event is silently lost.
* ARI integers: Asterisk parses ARI bodies with jansson (64-bit ``json_int_t``): a variable of
  ``2**63`` is answered ``400 Error parsing request body``; ``-2**63``, ``0.1`` and ``1e300`` pass.
* Listen mode: the docs' ARI-only form ``ari://user:pw@host:8088?app=orders`` carries no AMI
  credentials, so listening must default to the ARI websocket, not AMI over TCP.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asterisk_support import FAST, Collector
from eventkit_asterisk import (
    DIALPLAN_LINE_ROOM,
    MAX_DIALPLAN_LINE_BYTES,
    AsteriskProvider,
    render_extensions_line,
    render_user_event,
    validate_dialplan,
)
from eventkit_asterisk.testing.emulator import AmiEmulator, AriEmulator

import eventkit
from eventkit import Event, ListenMode, PayloadTooLargeError, ValidationError
from eventkit._cli import main
from eventkit._docs import provider_table

# Dialplan line limit

ASTERISK_LOADS, ASTERISK_SKIPS = 8190, 8191  # bytes before the line break, observed on Asterisk 22.10.1


def _line_of(size: int, *, exten: str | None = None, fill: str = "x") -> tuple[Event, str]:
    """An event whose extensions.conf line is exactly ``size`` bytes (``fill`` is one or two bytes)."""
    start = " same => n," if exten is None else f"exten => {exten},1,"
    empty = len((start + "UserEvent(E,k: )").encode())
    room = size - empty
    text = fill * (room // len(fill.encode())) + "y" * (room % len(fill.encode()))
    event = Event("E", {"k": text})
    return event, start


def test_the_longest_line_asterisk_loads_is_rendered() -> None:
    assert MAX_DIALPLAN_LINE_BYTES == ASTERISK_LOADS
    for exten, fill in ((None, "x"), ("emit", "x"), ("emit", "é")):
        event, start = _line_of(ASTERISK_LOADS, exten=exten, fill=fill)
        line = render_extensions_line(event, "1" if exten else "n", exten=exten)
        assert line.startswith(start) and len(line.encode()) == ASTERISK_LOADS


@pytest.mark.parametrize("size", [ASTERISK_SKIPS, ASTERISK_SKIPS + 1, 9036])  # 9,036: the line the issue found
def test_a_line_asterisk_would_skip_is_refused(size: int) -> None:
    for exten, fill in ((None, "x"), ("emit", "é")):
        event, _ = _line_of(size, exten=exten, fill=fill)
        with pytest.raises(PayloadTooLargeError) as caught:
            render_extensions_line(event, "1" if exten else "n", exten=exten)
        assert isinstance(caught.value, ValidationError)
        (violation,) = caught.value.violations
        assert violation.rule == "max_line_bytes" and str(ASTERISK_LOADS) in violation.message


def test_render_user_event_leaves_room_for_the_start_of_its_line() -> None:
    longest = MAX_DIALPLAN_LINE_BYTES - DIALPLAN_LINE_ROOM
    fits = Event("E", {"k": "x" * (longest - len("UserEvent(E,k: )"))})
    call = render_user_event(fits)
    assert len(call.encode()) == longest
    # Whatever start of line up to the room it leaves, Asterisk can load the line.
    assert len((("exten => " + "e" * (DIALPLAN_LINE_ROOM - 12) + ",1,") + call).encode()) <= ASTERISK_LOADS
    over = Event("E", {"k": "x" * (longest - len("UserEvent(E,k: )") + 1)})
    with pytest.raises(PayloadTooLargeError):
        render_user_event(over)
    assert [v.rule for v in validate_dialplan(over)] == ["max_line_bytes"]
    # An exact room gives back the bytes the default keeps.
    assert render_user_event(over, room=len(" same => n,"))
    with pytest.raises(ValidationError):
        render_user_event(fits, room=-1)


def test_other_violations_are_listed_with_the_line_limit() -> None:
    event = Event("E", {"k": "${X}" + "x" * 9000})
    with pytest.raises(PayloadTooLargeError) as caught:
        render_extensions_line(event)
    assert {v.rule for v in caught.value.violations} == {"substitution", "max_line_bytes"}
    with pytest.raises(ValidationError):
        render_extensions_line(Event("E", {"k": "v"}), "1", exten="emit\nsame => n,Hangup()")


def test_the_capability_table_shows_the_dialplan_line_limit() -> None:
    notes = " ".join(AsteriskProvider.capabilities.limits.notes)
    assert f"{ASTERISK_LOADS} bytes" in notes
    assert f"{ASTERISK_LOADS} bytes" in provider_table(AsteriskProvider)


async def test_the_longest_line_round_trips_through_the_emulated_dialplan(ami: AmiEmulator) -> None:
    from asterisk_support import ami_settings

    event, _ = _line_of(ASTERISK_LOADS)
    line = render_extensions_line(event)
    async with eventkit.connect_async("asterisk", **ami_settings(ami)) as kit, Collector(kit, via="tcp") as tcp:
        ami.dialplan(line)
        (got,) = await tcp.wait_for(1)
    assert got.name == "E" and got.data == event.data


# ARI integers

INT64_MAX = 2**63 - 1


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        ({"big": 2**63}, ["data.big"]),
        ({"small": -(2**63) - 1}, ["data.small"]),
        ({"nested": {"a": [1, 2**64]}}, ["data.nested.a[1]"]),
        ({"ok": INT64_MAX, "also": -(2**63), "f": 0.1, "huge": 1e300, "flag": True}, []),
    ],
)
def test_ari_refuses_integers_outside_64_bits(data: dict[str, Any], fields: list[str]) -> None:
    with eventkit.connect("asterisk", ari_url="http://127.0.0.1:9", ari_username="u", ari_password="p") as kit:
        violations = kit.provider.validate(Event("OrderReady", data), eventkit.parse_target("app:ek"))
    assert [v.field for v in violations] == fields
    assert all(v.rule == "int64" for v in violations)
    report = eventkit.check("OrderReady", data, to="app:ek", providers=["asterisk"])
    assert report.verdicts[0].accepted is (not fields)
    assert [v.field for v in report.verdicts[0].violations] == fields


def test_a_wide_integer_never_reaches_ari() -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(400, json={"message": "Error parsing request body"})

    settings = dict(ari_url="http://127.0.0.1:9", ari_username="u", ari_password="p", environ={})
    transport = httpx.MockTransport(handler)
    with (
        eventkit.connect("asterisk", http_transport=transport, **settings) as kit,
        pytest.raises(ValidationError) as caught,
    ):
        kit.send("OrderReady", {"big": 2**63}, to="app:ek")
    assert [v.rule for v in caught.value.violations] == ["int64"]
    assert requests == []


# Listen mode follows the credentials


@pytest.fixture(scope="module")
def ari(ami: AmiEmulator) -> Iterator[AriEmulator]:
    server = AriEmulator({"asterisk": "ari-secret-pw"}, ami=ami)
    server.start()
    try:
        yield server
    finally:
        server.close()


def _ari_url(server: AriEmulator, app: str) -> str:
    return server.url.replace("http://", "ari://asterisk:ari-secret-pw@") + f"?app={app}"


@pytest.mark.parametrize(
    ("settings", "mode"),
    [
        ({"ari_url": "http://127.0.0.1:8088", "ari_username": "u", "ari_password": "p"}, ListenMode.WEBSOCKET),
        ({"ari_url": "http://127.0.0.1:8088", "ari_api_key": "u:p"}, ListenMode.WEBSOCKET),
        ({"username": "app", "secret": "s"}, ListenMode.TCP),
        ({"username": "app", "secret": "s", "ari_url": "http://h:8088", "ari_api_key": "u:p"}, ListenMode.TCP),
    ],
)
def test_the_default_listen_mode_follows_the_credentials(settings: dict[str, Any], mode: ListenMode) -> None:
    with eventkit.connect("asterisk", environ={}, **settings) as kit:
        assert kit.provider.default_listen_mode() is mode
    url = "ari://u:p@127.0.0.1:8088?app=orders" if mode is ListenMode.WEBSOCKET else "ami://app:s@127.0.0.1"
    if "ari_username" in settings:
        with eventkit.connect(url, environ={}) as kit:
            assert kit.provider.default_listen_mode() is mode


async def test_listen_on_an_ari_url_uses_the_websocket(ari: AriEmulator) -> None:
    async with eventkit.connect_async(_ari_url(ari, "py-app"), environ={}, **FAST) as kit, Collector(kit) as ws:
        assert ws.addresses and "py-app" in ws.addresses[0]
        await kit.send("OrderReady", {"n": 1}, to="app:py-app")
        (event,) = await ws.wait_for(1)
    assert event.name == "OrderReady" and event.data == {"n": 1}


async def test_listen_on_an_ami_url_uses_tcp(ami: AmiEmulator) -> None:
    url = f"ami://app:s3cret-pw@127.0.0.1:{ami.port}"
    async with eventkit.connect_async(url, environ={}, **FAST) as kit, Collector(kit) as tcp:
        await kit.send("OrderReady", {"n": "1"}, to="ami")
        (event,) = await tcp.wait_for(1)
    assert event.name == "OrderReady" and event.source == "ami"


def test_cli_listen_on_an_ari_url_uses_the_websocket(ari: AriEmulator) -> None:
    out = io.StringIO()
    codes: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            codes.append(main(["listen", _ari_url(ari, "cli-app"), "--count", "1"], out=out))
        except BaseException as exc:  # a MissingCredentialsError here is the bug this test is for
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while "cli-app" not in ari.connected_apps() and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not errors, f"eventkit listen failed: {errors[0]!r}"
    with eventkit.connect(_ari_url(ari, "cli-app"), environ={}) as kit:
        assert kit.send("FromCli", {"n": 2}, to="app:cli-app").ok
    thread.join(10)
    assert not errors and codes == [0]
    (line,) = [json.loads(text) for text in out.getvalue().splitlines()]
    assert line["name"] == "FromCli" and line["data"] == {"n": 2}
