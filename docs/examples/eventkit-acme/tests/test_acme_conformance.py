"""eventkit's conformance suite against the Acme provider (also: `eventkit conformance acme`)."""

from __future__ import annotations

from eventkit_acme.testing import AcmeHarness

from eventkit.testing.conformance import ConformanceSuite


class TestAcmeConformance(ConformanceSuite):
    harness_class = AcmeHarness
