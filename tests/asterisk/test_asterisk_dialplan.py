"""Dialplan rendering: what the dialplan emits is exactly the event that was rendered."""

from __future__ import annotations

from typing import Any

import pytest
from asterisk_support import Collector, ami_settings
from eventkit_asterisk import render_extensions_line, render_user_event
from eventkit_asterisk.testing.emulator import AmiEmulator, parse_extensions_line, user_event_blob
from hypothesis import given, settings
from hypothesis import strategies as st

import eventkit
from eventkit import Event, ValidationError


def test_plain_event_renders_like_the_documentation() -> None:
    event = Event("CanYouSeeMe", {"Param1": "Value1", "Param2": "Value2"})
    assert render_user_event(event) == "UserEvent(CanYouSeeMe,Param1: Value1,Param2: Value2)"
    assert render_extensions_line(event) == " same => n,UserEvent(CanYouSeeMe,Param1: Value1,Param2: Value2)"
    assert render_extensions_line(event, "1", exten="emit").startswith("exten => emit,1,UserEvent(")


def test_special_characters_are_escaped() -> None:
    event = Event("A,B", {"k": 'a,b "q" (p) [s] \\ ;c', "n": 3})
    rendered = render_user_event(event)
    assert rendered == 'UserEvent(A\\,B,k: a\\,b \\"q\\" \\(p\\) \\[s\\] \\\\ \\;c,n: ekjson:3)'


@pytest.mark.parametrize(
    "data",
    [
        {"k": "${CALLERID(num)}"},
        {"k": "$[1+1]"},
        {"k": "line\nbreak"},
        {"k": " padded "},
        {"bad:key": "v"},
        {"eventname": "Other"},
        {f"k{i}": "v" for i in range(101)},
    ],
)
def test_what_the_dialplan_would_change_is_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as caught:
        render_user_event(Event("E", data))
    assert caught.value.violations


def test_every_violation_is_listed() -> None:
    with pytest.raises(ValidationError) as caught:
        render_user_event(Event(" E\n", {"a:b": "${X}"}))
    assert len(caught.value.violations) >= 4


safe_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20).filter(
    lambda s: "${" not in s and "$[" not in s and s == s.strip()
)
safe_key = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters=":"), min_size=1, max_size=10)
safe_key = safe_key.filter(
    lambda s: (
        s == s.strip() and "${" not in s and "$[" not in s and s.lower() not in {"eventname", "action", "actionid"}
    )
)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(), safe_text)


@settings(max_examples=150, deadline=None)
@given(
    safe_text.filter(bool),
    st.dictionaries(safe_key, st.one_of(json_leaf, st.lists(json_leaf, max_size=3)), max_size=5),
)
def test_the_splitter_gives_back_what_was_rendered(name: str, data: dict[str, Any]) -> None:
    """Against the emulator's independent implementation of config.c + the argument splitter."""
    lowered = [k.lower() for k in data]
    if len(set(lowered)) != len(lowered) or any(k in {"event", "privilege", "response", "userevent"} for k in lowered):
        return
    event = Event(name, data)
    line = render_extensions_line(event)
    app, args = parse_extensions_line(line)
    assert app == "UserEvent"
    blob = user_event_blob(args)
    from eventkit_asterisk import decode_value

    assert blob.pop("eventname") == name
    assert {k: decode_value(v) for k, v in blob.items()} == data


async def test_dialplan_event_arrives_over_ami_exactly(ami: AmiEmulator) -> None:
    data: dict[str, Any] = {"OrderId": "ORD-1", "Note": 'a:b c, "quoted" (x) [y] \\ ;', "Amount": 49.99}
    data["Items"] = [1, {"sku": "A,B"}]
    event = Event("OrderReady", data)
    line = render_extensions_line(event)
    async with eventkit.connect_async("asterisk", **ami_settings(ami)) as kit, Collector(kit, via="tcp") as listener:
        ami.dialplan(line)
        (got,) = await listener.wait_for(1)
    assert got.name == "OrderReady"
    assert got.data == data
    assert got.source is not None and got.source.startswith("channel:")
    assert isinstance(got.meta["Channel"], str) and got.meta["Channel"].startswith("Local/emit@events-")
    assert got.meta["AccountCode"] == ""
