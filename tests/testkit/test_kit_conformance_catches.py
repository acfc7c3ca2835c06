"""The conformance suite's webhook checks and its no-vacuous-pass rule can fail.

Deliberately broken copies of the example Acme provider (``docs/examples/eventkit-acme``)
are registered through a real ``eventkit.providers`` entry point in a scratch directory,
and the suite runs against them in a fresh pytest process: each breakage must be flagged
by the check written for it, while the genuine provider passes the same checks.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ACME_SRC = Path(__file__).resolve().parents[2] / "docs" / "examples" / "eventkit-acme" / "src"

BROKEN = '''
"""Broken Acme providers and their harnesses (each breaks one promise the suite checks)."""
from eventkit.provider import WebhookDelivery
from eventkit_acme import AcmeProvider, AcmeWebhookCodec, sign
from eventkit_acme.testing import AcmeHarness


class AnySignatureCodec(AcmeWebhookCodec):
    def parse_webhook(self, headers, body):
        # Accepts any signature: it "verifies" a signature it computed itself.
        fixed = {**headers, "x-acme-signature": sign(self.settings.webhook_secret.reveal(), body)}
        return super().parse_webhook(fixed, body)


class AnySignatureProvider(AcmeProvider):
    name = "acme-anysig"

    def webhook_codec(self):
        return AnySignatureCodec(self.settings)


class NoDedupeCodec(AcmeWebhookCodec):
    def parse_webhook(self, headers, body):
        return WebhookDelivery(super().parse_webhook(headers, body).events, None)


class NoDedupeProvider(AcmeProvider):
    name = "acme-nodedupe"

    def webhook_codec(self):
        return NoDedupeCodec(self.settings)


class NoBodyCapProvider(AcmeProvider):
    """Serves its own webhook listener and drops the receiver's body cap on the way."""

    name = "acme-nocap"

    def listen(self, context):
        import attrs
        from eventkit._webhooks import listen_via_webhooks

        options = {k: v for k, v in context.options.items() if k != "max_body_bytes"}
        return listen_via_webhooks(self, attrs.evolve(context, options=options))


class NoBodyCapHarness(AcmeHarness):
    provider = "acme-nocap"


class AnySignatureHarness(AcmeHarness):
    provider = "acme-anysig"


class NoDedupeHarness(AcmeHarness):
    provider = "acme-nodedupe"


class DeclaredNoDedupeHarness(AcmeHarness):
    provider = "acme-nodedupe"
    no_dedupe_key = "this test platform sends no delivery id"


class NoInvalidEventsHarness(AcmeHarness):
    invalid = []


class NoPayloadsHarness(AcmeHarness):
    def payloads(self, model):
        return []
'''

SUITE = """
from broken_acme import (
    AnySignatureHarness, DeclaredNoDedupeHarness, NoBodyCapHarness, NoDedupeHarness, NoInvalidEventsHarness,
    NoPayloadsHarness,
)
from eventkit_acme.testing import AcmeHarness
from eventkit.testing.conformance import ConformanceSuite


class TestGenuine(ConformanceSuite):
    harness_class = AcmeHarness


class TestAnySignature(ConformanceSuite):
    harness_class = AnySignatureHarness


class TestNoDedupe(ConformanceSuite):
    harness_class = NoDedupeHarness


class TestDeclaredNoDedupe(ConformanceSuite):
    harness_class = DeclaredNoDedupeHarness


class TestNoBodyCap(ConformanceSuite):
    harness_class = NoBodyCapHarness


class TestNoInvalidEvents(ConformanceSuite):
    harness_class = NoInvalidEventsHarness


class TestNoPayloads(ConformanceSuite):
    harness_class = NoPayloadsHarness
"""


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> tuple[dict[str, str], str]:
    pytester.makepyfile(broken_acme=BROKEN, test_broken_conformance=SUITE)
    dist = pytester.mkdir("broken_acme-0.1.dist-info")
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-acme\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[eventkit.providers]\n"
        "acme = eventkit_acme:AcmeProvider\n"
        "acme-anysig = broken_acme:AnySignatureProvider\n"
        "acme-nodedupe = broken_acme:NoDedupeProvider\n"
        "acme-nocap = broken_acme:NoBodyCapProvider\n"
    )
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    monkeypatch.setenv("PYTHONPATH", f"{pytester.path}:{ACME_SRC}")
    checks = "webhook or invalid_events or round_trip"
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "-k", checks, timeout=240)
    found = dict(re.findall(r"::(Test\w+::test_\w+) (PASSED|FAILED|SKIPPED|ERROR)", result.stdout.str()))
    assert found, result.stdout.str()
    return found, result.stdout.str()


def test_each_breakage_is_flagged_by_its_check(run: tuple[dict[str, str], str]) -> None:
    outcomes, text = run
    genuine = {k: v for k, v in outcomes.items() if k.startswith("TestGenuine::")}
    assert set(genuine.values()) == {"PASSED"}, genuine
    assert len(genuine) == 6  # dedupe key, forged, replayed, oversize, invalid events, round trip

    assert outcomes["TestAnySignature::test_forged_webhooks_are_refused"] == "FAILED"
    assert outcomes["TestAnySignature::test_replayed_webhooks_are_delivered_once"] == "PASSED"

    assert outcomes["TestNoDedupe::test_webhook_deliveries_have_a_dedupe_key"] == "FAILED"
    assert outcomes["TestNoDedupe::test_replayed_webhooks_are_delivered_once"] == "FAILED"
    assert outcomes["TestNoDedupe::test_forged_webhooks_are_refused"] == "PASSED"

    assert outcomes["TestNoBodyCap::test_oversize_webhooks_are_refused"] == "FAILED"
    assert outcomes["TestNoBodyCap::test_forged_webhooks_are_refused"] == "PASSED"

    # Declared, with a reason: accepted, and the replay check says why it does not apply.
    assert outcomes["TestDeclaredNoDedupe::test_webhook_deliveries_have_a_dedupe_key"] == "PASSED"
    assert outcomes["TestDeclaredNoDedupe::test_replayed_webhooks_are_delivered_once"] == "SKIPPED"

    # No vacuous pass: an empty catalogue fails instead of looping over nothing.
    assert outcomes["TestNoInvalidEvents::test_invalid_events_are_refused_before_io"] == "FAILED"
    assert outcomes["TestNoPayloads::test_round_trip"] == "FAILED"

    # Each failure says what is wrong.
    assert "forged webhooks were answered [200, 200], not [401, 401]" in text
    assert "acme-nodedupe's webhook codec returned no dedupe key" in text
    assert "a webhook posted twice was delivered 2 times" in text
    assert "over a 65536-byte cap got [200]" in text
    assert "nothing to check: NoInvalidEventsHarness.invalid lists no event the provider must refuse" in text
