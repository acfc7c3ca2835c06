"""Retry policy: the one place retries, backoff, Retry-After and rate limiting live.

:class:`RetryLoop` drives any single-attempt function (an HTTP request, an AMI
action, an in-process publish) under a connection's :class:`Policy`,
so every provider, sync or async, retries the same way. No I/O library is
imported here: this module is on the import path of ``import eventkit``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, Union

from ._errors import EventkitError
from ._event import Event
from ._results import Receipt, SendResult
from ._secrets import Redactor
from ._settings import Policy
from ._stats import Counters
from ._targets import Target
from ._telemetry import telemetry_from


class _Named(Protocol):
    """What a loop used to read off a whole provider: its name and redactor."""

    @property
    def name(self) -> str: ...

    @property
    def redactor(self) -> Redactor: ...


log = logging.getLogger("eventkit.transport")


def backoff_delay(policy: Policy, retry_number: int, rng: random.Random | None = None) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(max, initial * 2**(n-1))]."""
    ceiling = min(policy.backoff_max, policy.backoff_initial * (2 ** (retry_number - 1)))
    return (rng or random).uniform(0, ceiling)


class _RateGate:
    """Client-wide pacing: a 429's Retry-After pauses every sender, and an optional rate ceiling."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.not_before = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Seconds this caller should wait before sending."""
        if not self.interval and not self.not_before:
            return 0.0
        with self._lock:
            now = time.monotonic()
            start = max(now, self.not_before)
            if self.interval:
                self.not_before = start + self.interval
            return start - now

    def pause(self, seconds: float) -> None:
        with self._lock:
            self.not_before = max(self.not_before, time.monotonic() + seconds)


class RetryLoop:
    """Runs attempts under a provider's transport policy and turns the outcome into a result.

    An attempt returns a :class:`Receipt` or raises :class:`EventkitError`; retryable
    errors are retried with backoff (or the platform's ``retry_after``) until the
    attempt budget is spent. Errors are scrubbed of the secrets ``redactor`` knows.

    ``name`` is the provider's name (results and errors carry it). Passing the
    provider itself, as before 0.2, still works for one release: its ``name`` and
    ``redactor`` are read off it.
    """

    def __init__(
        self,
        name: Union[str, _Named],
        policy: Policy,
        stats: Counters,
        redactor: Redactor | None = None,
    ) -> None:
        if not isinstance(name, str):  # a provider (deprecated form, kept for one release)
            redactor = redactor if redactor is not None else name.redactor
            name = name.name
        self.name = name
        self.redactor = redactor if redactor is not None else Redactor()
        self.policy = policy
        self.stats = stats
        self.gate = _RateGate(policy.rate_limit)
        self.telemetry = telemetry_from(policy.telemetry)

    def _delay(self, attempt: int, error: EventkitError, started: float) -> float | None:
        if error.maybe_delivered and not self.policy.retry_ambiguous:
            return None
        if not error.retryable or attempt >= self.policy.max_attempts:
            return None
        if error.retry_after is not None:
            if error.retry_after > self.policy.retry_after_max:
                return None
            self.gate.pause(error.retry_after)
            delay = error.retry_after
        else:
            delay = backoff_delay(self.policy, attempt)
        deadline = self.policy.deadline
        if deadline is not None and time.monotonic() + delay >= started + deadline:
            return None  # the send's deadline would pass before the next attempt could start
        self.stats.incr("retries")
        log.debug("%s: retrying in %.3fs after %s", self.name, delay, type(error).__name__)
        return delay

    def _scrub(self, error: EventkitError) -> EventkitError:
        redact = self.redactor
        error.message = redact.text(error.message)
        error.args = (error.message,)
        error.body = redact.value(error.body)
        if error.provider is None:
            error.provider = self.name
        return error

    def fast_path(self) -> bool:
        """Whether a sender may make the first attempt itself (no telemetry span to open)."""
        return self.telemetry is None

    def succeeded(self, event: Event, target: Target, started: float, receipt: Receipt) -> SendResult:
        """The result of a first attempt a sender made itself and that landed."""
        return self._result(event, target, 1, started, False, receipt, None)

    def _result(
        self,
        event: Event,
        target: Target,
        attempts: int,
        started: float,
        ambiguous: bool,
        receipt: Receipt | None,
        error: EventkitError | None,
    ) -> SendResult:
        self.stats.incr("sent" if error is None else "failed")
        result = SendResult(
            event=event,
            target=str(target),
            provider=self.name,
            error=None if error is None else self._scrub(error),
            receipt=receipt,
            attempts=attempts,
            elapsed=time.monotonic() - started,
            possible_duplicate=ambiguous and attempts > 1,
        )
        if self.telemetry is not None:
            self.telemetry.finished(result, target.kind)
        return result

    def run(
        self,
        event: Event,
        target: Target,
        attempt: Callable[[], Receipt],
        *,
        started: float | None = None,
        failed: EventkitError | None = None,
    ) -> SendResult:
        """Attempts until one lands or the policy gives up.

        ``failed``: a first attempt the caller made itself (a sender's fast path)
        failed with this error at ``started``; the loop continues from attempt 2
        exactly as if it had made attempt 1.
        """
        started = time.monotonic() if started is None else started
        ambiguous = False
        number = 0
        if failed is not None:
            number, ambiguous = 1, failed.maybe_delivered
            delay = self._delay(1, failed, started)
            if delay is None:
                return self._result(event, target, 1, started, ambiguous, None, failed)
            time.sleep(delay)
        while True:
            wait = self.gate.reserve()
            if wait > 0:
                time.sleep(wait)
            number += 1
            try:
                if self.telemetry is None:
                    receipt = attempt()
                else:
                    with self.telemetry.attempt(self.name, event, target.kind, number):
                        receipt = attempt()
                return self._result(event, target, number, started, ambiguous, receipt, None)
            except EventkitError as error:
                ambiguous = ambiguous or error.maybe_delivered
                delay = self._delay(number, error, started)
                if delay is None:
                    return self._result(event, target, number, started, ambiguous, None, error)
                time.sleep(delay)

    async def arun(
        self,
        event: Event,
        target: Target,
        attempt: Callable[[], Awaitable[Receipt]],
        *,
        started: float | None = None,
        failed: EventkitError | None = None,
    ) -> SendResult:
        """:meth:`run` for coroutines (``failed`` likewise continues after a caller's first attempt)."""
        started = time.monotonic() if started is None else started
        ambiguous = False
        number = 0
        if failed is not None:
            number, ambiguous = 1, failed.maybe_delivered
            delay = self._delay(1, failed, started)
            if delay is None:
                return self._result(event, target, 1, started, ambiguous, None, failed)
            await asyncio.sleep(delay)
        while True:
            wait = self.gate.reserve()
            if wait > 0:
                await asyncio.sleep(wait)
            number += 1
            try:
                if self.telemetry is None:
                    receipt = await attempt()
                else:
                    with self.telemetry.attempt(self.name, event, target.kind, number):
                        receipt = await attempt()
                return self._result(event, target, number, started, ambiguous, receipt, None)
            except EventkitError as error:
                ambiguous = ambiguous or error.maybe_delivered
                delay = self._delay(number, error, started)
                if delay is None:
                    return self._result(event, target, number, started, ambiguous, None, error)
                await asyncio.sleep(delay)
