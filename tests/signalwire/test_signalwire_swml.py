"""SWML rendering against the rules of SignalWire's SWML schema (signalwire/docs ``specs/swml``), and the signed SWML fetch handler."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
import yaml
from eventkit_signalwire import SwmlFetch, SwmlFetchApp, signature
from eventkit_signalwire.swml import render, swml_document, swml_fragment, swml_violations, user_event_verb
from hypothesis import given, settings
from hypothesis import strategies as st

import eventkit
from eventkit import Event, ValidationError
from eventkit.testing import AsgiServer

KEY = "PSK_signing_key_123"
FETCH = {
    "call": {
        "call_id": "5b1c7a52-0f0e-4c1c-9c43-1f6f3b0a9e21",
        "node_id": "node-1",
        "call_state": "created",
        "direction": "inbound",
        "type": "phone",
        "from": "+15550100001",
        "to": "+15550100002",
        "headers": [],
        "project_id": "p",
        "space_id": "s",
    },
    "vars": {},
    "envs": {},
    "params": {"greeting": "hi"},
}


def test_doc_example_documents_are_reproduced() -> None:
    doc = swml_document([{"myCustomEvent": "Hello, world!"}], then=[{"play": {"url": "say: Custom event sent."}}])
    assert doc == {
        "version": "1.0.0",
        "sections": {
            "main": [
                {"user_event": {"event": {"myCustomEvent": "Hello, world!"}}},
                {"play": {"url": "say: Custom event sent."}},
            ]
        },
    }
    two = swml_document([{"eventA": {"foo": "bar"}, "eventB": {"count": 42, "active": True}}])
    assert render(two) == (
        '{"version":"1.0.0","sections":{"main":[{"user_event":{"event":'
        '{"eventA":{"foo":"bar"},"eventB":{"count":42,"active":true}}}}]}}'
    )


def test_events_become_verbs_with_the_name_under_type() -> None:
    verb = user_event_verb(Event("cards_dealt", {"score": 21}))
    assert verb == {"user_event": {"event": {"type": "cards_dealt", "score": 21}}}
    assert swml_fragment([Event("a"), {"raw": 1}], name_key="kind") == [
        {"user_event": {"event": {"kind": "a"}}},
        {"user_event": {"event": {"raw": 1}}},
    ]


def test_yaml_rendering_round_trips() -> None:
    doc = swml_document([Event("order_ready", {"id": "A-1", "n": 1.5, "ok": True})])
    text = render(doc, "yaml")
    assert text.startswith("version: 1.0.0\nsections:\n  main:\n  - user_event:\n")
    assert yaml.safe_load(text) == doc
    assert yaml.safe_load(render(swml_fragment([{"x": "é"}]), "yaml")) == [{"user_event": {"event": {"x": "é"}}}]


@pytest.mark.parametrize("bad", [["list"], "text", 3, None, {1: "int key"}, {"x": object()}])
def test_non_object_events_are_refused(bad: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        user_event_verb(bad)
    assert caught.value.violations


def test_every_bad_event_is_reported() -> None:
    with pytest.raises(ValidationError) as caught:
        swml_document([{"ok": 1}, "bad", Event("x", {"type": "collides"}), 5])
    assert len(caught.value.violations) == 3


@pytest.mark.parametrize(
    ("document", "rule"),
    [
        ({"sections": {"main": [{"user_event": {}}]}}, "required"),
        ({"sections": {"main": [{"user_event": {"foo": 1}}]}}, "required"),
        ({"sections": {"main": [{"user_event": {"event": {}, "extra": 1}}]}}, "unknown"),
        ({"sections": {"main": [{"user_event": {"event": "name"}}]}}, "object"),
        ({"version": "1.0", "sections": {"main": []}}, "const"),
        ({"sections": {"other": []}}, "required"),
        ({"sections": {"main": []}, "extra": 1}, "unknown"),
        ({"sections": {"main": {}}}, "array"),
        ([], "object"),
        ({"sections": {"main": ["answer"]}}, "verb"),  # SWML schema: every item is an object (issue 19)
        ({"sections": {"main": [{"answer": {}, "hangup": {}}]}}, "verb"),
        ({"sections": {"main": [{"bogus": {}}]}}, "unknown_verb"),
    ],
)
def test_schema_rules_are_enforced(document: Any, rule: str) -> None:
    assert rule in {v.rule for v in swml_violations(document)}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.text(), json_values, max_size=4), max_size=4))
def test_any_json_objects_render_to_valid_swml(events: list[dict[str, Any]]) -> None:
    doc = swml_document(events)
    assert swml_violations(doc) == []
    assert json.loads(render(doc)) == doc
    assert yaml.safe_load(render(doc, "yaml")) == doc


# The fetch handler, served by uvicorn on loopback.


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": "application/json", **(headers or {})}, timeout=5)


def _signed(url: str, body: bytes, key: str = KEY) -> dict[str, str]:
    return {
        "X-Signalwire-Signature": hmac.new(key.encode(), url.encode() + body, hashlib.sha1).hexdigest(),
        "X-Signalwire-SHA256-Signature": hmac.new(key.encode(), url.encode() + body, hashlib.sha256).hexdigest(),
    }


def test_signature_is_hmac_of_url_and_body() -> None:
    expected = hmac.new(b"k", b"https://x.example/swml" + b"{}", hashlib.sha1).hexdigest()
    assert signature("k", "https://x.example/swml", b"{}") == expected


def test_fetch_handler_verifies_and_answers() -> None:
    seen: list[SwmlFetch] = []

    async def build(fetch: SwmlFetch) -> list[Event]:
        seen.append(fetch)
        return [Event("greeting", {"text": fetch.params["greeting"], "call": fetch.call_id})]

    with eventkit.connect("signalwire", project_id="p", api_token="t", space="s", signing_key=KEY, environ={}) as kit:
        app = kit.provider.swml_app(build)  # type: ignore[attr-defined]
    assert KEY not in repr(app)
    with AsgiServer(app) as server:
        url = server.url + "/swml?x=1"
        body = json.dumps(FETCH).encode()
        ok = _post(url, body, _signed(url, body))
        assert ok.status_code == 200 and ok.headers["content-type"] == "application/json"
        assert ok.json() == {
            "version": "1.0.0",
            "sections": {
                "main": [
                    {"user_event": {"event": {"type": "greeting", "text": "hi", "call": FETCH["call"]["call_id"]}}}
                ]
            },
        }
        assert seen[0].call["direction"] == "inbound"
        refused = [
            _post(url, body),  # unsigned
            _post(url, body, _signed(url, body, key="wrong")),  # signed with another key
            _post(url, body, _signed(server.url + "/other", body)),  # signed for another URL
            _post(url, body, {**_signed(url, body), "X-Signalwire-SHA256-Signature": "00"}),
            _post(url, body + b" ", _signed(url, body)),  # body changed after signing
        ]
        assert [r.status_code for r in refused] == [401] * 5
        malformed = json.dumps({"call": {}, "vars": {}}).encode()
        assert _post(url, malformed, _signed(url, malformed)).status_code == 400
        assert _post(url, b"not json", _signed(url, b"not json")).status_code == 400
        assert httpx.get(url, timeout=5).status_code == 405
        assert _post(url, body, _signed(url, body)).status_code == 200  # still serving
    assert len(seen) == 2
    assert app.stats["rejected_signature"] == 5 and app.stats["rejected_malformed"] == 2


def test_fetch_handler_public_url_yaml_and_whole_documents() -> None:
    public = "https://app.example.com/swml"
    document = {"version": "1.0.0", "sections": {"main": [{"user_event": {"event": {"a": 1}}}, {"hangup": {}}]}}
    app = SwmlFetchApp(lambda fetch: document, signing_key=KEY, public_url=public, format="yaml", require_sha256=True)
    with AsgiServer(app) as server:
        body = json.dumps(FETCH).encode()
        ok = _post(server.url + "/anything", body, _signed(public, body))
        assert ok.status_code == 200 and ok.headers["content-type"] == "application/yaml"
        assert yaml.safe_load(ok.text) == document
        sha1_only = {"X-Signalwire-Signature": _signed(public, body)["X-Signalwire-Signature"]}
        assert _post(server.url + "/anything", body, sha1_only).status_code == 401


def test_fetch_handler_without_key_and_a_failing_builder() -> None:
    def build(fetch: SwmlFetch) -> Any:
        if fetch.params.get("fail"):
            raise RuntimeError("builder bug")
        return {"sections": {"main": [{"user_event": {"event": "not an object"}}]}}

    app = SwmlFetchApp(build, max_body_bytes=2000)
    with AsgiServer(app) as server:
        body = json.dumps(FETCH).encode()
        assert _post(server.url, body).status_code == 500  # invalid document is never served
        failing = json.dumps({**FETCH, "params": {"fail": True}}).encode()
        assert _post(server.url, failing).status_code == 500
        big = json.dumps({**FETCH, "params": {"x": "y" * 5000}}).encode()
        assert _post(server.url, big).status_code == 413
    assert app.stats["errors"] == 2 and app.stats["rejected_size"] == 1
