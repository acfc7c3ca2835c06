"""Targets: where an event goes, parsed from strings into typed addresses.

The string forms are the user's interface (``channel:messaging:general``); the
typed forms are what codecs receive, so no codec splits strings itself.
Kinds eventkit does not know become :class:`OtherTarget`, which third-party
providers interpret.
"""

from __future__ import annotations

import re
from typing import ClassVar, Union
from urllib.parse import parse_qsl

import attrs

from ._errors import TargetError, Violation

_KIND = re.compile(r"[a-z][a-z0-9_.+-]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
ARI_SOURCE_KINDS = ("channel", "bridge", "endpoint", "deviceState")


def _bad(target: str, message: str) -> TargetError:
    return TargetError(violations=[Violation("to", "target", f"{target!r}: {message}")])


@attrs.frozen
class CallTarget:
    """``call:<call id>``: a live call (SignalWire)."""

    kind: ClassVar[str] = "call"
    call_id: str

    def __str__(self) -> str:
        return f"call:{self.call_id}"


@attrs.frozen
class ChannelTarget:
    """``channel:<type>:<id>``: a chat channel (Stream)."""

    kind: ClassVar[str] = "channel"
    type: str
    id: str

    def __str__(self) -> str:
        return f"channel:{self.type}:{self.id}"

    @property
    def cid(self) -> str:
        return f"{self.type}:{self.id}"


@attrs.frozen
class UserTarget:
    """``user:<id>``: every connection of one user (Stream)."""

    kind: ClassVar[str] = "user"
    user_id: str

    def __str__(self) -> str:
        return f"user:{self.user_id}"


@attrs.frozen
class ConversationTarget:
    """``conversation:<CON-id>``: a conversation (Vonage)."""

    kind: ClassVar[str] = "conversation"
    conversation_id: str

    def __str__(self) -> str:
        return f"conversation:{self.conversation_id}"


@attrs.frozen
class AmiTarget:
    """``ami``: every AMI session of the connected Asterisk."""

    kind: ClassVar[str] = "ami"

    def __str__(self) -> str:
        return "ami"


@attrs.frozen
class AppTarget:
    """``app:<name>[?source=channel:<id>&source=bridge:<id>...]``: an ARI application.

    Sources are ARI event sources (``channel:``, ``bridge:``, ``endpoint:``,
    ``deviceState:``); with none, the event is not tied to any object.
    """

    kind: ClassVar[str] = "app"
    app: str
    sources: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not self.sources:
            return f"app:{self.app}"
        return f"app:{self.app}?" + "&".join(f"source={s}" for s in self.sources)


@attrs.frozen
class TopicTarget:
    """``topic:<name>``: a named in-process topic (the ``memory`` provider)."""

    kind: ClassVar[str] = "topic"
    name: str

    def __str__(self) -> str:
        return f"topic:{self.name}"


@attrs.frozen
class OtherTarget:
    """A kind eventkit has no class for; a third-party provider reads ``value``."""

    kind: str
    value: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}" if self.value else self.kind


Target = Union[
    CallTarget, ChannelTarget, UserTarget, ConversationTarget, AmiTarget, AppTarget, TopicTarget, OtherTarget
]


def parse_target(text: object) -> Target:
    """Parse a target string; every malformed one raises :class:`TargetError`."""
    if not isinstance(text, str):
        raise TargetError(
            violations=[Violation("to", "target", f"a target must be a string, not {type(text).__name__}")]
        )
    if not text or text != text.strip():
        raise _bad(text, "empty or padded with spaces")
    if _CONTROL.search(text):
        raise _bad(text, "contains control characters")
    kind, sep, rest = text.partition(":")
    if not _KIND.match(kind):
        raise _bad(text, "the kind before ':' must be lowercase letters, digits, '_', '.', '+' or '-'")
    if kind == "ami":
        if rest:
            raise _bad(text, "'ami' takes no address")
        return AmiTarget()
    if not sep:
        return OtherTarget(kind, "")
    if not rest:
        raise _bad(text, f"'{kind}:' needs an address after the colon")
    if kind == "call":
        return CallTarget(_single(text, rest))
    if kind == "user":
        return UserTarget(_single(text, rest))
    if kind == "conversation":
        return ConversationTarget(_single(text, rest))
    if kind == "topic":
        return TopicTarget(_single(text, rest))
    if kind == "channel":
        type_, colon, id_ = rest.partition(":")
        if not colon or not type_ or not id_:
            raise _bad(text, "expected channel:<type>:<id>")
        return ChannelTarget(type_, id_)
    if kind == "app":
        return _parse_app(text, rest)
    return OtherTarget(kind, rest)


def _single(text: str, rest: str) -> str:
    if any(c.isspace() for c in rest):
        raise _bad(text, "the address contains whitespace")
    return rest


def _parse_app(text: str, rest: str) -> AppTarget:
    app, question, query = rest.partition("?")
    if not app or any(c in app for c in "/ ,"):
        raise _bad(text, "expected app:<name> (no '/', ',' or spaces in the name)")
    sources: list[str] = []
    if question:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
        except ValueError:
            raise _bad(text, "expected app:<name>?source=<kind>:<id>&...") from None
        for key, value in pairs:
            if key != "source":
                raise _bad(text, f"unknown parameter {key!r} (only 'source')")
            source_kind, colon, source_id = value.partition(":")
            if source_kind not in ARI_SOURCE_KINDS or not colon or not source_id:
                raise _bad(text, f"source {value!r} must be one of {', '.join(k + ':<id>' for k in ARI_SOURCE_KINDS)}")
            if "," in source_id:
                raise _bad(text, f"source {value!r}: ',' would split it into two sources")
            sources.append(value)
    return AppTarget(app, tuple(sources))


_PLACEHOLDER = "eventkit-check"
_SAMPLES = {
    "ami": "ami",
    "call": "call:00000000-0000-4000-8000-000000000000",
    "channel": f"channel:messaging:{_PLACEHOLDER}",
    "conversation": "conversation:CON-00000000-0000-4000-8000-000000000000",
}


def sample_target(kind: str) -> str:
    """A placeholder address of ``kind``, for asking whether an event fits that kind at all (``check``)."""
    return _SAMPLES.get(kind, f"{kind}:{_PLACEHOLDER}")
