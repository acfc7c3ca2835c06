"""A user's test module using eventkit's pytest plugin (type-checked, not collected here)."""

from __future__ import annotations

from eventkit.testing import assert_received_equals_sent, for_each_provider


@for_each_provider(capability="listen:webhook")
def test_round_trip(eventkit_provider: object) -> None:
    assert_received_equals_sent  # noqa: B018 - only the decorator's type is under test
