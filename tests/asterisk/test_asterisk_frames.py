"""The sans-I/O AMI parser and encoder, against wire examples built from Asterisk's ``main/manager.c``."""

from __future__ import annotations

import pytest
from eventkit_asterisk._frames import AmiFrame, AmiParser, MalformedFrame, encode_action, parse_block
from hypothesis import given
from hypothesis import strategies as st

from eventkit import ValidationError

# The appendix capture (a real Asterisk, AMI 13.0.0), CRLF line endings.
CAPTURE = (
    b"Asterisk Call Manager/13.0.0\r\n"
    b"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n"
    b"Response: Success\r\nActionID: 42\r\nMessage: Event Sent\r\n\r\n"
    b"Event: UserEvent\r\nPrivilege: user,all\r\nUserEvent: OrderConfirmed\r\nActionID: 42\r\n"
    b"OrderId: ORD-12345\r\nAmount: 49.99\r\nNote: a:b c\r\n\r\n"
    b"Event: UserEvent\r\nPrivilege: user,all\r\nChannel: Local/emit@events-00000000;2\r\nChannelState: 6\r\n"
    b"ChannelStateDesc: Up\r\nCallerIDNum: <unknown>\r\nCallerIDName: <unknown>\r\nConnectedLineNum: <unknown>\r\n"
    b"ConnectedLineName: <unknown>\r\nLanguage: en\r\nAccountCode: \r\nContext: events\r\nExten: emit\r\n"
    b"Priority: 2\r\nUniqueid: 1795553055.1\r\nLinkedid: 1795553055.0\r\nUserEvent: OrderReady\r\n"
    b"OrderId: ORD-1\r\nAmount: 49.99\r\nNote: a:b c\r\n\r\n"
    b"Response: Goodbye\r\nActionID: 99\r\nMessage: Thanks for all the fish.\r\n\r\n"
)


def frames_of(parser: AmiParser, data: bytes) -> list[AmiFrame | MalformedFrame]:
    return parser.feed(data)


def test_capture_parses_into_banner_and_five_frames() -> None:
    parser = AmiParser(expect_banner=True)
    frames = parser.feed(CAPTURE)
    assert parser.banner == "Asterisk Call Manager/13.0.0"
    assert [f.kind for f in frames if isinstance(f, AmiFrame)] == ["response", "response", "event", "event", "response"]
    event = frames[2]
    assert isinstance(event, AmiFrame)
    assert event.get("actionid") == "42"
    assert event.get("Note") == "a:b c"
    dialplan = frames[3]
    assert isinstance(dialplan, AmiFrame)
    assert dialplan.get("AccountCode") == ""  # "AccountCode: " keeps its trailing space on the wire
    assert parser.pending() == 0


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64])
def test_any_read_size_gives_the_same_frames(size: int) -> None:
    whole = AmiParser(expect_banner=True).feed(CAPTURE)
    parser = AmiParser(expect_banner=True)
    pieces: list[AmiFrame | MalformedFrame] = []
    for i in range(0, len(CAPTURE), size):
        pieces.extend(parser.feed(CAPTURE[i : i + size]))
    assert pieces == whole


def test_bare_lf_and_mixed_endings() -> None:
    data = b"Event: UserEvent\nUserEvent: A\r\nK: v\n\r\nEvent: UserEvent\r\nUserEvent: B\n\n"
    frames = AmiParser().feed(data)
    assert [f.get("UserEvent") for f in frames if isinstance(f, AmiFrame)] == ["A", "B"]


def test_event_ending_in_crlf_lf_and_empty_messages_are_skipped() -> None:
    # CoreShowChannelMap ends in "\r\n\n"; Asterisk 16.6 sends extra blank lines.
    data = b"Event: X\r\nA: 1\r\n\n\r\n\r\n\r\nEvent: Y\r\n\r\n"
    frames = AmiParser().feed(data)
    assert [f.get("Event") for f in frames if isinstance(f, AmiFrame)] == ["X", "Y"]


def test_lone_cr_is_not_a_terminator() -> None:
    (frame,) = AmiParser().feed(b"Event: X\r\nA: 1\r2\r\n\r\n")
    assert isinstance(frame, AmiFrame)
    assert frame.get("A") == "1\r2"


def test_utf8_split_across_reads() -> None:
    data = "Event: UserEvent\r\nUserEvent: Café\r\nText: héllo ✓\r\n\r\n".encode()
    cut = data.index("✓".encode()) + 1
    parser = AmiParser()
    assert parser.feed(data[:cut]) == []
    (frame,) = parser.feed(data[cut:])
    assert isinstance(frame, AmiFrame)
    assert frame.get("Text") == "héllo ✓"


def test_header_spacing_variants() -> None:
    frame = parse_block(b"Event: X\nEmpty:\nNoSpace:v\nTwo:  v\nColon: a:b")
    assert isinstance(frame, AmiFrame)
    assert frame.headers[1:] == [("Empty", ""), ("NoSpace", "v"), ("Two", " v"), ("Colon", "a:b")]


def test_malformed_frame_does_not_lose_its_neighbours() -> None:
    data = b"Event: A\r\n\r\nthis is not a header\r\n\r\nEvent: B\r\n\r\n"
    frames = AmiParser().feed(data)
    assert isinstance(frames[1], MalformedFrame)
    assert [f.get("Event") for f in frames if isinstance(f, AmiFrame)] == ["A", "B"]


def test_oversized_message_is_dropped_and_parsing_resumes() -> None:
    parser = AmiParser(max_frame_bytes=100)
    out = parser.feed(b"Event: Big\r\nX: " + b"x" * 300)
    assert len(out) == 1 and isinstance(out[0], MalformedFrame)
    out = parser.feed(b"y" * 50 + b"\r\n\r\nEvent: After\r\n\r\n")
    assert [f.get("Event") for f in out if isinstance(f, AmiFrame)] == ["After"]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    (frame,) = AmiParser().feed(b"Event: UserEvent\r\nCallerIDName: caf\xe9\r\n\r\n")
    assert isinstance(frame, AmiFrame)
    assert frame.get("CallerIDName") == "caf\ufffd"


def test_encode_matches_wire_example_c() -> None:
    headers = [("Action", "UserEvent"), ("ActionID", "42"), ("UserEvent", "OrderReady"), ("OrderId", "1234")]
    headers.append(("Note", "a:b c"))
    assert encode_action(headers) == (
        b"Action: UserEvent\r\nActionID: 42\r\nUserEvent: OrderReady\r\nOrderId: 1234\r\nNote: a:b c\r\n\r\n"
    )


@pytest.mark.parametrize(
    "pair",
    [
        ("K", "a\r\nAction: Logoff"),
        ("K", "a\nb"),
        ("K", "a\rb"),
        ("K\r\nX", "v"),
        ("K", "a\x00"),
        ("K:x", "v"),
        ("", "v"),
    ],
)
def test_encode_refuses_injection(pair: tuple[str, str]) -> None:
    with pytest.raises(ValidationError):
        encode_action([("Action", "UserEvent"), pair])


header_name = st.text(st.characters(blacklist_characters=":\r\n\x00", blacklist_categories=("Cs",)), min_size=1).filter(
    lambda s: s.strip() == s and s != ""
)
header_value = st.text(st.characters(blacklist_characters="\r\n\x00", blacklist_categories=("Cs",)))


@given(st.lists(st.tuples(header_name, header_value), min_size=1, max_size=8), st.integers(1, 50))
def test_encode_then_parse_is_identity(headers: list[tuple[str, str]], size: int) -> None:
    data = encode_action(headers)
    parser = AmiParser()
    frames: list[AmiFrame | MalformedFrame] = []
    for i in range(0, len(data), size):
        frames.extend(parser.feed(data[i : i + size]))
    assert frames == [AmiFrame(headers)]
