"""Provider selections as a user writes them: typos fail in one line naming the valid values,
``ProviderCase`` is importable for type hints, and the round trip works from an async test.
"""

from __future__ import annotations

import pytest

from eventkit.testing.helpers import SelectionError, select_sandboxes

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")


def _one_line_failure(result: pytest.RunResult, message: str, *, at_setup: bool = True) -> None:
    """The test fails (at setup, for a selection) with the message alone: no traceback around it."""
    result.assert_outcomes(**({"errors": 1} if at_setup else {"failed": 1}))
    assert result.ret != 0
    result.stdout.fnmatch_lines([f"*{message}*"])
    text = result.stdout.str()
    # The failure report, without pytest's summary (which repeats the message whole when CI is set).
    report = text.split("short test summary info", 1)[0]
    assert report.count(message.partition("*")[0]) == 1, text  # said once, not again through a chained exception
    assert "Traceback" not in text
    assert "\n>" not in text and "\nE " not in text, text


def test_a_misspelt_capability_value_fails_naming_the_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from eventkit.testing import for_each_provider

        @for_each_provider(capability="listen:webhok")
        def test_typo(eventkit_provider):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    _one_line_failure(result, "listen 'webhok' does not exist; valid: webhook, websocket, tcp, in-process")


def test_a_misspelt_provider_fails_naming_the_valid_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from eventkit.testing import for_each_provider

        @for_each_provider("strem")
        def test_typo(eventkit_provider):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    _one_line_failure(result, "no eventkit provider or sandbox named 'strem'; known: signalwire, asterisk, stream,*")


def test_a_misspelt_sandbox_name_fails_in_one_line(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_typo(eventkit_sandbox):
            eventkit_sandbox("strem")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    _one_line_failure(
        result, "no eventkit sandbox or provider named 'strem'; known: signalwire, asterisk, stream,*", at_setup=False
    )


def test_the_marker_form_is_checked_too(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.eventkit_providers(payload="flat")
        def test_typo(eventkit_provider):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    _one_line_failure(result, "payload 'flat' does not exist; valid: json, flat-strings")


def test_valid_values_select_as_before() -> None:
    assert select_sandboxes(capability="listen:webhook") == ["stream", "vonage"]
    assert select_sandboxes(payload="flat_strings") == ["asterisk-ami", "asterisk-ari"]  # "_" accepted
    assert select_sandboxes(target="topic") == []  # exists (eventkit's kinds), no sandbox declares it
    with pytest.raises(SelectionError, match=r"target 'chanel' does not exist; valid: call, channel, .*, topic$"):
        select_sandboxes(target="chanel")


def test_provider_case_is_exported_and_round_trips_from_an_async_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from eventkit.testing import ProviderCase, assert_received_equals_sent, for_each_provider

        @for_each_provider("stream", "asterisk-ami")
        async def test_async_round_trip(eventkit_provider: ProviderCase) -> None:
            assert isinstance(eventkit_provider, ProviderCase)
            trip = await eventkit_provider.round_trip_async("order_ready", {"id": 7})
            assert_received_equals_sent(trip.sent, trip.received, eventkit_provider)
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
