"""Property tests: every decoder of peer input and every encoder's validation, bounded for CI.

The targets (and what each may raise) live in ``fuzz/fuzz_targets.py``, shared with
``fuzz/run.py``, which runs 100k inputs per decoder.
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fuzz"))

import fuzz_targets
from fuzz_targets import all_targets, mutate, run_one

TARGETS = all_targets()
DECODERS = sorted(n for n in TARGETS if not n.startswith("validate_"))
VALIDATORS = sorted(n for n in TARGETS if n.startswith("validate_"))

# Any text, lone surrogates included: the core refuses those with a ValidationError when the
# event is built (found by this suite; see docs/reliability.md).
TEXT = st.text(max_size=40)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=20,
)
BOUNDED = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(name: str, data: bytes, rng: random.Random) -> None:
    exc = run_one(TARGETS[name], data, rng)
    assert exc is None, f"{name}: unhandled {type(exc).__name__}: {exc} for {data[:200]!r}"


@pytest.mark.parametrize("name", DECODERS)
@BOUNDED
@given(data=st.binary(max_size=300), rng=st.randoms(use_true_random=False))
def test_decoder_survives_arbitrary_bytes(name: str, data: bytes, rng: random.Random) -> None:
    _check(name, data, rng)


@pytest.mark.parametrize("name", DECODERS)
@BOUNDED
@given(rng=st.randoms(use_true_random=False))
def test_decoder_survives_mutated_valid_frames(name: str, rng: random.Random) -> None:
    target = TARGETS[name]
    data = mutate(rng, rng.choice(target.seeds), target.seeds, target.json)
    _check(name, data, rng)


@pytest.mark.parametrize("name", [n for n in DECODERS if TARGETS[n].json])
@BOUNDED
@given(value=JSON, rng=st.randoms(use_true_random=False))
def test_decoder_survives_any_json_value(name: str, value: object, rng: random.Random) -> None:
    _check(name, json.dumps(value).encode(), rng)


@pytest.mark.parametrize("name", [n for n in DECODERS if TARGETS[n].json])
@BOUNDED
@given(extra=st.dictionaries(TEXT, JSON, max_size=4), rng=st.randoms(use_true_random=False))
def test_decoder_survives_valid_frames_with_odd_fields(name: str, extra: dict[str, object], rng: random.Random) -> None:
    seed = json.loads(rng.choice(TARGETS[name].seeds))
    _check(name, json.dumps({**seed, **extra}).encode(), rng)


@pytest.mark.parametrize("name", VALIDATORS)
@BOUNDED
@given(name_value=TEXT, data=st.dictionaries(TEXT, JSON, max_size=5), rng=st.randoms(use_true_random=False))
def test_validation_gives_typed_errors_only(
    name: str, name_value: str, data: dict[str, object], rng: random.Random
) -> None:
    _check(name, json.dumps(data).encode(), rng)
    _check(name, json.dumps(name_value).encode(), rng)


def test_valid_seeds_decode() -> None:
    """The seeds are valid: a property over mutations of garbage would prove little."""
    from eventkit import Event

    rng = random.Random(0)
    decoded = {name: TARGETS[name].run(TARGETS[name].seeds[0], rng) for name in ("ari_frames", "relay_frames")}
    assert all(isinstance(v, Event) for v in decoded.values())
    assert TARGETS["ami_frames"].run(TARGETS["ami_frames"].seeds[0], rng)
    # The validation targets connect for real; a refused connect would make them vacuous.
    for name in VALIDATORS:
        assert run_one(TARGETS[name], b'{"k": "v"}', rng) is None
        assert fuzz_targets._kit(name.removeprefix("validate_")) is not None


def test_relay_unhashable_event_type_is_not_a_user_event() -> None:
    """Found by fuzzing: ``event_type: {}`` raised TypeError out of the RELAY listener."""
    from eventkit_signalwire._codec_relay import is_user_event

    assert is_user_event({"event_type": {"a": 1}}) is False
    assert is_user_event({"event_type": ["calling.user_event"]}) is False
    assert is_user_event({"event_type": "calling.user_event"}) is True


DEEP_INPUTS = (b"[" * 2000, b'{"a":' * 2000, b'{"type": "x", "a": ' + b"[" * 2000, b"[" * 2000 + b"]" * 2000)


@pytest.mark.parametrize("name", [n for n in DECODERS if TARGETS[n].json])
def test_deep_nesting_is_a_typed_error_for_every_json_decoder(name: str) -> None:
    """Issue 19: 2,000 nested ``[`` made json.loads raise RecursionError out of two decoders."""
    for data in DEEP_INPUTS:
        for seed in range(4):  # the targets pick str or bytes, header garbling, ... from the rng
            _check(name, data, random.Random(seed))


def test_no_target_is_exempt_from_the_typed_error_rule() -> None:
    """Issue 19: the fuzz targets once allowed ValueError/RecursionError for two decoders."""
    import attrs

    assert "allowed" not in attrs.fields_dict(fuzz_targets.FuzzTarget)
    probe = fuzz_targets.FuzzTarget("probe", lambda data, rng: json.loads(data), (b"{}",))
    for data in (b"[", b"[" * 5000):
        assert isinstance(run_one(probe, data, random.Random(0)), (ValueError, RecursionError))
