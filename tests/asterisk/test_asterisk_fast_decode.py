"""The parser's and decoder's fast paths agree with the exact header-by-header ones."""

from __future__ import annotations

from eventkit_asterisk._codec_ami import decode_user_event
from eventkit_asterisk._frames import AmiFrame, AmiParser, MalformedFrame, _fast_headers, parse_block
from hypothesis import given, settings
from hypothesis import strategies as st

# Lines built from the pieces that make AMI parsing subtle: colons, ": ", spaces, empty parts.
PIECE = st.sampled_from(["Key", "UserEvent", "ActionID", "actionid", "a", ":", ": ", " ", "", "x:y", "ekjson:1"])
LINE = st.lists(PIECE, min_size=0, max_size=5).map("".join)
MESSAGE = st.lists(LINE, min_size=1, max_size=8).map("\n".join)


@settings(max_examples=1500, deadline=None)
@given(text=MESSAGE)
def test_fast_headers_are_the_exact_parse_or_nothing(text: str) -> None:
    fast = _fast_headers(text)
    if fast is None:
        return
    exact = parse_block(text.encode())
    assert isinstance(exact, AmiFrame)
    assert list(zip(*fast, strict=True)) == exact.headers


@settings(max_examples=800, deadline=None)
@given(body=st.lists(st.tuples(LINE, LINE), max_size=6), name=st.sampled_from(["Order", "A: b", ""]))
def test_fast_decode_is_the_exact_decode(body: list[tuple[str, str]], name: str) -> None:
    lines = ["Event: UserEvent", "Privilege: user,all", "Uniqueid: 1.2", f"UserEvent: {name}"]
    lines += [f"{key}: {value}" for key, value in body]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode()
    (frame,) = AmiParser().feed(data)
    exact = parse_block(data.replace(b"\r\n", b"\n").rstrip(b"\n"))
    if isinstance(exact, MalformedFrame):
        assert isinstance(frame, MalformedFrame)
        return
    assert isinstance(frame, AmiFrame) and frame.headers == exact.headers
    ours, reference = decode_user_event(frame), decode_user_event(exact)
    assert (ours is None) == (reference is None)
    if ours is not None and reference is not None:
        assert (ours.name, ours.data, ours.meta, ours.source) == (
            reference.name,
            reference.data,
            reference.meta,
            reference.source,
        )


def test_the_common_frame_takes_the_fast_path_and_a_tricky_one_does_not() -> None:
    (common,) = AmiParser().feed(b"Event: UserEvent\r\nUserEvent: A\r\nNote: a:b c\r\n\r\n")
    assert isinstance(common, AmiFrame) and common.keys == ["Event", "UserEvent", "Note"]
    (tricky,) = AmiParser().feed(b"Event: UserEvent\r\nUserEvent: A\r\nNote: a: b\r\nFlag:\r\n\r\n")
    assert isinstance(tricky, AmiFrame) and tricky.keys is None
    event = decode_user_event(tricky)
    assert event is not None and event.data == {"Note": "a: b", "Flag": ""}


def test_a_message_longer_than_the_proof_template_takes_the_exact_path() -> None:
    lines = ["Event: UserEvent", "UserEvent: Long"] + [f"K{i}: v{i}" for i in range(600)]
    (frame,) = AmiParser().feed(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(frame, AmiFrame) and frame.keys is None
    event = decode_user_event(frame)
    assert event is not None and len(event.data) == 600 and event.data["K599"] == "v599"
