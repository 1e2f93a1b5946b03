"""OpenTelemetry tracing: the provider and its sampler, database spans, and our own spans.

A tracer provider is always installed, because Reflex's span around each event
handler is also what times events for Prometheus (EventMetricsProcessor). Spans
leave the process only when OTEL_EXPORTER_OTLP_ENDPOINT is set: then a
BatchSpanProcessor exports them in the background, so no event ever waits on
the exporter and a collector that is down costs nothing but a (rate-limited)
warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from sqlalchemy import Engine

from ecom_reflex import __version__
from ecom_reflex.observability import metrics
from ecom_reflex.observability.logging import current_event, current_user_id

logger = logging.getLogger(__name__)

TRACER_NAME = "ecom_reflex"
# Reflex's attribute holding the handler's module-qualified name.
HANDLER_ATTRIBUTE = "code.function.name"
EVENT_NAME_ATTRIBUTE = "reflex.event.name"

_provider: TracerProvider | None = None
_exporting = False


def event_label(qualified_name: str) -> str:
    """'ecom_reflex.state.cart.CartState.add_to_cart' -> 'CartState.add_to_cart' (bounded: one per handler)."""
    parts = qualified_name.split(".")
    return ".".join(parts[-2:]) if len(parts) >= 2 else qualified_name


def current_trace_id() -> str | None:
    """The trace id of the current span, when it is exported (else it would point nowhere)."""
    if not _exporting:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid and context.trace_flags.sampled else None


def browser_trace_sampler(ratio: float) -> Sampler:
    """Which traces leave the process: all that start here, and `ratio` of those a browser started.

    A browser sends every interaction to the relay (browser_bundle.py), and the relay forwards
    the browser's spans of a trace when this same TraceIdRatioBased decides to sample its id:
    the browser's and the server's halves of a trace are kept or dropped together.
    """
    return RecordDropped(ParentBased(root=ALWAYS_ON, remote_parent_sampled=TraceIdRatioBased(ratio)))


class RecordDropped(Sampler):
    """`sampler`'s decision on what is exported, but every span is recorded: the event metrics are
    timed from the spans (EventMetricsProcessor), so an event whose trace is not kept still counts."""

    def __init__(self, sampler: Sampler):
        self.sampler = sampler

    def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None):
        result = self.sampler.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is Decision.DROP:
            return SamplingResult(Decision.RECORD_ONLY, result.attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordDropped{{{self.sampler.get_description()}}}"


class EventMetricsProcessor(SpanProcessor):
    """Turns each ended Reflex event span into a reflex_event_duration_seconds sample.

    On start it also names the event for log lines: the span starts in the
    event's own task, so the context variables it sets belong to that event.
    """

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        attributes = span.attributes or {}
        if EVENT_NAME_ATTRIBUTE in attributes:
            current_event.set(event_label(str(attributes.get(HANDLER_ATTRIBUTE) or attributes[EVENT_NAME_ATTRIBUTE])))
            current_user_id.set(None)

    def on_end(self, span: ReadableSpan) -> None:
        attributes = span.attributes or {}
        if EVENT_NAME_ATTRIBUTE not in attributes or span.end_time is None or span.start_time is None:
            return
        name = str(attributes.get(HANDLER_ATTRIBUTE) or attributes[EVENT_NAME_ATTRIBUTE])
        status = "error" if span.status.status_code is StatusCode.ERROR else "ok"
        trace_id = format(span.context.trace_id, "032x") if _exporting and span.context.trace_flags.sampled else None
        metrics.observe_event(event_label(name), status, (span.end_time - span.start_time) / 1e9, trace_id)


class CountingExporter(SpanExporter):
    """The OTLP exporter, counting what it exported and what it could not (otel_spans_total{outcome}).

    `blackholed()` (the spanExportBlackhole fault flag) drops a batch instead: counted as failed,
    which is what it is to whoever looks for those traces.
    """

    def __init__(self, exporter: SpanExporter, blackholed: Callable[[], bool]):
        self.exporter, self.blackholed = exporter, blackholed

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self.blackholed():
            metrics.count_spans("failed", len(spans))
            return SpanExportResult.FAILURE
        try:
            result = self.exporter.export(spans)
        except Exception:
            metrics.count_spans("failed", len(spans))
            raise
        metrics.count_spans("exported" if result is SpanExportResult.SUCCESS else "failed", len(spans))
        return result

    def shutdown(self) -> None:
        self.exporter.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.exporter.force_flush(timeout_millis)


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor, counting the spans it drops when its queue is full (otel_spans_total{dropped})."""

    def on_end(self, span: ReadableSpan) -> None:
        batch = self._batch_processor
        if len(batch._queue) >= batch._max_queue_size:  # the SDK drops the oldest to make room
            metrics.count_spans("dropped", 1)
        super().on_end(span)


def _exporter(endpoint: str, protocol: str):
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, timeout=5)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    # The HTTP exporter takes the full signal URL; OTEL_EXPORTER_OTLP_ENDPOINT is the base.
    return OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)


def configure_tracing(
    *,
    service_name: str,
    environment: str,
    endpoint: str | None,
    protocol: str,
    engine: Engine | None,
    browser_sample_ratio: float = 1.0,
    blackholed: Callable[[], bool] = lambda: False,
) -> TracerProvider:
    """Install the tracer provider (once per process) and SQLAlchemy spans. Reflex's event spans
    come from reflex-otel's instrumentor (instrumentation.instrument_reflex), which finds this
    provider as the global one."""
    global _provider, _exporting
    if _provider is not None:
        return _provider
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.version": __version__,
            "deployment.environment": environment,
            # Which worker process served the span (several workers share one service).
            "process.pid": os.getpid(),
        }
    )
    provider = TracerProvider(resource=resource, sampler=browser_trace_sampler(browser_sample_ratio))
    provider.add_span_processor(EventMetricsProcessor())
    if endpoint:
        # Export failures are logged by the SDK; logging.RateLimitedWarnings keeps them to one a minute.
        provider.add_span_processor(
            CountingBatchSpanProcessor(CountingExporter(_exporter(endpoint, protocol), blackholed))
        )
        _exporting = True
    trace.set_tracer_provider(provider)
    _provider = provider
    if engine is not None:
        trace_statements(engine, provider)
    logger.info("tracing %s", f"exports to {endpoint} ({protocol})" if endpoint else "is local only (no OTLP endpoint)")
    return provider


def trace_statements(engine: Engine, provider: TracerProvider) -> None:
    """A span per SQL statement on `engine`, from opentelemetry-instrumentation-sqlalchemy.

    Its EngineTracer directly rather than SQLAlchemyInstrumentor().instrument(): the
    instrumentor also wraps every Engine.connect in a "connect" span, which only times a
    pool checkout yet was a sixth of all spans (bench/overhead.py), and patches
    create_engine for the whole process.
    """
    from opentelemetry.instrumentation.sqlalchemy import __version__ as instrumentation_version
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import NoOpMeter

    tracer = trace.get_tracer("opentelemetry.instrumentation.sqlalchemy", instrumentation_version, provider)
    # The pool-usage counter it also keeps is not exported: metrics here are Prometheus's.
    connections = NoOpMeter("ecom_reflex").create_up_down_counter("db.client.connections.usage")
    EngineTracer(tracer, engine, connections)


@contextmanager
def span(name: str, **attributes) -> Iterator[trace.Span]:
    """A child span of whatever is current, e.g. a checkout step. Cheap when nothing exports."""
    with trace.get_tracer(TRACER_NAME, __version__).start_as_current_span(name, attributes=attributes) as current:
        yield current


def current_traceparent() -> str:
    """The W3C traceparent of the current span ("" outside any): kept with work done later, elsewhere."""
    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent", "")


@contextmanager
def linked_span(name: str, traceparent: str, **attributes) -> Iterator[trace.Span]:
    """The root span of a trace of its own for work queued by another trace (an e-mail sent for an
    order), with a span link to the trace that `traceparent` names."""
    links = []
    if traceparent:
        queued_by = trace.get_current_span(TraceContextTextMapPropagator().extract({"traceparent": traceparent}))
        if queued_by.get_span_context().is_valid:
            links.append(trace.Link(queued_by.get_span_context()))
    tracer = trace.get_tracer(TRACER_NAME, __version__)
    with tracer.start_as_current_span(
        name, context=Context(), kind=SpanKind.CLIENT, links=links, attributes=attributes
    ) as current:
        yield current
