"""JSON logs: one object a line, to stdout and a size-rotated file, with trace and caller context.

Fields: timestamp (ISO 8601, UTC), level, logger, message, service, and when
known trace_id, span_id, event, user_id, duration_ms, plus what a call passes in
`extra`. Secrets never reach a line: nothing logs them, and SecretsFilter drops
any `extra` field whose name says it is one, as a second line of defence.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import sys
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter
from reflex_base.utils import log as reflex_log

from ecom_reflex.observability import metrics
from ecom_reflex.observability.client_noise import ClientNoiseFilter
from ecom_reflex.observability.log_limits import ClientLogBudget, RepeatedErrors

# Set per event (each Reflex event runs in its own task, so these never leak between events).
current_event: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_event", default=None)
current_user_id: contextvars.ContextVar[int | None] = contextvars.ContextVar("current_user_id", default=None)

SECRET_FIELD_MARKERS = ("password", "token", "secret", "session_id", "hash", "cookie", "authorization")
# Loggers of the server and framework that should speak JSON too.
SERVER_LOGGERS = ("granian", "_granian", "granian.access", "reflex", "reflex_base", "uvicorn", "uvicorn.access")
_HANDLER_MARK = "_ecom_json_handler"


class ContextFilter(logging.Filter):
    """Adds trace_id/span_id of the current span and the current event and user."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.trace_id = format(context.trace_id, "032x")
            record.span_id = format(context.span_id, "016x")
        if (event := current_event.get()) and not hasattr(record, "event"):
            record.event = event
        if (user_id := current_user_id.get()) is not None and not hasattr(record, "user_id"):
            record.user_id = user_id
        return True


class RateLimitedWarnings(logging.Filter):
    """At most one warning a minute per OpenTelemetry logger: a collector that is down must not flood the logs."""

    def __init__(self, prefix: str = "opentelemetry", interval_s: float = 60.0):
        super().__init__()
        self.prefix, self.interval_s = prefix, interval_s
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(self.prefix):
            return True
        # Decided once per record: every handler then keeps or drops the same line.
        if not hasattr(record, "_rate_limit_keep"):
            now = time.monotonic()
            keep = now - self._last.get(record.name, float("-inf")) >= self.interval_s
            if keep:
                self._last[record.name] = now
            record._rate_limit_keep = keep
        return record._rate_limit_keep


class SecretsFilter(logging.Filter):
    """Removes extra fields named like secrets (password, token, ...) from every record."""

    _standard = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def filter(self, record: logging.LogRecord) -> bool:
        for name in list(record.__dict__):
            if name not in self._standard and any(marker in name.lower() for marker in SECRET_FIELD_MARKERS):
                delattr(record, name)
        return True


class CountedHandler(logging.Handler):
    """Counts what it wrote and what it failed to write (log_records_total{handler, outcome}).

    A failing handler (a full disk, a log folder gone) says so on stderr at most once a minute,
    instead of Python's traceback for every line, and keeps trying: lines flow again as soon as
    it can write.
    """

    label = ""
    report_interval_s = 60.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._failed = False
        self._last_report = float("-inf")

    def emit(self, record: logging.LogRecord) -> None:
        self._failed = False  # emit runs under the handler's lock
        super().emit(record)
        metrics.count_log_record(self.label, "failed" if self._failed else "written")

    def handleError(self, record: logging.LogRecord) -> None:
        self._failed = True
        now = time.monotonic()
        if now - self._last_report >= self.report_interval_s:
            self._last_report = now
            error = sys.exc_info()[1]
            # stderr may be on the same full disk: logging never raises into the code that logged.
            with contextlib.suppress(Exception):
                sys.__stderr__.write(
                    f"log handler '{self.label}' cannot write: {type(error).__name__}: {error} "
                    "(lines lost are counted in log_records_total; this is said once a minute)\n"
                )


class CountedStreamHandler(CountedHandler, logging.StreamHandler):
    label = "stdout"


class CountedFileHandler(CountedHandler, RotatingFileHandler):
    label = "file"


def flush_repeats() -> None:
    """Writes now how many repeats of each error were left out (a worker leaving: no later line would say it)."""
    for handler in logging.getLogger().handlers:
        for log_filter in handler.filters if getattr(handler, _HANDLER_MARK, False) else ():
            if isinstance(log_filter, RepeatedErrors):
                log_filter.flush()


def worker_log_file(log_file: Path, pid: int) -> Path:
    """Each worker's own file when there are several: two processes rotating one file lose the
    lines one of them writes to a file the other has just rotated away. `app.json.log` becomes
    `app.<pid>.json.log`, which a reader of `*.json.log` (Alloy) picks up as well."""
    name = log_file.name
    base, suffix = (
        (name[: -len(".json.log")], ".json.log") if name.endswith(".json.log") else (log_file.stem, log_file.suffix)
    )
    return log_file.with_name(f"{base}.{pid}{suffix}")


def json_formatter(service_name: str) -> JsonFormatter:
    return JsonFormatter(
        "{levelname}{name}{message}{process}",
        style="{",
        # process: the worker's pid, so lines from several workers can be told apart.
        rename_fields={"levelname": "level", "name": "logger", "process": "pid"},
        static_fields={"service": service_name},
        timestamp=True,
    )


def configure_logging(
    service_name: str,
    level: str = "INFO",
    log_file: Path | None = None,
    *,
    max_bytes: int = 10 * 1024 * 1024,
    backups: int = 5,
) -> None:
    """Route the root logger and the server's loggers through the JSON handlers. Safe to call again."""
    formatter = json_formatter(service_name)
    handlers: list[logging.Handler] = [CountedStreamHandler(sys.stdout)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(CountedFileHandler(log_file, maxBytes=max_bytes, backupCount=backups, encoding="utf-8"))
    rate_limit = RateLimitedWarnings()  # shared, so stdout and file drop the same lines
    client_noise = ClientNoiseFilter()  # shared likewise
    # No client can rotate the log away: an error once a minute, a client's bytes bounded (log_limits.py).
    repeats, budget = RepeatedErrors(), ClientLogBudget()
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(client_noise)
        handler.addFilter(rate_limit)
        handler.addFilter(ContextFilter())
        handler.addFilter(SecretsFilter())
        handler.addFilter(repeats)
        handler.addFilter(budget)
        setattr(handler, _HANDLER_MARK, True)

    # The reflex CLI marks its workers as "managed" (an environment variable): the first Reflex
    # warning or deprecation notice then attaches Reflex's own console sink to its loggers, and
    # from that moment their lines (the refused-event warnings among them) bypass these handlers.
    # Unmarked, Reflex leaves every record to the root logger, as it documents for applications.
    os.environ.pop(reflex_log._MANAGED_ENV_VAR, None)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
        old.close()
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO (each payment call, each reconciler look-up); its spans and the
    # payment metrics already tell that, so only its warnings are kept.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
    # The server's own loggers: no handlers of their own, so their lines go through ours.
    for name in SERVER_LOGGERS:
        server_logger = logging.getLogger(name)
        server_logger.handlers.clear()
        server_logger.propagate = True
