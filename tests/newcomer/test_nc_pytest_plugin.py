"""The pytest plugin, as a user's test session sees it (pytester runs small user test files)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", autouse=True)
def _imports_done_outside_pytester() -> None:
    """Pytester drops modules first imported inside its runs; do one trip per sandbox here first."""
    from eventkit import _demo

    assert all(trip.ok for trip in _demo.run(timeout=10))


@pytest.fixture(autouse=True)
def _quiet_ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def test_client_fixtures_send_to_the_emulators(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_stream(eventkit_stream, eventkit_sandbox):
            before = eventkit_sandbox("stream").emulator.requests
            result = eventkit_stream.send("ping", {"n": 1}, to="channel:messaging:general", sender="bot")
            assert result.ok
            assert eventkit_sandbox("stream").emulator.requests == before + 1

        def test_ami(eventkit_asterisk_ami):
            assert eventkit_asterisk_ami.send("Ping", {"k": "v"}, to="ami").ok
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_one_body_runs_across_every_provider_with_the_capability(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest
        from eventkit.testing import assert_received_equals_sent, for_each_provider

        @for_each_provider(capability="listen:webhook")
        def test_webhook_round_trip(eventkit_provider):
            trip = eventkit_provider.round_trip("order_ready", {"id": 7, "tags": ["a"]})
            assert_received_equals_sent(trip.sent, trip.received, eventkit_provider)

        @pytest.mark.eventkit_providers("asterisk")
        def test_asterisk_both_wires(eventkit_provider):
            trip = eventkit_provider.round_trip("OrderReady", {"OrderId": "1234", "n": 3})
            assert_received_equals_sent(trip.sent, trip.received, eventkit_provider.name)
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-v")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(
        [
            "*test_webhook_round_trip?stream? PASSED*",
            "*test_webhook_round_trip?vonage? PASSED*",
            "*test_asterisk_both_wires?asterisk-ami? PASSED*",
            "*test_asterisk_both_wires?asterisk-ari? PASSED*",
        ]
    )


def test_no_matching_provider_is_a_skip_with_the_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from eventkit.testing import for_each_provider

        @for_each_provider(target="topic", listen="tcp")
        def test_nothing(eventkit_provider):
            raise AssertionError("must not run")
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*no eventkit provider matches*"])


def test_a_capability_typo_fails_where_it_is_written(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from eventkit.testing import for_each_provider

        @for_each_provider(capability="listens:webhook")
        def test_typo(eventkit_provider):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*capability 'listens:webhook'*"])
    assert result.ret != 0


def test_a_mismatch_names_the_key_and_the_provider(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import attrs
        from eventkit.testing import assert_received_equals_sent, for_each_provider

        @for_each_provider("asterisk-ami")
        def test_changed(eventkit_provider):
            trip = eventkit_provider.round_trip("OrderReady", {"OrderId": 1234})
            tampered = attrs.evolve(trip.received, data={"OrderId": "1234"})
            assert_received_equals_sent(trip.sent, tampered, eventkit_provider)
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*received != sent through asterisk*", "*data?'OrderId'?: expected 1234, received '1234'"]
    )


def test_sessions_that_use_no_fixture_start_nothing(pytester: pytest.Pytester) -> None:
    """In a fresh interpreter: the plugin is loaded, yet no emulator module or server thread exists."""
    pytester.makepyfile(
        """
        import sys, threading

        def test_plain():
            assert "eventkit.testing.pytest_plugin" in sys.modules
            loaded = [m for m in sys.modules if m.startswith(("eventkit.testing.faults", "eventkit.testing.sandbox", "eventkit_signalwire.testing", "eventkit_asterisk.testing", "eventkit_stream.testing", "eventkit_vonage.testing", "uvicorn"))]
            assert loaded == []
            assert [t.name for t in threading.enumerate()] == ["MainThread"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_the_plugin_can_be_turned_off(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses(eventkit_stream):
            pass
        """
    )
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:eventkit")
    result.stdout.fnmatch_lines(["*fixture 'eventkit_stream' not found*"])
