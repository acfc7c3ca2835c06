from __future__ import annotations

import pytest

from eventkit import (
    AmiTarget,
    AppTarget,
    CallTarget,
    ChannelTarget,
    ConversationTarget,
    OtherTarget,
    TargetError,
    TopicTarget,
    UserTarget,
    parse_target,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("call:3f1c-uuid", CallTarget("3f1c-uuid")),
        ("channel:messaging:general", ChannelTarget("messaging", "general")),
        ("channel:messaging:a:b", ChannelTarget("messaging", "a:b")),
        ("user:tommaso", UserTarget("tommaso")),
        ("conversation:CON-1", ConversationTarget("CON-1")),
        ("ami", AmiTarget()),
        ("app:myapp", AppTarget("myapp")),
        (
            "app:myapp?source=channel:1.2&source=endpoint:PJSIP/100",
            AppTarget("myapp", ("channel:1.2", "endpoint:PJSIP/100")),
        ),
        ("topic:orders", TopicTarget("orders")),
        ("acme:anything/here", OtherTarget("acme", "anything/here")),
    ],
)
def test_parse_and_render(text: str, expected: object) -> None:
    parsed = parse_target(text)
    assert parsed == expected
    assert str(parsed) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        " user:x",
        "user:",
        "user:a b",
        "channel:messaging",
        "channel::general",
        "ami:extra",
        "Call:x",
        "user:x\r\nX-Injected: 1",
        "user:\x00",
        "app:a/b",
        "app:a?source=foo:1",
        "app:a?source=channel:1,2",
        "app:a?other=1",
        "app:a?source",
    ],
)
def test_malformed_targets(text: str) -> None:
    with pytest.raises(TargetError) as caught:
        parse_target(text)
    assert caught.value.violations[0].field == "to"


def test_non_string_target() -> None:
    with pytest.raises(TargetError, match="string"):
        parse_target(42)


def test_channel_cid() -> None:
    assert ChannelTarget("messaging", "general").cid == "messaging:general"
