"""Numeric settings are finite and >= 0 everywhere, with a one-line error naming the setting."""

from __future__ import annotations

import math

import pytest
from core_demo_provider import DemoProvider

import eventkit
from eventkit import SettingsError
from eventkit._settings import TransportSettings

TOKEN = "settings-token-value"
TRANSPORT_NUMBERS = [
    "timeout",
    "connect_timeout",
    "deadline",
    "max_attempts",
    "backoff_initial",
    "backoff_max",
    "retry_after_max",
    "concurrency",
    "rate_limit",
]


@pytest.mark.parametrize("name", TRANSPORT_NUMBERS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1, "nan", "inf", "-1", "NaN"])
def test_transport_numbers_refuse_nan_inf_and_negatives(name: str, bad: object) -> None:
    with pytest.raises(SettingsError) as caught:
        eventkit.connect(DemoProvider, token=TOKEN, environ={}, **{name: bad})
    message = str(caught.value)
    assert name in message and "\n" not in message


@pytest.mark.parametrize("source", ["kwargs", "env", "url"])
def test_nan_is_refused_from_every_source(source: str) -> None:
    with pytest.raises(SettingsError, match="'retry_after_max' must be a finite number"):
        if source == "kwargs":
            eventkit.connect("memory", retry_after_max="nan", environ={})
        elif source == "env":
            eventkit.connect("memory", environ={"EVENTKIT_MEMORY_RETRY_AFTER_MAX": "nan"})
        else:
            eventkit.connect("memory://?retry_after_max=nan", environ={})


def test_provider_numbers_are_checked_the_same_way() -> None:
    with pytest.raises(SettingsError, match="'queue_size' must be a finite number >= 0, not -1"):
        eventkit.connect("memory", queue_size=-1, environ={})
    with pytest.raises(SettingsError, match="'max_payload_bytes'"):
        eventkit.connect("memory", max_payload_bytes="inf", environ={})


def test_settings_built_in_code_are_checked_too() -> None:
    for name in TRANSPORT_NUMBERS:
        with pytest.raises(SettingsError, match=name):
            TransportSettings(**{name: math.nan})


def test_deadline_is_optional_and_positive() -> None:
    assert TransportSettings().deadline is None
    assert eventkit.connect("memory", deadline="2.5", environ={}).transport.deadline == 2.5
    with pytest.raises(SettingsError, match="deadline must be > 0"):
        TransportSettings(deadline=0)


def test_good_values_still_pass() -> None:
    kit = eventkit.connect("memory", timeout="0.5", retry_after_max=0, backoff_initial=0, environ={})
    assert kit.transport.timeout == 0.5 and kit.transport.retry_after_max == 0
