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


def compact(value: Any) -> str:
    """Compact JSON text, the form every size limit in eventkit is measured on."""
    return _dumps(value)


def compact_bytes(value: Any) -> bytes:
    return _dumps(value).encode("utf-8")


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
