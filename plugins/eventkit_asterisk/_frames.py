"""AMI framing, sans-I/O: bytes in, frames out; frames in, bytes out.

Like h11, this knows nothing about sockets. The parser is fed whatever a read
returned (half a frame, a UTF-8 character split in two, ten frames at once) and
returns the complete frames. It is written for throughput: the buffer is split
with ``bytes``/``str`` methods that run in C, never walked character by
character, because a busy Asterisk emits tens of thousands of events a second.

Wire rules (Asterisk's ``main/manager.c``, and
https://github.com/clue/reactphp-ami/pull/49 for Asterisk 16's stray empty lines): lines end in ``\\r\\n`` or a bare ``\\n``; an
empty line ends a message; the server's banner is one line with no blank line
after it; Asterisk 16 sends stray empty lines between events, which are skipped.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from eventkit.provider import ValidationError, Violation

DEFAULT_MAX_FRAME_BYTES = 1 << 20


class AmiFrame:
    """One AMI message: its header lines in order (names keep their case; lookups ignore it).

    The parser's fast path keeps the names and values as two lists (what the
    decoder slices); the ``(name, value)`` pairs are built only if asked for.
    """

    __slots__ = ("_headers", "keys", "values")

    def __init__(self, headers: list[tuple[str, str]]) -> None:
        self._headers: list[tuple[str, str]] | None = headers
        self.keys: list[str] | None = None
        """Header names in order, when the parser's fast path read the message (else ``None``)."""
        self.values: list[str] | None = None

    @property
    def headers(self) -> list[tuple[str, str]]:
        headers = self._headers
        if headers is None:
            assert self.keys is not None and self.values is not None
            headers = self._headers = list(zip(self.keys, self.values, strict=True))
        return headers

    @property
    def kind(self) -> str:
        """``event``, ``response`` or ``other``: what Asterisk put on the first line.

        Classifying by the first line (not by ``ActionID``) is what keeps a
        UserEvent that echoes the sender's ``ActionID`` an event.
        """
        first = self.keys[0] if self.keys else self.headers[0][0] if self.headers else ""
        first = first.lower()
        if first == "event":
            return "event"
        if first == "response":
            return "response"
        return "other"

    def get(self, name: str, default: str | None = None) -> str | None:
        wanted = name.lower()
        keys = self.keys
        # The fast path's lists are read in place: no (name, value) pairs built for a lookup.
        pairs = self.headers if keys is None else zip(keys, self.values, strict=True)  # type: ignore[arg-type]
        for key, value in pairs:
            if key.lower() == wanted:
                return value
        return default

    def __repr__(self) -> str:
        return f"AmiFrame({self.headers!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AmiFrame) and other.headers == self.headers

    __hash__ = None  # type: ignore[assignment]


class MalformedFrame:
    """A message that is not ``Key: value`` lines; listeners count and drop it."""

    __slots__ = ("data", "reason")

    def __init__(self, reason: str, data: bytes) -> None:
        self.reason = reason
        self.data = data

    def __repr__(self) -> str:
        return f"MalformedFrame({self.reason!r})"


class AmiParser:
    """Incremental AMI parser: ``feed(bytes) -> [AmiFrame | MalformedFrame, ...]``.

    ``expect_banner`` makes the first line the server banner (kept in
    :attr:`banner`), since Asterisk sends it without a terminating blank line.
    A message growing past ``max_frame_bytes`` without ending is dropped as
    malformed, so a broken peer cannot make the client buffer without bound.
    """

    __slots__ = ("_buf", "_skipping", "banner", "expect_banner", "max_frame_bytes")

    def __init__(self, *, expect_banner: bool = False, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self._buf = b""
        self.banner: str | None = None
        self.expect_banner = expect_banner
        self.max_frame_bytes = max_frame_bytes
        self._skipping = False

    def feed(self, data: bytes) -> list[AmiFrame | MalformedFrame]:
        buf = self._buf + data if self._buf else data
        if b"\r" in buf:
            # A trailing lone "\r" stays and pairs with the next read's "\n".
            buf = buf.replace(b"\r\n", b"\n")
        out: list[AmiFrame | MalformedFrame] = []
        if self.expect_banner and self.banner is None:
            end = buf.find(b"\n")
            if end < 0:
                self._buf = self._check_size(buf, out)
                return out
            self.banner = buf[:end].decode("utf-8", "replace")
            buf = buf[end + 1 :]
        end = buf.rfind(b"\n\n")
        if end < 0:
            if self._skipping:
                self._buf = b"\n" if buf.endswith(b"\n") else b""
            else:
                self._buf = self._check_size(buf, out)
            return out
        self._buf = buf[end + 2 :]
        complete = buf[:end]
        if self._skipping:
            # The rest of an oversized message: everything up to its blank line goes.
            first_end = complete.find(b"\n\n")
            if first_end < 0:
                self._skipping = False
                return out
            complete = complete[first_end + 2 :]
            self._skipping = False
        try:
            text = complete.decode("utf-8")  # once for every message of this read
        except UnicodeDecodeError:
            for block in complete.split(b"\n\n"):
                if block and block != b"\n":
                    out.append(parse_block(block))
            return out
        append = out.append
        new = AmiFrame.__new__
        for message in text.split("\n\n"):
            if message and message != "\n":
                fast = _fast_headers(message)
                if fast is None:
                    append(parse_block(message.encode("utf-8")))
                else:
                    frame = new(AmiFrame)
                    frame._headers = None
                    frame.keys, frame.values = fast
                    append(frame)
        return out

    def _check_size(self, buf: bytes, out: list[AmiFrame | MalformedFrame]) -> bytes:
        if len(buf) <= self.max_frame_bytes:
            return buf
        out.append(MalformedFrame(f"message longer than {self.max_frame_bytes} bytes", buf[:200]))
        self._skipping = True
        # Keep a trailing "\n" so a blank line split across reads is still seen.
        return b"\n" if buf.endswith(b"\n") else b""

    def pending(self) -> int:
        """Bytes buffered for an unfinished message."""
        return len(self._buf)


def _fast_headers(text: str) -> tuple[list[str], list[str]] | None:
    """Names and values of a message whose every line is ``Name: value``, in three C calls.

    Replacing each line end by the separator and splitting once yields name,
    value, name, value... when every line holds exactly one ``": "``; joining the
    pieces back with ``": "`` and line ends alternating and comparing with the text proves that (a line without the
    separator, or with two, misaligns the pairs and the join differs). A name
    holding a colon (the name ends at the first one) or empty also fails here.
    ``None`` sends the message to :func:`parse_block`, which is exact for every
    form Asterisk sends (``Key:``, ``Key:value``, values holding ``": "``, stray
    empty lines) and says what is malformed.
    """
    parts = text.replace("\n", ": ").split(": ")
    count = len(parts)
    if count & 1 or 2 * count - 1 > len(_REJOIN):
        return None
    # The join back in one C call: the pieces laid into a list of alternating separators.
    rejoined = _REJOIN[: 2 * count - 1]
    rejoined[::2] = parts
    if "".join(rejoined) != text:  # type: ignore[arg-type]
        return None
    keys = parts[::2]
    if "" in keys or ":" in "".join(keys):
        return None
    return keys, parts[1::2]


_REJOIN: list[str | None] = [None, ": ", None, "\n"] * 256
"""Separators for :func:`_fast_headers`' proof (messages of up to 256 lines; longer ones take the exact path)."""


def parse_block(block: bytes) -> AmiFrame | MalformedFrame:
    """One message's bytes (``\\n``-separated, no blank line) into a frame."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError:
        # Asterisk copies channel names and caller ids as raw bytes; keep the event.
        text = block.decode("utf-8", "replace")
    headers: list[tuple[str, str]] = []
    append = headers.append
    for line in text.split("\n"):
        if not line:
            continue
        key, colon, value = line.partition(":")
        if not colon or not key:
            return MalformedFrame("a line that is not 'Key: value'", block[:200])
        # One space follows the colon; more are part of the value. "Key:" and
        # "Key:value" (Asterisk 1.8, raw UserEvent echo) are tolerated.
        append((key, value[1:] if value[:1] == " " else value))
    if not headers:
        return MalformedFrame("an empty message", block[:200])
    return AmiFrame(headers)


def encode_action(headers: Sequence[tuple[str, str]] | Iterable[tuple[str, str]]) -> bytes:
    """An action's bytes; refuses anything that would inject a line or end it early.

    This is the last line of defence (codecs validate first, with every
    violation): whatever the caller did, no CR/LF reaches the wire inside a header.
    """
    pairs = list(headers)
    text = "".join([f"{key}: {value}\r\n" for key, value in pairs])
    # Exactly one CR and one LF per header line means no value or name carried its own.
    if text.count("\n") != len(pairs) or text.count("\r") != len(pairs) or "\x00" in text:
        bad = [key for key, value in pairs if any(c in key + value for c in "\r\n\x00")]
        raise ValidationError(
            violations=[Violation(f"data.{k}", "line_break", "AMI headers cannot contain CR, LF or NUL") for k in bad]
        )
    for key, _ in pairs:
        if not key or ":" in key:
            raise ValidationError(violations=[Violation(f"data.{key}", "header_name", "bad AMI header name")])
    return (text + "\r\n").encode("utf-8")
