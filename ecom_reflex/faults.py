"""Fault flags: break the shop on purpose and watch the matching alert fire (README "Break it on purpose").

As the OpenTelemetry demo does: OpenFeature's SDK with the flagd provider reading a flag file
in-process (FAULT_FLAGS_FILE, default monitoring/flagd/flags.json), so no flagd server is
needed; an edit of the file is picked up within a second. Every flag is off by default.
Evaluations in an event are events on its span (OpenFeature's OpenTelemetry hook).

| flag | type | does |
|---|---|---|
| checkoutFailurePercent | int 0-100 | that share of checkouts fails with an error (nothing is ordered) |
| catalogueDelayMs | int ms | every catalogue listing takes that much longer |
| databaseDelayMs | int ms | every transaction's SQL statements each take that much longer |
| spanExportBlackhole | bool | spans are dropped instead of exported (counted as failed exports) |
| eventLoopBlockMs | int ms | each worker's event loop is blocked that long every 0.5 s (lifespan.py's loop-lag timer) |

Called by the services, the database module and (as a value handed over) tracing; it imports
only the settings.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time

from openfeature import api
from openfeature.client import OpenFeatureClient

logger = logging.getLogger("ecom_reflex.faults")

# Flag -> the value when the flag file cannot be read (off).
DEFAULTS: dict[str, int | bool] = {
    "checkoutFailurePercent": 0,
    "catalogueDelayMs": 0,
    "databaseDelayMs": 0,
    "spanExportBlackhole": False,
    "eventLoopBlockMs": 0,
}
# Polling the flag file: an edit shows within about this long.
POLL_MS = 500

_client: OpenFeatureClient | None = None
_started = threading.Lock()
# The databaseDelayMs of the transaction running in this thread (db.session_scope sets it once per transaction).
statement_delay_ms: contextvars.ContextVar[int] = contextvars.ContextVar("statement_delay_ms", default=0)


def start(flag_file: str) -> None:
    """Read flags from `flag_file` from now on (once per process; later calls do nothing)."""
    global _client
    with _started:
        if _client is not None:
            return
        from openfeature.contrib.hook.opentelemetry import TracingHook
        from openfeature.contrib.provider.flagd import FlagdProvider
        from openfeature.contrib.provider.flagd.config import ResolverType

        provider = FlagdProvider(resolver_type=ResolverType.FILE, offline_flag_source_path=flag_file,
                                 deadline_ms=POLL_MS)  # fmt: skip
        try:
            # And wait: with plain set_provider the first evaluations would answer the defaults.
            api.set_provider_and_wait(provider)
        except Exception:
            logger.warning("fault flags unreadable: every flag stays off", extra={"flag_file": flag_file})
        api.add_hooks([TracingHook()])
        _client = api.get_client("ecom_reflex")


def value(flag: str) -> int | bool:
    """The flag's current value; its default (off) when flags were never started or cannot be read."""
    default = DEFAULTS[flag]
    if _client is None:
        return default
    if isinstance(default, bool):
        return _client.get_boolean_value(flag, default)
    return max(0, _client.get_integer_value(flag, default))


def current() -> dict[str, int | bool]:
    """Every flag and its value now (for the metric and the admin dashboard)."""
    return {flag: value(flag) for flag in DEFAULTS}


def checkout_fails() -> bool:
    """Whether this checkout should fail on purpose (checkoutFailurePercent)."""
    percent = value("checkoutFailurePercent")
    return bool(percent) and random.random() * 100 < percent


def delay_catalogue() -> None:
    """Sleep catalogueDelayMs (callers run in a database thread, never on the event loop)."""
    if milliseconds := value("catalogueDelayMs"):
        time.sleep(milliseconds / 1000)


def delay_statement() -> None:
    """Sleep the current transaction's databaseDelayMs, before one SQL statement."""
    if milliseconds := statement_delay_ms.get():
        time.sleep(milliseconds / 1000)


def block_event_loop(milliseconds: int) -> None:
    """Block the calling thread, the event loop on purpose (eventLoopBlockMs), as a handler that waited on it would."""
    time.sleep(milliseconds / 1000)


def span_export_blackholed() -> bool:
    return bool(value("spanExportBlackhole"))


class CheckoutFaultInjected(RuntimeError):
    """Raised by a checkout that fails on purpose (checkoutFailurePercent): an error, as a real one would be."""
