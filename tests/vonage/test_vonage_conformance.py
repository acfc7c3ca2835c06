"""The conformance suite against the Vonage provider and its emulator (round trip via signed webhooks)."""

from __future__ import annotations

from vonage_support import VonageHarness

from eventkit.testing.conformance import ConformanceSuite


class TestVonageConformance(ConformanceSuite):
    harness_class = VonageHarness
