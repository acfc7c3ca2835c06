"""SWML rendering: events as the ``user_event`` verb, as a fragment or a whole document.

Pure functions. What they produce follows SignalWire's SWML schema for
``user_event``: the verb holds exactly one key, ``event``, and it is a JSON
object; a document is ``{"version": "1.0.0", "sections": {"main": [...]}}``.
:func:`swml_violations` checks those rules on any document, so a document
built elsewhere (or edited after rendering) can be checked before it is served.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Literal, Mapping, Union

from eventkit.provider import Event, JSONObject, ValidationError, Violation, copy_json, json_problems

from ._wire import PROVIDER, event_object, name_key_violations, object_violations

SWML_VERSION = "1.0.0"

SWML_VERBS = frozenset(
    {
        "ai",
        "ai_sidecar",
        "amazon_bedrock",
        "answer",
        "cond",
        "connect",
        "denoise",
        "detect_machine",
        "enter_queue",
        "execute",
        "goto",
        "hangup",
        "join_conference",
        "join_room",
        "label",
        "live_transcribe",
        "live_translate",
        "pay",
        "play",
        "prompt",
        "receive_fax",
        "record",
        "record_call",
        "request",
        "return",
        "send_digits",
        "send_fax",
        "send_sms",
        "set",
        "sip_refer",
        "sleep",
        "stop_denoise",
        "stop_record_call",
        "stop_stream",
        "stop_tap",
        "stream",
        "switch",
        "tap",
        "transcribe",
        "transcribe_stop",
        "transfer",
        "unset",
        "user_event",
    }
)
"""The verbs of SignalWire's calling SWML schema: one key of each ``SWMLMethod`` alternative.

Source: signalwire/docs ``specs/swml/calling/tsp-output/@typespec/json-schema/SWMLObject.json``
(``$defs.SWMLMethod.anyOf``; every alternative is an object with exactly that one key and no
other). The schema shipped in the ``signalwire-agents`` SDK (1.1.0) lists a subset. A test
compares this set with both, so a schema that adds a verb shows up as a failing test.
"""
Format = Literal["json", "yaml"]
EventLike = Union[Event, Mapping[str, Any]]

__all__ = [
    "SWML_VERBS",
    "SWML_VERSION",
    "render",
    "swml_document",
    "swml_fragment",
    "swml_violations",
    "user_event_verb",
    "user_event_verbs",
]


def _event_object(event: EventLike, name_key: str, field: str) -> JSONObject:
    if isinstance(event, Event):
        violations = name_key_violations(event.data, name_key)
        if violations:
            raise ValidationError(violations=violations, provider=PROVIDER)
        return event_object(event.name, event.data, name_key)
    violations = object_violations(event, field)
    if not violations:
        violations = [Violation(field, "json", p, PROVIDER) for p in json_problems(dict(event), field)]
    if violations:
        raise ValidationError(violations=violations, provider=PROVIDER)
    copied: JSONObject = copy_json(dict(event))
    return copied


def user_event_verb(event: EventLike, *, name_key: str = "type") -> JSONObject:
    """``{"user_event": {"event": {...}}}`` for an eventkit :class:`Event` or a plain event object.

    An :class:`Event` becomes ``{name_key: name, **data}`` (as the REST sender
    sends it); a mapping is used as the event object unchanged.
    """
    return {"user_event": {"event": _event_object(event, name_key, "event")}}


def user_event_verbs(events: Iterable[EventLike], *, name_key: str = "type") -> list[JSONObject]:
    """One verb per event; every bad event is reported, not just the first."""
    verbs: list[JSONObject] = []
    violations: list[Violation] = []
    for index, event in enumerate(events):
        try:
            verbs.append({"user_event": {"event": _event_object(event, name_key, f"events[{index}]")}})
        except ValidationError as exc:
            violations.extend(exc.violations)
    if violations:
        raise ValidationError(violations=violations, provider=PROVIDER)
    return verbs


def swml_document(
    events: Iterable[EventLike] = (),
    *,
    name_key: str = "type",
    then: Iterable[Mapping[str, Any]] = (),
) -> JSONObject:
    """A whole SWML document whose ``main`` section fires the events, then runs ``then`` verbs."""
    main: list[Any] = [
        *user_event_verbs(events, name_key=name_key),
        *(dict(verb) if isinstance(verb, Mapping) else verb for verb in then),
    ]
    document: JSONObject = {"version": SWML_VERSION, "sections": {"main": main}}
    violations = swml_violations(document)
    if violations:
        raise ValidationError(violations=violations, provider=PROVIDER)
    return document


def swml_fragment(events: Iterable[EventLike], *, name_key: str = "type") -> list[JSONObject]:
    """The verbs alone, to splice into a section of a document built elsewhere."""
    return user_event_verbs(events, name_key=name_key)


def render(value: Any, format: Format = "json") -> str:
    """A document or fragment as JSON or YAML text (YAML needs ``eventkit-cpaas[yaml]``)."""
    if format == "json":
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    if format == "yaml":
        try:
            import yaml
        except ImportError:
            from eventkit.provider import CapabilityError

            raise CapabilityError(
                "YAML SWML needs PyYAML: pip install 'eventkit-cpaas[yaml]'", provider=PROVIDER
            ) from None
        # allow_unicode would emit U+0085 and U+2028 raw, which YAML reads back as line breaks.
        text: str = yaml.safe_dump(value, sort_keys=False, allow_unicode=False, default_flow_style=False)
        return text
    raise ValidationError(violations=[Violation("format", "choice", "format must be 'json' or 'yaml'", PROVIDER)])


def swml_violations(document: Any) -> list[Violation]:
    """Every way ``document`` breaks the SWML schema's rules for its root, its verbs and ``user_event``.

    Root: only ``version`` (the string ``"1.0.0"``) and ``sections``; ``sections``
    an object holding a ``main`` array; every section an array of verbs. A verb
    is what the schema's ``SWMLMethod`` allows: an object with exactly one key,
    a name from :data:`SWML_VERBS`. A bare string such as ``"answer"`` is not a
    verb (SignalWire's schema and its SDK's validator refuse it): write
    ``{"answer": {}}``. ``user_event``: exactly ``{"event": <object>}``. The
    bodies of other verbs are SignalWire's to judge and pass untouched.
    """

    def bad(field: str, rule: str, message: str) -> None:
        out.append(Violation(field, rule, message, PROVIDER))

    out: list[Violation] = []
    if not isinstance(document, Mapping):
        bad("document", "object", "an SWML document is a JSON object")
        return out
    for key in document:
        if key not in ("version", "sections"):
            bad(str(key), "unknown", f"SWML documents have no {key!r} key")
    if "version" in document and document["version"] != SWML_VERSION:
        bad("version", "const", f"version must be the string {SWML_VERSION!r}")
    sections = document.get("sections")
    if not isinstance(sections, Mapping):
        bad("sections", "required", "sections must be an object")
        return out
    if "main" not in sections:
        bad("sections.main", "required", "sections needs a main section")
    for name, verbs in sections.items():
        where = f"sections.{name}"
        if not isinstance(verbs, list):
            bad(where, "array", "a section is an array of verbs")
            continue
        for index, verb in enumerate(verbs):
            _verb_violations(verb, f"{where}[{index}]", bad)
    return out


def _verb_violations(verb: Any, at: str, bad: Callable[[str, str, str], None]) -> None:
    if isinstance(verb, str):
        shown = json.dumps(verb, ensure_ascii=False)
        bad(at, "verb", f"a verb is an object, not the string {shown}: write {{{shown}: {{}}}}")
        return
    if not isinstance(verb, Mapping) or len(verb) != 1:
        bad(at, "verb", "a verb is an object with exactly one key, the verb's name")
        return
    (key,) = verb
    if key not in SWML_VERBS:
        bad(at, "unknown_verb", f"{key!r} is not a verb of SignalWire's SWML schema")
        return
    if key != "user_event":
        return
    body = verb["user_event"]
    if not isinstance(body, Mapping) or "event" not in body:
        bad(f"{at}.user_event", "required", "user_event needs an event")
        return
    for field in body:
        if field != "event":
            bad(f"{at}.user_event.{field}", "unknown", "user_event holds only event")
    if not isinstance(body["event"], Mapping):
        bad(f"{at}.user_event.event", "object", "event must be a JSON object")
