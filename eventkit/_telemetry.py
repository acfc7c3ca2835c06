"""OpenTelemetry: a span per send attempt and per received event, counters and a latency histogram.

Behind the ``otel`` extra (``opentelemetry-api``); off unless asked for
(``telemetry=True`` on ``connect``, or a :class:`Telemetry` built with your own
tracer and meter providers), so a client without it pays one ``is None`` check.
Spans are recorded where every provider's sends and receives already pass (the
retry loop and the listener sink), so every HTTP engine, AMI and in-process
sends look the same.

Names follow OpenTelemetry's messaging conventions where they fit: send spans
are ``PRODUCER`` spans named ``send <provider>``, receive spans ``CONSUMER``
spans named ``receive <provider>``; attributes use the ``eventkit.`` prefix.
No event data and no secret goes into a span: names, kinds, statuses and counts only.
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any, Iterator

from ._errors import CapabilityError, EventkitError

if TYPE_CHECKING:
    from ._event import Event
    from ._results import SendResult

SCOPE = "eventkit"


def _api() -> Any:
    try:
        from opentelemetry import metrics, trace
    except ImportError:
        raise CapabilityError("telemetry needs OpenTelemetry: pip install 'eventkit-cpaas[otel]'") from None
    return trace, metrics


class Telemetry:
    """Where eventkit records spans and metrics; the global OpenTelemetry providers unless given."""

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None) -> None:
        trace, metrics = _api()
        from opentelemetry.trace import SpanKind, Status, StatusCode

        self._kinds = SpanKind
        self._status = Status
        self._codes = StatusCode
        self.tracer = trace.get_tracer(SCOPE, tracer_provider=tracer_provider)
        meter = metrics.get_meter(SCOPE, meter_provider=meter_provider)
        self.sends = meter.create_counter("eventkit.sends", unit="{event}", description="events sent, by outcome")
        self.attempts = meter.create_counter(
            "eventkit.send.attempts", unit="{attempt}", description="send attempts, retries included"
        )
        self.duration = meter.create_histogram(
            "eventkit.send.duration", unit="s", description="from the first attempt to the outcome, retries included"
        )
        self.received = meter.create_counter("eventkit.received", unit="{event}", description="events received")

    def __repr__(self) -> str:
        return "<Telemetry>"

    @contextlib.contextmanager
    def attempt(self, provider: str, event: Event, target_kind: str, number: int) -> Iterator[None]:
        """One send attempt as a span; a typed error marks it failed (and propagates)."""
        attributes = {
            "eventkit.provider": provider,
            "eventkit.event.name": event.name,
            "eventkit.target.kind": target_kind,
            "eventkit.attempt": number,
        }
        self.attempts.add(1, {"eventkit.provider": provider})
        with self.tracer.start_as_current_span(
            f"send {provider}",
            kind=self._kinds.PRODUCER,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            try:
                yield
            except EventkitError as error:
                span.set_attribute("error.type", type(error).__name__)
                if error.status is not None:
                    span.set_attribute("eventkit.status", error.status)
                span.set_attribute("eventkit.retryable", error.retryable)
                span.set_status(self._status(self._codes.ERROR, error.message))
                raise
            span.set_status(self._status(self._codes.OK))

    def finished(self, result: SendResult, target_kind: str) -> None:
        """The outcome of one send (after any retries): a count and its latency."""
        outcome = "sent" if result.error is None else type(result.error).__name__
        labels = {
            "eventkit.provider": result.provider,
            "eventkit.target.kind": target_kind,
            "eventkit.outcome": outcome,
        }
        self.sends.add(1, labels)
        self.duration.record(result.elapsed, labels)

    def receive(self, provider: str, event: Event, via: str) -> None:
        """One received event handed on: a short consumer span linked to nothing (a platform has no context to give)."""
        attributes = {"eventkit.provider": provider, "eventkit.event.name": event.name, "eventkit.listen": via}
        now = time.time_ns()
        span = self.tracer.start_span(
            f"receive {provider}", kind=self._kinds.CONSUMER, attributes=attributes, start_time=now
        )
        span.end(end_time=now)
        self.received.add(1, {"eventkit.provider": provider, "eventkit.listen": via})


def telemetry_from(value: Any) -> Telemetry | None:
    """The ``telemetry`` setting as a :class:`Telemetry`: ``True`` uses the global providers."""
    if isinstance(value, str):  # from the environment or --set
        value = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False}.get(
            value.strip().lower(), value
        )
    if value is None or value is False:
        return None
    if isinstance(value, Telemetry):
        return value
    if value is True:
        return Telemetry()
    raise CapabilityError(f"telemetry must be true, false or an eventkit Telemetry, not {type(value).__name__}")
