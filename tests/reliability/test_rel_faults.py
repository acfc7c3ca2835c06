"""Seeded fault injection on every HTTP provider: nothing lost, budgets kept, duplicates explained.

Each emulator answers a seeded 30% of send requests with a 429 and ``Retry-After``,
a 503, a reply past the client's timeout, or a dropped connection (before or after
the platform stored the event). ``EVENTKIT_REL_EVENTS=2000`` runs the full size
(the default is smaller to keep the suite fast); ``-s`` prints the figures.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import pytest
from rel_support import EVENTS, FAULT_TRANSPORT, HTTP_PROVIDERS, events, number_of

import eventkit
from eventkit import SendResult
from eventkit.testing.faults import ANSWER_LOST_AFTER_STORE, FaultPlan

SLOP = 0.02
"""Seconds of clock slack between the emulator seeing a 429 go out and the client reading it."""


def check_run(name: str, plan: FaultPlan, results: list[SendResult], sent: list[dict[str, Any]]) -> dict[str, Any]:
    """The invariants of a faulty run; returns its figures."""
    max_attempts = FAULT_TRANSPORT["max_attempts"]
    # Exactly one final result per event, in order.
    assert len(results) == len(sent)
    for result, event in zip(results, sent, strict=True):
        assert result.event.data == event["data"]

    by_number: dict[int, str] = {}
    for key, request in plan.requests.items():
        n = number_of(request)
        assert by_number.setdefault(n, key) == key, "one event, one request on the wire across retries"
    attempts = plan.attempts()
    lost = 0
    duplicates = 0
    for n, result in enumerate(results):
        key = by_number.get(n)
        assert key is not None, f"event {n} never reached the platform"
        # The attempt budget: what the client counted is what the platform saw, never over budget.
        assert result.attempts == attempts[key] <= max_attempts
        stored = plan.stored[key]
        if result.ok:
            if stored == 0:
                lost += 1
        else:
            # A failure is a spent budget of retryable errors, never a silent give-up.
            assert result.attempts == max_attempts and result.error is not None and result.error.retryable
        if stored > 1:
            duplicates += stored - 1
            # A duplicate only where an earlier answer was lost after the platform stored the event.
            assert result.possible_duplicate, f"event {n} stored {stored} times without possible_duplicate"
            assert any(f in ANSWER_LOST_AFTER_STORE for f in plan.faults_of(key)) or result.possible_duplicate
    assert lost == 0
    assert duplicates == plan.duplicates

    # Retry-After honoured: the retry after a 429 comes no sooner than the platform asked.
    arrivals: dict[str, list[Any]] = {}
    for arrival in plan.arrivals:
        arrivals.setdefault(arrival.fingerprint, []).append(arrival)
    honoured = 0
    for seen in arrivals.values():
        for before, after in itertools.pairwise(seen):
            if before.fault == "rate_limited":
                assert after.at - before.at >= before.retry_after - SLOP
                honoured += 1
    injected = sum(plan.injected.values())
    assert injected > 0 and plan.injected["rate_limited"] > 0 and honoured > 0
    figures = {
        "provider": name,
        "events": len(sent),
        "requests": len(plan.arrivals),
        "faults": dict(plan.injected),
        "lost": lost,
        "failed": sum(not r.ok for r in results),
        "duplicates": duplicates,
        "possible_duplicate": sum(r.possible_duplicate for r in results),
    }
    print("FAULTS", json.dumps(figures))
    return figures


@pytest.mark.parametrize("name", sorted(HTTP_PROVIDERS))
async def test_send_many_under_faults_loses_nothing(name: str) -> None:
    plan = FaultPlan(rate=0.3, seed=20240611, slow=0.6)
    sent = events(EVENTS)
    with HTTP_PROVIDERS[name](plan) as setup:
        async with eventkit.connect_async(setup.provider, **setup.settings, **FAULT_TRANSPORT) as kit:
            results = await kit.send_many(sent, to=setup.target, sender=setup.sender)
            stats = kit.stats.snapshot()
    figures = check_run(name, plan, results, sent)
    assert stats.get("sent", 0) == len(sent) - figures["failed"]
    assert stats.get("retries", 0) == figures["requests"] - len(sent)


def test_sync_send_many_under_faults_loses_nothing() -> None:
    """The blocking client (stdlib engine, a thread per event in flight) keeps the same promises."""
    plan = FaultPlan(rate=0.3, seed=7, slow=0.6)
    sent = events(min(EVENTS, 100))
    with HTTP_PROVIDERS["stream"](plan) as setup:
        transport = {**FAULT_TRANSPORT, "concurrency": 16}
        with eventkit.connect(setup.provider, **setup.settings, **transport) as kit:
            results = kit.send_many(sent, to=setup.target, sender=setup.sender)
    check_run("stream (sync)", plan, results, sent)


def test_plan_is_seeded() -> None:
    """The same seed gives the same decisions: a failing run can be replayed."""
    one, two = FaultPlan(seed=3), FaultPlan(seed=3)
    first = [one.decide(str(i)) for i in range(500)]
    assert first == [two.decide(str(i)) for i in range(500)]
    kinds = Counter(kind for kind, _ in first)
    assert 100 < 500 - kinds[None] < 200  # about 30%
    assert set(kinds) - {None} == {"rate_limited", "unavailable", "slow", "drop_before", "drop_after"}
