"""Dialplan rendering: an event as a ``UserEvent(name,key: value,...)`` call for extensions.conf.

What the rendered text goes through before ``app_userevent.c`` sees it (vendor
note §1.1): the config parser (``;`` starts a comment unless written ``\\;``),
variable substitution (``${...}`` and ``$[...]`` are expanded), then the
argument splitter (``,`` separates except inside ``(...)``, ``[...]`` or
``"..."``; ``"`` toggles and is removed; ``\\`` escapes the next character and is
removed), at most 100 body arguments, each split at its first ``:``, the value
trimmed. So this module escapes every character the splitter treats specially
with ``\\`` (and ``;`` as ``\\;``), and refuses what escaping cannot protect:
``${``/``$[`` (substitution runs first), CR/LF, keys that cannot be keys, and
values with leading or trailing whitespace (trimmed). Non-string values use
the same ``ekjson:`` encoding as AMI, so the listener decodes them back.
"""

from __future__ import annotations

from eventkit.provider import Event, ValidationError, Violation

from ._codec_ami import duplicate_key_violations, key_violations
from ._values import encode_value
from ._wire import MAX_DIALPLAN_KEYS, PROVIDER

_SPECIAL = set('\\,"()[];')


def _escape(text: str) -> str:
    if not _SPECIAL.intersection(text):
        return text
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def _text_violations(field: str, text: str) -> list[Violation]:
    out = []
    if any(c in text for c in "\r\n\x00"):
        out.append(Violation(field, "line_break", "extensions.conf lines cannot hold CR, LF or NUL", PROVIDER))
    if "${" in text or "$[" in text:
        out.append(
            Violation(
                field, "substitution", "'${' and '$[' are expanded by the dialplan before UserEvent runs", PROVIDER
            )
        )
    return out


def validate_dialplan(event: Event) -> list[Violation]:
    """Every reason the dialplan would not emit exactly ``event``."""
    out = _text_violations("name", event.name)
    if event.name != event.name.strip():
        out.append(Violation("name", "whitespace", "the name cannot start or end with whitespace", PROVIDER))
    if len(event.data) > MAX_DIALPLAN_KEYS:
        out.append(
            Violation(
                "data", "max_keys", f"{len(event.data)} keys; UserEvent() takes at most {MAX_DIALPLAN_KEYS}", PROVIDER
            )
        )
    out.extend(duplicate_key_violations(event.data))
    for key, value in event.data.items():
        out.extend(key_violations(key))
        out.extend(_text_violations(f"data.{key}", key))
        encoded = encode_value(value)
        out.extend(_text_violations(f"data.{key}", encoded))
        if encoded != encoded.strip():
            out.append(
                Violation(
                    f"data.{key}", "whitespace", "UserEvent() trims values: no leading or trailing whitespace", PROVIDER
                )
            )
    return out


def render_user_event(event: Event) -> str:
    """``UserEvent(Name,Key: value,...)``; raises :class:`ValidationError` listing every problem."""
    violations = validate_dialplan(event)
    if violations:
        raise ValidationError(violations=violations, provider=PROVIDER)
    args = [_escape(event.name)]
    args.extend(f"{_escape(key)}: {_escape(encode_value(value))}" for key, value in event.data.items())
    return f"UserEvent({','.join(args)})"


def render_extensions_line(event: Event, priority: str = "n", *, exten: str | None = None) -> str:
    """A whole extensions.conf line: ``same => n,UserEvent(...)`` or ``exten => x,1,UserEvent(...)``."""
    call = render_user_event(event)
    if exten is None:
        return f" same => {priority},{call}"
    return f"exten => {exten},{priority},{call}"
