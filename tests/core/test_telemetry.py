"""OpenTelemetry: one span per send attempt and the send metrics, the same on every engine."""

from __future__ import annotations

from typing import Any, Callable, Mapping

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the otel tests need opentelemetry-sdk (a dev dependency)")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import eventkit
from eventkit._telemetry import Telemetry
from eventkit.testing.sandbox import Sandbox


class Recorded:
    def __init__(self) -> None:
        self.spans = InMemorySpanExporter()
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(SimpleSpanProcessor(self.spans))
        self.reader = InMemoryMetricReader()
        self.telemetry = Telemetry(tracer_provider, MeterProvider(metric_readers=[self.reader]))

    def metric(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


def test_telemetry_is_off_unless_asked_for() -> None:
    with eventkit.connect("memory") as kit:
        assert kit.transport.telemetry is False
        assert kit.send("x", {}, to="topic:t").ok


def test_a_send_is_one_producer_span_and_counted() -> None:
    recorded = Recorded()
    with eventkit.connect("memory", telemetry=recorded.telemetry) as kit:
        kit.send("order_ready", {"id": 1}, to="topic:orders")
    (span,) = recorded.spans.get_finished_spans()
    assert span.name == "send memory"
    assert span.kind is SpanKind.PRODUCER
    assert span.status.status_code is StatusCode.OK
    assert dict(span.attributes or {}) == {
        "eventkit.provider": "memory",
        "eventkit.event.name": "order_ready",
        "eventkit.target.kind": "topic",
        "eventkit.attempt": 1,
    }
    (sends,) = recorded.metric("eventkit.sends")
    assert sends.value == 1 and sends.attributes["eventkit.outcome"] == "sent"
    (duration,) = recorded.metric("eventkit.send.duration")
    assert duration.count == 1


@pytest.mark.parametrize(
    ("engine", "mode"), [("stdlib", "sync"), ("httpx", "sync"), ("httpx", "async"), ("aiohttp", "async")]
)
async def test_each_attempt_is_a_span_on_every_engine(
    eventkit_sandbox: Callable[[str], Sandbox], engine: str, mode: str
) -> None:
    stream = eventkit_sandbox("stream")
    recorded = Recorded()
    settings = {**stream.settings(), "http_engine": engine, "telemetry": recorded.telemetry}
    stream.inject_error(503)
    if mode == "sync":
        with stream.connect(**{k: v for k, v in settings.items() if k not in stream.settings()}) as kit:
            kit.send("order_ready", {"id": 1}, to=stream.target, sender=stream.sender)
    else:
        async with stream.connect_async(**{k: v for k, v in settings.items() if k not in stream.settings()}) as akit:
            await akit.send("order_ready", {"id": 1}, to=stream.target, sender=stream.sender)
    first, second = sorted(recorded.spans.get_finished_spans(), key=lambda s: s.attributes["eventkit.attempt"])  # type: ignore[index]
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["eventkit.status"] == 503  # type: ignore[index]
    assert first.attributes["error.type"] == "UnavailableError"  # type: ignore[index]
    assert second.status.status_code is StatusCode.OK
    assert second.attributes["eventkit.target.kind"] == "channel"  # type: ignore[index]
    (attempts,) = recorded.metric("eventkit.send.attempts")
    assert attempts.value == 2
    secret = stream.settings()["api_secret"]
    for span in (first, second):
        assert secret not in repr(dict(span.attributes or {})) + (span.status.description or "")


def test_a_refused_send_counts_its_error_type(eventkit_sandbox: Callable[[str], Sandbox]) -> None:
    stream = eventkit_sandbox("stream")
    recorded = Recorded()
    stream.inject_error(403)
    with stream.connect(telemetry=recorded.telemetry) as kit:
        (result,) = kit.send_many([{"name": "x", "data": {}, "target": stream.target, "sender": stream.sender}])
    assert isinstance(result.error, eventkit.PermissionDeniedError)
    (span,) = recorded.spans.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    (sends,) = recorded.metric("eventkit.sends")
    assert sends.attributes["eventkit.outcome"] == "PermissionDeniedError"


def test_refused_before_any_io_means_no_attempt_and_no_span() -> None:
    recorded = Recorded()
    with eventkit.connect("memory", telemetry=recorded.telemetry) as kit:
        (result,) = kit.send_many([{"name": "x", "data": {}, "target": "Not A Target"}])
    assert isinstance(result.error, eventkit.TargetError)
    assert recorded.spans.get_finished_spans() == ()


def test_the_telemetry_setting_takes_true_false_or_a_telemetry() -> None:
    with eventkit.connect("memory", environ={"EVENTKIT_MEMORY_TELEMETRY": "false"}) as kit:
        kit.send("x", {}, to="topic:t")
    with pytest.raises(eventkit.CapabilityError, match="telemetry must be"):
        eventkit.connect("memory", telemetry="sometimes").send("x", {}, to="topic:t")


def test_counters_are_a_read_only_mapping() -> None:
    with eventkit.connect("memory") as kit:
        kit.send("x", {}, to="topic:t")
        stats = kit.stats
    assert isinstance(stats, Mapping)
    assert stats["sent"] == 1 and dict(stats)["sent"] == 1 and "sent" in stats
    assert stats["never"] == 0 and "never" not in stats and stats.get("never") is None
    with pytest.raises(TypeError):
        stats["sent"] = 5  # type: ignore[index]
