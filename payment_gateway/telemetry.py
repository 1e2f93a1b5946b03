"""JSON logs and OpenTelemetry tracing for the payment service process (service.name payment-gateway).

Logs reuse the shop's formatter and filters (ecom_reflex.observability.logging): one line format
for every service, so Loki queries and the trace-id links work the same on both. Only the handlers
are the service's own (the shop's count into the shop's metrics). Tracing mirrors the shop's set-up:
a provider always (so log lines carry the caller's trace id), span export only when
OTEL_EXPORTER_OTLP_ENDPOINT is set, in a background batch so no payment waits on a collector.
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import RotatingFileHandler

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from payment_gateway import SERVICE_NAME, __version__
from payment_gateway.settings import GatewaySettings

LOG_FILE_MAX_BYTES = 10 * 1024 * 1024
LOG_FILE_BACKUPS = 5
# The server's loggers: no handlers of their own, so their lines are JSON too.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class DropConsoleColours(logging.Filter):
    """uvicorn adds an ANSI-coloured copy of some messages (`color_message`): noise in a JSON line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.__dict__.pop("color_message", None)
        return True


def log_handlers(settings: GatewaySettings) -> list[logging.Handler]:
    """stdout and (unless PAYMENT_LOG_FILE is empty) a size-rotated file, both writing the shop's JSON lines."""
    from ecom_reflex.observability.logging import ContextFilter, RateLimitedWarnings, SecretsFilter, json_formatter

    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if settings.payment_log_file is not None:
        settings.payment_log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            RotatingFileHandler(
                settings.payment_log_file, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS, encoding="utf-8"
            )
        )
    formatter = json_formatter(SERVICE_NAME)
    rate_limit = RateLimitedWarnings()  # shared, so stdout and the file drop the same lines
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(DropConsoleColours())
        handler.addFilter(rate_limit)
        handler.addFilter(ContextFilter())
        handler.addFilter(SecretsFilter())
    return handlers


def configure_logging(settings: GatewaySettings) -> None:
    """Route the root logger (and the server's loggers) through the JSON handlers."""
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    for handler in log_handlers(settings):
        root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True


def _exporter(endpoint: str, protocol: str) -> SpanExporter:
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=endpoint, timeout=5)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    # The HTTP exporter takes the full signal URL; OTEL_EXPORTER_OTLP_ENDPOINT is the base.
    return HttpExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=5)


def configure_tracing(settings: GatewaySettings) -> TracerProvider:
    """Install the process's tracer provider; spans leave the process only with an OTLP endpoint set."""
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": SERVICE_NAME, "service.version": __version__, "process.pid": os.getpid()}
        )
    )
    if settings.otel_exporter_otlp_endpoint:
        provider.add_span_processor(
            BatchSpanProcessor(_exporter(settings.otel_exporter_otlp_endpoint, settings.otel_exporter_otlp_protocol))
        )
    trace.set_tracer_provider(provider)
    logging.getLogger("payment_gateway").info(
        "tracing %s",
        f"exports to {settings.otel_exporter_otlp_endpoint}" if settings.tracing_enabled else "is local only",
    )
    return provider
