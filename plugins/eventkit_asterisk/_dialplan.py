"""Dialplan rendering: an event as a ``UserEvent(name,key: value,...)`` call for extensions.conf.

What the rendered text goes through before ``app_userevent.c`` sees it (Asterisk's
``apps/app_userevent.c``, ``main/app.c`` ``__ast_app_separate_args`` and ``main/config.c``): the config parser (``;`` starts a comment unless written ``\\;``),
variable substitution (``${...}`` and ``$[...]`` are expanded), then the
argument splitter (``,`` separates except inside ``(...)``, ``[...]`` or
``"..."``; ``"`` toggles and is removed; ``\\`` escapes the next character and is
removed), at most 100 body arguments, each split at its first ``:``, the value
trimmed. So this module escapes every character the splitter treats specially
with ``\\`` (and ``;`` as ``\\;``), and refuses what escaping cannot protect:
``${``/``$[`` (substitution runs first), CR/LF, keys that cannot be keys, and
values with leading or trailing whitespace (trimmed). Non-string values use
the same ``ekjson:`` encoding as AMI, so the listener decodes them back.

Line length: Asterisk reads extensions.conf with an 8192-byte line buffer
(``main/config.c``). On Asterisk 22.10.1 a line of 8,190 bytes (before its line
break) loads; at 8,191 Asterisk logs ``Line N too long, skipping``, never
registers the step, and the event is lost without an error to whoever wrote the
line. So :func:`render_extensions_line` refuses a line longer than
:data:`MAX_DIALPLAN_LINE_BYTES`, and :func:`render_user_event` refuses a call that would
not leave ``room`` bytes (:data:`DIALPLAN_LINE_ROOM` by default) of such a line for
whatever goes before it.
"""

from __future__ import annotations

from eventkit.provider import Event, PayloadTooLargeError, ValidationError, Violation

from ._codec_ami import duplicate_key_violations, key_violations
from ._values import encode_value
from ._wire import DIALPLAN_LINE_ROOM, MAX_DIALPLAN_KEYS, MAX_DIALPLAN_LINE_BYTES, PROVIDER

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


def validate_dialplan(event: Event, *, room: int = DIALPLAN_LINE_ROOM) -> list[Violation]:
    """Every reason the dialplan would not emit exactly ``event``.

    Includes the line limit: the rendered ``UserEvent(...)`` call plus ``room``
    bytes must fit in :data:`MAX_DIALPLAN_LINE_BYTES`.
    """
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
    out.extend(_line_violations(len(_call(event).encode("utf-8", "surrogatepass")), room))
    return out


def _line_violations(size: int, room: int) -> list[Violation]:
    if size + room <= MAX_DIALPLAN_LINE_BYTES:
        return []
    return [
        Violation(
            "data",
            "max_line_bytes",
            f"UserEvent(...) is {size} bytes and {room} are kept for the start of its line: "
            f"Asterisk skips extensions.conf lines over {MAX_DIALPLAN_LINE_BYTES} bytes (main/config.c), losing the event",
            PROVIDER,
        )
    ]


def _call(event: Event) -> str:
    args = [_escape(event.name)]
    args.extend(f"{_escape(key)}: {_escape(encode_value(value))}" for key, value in event.data.items())
    return f"UserEvent({','.join(args)})"


def _raise(violations: list[Violation]) -> None:
    if any(v.rule == "max_line_bytes" for v in violations):
        raise PayloadTooLargeError(violations=violations, provider=PROVIDER)
    raise ValidationError(violations=violations, provider=PROVIDER)


def render_user_event(event: Event, *, room: int = DIALPLAN_LINE_ROOM) -> str:
    """``UserEvent(Name,Key: value,...)``; raises :class:`ValidationError` listing every problem.

    The call is at most ``MAX_DIALPLAN_LINE_BYTES - room`` bytes (7,934 by default), so it
    still loads with up to ``room`` bytes before it on its extensions.conf line;
    pass the length of your own line start for an exact check. Too long raises
    :class:`PayloadTooLargeError` (a :class:`ValidationError`).
    """
    if not 0 <= room <= MAX_DIALPLAN_LINE_BYTES:
        raise ValidationError(
            violations=[Violation("room", "range", f"room must be 0 to {MAX_DIALPLAN_LINE_BYTES} bytes", PROVIDER)],
            provider=PROVIDER,
        )
    violations = validate_dialplan(event, room=room)
    if violations:
        _raise(violations)
    return _call(event)


def render_extensions_line(event: Event, priority: str = "n", *, exten: str | None = None) -> str:
    """A whole extensions.conf line: ``same => n,UserEvent(...)`` or ``exten => x,1,UserEvent(...)``.

    Refuses (:class:`PayloadTooLargeError`) a line longer than :data:`MAX_DIALPLAN_LINE_BYTES`:
    Asterisk would skip it and the event would never be emitted.
    """
    start = f" same => {priority}," if exten is None else f"exten => {exten},{priority},"
    room = len(start.encode("utf-8", "surrogatepass"))
    violations = validate_dialplan(event, room=room)
    violations.extend(_text_violations("priority", priority))
    violations.extend(_text_violations("exten", exten or ""))
    if violations:
        _raise(violations)
    return start + _call(event)
