"""The event fields Stream owns, from Stream's chat OpenAPI (issue 19, finding 2).

Vendor fact: GetStream/protocol ``openapi/chat-openapi.yaml`` (v236.0.4) declares ``WSEvent``, the
shape of every event Stream delivers, with 27 properties, among them ``automoderation``,
``automoderation_scores``, ``message_update``, ``poll``, ``poll_vote``, ``reason`` and ``thread_id``.
Custom data travels flat beside them, so a custom key with one of those names would be read as the
typed Stream field (``poll`` is a ``PollResponseData``): refused on send, kept out of ``data`` on
receipt.

The spec is test data in ``<repo>/../shared/specs`` (beside the clone in CI); the tests that read
it skip and say so when it is absent. The rest use eventkit's own copy of the list.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from eventkit_stream._wire import OWNED_FIELDS, WSEVENT_FIELDS, decode_event

import eventkit
from eventkit import ValidationError

SPEC = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "stream" / "chat-openapi.yaml"
SECRET = "owned-fields-secret-0123456789abcdef-0123456789"
FOUND_BY_ISSUE_19 = (
    "automoderation",
    "automoderation_scores",
    "message_update",
    "poll",
    "poll_vote",
    "reason",
    "thread_id",
)


def _spec_wsevent_fields() -> set[str]:
    if not SPEC.is_file():
        pytest.skip(f"Stream's chat OpenAPI is not at {SPEC} (the shared/ checkout beside the repository)")
    yaml = pytest.importorskip("yaml", reason="reading the OpenAPI needs PyYAML (eventkit-cpaas[yaml])")
    spec = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    assert spec["info"]["version"].startswith("v")
    return set(spec["components"]["schemas"]["WSEvent"]["properties"])


def test_eventkit_owns_exactly_the_specs_wsevent_fields() -> None:
    spec_fields = _spec_wsevent_fields()
    assert set(WSEVENT_FIELDS) == spec_fields  # drift in either direction fails here
    assert spec_fields <= OWNED_FIELDS
    assert set(FOUND_BY_ISSUE_19) <= spec_fields


def _kit(requests: list[httpx.Request]) -> eventkit.Client:
    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(201, json={"duration": "0.1ms"})

    return eventkit.connect(
        "stream", environ={}, api_key="key", api_secret=SECRET, http_transport=httpx.MockTransport(handler)
    )


@pytest.mark.parametrize("key", sorted(WSEVENT_FIELDS))
@pytest.mark.parametrize("to", ["channel:messaging:general", "user:tommaso"])
def test_every_wsevent_field_is_refused_as_custom_data(key: str, to: str) -> None:
    requests: list[httpx.Request] = []
    with _kit(requests) as kit, pytest.raises(ValidationError) as caught:
        kit.send("order_ready", {key: 1, "fine": 1}, to=to, sender="bot")
    assert {(v.field, v.rule) for v in caught.value.violations} == {(f"data.{key}", "reserved_key")}
    assert requests == []


def test_the_poll_field_is_refused_before_it_reaches_the_wire() -> None:
    # The issue's example: {"poll": 1} went out flat as event.poll, a PollResponseData field.
    requests: list[httpx.Request] = []
    report = eventkit.check(
        "order_ready", {"poll": 1}, to="channel:messaging:general", sender="bot", providers=["stream"]
    )
    (verdict,) = report.verdicts
    assert not verdict.accepted and [v.field for v in verdict.violations] == ["data.poll"]
    with _kit(requests) as kit, pytest.raises(ValidationError, match="poll"):
        kit.send("order_ready", {"poll": 1}, to="channel:messaging:general", sender="bot")
    assert requests == []


@pytest.mark.parametrize("key", FOUND_BY_ISSUE_19)
def test_stream_owned_fields_stay_out_of_received_data(key: str) -> None:
    value: Any = {"id": "x"} if key in ("poll", "poll_vote", "automoderation") else "v"
    frame = {"type": "order_ready", "cid": "messaging:general", "user": {"id": "bot"}, "note": "hi", key: value}
    event = decode_event(frame, source="stream:ws:me", user="me")
    assert event.data == {"note": "hi"}
    assert event.meta[key] == value
