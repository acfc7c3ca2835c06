"""One walk of the payload per send: the constructor's check keeps the compact JSON,
the size limit and the codecs reuse it, and nothing the slow walk refused gets through."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventkit import Event, ValidationError
from eventkit._json import checked_copy, copy_json, json_problems, merged_object
from eventkit.provider import json_body

TEXT = st.text(max_size=30)
SCALAR = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
VALUE = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=25,
)
KEYS = TEXT | st.integers() | st.booleans() | st.none()


@settings(max_examples=400, deadline=None)
@given(data=st.dictionaries(KEYS, VALUE, max_size=6))
def test_the_fast_check_agrees_with_the_walk(data: dict[Any, Any]) -> None:
    """Whatever the C-level check accepts, the walk accepts, with the same copy and bytes."""
    fast = checked_copy(data)
    problems = json_problems(data)
    if fast is None:
        return  # the walk decides (and the constructor then runs it)
    assert problems == []
    copied, raw = fast
    assert copied == copy_json(data)
    assert raw == json.dumps(copy_json(data), ensure_ascii=False, separators=(",", ":")).encode()


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(KEYS, VALUE, max_size=6))
def test_events_refuse_exactly_what_the_walk_refuses(data: dict[Any, Any]) -> None:
    problems = json_problems(data)
    if problems:
        with pytest.raises(ValidationError):
            Event("x", data)
    else:
        event = Event("x", data)
        assert event.data == copy_json(data)
        assert event.data_json() == json_body(event.data)


@pytest.mark.parametrize(
    "data",
    [
        {1: "x"},
        {"t": (1, 2)},
        {"deep": json.loads("[" * 70 + "]" * 70)},
        {"s": "\ud800"},
        {"n": float("inf")},
    ],
)
def test_what_the_encoder_would_coerce_or_refuse_is_left_to_the_walk(data: dict[Any, Any]) -> None:
    assert checked_copy(data) is None


def test_many_brackets_within_the_depth_limit_still_take_the_fast_copy() -> None:
    data = {"items": [{"n": i} for i in range(100)], "deep": json.loads("[" * 60 + "]" * 60)}
    fast = checked_copy(data)
    assert fast is not None and fast[0] == data


def test_a_deep_payload_is_still_refused() -> None:
    with pytest.raises(ValidationError, match="nested deeper"):
        Event("x", {"deep": json.loads("[" * 70 + "]" * 70)})


def test_the_copy_is_the_events_own() -> None:
    data = {"a": {"b": [1]}}
    event = Event("x", data)
    data["a"]["b"].append(2)  # type: ignore[index,union-attr]
    assert event.data == {"a": {"b": [1]}}
    assert event.data_json() == b'{"a":{"b":[1]}}'


def test_received_and_evolved_events_serialise_their_own_data() -> None:
    import attrs

    received = Event.received("x", {"é": [1.5]}, provider="memory", raw=None)
    assert received.data_json() == '{"é":[1.5]}'.encode()
    evolved = attrs.evolve(Event("x", {"a": 1}), data={"b": 2})
    assert evolved.data_json() == b'{"b":2}'


@pytest.mark.parametrize("data", [{}, {"a": 1}, {"é": "ü", "n": [1, {"x": None}]}])
@pytest.mark.parametrize("before, after", [({"type": "t"}, None), ({"type": "t"}, {"user": {"id": "u"}}), ({}, None)])
def test_merged_object_is_the_merged_dict_serialised(
    data: dict[str, Any], before: dict[str, Any], after: dict[str, Any] | None
) -> None:
    expected = json_body({**before, **data, **(after or {})})
    assert merged_object(Event("x", data).data_json(), before, after) == expected


def _stream_codec() -> Any:
    import eventkit

    return eventkit.connect("stream", api_key="k", api_secret="s" * 20, base_url="http://127.0.0.1:9", environ={}).codec


@pytest.mark.parametrize("data", [{}, {"text": "hi", "n": [1, 2.5, None], "é": {"ü": True}}])
def test_stream_bodies_are_what_serialising_the_dict_gives(data: dict[str, Any]) -> None:
    from eventkit.provider import parse_target

    codec = _stream_codec()
    event = Event("ping", data, sender="bot")
    channel = codec.encode(event, parse_target("channel:messaging:general"))
    assert channel.content == json_body({"event": {"type": "ping", **data, "user": {"id": "bot"}}})
    user = codec.encode(event, parse_target("user:alice"))
    assert user.content == json_body({"event": {"type": "ping", **data}})


@pytest.mark.parametrize("name_key", ["eventkit_event", ""])
@pytest.mark.parametrize("data", [{}, {"text": "hi", "é": [1, {"x": None}]}])
def test_signalwire_bodies_are_what_serialising_the_dict_gives(name_key: str, data: dict[str, Any]) -> None:
    import eventkit
    from eventkit.provider import parse_target

    kit = eventkit.connect(
        "signalwire",
        project_id="p",
        api_token="PT0123456789",
        base_url="http://127.0.0.1:9",
        name_key=name_key,
        environ={},
    )
    call = "0c3c2a2e-1b7a-4c53-8f59-8a3d1f4b7f10"
    request = kit.codec.encode(Event("ping", data), parse_target(f"call:{call}"))
    inner = {name_key: "ping", **data} if name_key else data
    expected = {"command": "calling.user_event", "id": call, "params": {"event": inner}}
    assert request.content == json_body(expected)


@pytest.mark.parametrize("sender", [None, "MEM-1"])
@pytest.mark.parametrize("data", [{}, {"text": "hi", "é": [1, {"x": None}]}])
def test_vonage_bodies_are_what_serialising_the_dict_gives(sender: str | None, data: dict[str, Any]) -> None:
    from eventkit_vonage._codec import wire_body, wire_body_bytes

    event = Event("ping", data, sender=sender)
    assert wire_body_bytes(event) == json_body(wire_body(event))


@settings(max_examples=300, deadline=None)
@given(
    data=st.dictionaries(TEXT, SCALAR.filter(lambda v: v == v and v not in (float("inf"), float("-inf"))), max_size=4),
    name=TEXT,
    sender=TEXT,
)
def test_merged_object_matches_the_encoder_for_any_text(data: dict[str, Any], name: str, sender: str) -> None:
    if "type" in data or "user" in data:
        return  # collisions are refused by the Stream codec's validation and serialised the slow way
    try:
        event = Event("x", data)
        expected = json_body({"type": name, **data, "user": {"id": sender}})
    except (ValidationError, UnicodeEncodeError):
        return  # lone surrogates: refused before any codec runs
    assert merged_object(event.data_json(), {"type": name}, {"user": {"id": sender}}) == expected


def test_event_ids_are_version_4_uuids() -> None:
    import uuid

    ids = {Event("x").id for _ in range(200)}
    assert len(ids) == 200
    for text in ids:
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and str(parsed) == text
