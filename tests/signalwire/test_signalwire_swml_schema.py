"""SWML that eventkit serves, checked against SignalWire's own JSON schema (issue 19, finding 1).

Vendor fact: SignalWire's SWML schema (signalwire/docs
``specs/swml/calling/tsp-output/@typespec/json-schema/SWMLObject.json``, and the copy shipped in
the ``signalwire-agents`` 1.1.0 wheel as ``signalwire_agents/schema.json``) types every section
item as ``SWMLMethod``: an ``anyOf`` of objects with exactly one verb key. A bare string such as
``"answer"`` matches none of them, so SignalWire refuses the document.

The schemas are test data in ``<repo>/../shared/specs`` (beside the clone in CI); without them
these tests skip and say so.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from eventkit_signalwire import SwmlFetch, SwmlFetchApp
from eventkit_signalwire.swml import SWML_VERBS, render, swml_document, swml_fragment, swml_violations
from hypothesis import given, settings
from hypothesis import strategies as st

from eventkit import Event, ValidationError
from eventkit.testing import AsgiServer

jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a dev dependency (pip install -e '.[dev]')")

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs" / "signalwire"
CALLING = SPECS / "SWMLObject.calling.json"
AGENTS = SPECS / "signalwire_agents-1.1.0-schema.json"

pytestmark = pytest.mark.skipif(
    not CALLING.is_file() or not AGENTS.is_file(),
    reason=f"SignalWire's SWML schemas are not at {SPECS} (the shared/ checkout beside the repository)",
)


@cache
def _validator(path: Path) -> Any:
    schema = json.loads(path.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _schema_errors(document: Any, path: Path = CALLING) -> list[str]:
    return [error.message for error in _validator(path).iter_errors(document)]


def _schema_verbs(path: Path) -> set[str]:
    schema = json.loads(path.read_text(encoding="utf-8"))
    defs = schema["$defs"]
    verbs: set[str] = set()
    for alternative in defs["SWMLMethod"]["anyOf"]:
        method = defs[alternative["$ref"].rsplit("/", 1)[-1]]
        (verb,) = method["required"]
        assert set(method["properties"]) == {verb}  # one key, and nothing else allowed beside it
        verbs.add(verb)
    return verbs


def test_eventkit_knows_exactly_the_calling_schemas_verbs() -> None:
    assert _schema_verbs(CALLING) == SWML_VERBS
    assert _schema_verbs(AGENTS) <= SWML_VERBS


def test_a_bare_string_verb_is_refused_like_the_schema_does() -> None:
    document = {"version": "1.0.0", "sections": {"main": ["answer", {"hangup": {}}]}}
    assert _schema_errors(document) and _schema_errors(document, AGENTS)
    (violation,) = swml_violations(document)
    assert violation.field == "sections.main[0]" and violation.rule == "verb"
    assert '{"answer": {}}' in violation.message
    fixed = {"version": "1.0.0", "sections": {"main": [{"answer": {}}, {"hangup": {}}]}}
    assert _schema_errors(fixed) == [] and swml_violations(fixed) == []
    with pytest.raises(ValidationError):
        swml_document([Event("ready")], then=["answer"])  # type: ignore[list-item]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
events = st.dictionaries(st.text(), json_values, max_size=4)


@settings(max_examples=60, deadline=None)
@given(st.lists(events, max_size=4), st.lists(st.sampled_from([{"answer": {}}, {"hangup": {}}]), max_size=2))
def test_documents_eventkit_renders_are_valid_swml(objects: list[dict[str, Any]], then: list[Any]) -> None:
    document = swml_document(objects, then=then)
    assert _schema_errors(document) == []
    assert _schema_errors(document, AGENTS) == []
    assert _schema_errors({"version": "1.0.0", "sections": {"main": swml_fragment(objects)}}) == []


# Structural items: what swml_violations judges. Bodies are ones the schema accepts, so any
# disagreement is about the shape (root, sections, items), which eventkit must judge as SignalWire does.
_items = st.one_of(
    st.sampled_from(sorted(SWML_VERBS)),  # bare strings
    st.sampled_from(["bogus", "Answer", "user-event"]).map(lambda verb: {verb: {}}),
    st.just({"answer": {}, "hangup": {}}),
    st.sampled_from([{"answer": {}}, {"hangup": {}}, {"hangup": {"reason": "busy"}}, {"return": {}}]),
    st.sampled_from([{"user_event": {}}, {"user_event": {"event": "x"}}, {"user_event": {"event": {}, "x": 1}}]),
    events.map(lambda event: {"user_event": {"event": event}}),
    st.sampled_from([None, 1, [], {}]),
)
_sections = st.dictionaries(
    st.sampled_from(["main", "other", "main2"]),
    st.one_of(st.lists(_items, max_size=3), st.sampled_from([{}, "main", None])),
    max_size=3,
)
_documents = st.one_of(
    st.fixed_dictionaries({"sections": _sections}, optional={"version": st.sampled_from(["1.0.0", "1.0", 1])}),
    st.fixed_dictionaries({"sections": _sections, "extra": st.just(1)}),
    st.sampled_from([[], "answer", None, {}]),
)


@settings(max_examples=300, deadline=None)
@given(_documents)
def test_swml_violations_agrees_with_the_vendor_schema(document: Any) -> None:
    assert (swml_violations(document) == []) == (_schema_errors(document) == [])


FETCH = {"call": {"call_id": "5b1c7a52-0f0e-4c1c-9c43-1f6f3b0a9e21"}, "vars": {}, "envs": {}, "params": {}}


def test_the_fetch_endpoint_serves_only_schema_valid_documents() -> None:
    answers: list[Any] = [
        [Event("greeting", {"text": "hi", "nested": {"a": [1, None]}})],
        {"sections": {"main": [{"answer": {}}, {"user_event": {"event": {"a": 1}}}, {"hangup": {}}]}},
        {"version": "1.0.0", "sections": {"main": ["answer", {"hangup": {}}]}},  # SignalWire would refuse it
    ]

    def build(fetch: SwmlFetch) -> Any:
        return answers[int(fetch.params["n"])]

    app = SwmlFetchApp(build)
    with AsgiServer(app) as server:
        served = []
        for n in range(len(answers)):
            body = json.dumps({**FETCH, "params": {"n": n}}).encode()
            served.append(httpx.post(server.url, content=body, timeout=5))
    assert [r.status_code for r in served] == [200, 200, 500]
    for response in served[:2]:
        assert _schema_errors(response.json()) == []
        assert _schema_errors(json.loads(render(response.json()))) == []
    assert app.stats["answered"] == 2 and app.stats["errors"] == 1
