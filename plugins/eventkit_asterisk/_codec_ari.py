"""ARI user events, sans-I/O: ``POST /ari/events/user/{name}`` and ``ChannelUserevent``.

Facts from Asterisk's ``rest-api/api-docs/events.json`` (``POST /events/user/{eventName}``),
``res/res_ari_events.c`` and ``res/ari/resource_events.c``, and statuses observed on a running
Asterisk. Variables are JSON and keep their types; Asterisk adds an
``eventname`` key inside ``userevent``, which the decoder removes again.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from eventkit.provider import (
    AppTarget,
    Event,
    HttpRequest,
    HttpResponse,
    JSONObject,
    ProtocolError,
    Receipt,
    Target,
    ValidationError,
    Violation,
    from_status,
    join_url,
    parse_time,
    retry_after_seconds,
    segment,
)

from ._codec_ami import validate_ami
from ._settings import AsteriskSettings
from ._values import escape_json_strings, unescape_json_strings
from ._wire import INT64_MAX, INT64_MIN, MAX_BODY_BYTES, MAX_SOURCES, PROVIDER, SOURCE_KINDS


def _body(event: Event) -> bytes:
    variables = escape_json_strings(event.data)
    return json.dumps({"variables": variables}, ensure_ascii=False, separators=(",", ":")).encode()


class AriCodec:
    """An :class:`eventkit.HttpCodec` for ``app:<name>`` targets."""

    def __init__(self, settings: AsteriskSettings) -> None:
        self.settings = settings

    def validate(self, event: Event, target: Target) -> list[Violation]:
        if not isinstance(target, AppTarget):
            return []
        return validate_ari(event, target)

    def encode(self, event: Event, target: Target) -> HttpRequest:
        assert isinstance(target, AppTarget)
        s = self.settings
        assert s.ari_url is not None
        query: dict[str, str] = {"application": target.app}
        if target.sources:
            query["source"] = ",".join(target.sources)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if s.ari_username and s.ari_password:
            token = base64.b64encode(f"{s.ari_username}:{s.ari_password.reveal()}".encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        elif s.ari_api_key:
            query["api_key"] = s.ari_api_key.reveal()
        # "+" must travel as %2B: Asterisk decodes path segments the legacy way ("+" is a space).
        url = join_url(s.ari_url, "ari", "events", "user", segment(event.name, "name"))
        url += "?" + urlencode(query, safe=":/,", quote_via=quote)
        return HttpRequest("POST", url, headers, _body(event))

    def parse_response(self, request: HttpRequest, response: HttpResponse) -> Receipt:
        if 200 <= response.status < 300:
            return Receipt(status=response.status)
        body = response.json_or_none()
        message = body.get("message") if isinstance(body, dict) else None
        text = message if isinstance(message, str) else f"ARI answered {response.status}"
        violations = []
        if response.status == 422:
            violations.append(Violation("to", "source", text, PROVIDER))
        raise from_status(
            response.status,
            text,
            provider=PROVIDER,
            body=body if body is not None else response.content.decode("utf-8", "replace")[:500],
            retry_after=retry_after_seconds(response.headers),
            violations=violations,
        )


def _strings_with_breaks(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, str):
        if any(c in value for c in "\r\n\x00"):
            out.append(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if any(c in key for c in "\r\n\x00"):
                out.append(f"{path}.{key}")
            _strings_with_breaks(item, f"{path}.{key}", out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _strings_with_breaks(item, f"{path}[{index}]", out)


def _wide_integers(value: Any, path: str, out: list[str]) -> None:
    if isinstance(value, int) and not isinstance(value, bool):
        if not INT64_MIN <= value <= INT64_MAX:
            out.append(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            _wide_integers(item, f"{path}.{key}", out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _wide_integers(item, f"{path}[{index}]", out)


def validate_ari(event: Event, target: AppTarget) -> list[Violation]:
    out: list[Violation] = []
    wide: list[str] = []
    _wide_integers(event.data, "data", wide)
    out.extend(
        Violation(
            path,
            "int64",
            "Asterisk's JSON parser holds signed 64-bit integers only (ARI answers 400 Error parsing request body); "
            "send a larger number as a string",
            PROVIDER,
        )
        for path in wide
    )
    for key in event.data:
        if key.lower() == "eventname":
            out.append(Violation(f"data.{key}", "reserved", "Asterisk overwrites 'eventname' with the name", PROVIDER))
    for source in target.sources:
        kind = source.partition(":")[0]
        if kind not in SOURCE_KINDS:
            out.append(
                Violation(
                    "to",
                    "source",
                    f"Asterisk implements only {', '.join(k + ':' for k in SOURCE_KINDS)} sources, not {source!r}",
                    PROVIDER,
                )
            )
    if len(target.sources) > MAX_SOURCES:
        out.append(Violation("to", "source", f"at most {MAX_SOURCES} sources", PROVIDER))
    if any(s.startswith("channel:") for s in target.sources):
        # With a channel source Asterisk also emits the event on AMI, unescaped: no line breaks.
        broken: list[str] = []
        _strings_with_breaks(event.data, "data", broken)
        out.extend(
            Violation(
                p, "line_break", "with a channel: source the event also goes to AMI, which cannot carry CR/LF", PROVIDER
            )
            for p in broken
        )
    if any(c in event.name for c in "\r\n\x00"):
        out.append(Violation("name", "line_break", "the name cannot contain CR, LF or NUL", PROVIDER))
    size = len(_body(event))
    if size > MAX_BODY_BYTES:
        out.append(
            Violation("data", "max_bytes", f"the request body is {size} bytes, over ARI's {MAX_BODY_BYTES}", PROVIDER)
        )
    return out


def _ari_time(text: Any) -> datetime | None:
    """ARI writes ``2014-05-20T13:15:27.131-0500`` (no colon in the offset)."""
    if not isinstance(text, str) or len(text) < 5:
        return None
    if text[-5] in "+-" and text[-4:].isdigit():
        text = f"{text[:-2]}:{text[-2:]}"
    try:
        return parse_time(text)
    except ValidationError:
        return None


def decode_ari_event(message: Any, raw: Any = None) -> Event | None:
    """A ``ChannelUserevent`` websocket message as an event; ``None`` for other types.

    Raises :class:`ProtocolError` for a ``ChannelUserevent`` that lacks its required fields.
    """
    if not isinstance(message, dict) or message.get("type") != "ChannelUserevent":
        return None
    name = message.get("eventname")
    userevent = message.get("userevent")
    if not isinstance(name, str) or not name or not isinstance(userevent, dict):
        raise ProtocolError("ChannelUserevent without eventname/userevent", provider=PROVIDER)
    data: JSONObject = {k: unescape_json_strings(v) for k, v in userevent.items() if k != "eventname"}
    meta: JSONObject = {
        k: message[k]
        for k in ("application", "asterisk_id", "timestamp", "channel", "bridge", "endpoint")
        if k in message
    }
    source = None
    for kind in ("channel", "bridge"):
        obj = message.get(kind)
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            source = f"{kind}:{obj['id']}"
            break
    endpoint = message.get("endpoint")
    if source is None and isinstance(endpoint, dict):
        source = f"endpoint:{endpoint.get('technology')}/{endpoint.get('resource')}"
    application = message.get("application")
    return Event.received(
        name,
        data,
        provider=PROVIDER,
        raw=raw if raw is not None else message,
        time=_ari_time(message.get("timestamp")),
        target=f"app:{application}" if isinstance(application, str) else None,
        source=source or (f"app:{application}" if isinstance(application, str) else None),
        meta=meta,
    )


def decode_ari_frame(text: str | bytes) -> Event | None:
    """One ARI websocket frame as an event (``None`` for other message types).

    Every bad frame raises :class:`ProtocolError`: not JSON, bad UTF-8, nesting too deep
    for the parser (``RecursionError``), or a ``ChannelUserevent`` without its fields.
    """
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError("an ARI websocket frame is not JSON", provider=PROVIDER) from None
    return decode_ari_event(message, text if isinstance(text, str) else text.decode("utf-8", "replace"))


def validate_any(event: Event, target: Target) -> list[Violation]:
    """Per-target rules: AMI's line rules for ``ami``, ARI's for ``app:``."""
    if isinstance(target, AppTarget):
        return validate_ari(event, target)
    if target.kind == "ami":
        return validate_ami(event)
    return []
