"""The reversible encoding of non-string values in AMI headers and dialplan bodies.

AMI and ``UserEvent()`` carry only strings. eventkit sends a string value as
itself, so other AMI clients see exactly what they expect, and sends any other
JSON value (number, boolean, null, list, object) as ``ekjson:`` followed by its
compact JSON. A string that itself begins with ``ekjson:`` is sent the same
way (as a JSON string), so decoding is unambiguous and eventkit-to-eventkit
round trips are exact. A received value that starts with the marker but is not
valid JSON is kept as the string it is (it came from someone else).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from eventkit.provider import JSON

MARKER = "ekjson:"


def encode_value(value: JSON) -> str:
    if isinstance(value, str) and not value.startswith(MARKER):
        return value
    return MARKER + json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def decode_value(text: str) -> JSON:
    if not text.startswith(MARKER):
        return text
    try:
        value: Any = json.loads(text[len(MARKER) :])
    except (ValueError, RecursionError):
        return text
    return value  # type: ignore[no-any-return]


def _map_strings(value: Any, change: Callable[[str], Any]) -> Any:
    if isinstance(value, str):
        return change(value) if value.startswith(MARKER) else value
    if isinstance(value, dict):
        return {k: _map_strings(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, change) for v in value]
    return value


def escape_json_strings(value: JSON) -> JSON:
    """For ARI, which carries JSON natively: only marker-leading strings need escaping."""
    escaped: JSON = _map_strings(value, encode_value)
    return escaped


def unescape_json_strings(value: Any) -> Any:
    return _map_strings(value, decode_value)
