"""The stored event form and the shared URL parameter parser."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import pytest

from eventkit import Event
from eventkit._store import StoreError, StoreSettingsError
from eventkit._store._memory import MemoryStore
from eventkit._store._url import parse_count, parse_duration, parse_size, parse_store_url
from eventkit._store.codec import decode_event, encode_event

EVENTS = [
    Event("order.created", {"id": 7, "items": [1.5, None, True, "é"], "nested": {"a": {"b": []}}}),
    Event(
        "call.note",
        {},
        id="abc-123",
        time=datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=timezone(timedelta(hours=-5))),
        target="call:42",
        source="https://example.test/hooks",
        sender="user:9",
        provider="signalwire",
        meta={"headers": {"x-trace": "1"}, "seq": 3},
    ),
    Event.received("ping", {"n": 1}, provider="asterisk", raw=b"Event: UserEvent\r\n\r\n"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.name)
def test_round_trip_is_equal(event: Event) -> None:
    payload = encode_event(event)
    back = decode_event(payload)
    assert back == event
    assert (back.id, back.time, back.provider, back.source, back.sender, back.target, back.meta) == (
        event.id,
        event.time,
        event.provider,
        event.source,
        event.sender,
        event.target,
        event.meta,
    )
    assert back.raw is None


def test_raw_is_not_stored_and_the_form_is_compact() -> None:
    event = Event.received("ping", {"n": 1}, provider="asterisk", raw="SECRET-WIRE-VALUE")
    payload = encode_event(event)
    assert b"SECRET-WIRE-VALUE" not in payload
    assert b" " not in payload
    form = json.loads(payload)
    assert set(form) == {"name", "data", "id", "time", "provider"}


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[]",
        b'{"name": "x"}',
        b'{"name": 1, "data": {}, "id": "i", "time": "2024-01-01T00:00:00Z"}',
        b'{"name": "x", "data": {}, "id": "i", "time": "yesterday"}',
    ],
)
def test_decode_refuses_what_is_not_an_event(payload: bytes) -> None:
    with pytest.raises(StoreError):
        decode_event(payload)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("1024", 1024),
        ("500MB", 500_000_000),
        ("1GiB", 1024**3),
        ("1.5KiB", 1536),
        ("64 mib", 64 * 1024**2),
        ("10b", 10),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size("max_bytes", text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", 30.0),
        ("1.5", 1.5),
        ("250ms", 0.25),
        ("30s", 30.0),
        ("15m", 900.0),
        ("12h", 43200.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
    ],
)
def test_durations(text: str, expected: float) -> None:
    assert parse_duration("retention", text) == expected


@pytest.mark.parametrize("text", ["", "-1", "nan", "NaN", "inf", "1e999", "5 parsecs", "1..2", "0x10", "1GiBs"])
def test_bad_sizes_and_durations(text: str) -> None:
    with pytest.raises(StoreSettingsError):
        parse_size("max_bytes", text)
    with pytest.raises(StoreSettingsError):
        parse_duration("retention", text)


@pytest.mark.parametrize("text", ["1.5", "-3", "10k"])
def test_bad_counts(text: str) -> None:
    with pytest.raises(StoreSettingsError):
        parse_count("max_events", text)


def test_store_settings_error_is_both_a_store_and_a_settings_error() -> None:
    from eventkit._errors import SettingsError

    with pytest.raises(SettingsError):
        parse_store_url("memory://?nope=1", scheme="memory")
    with pytest.raises(StoreError):
        parse_store_url("memory://?nope=1", scheme="memory")


def test_memory_url_parameters_and_defaults() -> None:
    store = MemoryStore.from_url("memory://?max_events=10&max_bytes=1MiB&retention=1m&dedupe_ttl=1h")
    assert (store.bounds.max_events, store.bounds.max_bytes, store.bounds.retention, store.bounds.dedupe_ttl) == (
        10,
        1024**2,
        60.0,
        3600.0,
    )
    default = MemoryStore.from_url("memory://")
    assert default.bounds == MemoryStore.DEFAULT_BOUNDS
    assert default.bounds.retention == 0 and not math.isinf(default.bounds.max_bytes)
    assert MemoryStore.durable is False
    with pytest.raises(StoreSettingsError):
        MemoryStore.from_url("memory://somewhere")


async def test_memory_forgets_the_oldest_dedupe_keys_past_max_keys() -> None:
    from eventkit._store import Inbound

    store = MemoryStore.from_url("memory://?max_keys=3")
    assert store.max_keys == 3
    await store.open()
    assert await store.append([Inbound("acme", b"x", f"k{n}") for n in range(5)]) == [True] * 5
    assert store.keys_forgotten == 2
    # The newest keys are still held; the two oldest were forgotten early (a redelivery would get through).
    assert await store.append([Inbound("acme", b"x", f"k{n}") for n in (2, 3, 4)]) == [False] * 3
    assert await store.append([Inbound("acme", b"x", "k0")]) == [True]
    with pytest.raises(StoreSettingsError):
        MemoryStore.from_url("memory://?max_keys=-1")
