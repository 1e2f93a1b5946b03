"""Where observability plugs into the app: ASGI middleware, the event error handler, start and stop.

ecom_reflex.py and lifespan.py wire these in; nothing else needs to know how. Like the
rest of observability/, this module receives values (settings, an engine, an exception
and what failed) and imports no service, state or database module.
"""

import logging
import os
import time
from collections.abc import Callable

import reflex as rx
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode
from reflex.event import EventSpec
from sqlalchemy import Engine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ecom_reflex.observability import metrics
from ecom_reflex.observability.browser_bundle import RELAY_PATH
from ecom_reflex.observability.logging import (
    configure_logging,
    current_event,
    current_user_id,
    flush_repeats,
    worker_log_file,
)
from ecom_reflex.observability.tracing import (
    EVENT_NAME_ATTRIBUTE,
    HANDLER_ATTRIBUTE,
    configure_tracing,
    current_trace_id,
    event_label,
)
from ecom_reflex.settings import Settings

logger = logging.getLogger("ecom_reflex.events")
access_logger = logging.getLogger("ecom_reflex.access")

# Routes served over plain HTTP, by template; everything else is the compiled frontend.
EXACT_ROUTES = frozenset({"/health", "/metrics", "/alerts", RELAY_PATH, "/ping", "/_health", "/_upload", "/_event"})
FRONTEND_ROUTE = "/{frontend}"
QUIET_ROUTES = frozenset({FRONTEND_ROUTE, RELAY_PATH})


def route_template(path: str) -> str:
    """A bounded label for a path: never the raw path, which may hold ids."""
    if path in EXACT_ROUTES:
        return path
    if path.startswith("/_upload/"):
        return "/_upload/{file}"
    if path.startswith("/_event"):
        return "/_event"
    return FRONTEND_ROUTE


def observe_requests(app: ASGIApp) -> ASGIApp:
    """Times HTTP requests (http_request_duration_seconds, one access log line) and counts websockets."""
    from ecom_reflex.settings import get_settings

    if not get_settings().observability:
        return app

    async def observed(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            metrics.WEBSOCKET_CONNECTIONS.inc()
            try:
                return await app(scope, receive, send)
            finally:
                metrics.WEBSOCKET_CONNECTIONS.dec()
        if scope["type"] != "http":
            return await app(scope, receive, send)

        status = 500
        start = time.perf_counter()

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await app(scope, receive, capture_status)
        finally:
            seconds = time.perf_counter() - start
            route = route_template(scope["path"])
            metrics.observe_http(scope["method"], route, status, seconds, current_trace_id())
            # Static files of the frontend, and browsers' span exports (one per tab every few
            # seconds), are many and dull: logged only when they fail.
            level = logging.DEBUG if route in QUIET_ROUTES and status < 400 else logging.INFO
            access_logger.log(
                level,
                f"{scope['method']} {route} {status}",
                extra={
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(seconds * 1000, 2),
                },
            )

    return observed


# The plain HTTP routes that get a server span; anything else (the frontend's pages and files,
# the websocket, whose events Reflex traces one by one, and the browser-span relay, which would
# otherwise add a trace of its own for every batch of a browser's spans) is excluded. One regex,
# as reflex-otel's excluded_urls takes them: it is searched in the request's full URL.
TRACED_ROUTES = ("health", "metrics", "alerts", "ping", "_health", "_upload")
UNTRACED_URLS = rf"^[a-z]+://[^/]+/(?!(?:{'|'.join(TRACED_ROUTES)})(?:[/?]|$))"


def _name_by_route(span: trace.Span, scope: Scope) -> None:
    # Named by route template, never by the raw path (an upload's file name, ids).
    if span.is_recording() and scope.get("type") == "http":
        span.update_name(f"{scope['method']} {route_template(scope['path'])}")


def instrument_reflex() -> None:
    """reflex-otel's instrumentor, before the app builds its ASGI app (so at the app module's import):
    Reflex's span per event (a child of the browser's span when the event carries a traceparent)
    and a server span (OpenTelemetry's ASGI middleware, outermost, so observe_requests' timing
    happens inside it and carries its trace id) for each plain HTTP request.

    The spans go to the global tracer provider that start_observability installs in each worker.
    Reflex's own OpenTelemetry metrics are not wanted (the shop's metrics are Prometheus's,
    observability/metrics.py): a no-op meter provider.
    """
    from ecom_reflex.settings import get_settings

    if not get_settings().observability:
        return
    from opentelemetry.metrics import NoOpMeterProvider
    from reflex_otel import ReflexInstrumentor

    ReflexInstrumentor().instrument(
        meter_provider=NoOpMeterProvider(), excluded_urls=UNTRACED_URLS, server_request_hook=_name_by_route
    )


def event_exception_handler(exception: Exception, reason: str, message: str) -> EventSpec:
    """A handler raised: count it by `reason`, log it (with its trace), tell the user `message`, no traceback.

    The caller (the app module) says what really failed; this module only records it.
    Reflex calls this once the event's span has ended (the SDK already marked it as
    an error); only a span still open is marked here.
    """
    span = trace.get_current_span()
    if span.is_recording():
        span.record_exception(exception)
        span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
    metrics.count_event_failure(reason)
    extra = {"reason": reason}
    # Reflex calls this outside the event's own context: the event is named from its span.
    if event := failed_event_name(span):
        extra["event"] = event
    logger.error("event failed: %s (%s)", type(exception).__name__, reason, exc_info=exception, extra=extra)
    return rx.toast.error(message)


def failed_event_name(span: trace.Span) -> str | None:
    """The event a (possibly ended) Reflex event span belongs to, else the one this context runs."""
    attributes = getattr(span, "attributes", None) or {}
    name = attributes.get(HANDLER_ATTRIBUTE) or attributes.get(EVENT_NAME_ATTRIBUTE)
    return event_label(str(name)) if name else current_event.get()


def bind_user(user_id: int | None) -> None:
    """The user the current event acts for, for log lines (user_id field)."""
    current_user_id.set(user_id)


def start_observability(
    settings: Settings, engine: Engine, spans_blackholed: Callable[[], bool] = lambda: False
) -> TracerProvider:
    """Per worker process, before the first event: JSON logging, the metrics' first values, tracing.

    `spans_blackholed` says when spans are to be dropped on purpose (a fault flag).
    """
    configure_logging(
        settings.service_name,
        settings.log_level,
        worker_log_file(settings.log_file, os.getpid())
        if settings.log_file is not None and settings.workers > 1
        else settings.log_file,
        max_bytes=settings.log_file_max_bytes,
        backups=settings.log_file_backups,
    )
    metrics.initialise(settings.service_name, settings.environment)
    return configure_tracing(
        service_name=settings.service_name,
        environment=settings.environment,
        endpoint=settings.otel_exporter_otlp_endpoint,
        protocol=settings.otel_exporter_otlp_protocol,
        engine=engine,
        browser_sample_ratio=settings.browser_trace_sample_ratio,
        blackholed=spans_blackholed,
    )


def stop_observability(provider: TracerProvider) -> None:
    """A worker is leaving: its spans are flushed, its repeated errors counted, its live gauges stop counting."""
    provider.shutdown()
    flush_repeats()
    if metrics.MULTIPROCESS:
        metrics.mark_process_dead(os.getpid())
