from __future__ import annotations

from datetime import datetime, timezone

import pytest

from eventkit import Event, ValidationError


def test_data_is_copied_and_checked() -> None:
    data = {"a": [1, (2, 3)], "b": {"c": None}}
    event = Event("x", data)
    data["a"].append(4)
    assert event.data == {"a": [1, [2, 3]], "b": {"c": None}}


@pytest.mark.parametrize(
    "data, where",
    [
        ({"when": datetime.now()}, "data.when"),
        ({1: "x"}, "key 1"),
        ({"n": float("nan")}, "data.n"),
        ({"deep": {"set": {1, 2}}}, "data.deep.set"),
    ],
)
def test_non_json_data_is_a_validation_error(data: dict, where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Event("x", data)
    assert where in str(caught.value)


def test_every_problem_is_reported() -> None:
    with pytest.raises(ValidationError) as caught:
        Event("x", {"a": object(), "b": float("inf")})
    assert len(caught.value.violations) == 2


@pytest.mark.parametrize("name", ["", None, 3])
def test_name_must_be_a_non_empty_string(name: object) -> None:
    with pytest.raises(ValidationError):
        Event(name, {})  # type: ignore[arg-type]


def test_data_must_be_a_mapping() -> None:
    with pytest.raises(ValidationError, match="mapping"):
        Event("x", [1, 2])  # type: ignore[arg-type]


def test_time_parsing_accepts_nanoseconds_and_z() -> None:
    event = Event("x", time="2024-01-01T00:00:00.123456789Z")
    assert event.time == datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=timezone.utc)
    with pytest.raises(ValidationError):
        Event("x", time="yesterday")


def test_naive_time_is_utc() -> None:
    assert Event("x", time=datetime(2024, 1, 1)).time.tzinfo is timezone.utc


def test_raw_is_neither_compared_nor_shown() -> None:
    a = Event.received(
        "x", {"k": "v"}, provider="p", raw=b"secret-wire", id="1", time=datetime(2024, 1, 1, tzinfo=timezone.utc)
    )
    b = Event.received(
        "x", {"k": "v"}, provider="p", raw=b"other", id="1", time=datetime(2024, 1, 1, tzinfo=timezone.utc)
    )
    assert a == b
    assert "secret-wire" not in repr(a)
    assert a.same_payload(Event("x", {"k": "v"}))
    assert not a.same_payload(Event("x", {"k": "w"}))


def test_cloudevent_round_trip() -> None:
    event = Event("order.ready", {"id": 1}, target="topic:orders", sender="me", provider="memory", source="memory:x")
    ce = event.to_cloudevent()
    assert ce["specversion"] == "1.0" and ce["type"] == "order.ready" and ce["subject"] == "topic:orders"
    back = Event.from_cloudevent(ce)
    assert back == event


def test_cloudevent_without_source_round_trips_to_none() -> None:
    event = Event("x", {}, provider="memory")
    assert Event.from_cloudevent(event.to_cloudevent()).source is None


@pytest.mark.parametrize(
    "broken",
    [
        {"specversion": "0.3", "id": "1", "source": "s", "type": "t"},
        {"specversion": "1.0", "source": "s", "type": "t"},
        {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data": [1]},
        {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "data_base64": "AA=="},
        {"specversion": "1.0", "id": "1", "source": "s", "type": "t", "datacontenttype": "text/plain"},
    ],
)
def test_bad_cloudevents_are_refused(broken: dict) -> None:
    with pytest.raises(ValidationError):
        Event.from_cloudevent(broken)


def test_to_dict_is_json_ready() -> None:
    import json

    out = json.loads(json.dumps(Event("x", {"a": 1}, time="2024-01-01T00:00:00Z").to_dict()))
    assert out["time"] == "2024-01-01T00:00:00Z" and out["data"] == {"a": 1}


@pytest.mark.parametrize("data", [{"t": "a\ud800b"}, {"k\udfff": 1}, {"n": ["ok", {"deep": "\ud83d"}]}])
def test_lone_surrogates_are_a_validation_error(data: dict) -> None:
    with pytest.raises(ValidationError, match="surrogate"):
        Event("x", data)


def test_lone_surrogate_in_the_name() -> None:
    with pytest.raises(ValidationError, match="surrogate"):
        Event("bad\ud800name", {})
    assert Event("emoji 🎉 ok", {"t": "é"}).name == "emoji 🎉 ok"
