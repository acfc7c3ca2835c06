"""``eventkit_vonage.testing.key_pair()``: a fresh RSA pair whose tokens the emulator accepts."""

from __future__ import annotations

import pytest
from eventkit_vonage.testing import KeyPair, key_pair
from eventkit_vonage.testing.emulator import VonageEmulator
from eventkit_vonage.testing.sandbox import VONAGE_APPLICATION, VONAGE_CONVERSATION

import eventkit
from eventkit import AuthenticationError


def test_the_key_pair_mints_tokens_the_emulator_accepts() -> None:
    private_pem, public_pem = key_pair()
    assert private_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    other = key_pair()
    with VonageEmulator(public_key=public_pem, application_id=VONAGE_APPLICATION) as emulator:
        settings = {"application_id": VONAGE_APPLICATION, "base_url": emulator.url, "max_attempts": 1}
        with eventkit.connect("vonage", private_key=private_pem, **settings) as kit:
            assert kit.send("keyed", {"n": 1}, to=f"conversation:{VONAGE_CONVERSATION}").ok
        # Another pair's private key signs tokens this public key cannot verify: the check is real.
        with (
            eventkit.connect("vonage", private_key=other.private_pem, **settings) as kit,
            pytest.raises(AuthenticationError),
        ):
            kit.send("keyed", {"n": 2}, to=f"conversation:{VONAGE_CONVERSATION}")


def test_the_private_half_stays_out_of_the_repr() -> None:
    pair = key_pair()
    assert isinstance(pair, KeyPair)
    assert "PRIVATE" not in repr(pair)
    assert repr(pair.public_pem) in repr(pair)
