"""JSON values: the one payload model every provider starts from.

Events carry ``dict[str, JSON]``. Checking and copying happen once, when an
event is built, so that nothing non-JSON can reach a codec and a caller's later
mutation of its own dict cannot change an event already handed over.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Dict, List, Union

JSON = Union[None, bool, int, float, str, List["JSON"], Dict[str, "JSON"]]
JSONObject = Dict[str, JSON]

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
_loads = json.JSONDecoder().decode
_STR_ONLY = {str}
_quote = json.encoder.encode_basestring  # the encoder's own string quoting (C), as ensure_ascii=False does


def compact(value: Any) -> str:
    """Compact JSON text, the form every size limit in eventkit is measured on."""
    return _dumps(value)


def compact_bytes(value: Any) -> bytes:
    return _dumps(value).encode("utf-8")


def checked_copy(value: dict[str, Any]) -> tuple[JSONObject, bytes] | None:
    """Validate, copy and serialise a JSON object in one pass of C code, or ``None``.

    The compact encoder refuses non-JSON types, non-finite floats and cycles;
    UTF-8 encoding refuses lone surrogates; parsing the bytes back gives the deep
    copy; comparing it with the original catches what the encoder would have
    coerced silently (non-string keys, tuples). Nesting deeper than 64 levels
    needs at least 65 brackets, so fewer brackets prove the depth rule (more
    brackets: the walk checks, and the copy and bytes still come from here). ``None``
    means "not proven valid here": the caller runs :func:`json_problems`, which
    says exactly what is wrong (or that nothing is, and copies the slow way).
    The bytes are the compact JSON every size limit is measured on, and what a
    codec can splice into its body instead of serialising the data again.
    """
    try:
        text = _dumps(value)
        raw = text.encode("utf-8")
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        return None
    if raw.count(b"{") == 1 and b"[" not in raw and set(map(type, value)) == _STR_ONLY:
        # Flat: only the root's brace, so every value is a scalar (immutable): a shallow
        # copy is a deep one; string keys mean the encoder coerced nothing.
        return dict(value), raw
    if raw.count(b"{") + raw.count(b"[") > _MAX_DEPTH and json_problems(value):
        return None
    copied: JSONObject = _loads(text)
    if copied != value:
        return None
    return copied, raw


def merged_object(data_json: bytes, before: dict[str, Any], after: dict[str, Any] | None = None) -> bytes:
    """``{**before, **data, **after}`` as compact JSON, reusing the data's bytes.

    Byte for byte what serialising the merged dict gives, when no data key is one
    of ``before``'s or ``after``'s (callers check, or fall back to serialising):
    a codec that puts the data beside its own fields thus never walks it again.
    """
    parts = [_members(before).encode("utf-8"), data_json[1:-1]]
    if after:
        parts.append(_members(after).encode("utf-8"))
    return b"{" + b",".join([part for part in parts if part]) + b"}"


def _members(obj: dict[str, Any]) -> str:
    """An object's members as compact JSON (no braces); strings and objects of strings
    without the encoder's Python-level wrapper, which costs more than the work here."""
    return ",".join([f"{_quote(key)}:{_value(value)}" for key, value in obj.items()])


def _value(value: Any) -> str:
    if type(value) is str:
        return _quote(value)
    if type(value) is dict and all(type(key) is str for key in value):
        return "{" + _members(value) + "}"
    return _dumps(value)


def json_problems(value: Any, path: str = "data") -> list[str]:
    """Every reason ``value`` is not a JSON value, as ``path: reason`` strings."""
    problems: list[str] = []
    _walk(value, path, problems, 0)
    return problems


_MAX_DEPTH = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """A lone surrogate (from a JSON escape like ``\\ud800``) cannot become UTF-8 on any wire."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def _walk(value: Any, path: str, problems: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        problems.append(f"{path}: nested deeper than {_MAX_DEPTH} levels")
        return
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            problems.append(f"{path}: a lone surrogate cannot be encoded as UTF-8")
        return
    if value is None or isinstance(value, (bool, int)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            problems.append(f"{path}: {value!r} is not a JSON number")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                problems.append(f"{path}: key {key!r} is not a string")
                continue
            if not key.isascii() and _SURROGATE.search(key):
                problems.append(f"{path}: key {key!r} holds a lone surrogate, which cannot be encoded as UTF-8")
                continue
            _walk(item, f"{path}.{key}", problems, depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _walk(item, f"{path}[{index}]", problems, depth + 1)
        return
    problems.append(f"{path}: {type(value).__name__} is not a JSON type")


def copy_json(value: Any) -> Any:
    """Deep copy of a checked JSON value; tuples become lists, as JSON would."""
    if isinstance(value, dict):
        return {key: copy_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [copy_json(item) for item in value]
    return value


def parse_object(text: str | bytes, what: str = "data") -> JSONObject:
    """Parse JSON text that must hold an object; raises ``ValueError`` with a reason."""
    try:
        value = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"{what} is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValueError(f"{what} is nested too deeply to parse") from None
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, not {type(value).__name__}")
    return value
