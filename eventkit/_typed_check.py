"""Portability of an event *type*: which providers can carry every field of it.

From a type alone eventkit knows the event name, every wire key, how deep the
values nest and which JSON kind each one takes, so each provider's own
validation runs on a representative event (every key present, one small value
of each declared type) at each target kind the provider sends to. What a type
cannot tell is the size of real values: size limits are checked when sending.
"""

from __future__ import annotations

import datetime as _dt
import enum
import importlib
import json
import os
import sys
import types
import typing
from decimal import Decimal
from typing import Any, Iterable, Literal, TextIO, Union

import attrs

from . import _registry
from ._capabilities import PayloadModel, SenderRule
from ._errors import ConfigurationError, EventkitError, Violation
from ._event import Event
from ._json import JSON, JSONObject
from ._provider import generic_violations
from ._targets import parse_target, sample_target
from ._typed import _MAPPINGS, _SEQUENCES, _is_pydantic, _is_record, check_declaration, record_fields

SAMPLE_TIME = "2024-01-02T03:04:05+00:00"


@attrs.frozen
class FieldReport:
    """One top-level field: its Python name, its wire key, and what it is on the wire."""

    name: str
    key: str
    type: str
    wire: str
    """The JSON kind it travels as (``string (decimal)``, ``object``, ...)."""


@attrs.frozen
class TypeVerdict:
    provider: str
    accepted: bool
    """True when the provider carries every field at every target checked."""
    payload: str | None = None
    targets: tuple[str, ...] = ()
    """The targets checked: the one given, or one of each kind the provider sends to."""
    violations: tuple[Violation, ...] = ()
    notes: tuple[str, ...] = ()
    """How the provider's value model carries these fields (knowable, not violations)."""
    error: str | None = None

    @property
    def refused_keys(self) -> list[str]:
        """Wire keys some violation names (``data.<key>``)."""
        keys = {v.field.split(".", 2)[1] for v in self.violations if v.field.startswith("data.")}
        return sorted(keys)


@attrs.frozen
class TypeReport:
    type: str
    event: str
    fields: tuple[FieldReport, ...]
    verdicts: tuple[TypeVerdict, ...]
    unknowable: tuple[str, ...] = ()

    @property
    def accepted_by(self) -> list[str]:
        return [v.provider for v in self.verdicts if v.accepted]

    @property
    def portable(self) -> bool:
        return all(v.accepted for v in self.verdicts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "event": self.event,
            "fields": [attrs.asdict(f) for f in self.fields],
            "providers": [
                {
                    "provider": v.provider,
                    "accepted": v.accepted,
                    "payload": v.payload,
                    "targets": list(v.targets),
                    "violations": [str(x) for x in v.violations],
                    "notes": list(v.notes),
                    **({"error": v.error} if v.error else {}),
                }
                for v in self.verdicts
            ],
            "unknowable": list(self.unknowable),
        }


# Samples and wire kinds of declared types


def _union_args(tp: Any) -> tuple[Any, ...] | None:
    origin = typing.get_origin(tp)
    if origin is Union or origin is types.UnionType:
        return typing.get_args(tp)
    return None


def sample(tp: Any, seen: frozenset[type] = frozenset()) -> JSON:
    """One small JSON value of the declared type, as eventkit would put it on the wire."""
    if tp is str or tp is Any or tp is object:
        return "sample"
    if tp is bool:
        return True
    if tp is int:
        return 1
    if tp is float:
        return 1.5
    if tp is Decimal:
        return "1.50"
    if tp is _dt.datetime:
        return SAMPLE_TIME
    if tp is _dt.date:
        return SAMPLE_TIME[:10]
    if tp is type(None):
        return None
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        first = next(iter(tp), None)
        value: JSON = first.value if first is not None else None
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        literal: JSON = args[0]
        return literal
    union = _union_args(tp)
    if union is not None:
        present = [a for a in union if a is not type(None)]
        return sample(present[0], seen) if present else None
    if tp in _SEQUENCES or origin in _SEQUENCES:
        items = [a for a in args if a is not Ellipsis]
        return [sample(items[0], seen)] if items else ["sample"]
    if tp in _MAPPINGS or origin in _MAPPINGS:
        return {"key": sample(args[1], seen) if args else "sample"}
    if (_is_record(tp) or _is_pydantic(tp)) and tp not in seen:
        return {f.key: sample(f.type, seen | {tp}) for f in record_fields(tp)}
    return {}


def wire_kind(tp: Any) -> str:
    if tp is str:
        return "string"
    if tp is bool:
        return "boolean"
    if tp is int:
        return "integer"
    if tp is float:
        return "number"
    if tp is Decimal:
        return "string (decimal, lossless)"
    if tp in (_dt.datetime, _dt.date):
        return "string (ISO 8601)"
    if tp is type(None):
        return "null"
    if tp is Any or tp is object:
        return "any JSON"
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return "enum value (" + ", ".join(repr(m.value) for m in tp) + ")"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    union = _union_args(tp)
    if union is not None:
        return " or ".join(wire_kind(a) for a in union)
    if tp in _SEQUENCES or origin in _SEQUENCES:
        return "array"
    return "object"


def _nested(tp: Any) -> bool:
    """Travels as a JSON array or object (not a scalar)."""
    union = _union_args(tp)
    if union is not None:
        return any(_nested(a) for a in union)
    return wire_kind(tp) in ("array", "object", "any JSON")


def _string_on_wire(tp: Any) -> bool:
    union = _union_args(tp)
    if union is not None:
        return all(_string_on_wire(a) or a is type(None) for a in union)
    kind = wire_kind(tp)
    return kind.startswith("string") or (
        isinstance(tp, type) and issubclass(tp, enum.Enum) and all(isinstance(m.value, str) for m in tp)
    )


# The check


def _sample_targets(provider: Any) -> list[str]:
    """One placeholder target per kind the provider declares (the ones ``check`` uses)."""
    return [sample_target(form.kind) for form in provider.capabilities.targets]


def _value_notes(payload: PayloadModel, fields: list[Any]) -> list[str]:
    if payload is not PayloadModel.FLAT_STRINGS:
        return []
    nested = [f.key for f in fields if _nested(f.type)]
    scalars = [f.key for f in fields if not _string_on_wire(f.type) and f.key not in nested]
    notes = []
    if scalars:
        notes.append(
            f"flat strings ({', '.join(scalars)}): sent as 'ekjson:<JSON>' text that eventkit reads back; "
            "written as plain strings (dialplan, other clients) they are converted to the declared types"
        )
    if nested:
        notes.append(
            f"nesting ({', '.join(nested)}): sent as 'ekjson:<compact JSON>' in one header line each; "
            "other clients see that text and must write that form"
        )
    return notes


def _verdict(name: str, event: Event, to: str | None, fields: list[Any]) -> TypeVerdict:
    try:
        cls = _registry.load(name)
        provider = cls(cls.Settings())
    except EventkitError as exc:
        return TypeVerdict(name, False, error=exc.message)
    targets = [to] if to is not None else _sample_targets(provider)
    found: dict[tuple[str, str, str], tuple[Violation, list[str]]] = {}
    partial: set[str] = set()
    for target_text in targets:
        target = parse_target(target_text)
        form = provider.capabilities.form_for(target.kind)
        sender = "sample" if form is not None and form.sender is SenderRule.REQUIRED else None
        probe = attrs.evolve(event, target=target_text, sender=sender)
        try:
            violations = provider.validate(probe, target)
        except EventkitError as exc:
            # The codec needs settings (e.g. a key to mint tokens): the declared limits still apply.
            partial.add(f"only the declared limits were checked: its codec needs settings ({exc.message})")
            violations = generic_violations(provider, probe)
        for v in violations:
            if v.field == "sender":
                continue  # who sends is not part of the type
            if to is None and not (v.field == "name" or v.field.startswith("data")):
                continue  # about the placeholder target, not the type
            found.setdefault((v.field, v.rule, v.message), (v, []))[1].append(target_text)
    refused = []
    for violation, where in found.values():
        if len(targets) > 1 and len(where) < len(targets):
            violation = attrs.evolve(violation, message=f"{violation.message} (at {', '.join(where)})")
        refused.append(violation)
    payload = provider.capabilities.payload
    notes = sorted(partial) + _value_notes(payload, fields)
    limits = provider.limits()
    if limits.max_payload_bytes is not None:
        notes.append(f"size: at most {limits.max_payload_bytes} bytes of compact JSON per event (checked when sending)")
    if not targets:
        return TypeVerdict(name, False, payload.value, error="no target kind of this provider could be checked")
    return TypeVerdict(name, not refused, payload.value, tuple(targets), tuple(refused), tuple(notes))


def check_type(cls: type, *, to: str | None = None, providers: Iterable[str] | None = None) -> TypeReport:
    """Which providers can carry every field of the event type ``cls``, and why not."""
    name = check_declaration(cls)
    if to is not None:
        parse_target(to)
    fields = record_fields(cls)
    data: JSONObject = {f.key: sample(f.type) for f in fields}
    event = Event(name, data)
    names = list(providers) if providers is not None else _registry.names()
    verdicts = tuple(_verdict(n, event, to, fields) for n in names)
    reports = tuple(FieldReport(f.name, f.key, _type_text(f.type), wire_kind(f.type)) for f in fields)
    unknowable = (
        "value sizes: whether real values fit a provider's size limits is checked when each event is sent",
        "string contents: characters a provider refuses inside values (e.g. CR/LF in AMI) are checked when sending",
    )
    return TypeReport(f"{cls.__module__}.{cls.__qualname__}", name, reports, verdicts, unknowable)


def _type_text(tp: Any) -> str:
    if isinstance(tp, type) and typing.get_origin(tp) is None:
        return tp.__name__
    return str(tp).replace("typing.", "").replace("decimal.", "").replace("datetime.", "")


# The command line: ``eventkit check --type module:Class``


def load_type(spec: str) -> type:
    """``package.module:Class`` (the current directory is importable, as for ``python -m``)."""
    module_name, colon, qualname = spec.partition(":")
    if not colon or not module_name or not qualname:
        raise ConfigurationError(f"--type needs MODULE:CLASS, got {spec!r}")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(f"cannot import {module_name!r}: {exc}") from None
    for part in qualname.split("."):
        if not hasattr(obj, part):
            raise ConfigurationError(f"{module_name!r} has no {qualname!r}")
        obj = getattr(obj, part)
    if not isinstance(obj, type):
        raise ConfigurationError(f"{spec!r} is not a class")
    return obj


def cli_check_type(spec: str, to: str | None, providers: Iterable[str] | None, as_json: bool, out: TextIO) -> int:
    report = check_type(load_type(spec), to=to, providers=providers)
    if as_json:
        out.write(json.dumps(report.to_dict(), indent=2) + "\n")
        return 0 if report.portable else 1
    out.write(f"{report.type}: event {report.event!r}\n\n")
    rows = [["field", "key", "type", "on the wire"]]
    rows += [[f.name, f.key, f.type, f.wire] for f in report.fields]
    _table(rows, out)
    out.write("\n")
    rows = [["provider", "carries", "payload", "why not / how"]]
    for verdict in report.verdicts:
        lines = [verdict.error] if verdict.error else [str(v) for v in verdict.violations]
        lines += list(verdict.notes)
        carries = "yes" if verdict.accepted else "no"
        rows.append([verdict.provider, carries, verdict.payload or "-", lines[0] if lines else "-"])
        rows += [["", "", "", line] for line in lines[1:]]
    _table(rows, out)
    out.write("\nnot knowable from a type: " + "; ".join(report.unknowable) + "\n")
    return 0 if report.portable else 1


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for n, row in enumerate(rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")
        if n == 0:
            out.write("  ".join("-" * w for w in widths) + "\n")
