"""Every Prometheus metric of the shop, named in this one place, and the /metrics endpoint.

With several workers (`WORKERS` > 1) `ecom_reflex.cli serve` sets
PROMETHEUS_MULTIPROC_DIR before any worker starts; prometheus_client then keeps
each process's values in that folder and /metrics adds them up. Exemplars (trace
ids on latency buckets) are only kept in single-process mode: prometheus_client's
multiprocess mode drops them.

Labels stay low-cardinality: handler names, route templates, statuses, reasons.
Never a user id, username, order id or raw URL.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
    multiprocess,
)
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from starlette.requests import Request
from starlette.responses import Response

from ecom_reflex import __version__
from ecom_reflex.observability.access import bearer_refusal
from ecom_reflex.settings import get_settings

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
ORDER_VALUE_BUCKETS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)

EVENT_DURATION = Histogram(
    "reflex_event_duration_seconds",
    "Time to run one Reflex event handler.",
    ["event", "status"],
    buckets=LATENCY_BUCKETS,
)
WEBSOCKET_CONNECTIONS = Gauge(
    "reflex_websocket_connections",
    "Open websocket connections from browsers.",
    multiprocess_mode="livesum",
)
HTTP_REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request that is not a Reflex event.",
    ["method", "route", "status"],
    buckets=LATENCY_BUCKETS,
)

ORDERS = Counter("ecommerce_orders", "Orders placed.")
ORDER_VALUE = Histogram("ecommerce_order_value_dollars", "Value of placed orders.", buckets=ORDER_VALUE_BUCKETS)
REVENUE_CENTS = Counter("ecommerce_revenue_cents", "Value of placed orders, in cents.")
CART_ADDITIONS = Counter("ecommerce_cart_additions", "Products added to a cart.")
USER_LOGINS = Counter("ecommerce_user_logins", "Login attempts by outcome.", ["status"])
USER_REGISTRATIONS = Counter("ecommerce_user_registrations", "Accounts registered.")
USER_REGISTRATIONS_THROTTLED = Counter(
    "ecommerce_user_registrations_throttled", "Registrations refused: too many new accounts from one address."
)
CHECKOUT_FAILURES = Counter("ecommerce_checkout_failures", "Checkouts that did not create an order.", ["reason"])
LOW_STOCK_PRODUCTS = Gauge(
    "ecommerce_low_stock_products",
    "Active products with fewer in stock than the low-stock threshold (5).",
    multiprocess_mode="mostrecent",
)
APP_INFO = Info("ecommerce_app", "The running shop.")
# E-mail (ecom_reflex/mailer.py): each send attempt's outcome, and the outbox not yet sent.
EMAILS = Counter(
    "ecommerce_emails",
    "E-mail send attempts by kind and outcome: sent, logged (no SMTP_URL: written to the log), retry (failed,"
    " queued again), failed (given up), capped (not sent: its recipient's hourly cap was reached).",
    ["kind", "outcome"],
)
EMAIL_OUTCOMES = ("sent", "logged", "retry", "failed", "capped")
EMAIL_OUTBOX_DEPTH = Gauge(
    "ecommerce_email_outbox_depth",
    "E-mails queued or being sent (not sent, not given up).",
    multiprocess_mode="mostrecent",
)
EMAIL_OUTBOX_OLDEST_AGE = Gauge(
    "ecommerce_email_outbox_oldest_age_seconds",
    "Seconds since the oldest e-mail not yet sent was queued; 0 when none is waiting.",
    multiprocess_mode="mostrecent",
)
PASSWORD_RESETS = Counter(
    "ecommerce_password_resets",
    "Password resets by step: requested (answered), throttled (refused: too many from the address), then"
    " queued (an e-mail with a link), no_account or capped (no e-mail: its address had its reset e-mails for"
    " now), completed, refused (a used, expired or unknown link).",
    ["step"],
)
PASSWORD_RESET_STEPS = ("requested", "throttled", "queued", "no_account", "capped", "completed", "refused")
# Links that confirm an account's e-mail address (services/email_verification.py); a registration's
# first link is counted with the registration.
EMAIL_VERIFICATIONS = Counter(
    "ecommerce_email_verifications",
    "Address confirmations by step: again (a new link asked for), change (a new address), verified (a link"
    " opened), refused (a used, replaced, expired or unknown link).",
    ["step"],
)
EMAIL_VERIFICATION_STEPS = ("again", "change", "verified", "refused")
FAULT_FLAGS = Gauge(
    "ecommerce_fault_flag",
    "Current value of each fault flag (ecom_reflex/faults.py); 0 is off.",
    ["flag"],
    multiprocess_mode="mostrecent",
)
# Payments (ecom_reflex/payments.py, services/payment_client.py).
PAYMENTS = Counter(
    "ecommerce_payments",
    "Payment attempts by outcome: approved, declined (no money taken), unknown (the service did not say: timeout,"
    " 5xx after the retries, unreachable, breaker open), throttled (refused by the attempt limits before any call).",
    ["outcome"],
)
PAYMENT_OUTCOMES = ("approved", "declined", "unknown", "throttled")
PAYMENT_REQUEST_DURATION = Histogram(
    "ecommerce_payment_request_duration_seconds",
    "The shop's calls to the payment service, retries included, by operation (pay, refund, lookup) and outcome"
    " (ok, declined, error).",
    ["operation", "outcome"],
    buckets=LATENCY_BUCKETS,
)
PAYMENT_OPERATIONS = ("pay", "refund", "lookup")
PAYMENT_CALL_OUTCOMES = ("ok", "declined", "error")
PAYMENT_BREAKER_OPEN = Gauge(
    "ecommerce_payment_breaker_open",
    "1 while this worker's circuit breaker to the payment service is open (calls fail fast).",
    multiprocess_mode="max",
)
ORDERS_AWAITING_PAYMENT = Gauge(
    "ecommerce_orders_awaiting_payment",
    "Orders holding their stock while a payment can still come.",
    multiprocess_mode="mostrecent",
)
PAYMENT_HOLDS_EXPIRED = Counter(
    "ecommerce_payment_holds_expired", "Unpaid orders that reached their deadline and gave their stock back."
)
REFUNDS_PENDING = Gauge(
    "ecommerce_refunds_pending",
    "Cancelled paid orders whose refund has not gone through yet.",
    multiprocess_mode="mostrecent",
)
REFUNDS = Counter("ecommerce_refunds", "Refund calls by outcome: succeeded, failed (retried).", ["outcome"])
REFUND_OUTCOMES = ("succeeded", "failed")

# Telemetry about telemetry: what became of the spans and log records the shop produced.
SPANS = Counter("otel_spans", "Spans by what became of them: exported, failed (export refused or failed), dropped.",
                ["outcome"])  # fmt: skip
SPAN_OUTCOMES = ("exported", "failed", "dropped")
LOG_RECORDS = Counter("log_records", "Log records by handler (stdout, file) and outcome (written, failed).",
                      ["handler", "outcome"])  # fmt: skip
LOG_HANDLERS = ("stdout", "file")
LOG_OUTCOMES = ("written", "failed")
LOG_RECORDS_SUPPRESSED = Counter(
    "log_records_suppressed",
    "Log records not written (observability/log_limits.py): repeat (an error already written within the minute),"
    " client_budget (past the log bytes a minute one client may cause).",
    ["reason"],
)
LOG_SUPPRESSION_REASONS = ("repeat", "client_budget")

WRITE_TRANSACTION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
DB_WRITE_TRANSACTION = Histogram(
    "db_write_transaction_seconds",
    "How long a write transaction held the write lock (SQLite) or stayed open (PostgreSQL), BEGIN to end.",
    buckets=WRITE_TRANSACTION_BUCKETS,
)
DB_TRANSACTION_RETRIES = Counter(
    "db_transaction_retries", "Transactions run again after losing a race to another writer.", ["reason"]
)
EVENT_FAILURES = Counter("reflex_event_failures", "Event handlers that raised, by what really failed.", ["reason"])
CLIENT_EVENTS_REFUSED = Counter(
    "reflex_client_events_refused",
    "Client events kept out of the log: unknown events and frontend-exception reports past their per-client rate.",
    ["kind"],
)
CLIENT_EVENT_KINDS = ("unknown_event", "undecodable_event", "malformed_event", "frontend_exception")

# Saturation, per worker: how late the event loop wakes a periodic timer (lifespan.py), and the work
# waiting for the database and hashing threads (offload.py). Buckets from 1 ms to 10 s.
SATURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
EVENT_LOOP_LAG = Histogram(
    "reflex_event_loop_lag_seconds",
    "How late the event loop woke a timer due every 0.5 s: what every event ready meanwhile waited too.",
    buckets=SATURATION_BUCKETS,
)
EVENT_LOOP_LAG_MAX = Gauge(
    "reflex_event_loop_lag_max_seconds",
    "The longest event loop lag of this worker over its last 10 seconds (one series per worker: pid).",
    multiprocess_mode="liveall",
)
THREAD_POOLS = ("db", "hashing")
THREAD_QUEUE_WAIT = Histogram(
    "thread_pool_queue_wait_seconds",
    "Time from handing work to a thread pool (db, hashing) to a thread starting it.",
    ["pool"],
    buckets=SATURATION_BUCKETS,
)
THREAD_QUEUE_DEPTH = Gauge(
    "thread_pool_queue_depth",
    "Work handed to a thread pool (db, hashing) that no thread has started yet (one series per worker: pid).",
    ["pool"],
    multiprocess_mode="liveall",
)
# The process's CPU, memory and open files: prometheus_client's ProcessCollector (in the default
# registry) reads them at each scrape, for the one process answering /metrics. With several
# workers (multiprocess mode) /metrics adds up files instead, so each worker writes its own under
# the same names, one series per worker (pid label), brought up to date by the loop-lag timer.
PROCESS_SAMPLES = {
    "process_cpu_seconds_total": "Total user and system CPU time spent in seconds (this worker).",
    "process_resident_memory_bytes": "Resident memory size in bytes (this worker).",
    "process_open_fds": "Number of open file descriptors (this worker).",
}
_PROCESS_GAUGES = (
    {name: Gauge(name, doc, multiprocess_mode="liveall", registry=None) for name, doc in PROCESS_SAMPLES.items()}
    if MULTIPROCESS
    else {}
)

# What shoppers felt, from the spans their browsers send to POST /otlp/v1/traces (browser_relay.py).
# Labels: `page` is one of the shop's page routes (/product/[product_id]) or "unknown", `event` a
# handler label as in reflex_event_duration_seconds or "other": never a raw path or a browser's text.
# The buckets hold Google's good / needs-improvement / poor thresholds of each vital: LCP 2.5/4 s,
# FCP 1.8/3 s, TTFB 0.8/1.8 s, INP 0.2/0.5 s; CLS 0.1/0.25.
WEB_VITAL_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.0, 1.8, 2.5, 3.0, 4.0, 6.0, 10.0)
CLS_BUCKETS = (0.01, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0)
WEB_VITALS_TIMED = ("LCP", "FCP", "TTFB", "INP")
WEB_VITALS = (*WEB_VITALS_TIMED, "CLS")
WEB_VITAL_RATINGS = ("good", "needs-improvement", "poor")
BROWSER_WEB_VITAL_SECONDS = Histogram(
    "browser_web_vital_seconds",
    "Web vitals measured in shoppers' browsers (LCP, FCP, TTFB, INP), by page route.",
    ["page", "vital"],
    buckets=WEB_VITAL_BUCKETS,
)
BROWSER_WEB_VITAL_CLS = Histogram(
    "browser_web_vital_cls",
    "Cumulative layout shift measured in shoppers' browsers (unitless), by page route.",
    ["page"],
    buckets=CLS_BUCKETS,
)
BROWSER_WEB_VITAL_RATING_COUNTS = Counter(
    "browser_web_vital_ratings",
    "Web vitals by the rating the browser gave them (Google's thresholds): good, needs-improvement, poor.",
    ["page", "vital", "rating"],
)
BROWSER_CLICK_TO_ANSWER = Histogram(
    "browser_click_to_answer_seconds",
    "Time from the browser sending an event to the page showing a change, measured in the browser, by handler.",
    ["event"],
    buckets=LATENCY_BUCKETS,
)
# socket.io's disconnect reasons, as a bounded label; any other -> other.
SOCKET_DISCONNECT_REASONS = {
    "io server disconnect": "server",
    "io client disconnect": "client",
    "ping timeout": "ping_timeout",
    "transport close": "transport_close",
    "transport error": "transport_error",
    "parse error": "parse_error",
}
BROWSER_SOCKET_DISCONNECTS = Counter(
    "browser_socket_disconnects",
    "Websocket disconnects seen by browsers, by socket.io's reason (server, client, ping_timeout, transport_close,"
    " transport_error, parse_error, other).",
    ["reason"],
)
BROWSER_SOCKET_RECONNECTS = Counter(
    "browser_socket_reconnects", "Websocket connects of a page that had been connected before (reconnects)."
)
BROWSER_ERRORS = Counter("browser_errors", "Script errors and unhandled rejections in browsers, by page route.",
                         ["page"])  # fmt: skip
BROWSER_SPANS = Counter(
    "browser_spans",
    "Browser spans by what became of them: accepted (in an accepted request), forwarded, forward_failed (refused,"
    " failed or dropped on the way to the collector), not_sampled (kept out of the traces by"
    " BROWSER_TRACE_SAMPLE_RATIO), refused (in a refused request).",
    ["outcome"],
)
BROWSER_SPAN_OUTCOMES = ("accepted", "forwarded", "forward_failed", "not_sampled", "refused")
BROWSER_TELEMETRY_REFUSED = Counter(
    "browser_telemetry_refused",
    "Requests to the browser span relay refused: too_large, too_many_spans, forged_service, rate_limited,"
    " not_otlp, unsupported_media_type.",
    ["reason"],
)
BROWSER_REFUSAL_REASONS = (
    "too_large", "too_many_spans", "forged_service", "rate_limited", "not_otlp", "unsupported_media_type",
)  # fmt: skip
UNKNOWN_PAGE = "unknown"
OTHER_EVENT = "other"

# throttled: refused before the password was checked (services/throttling.py).
LOGIN_STATUSES = ("success", "failure", "throttled")
# What really failed, for event failures and failed checkouts alike (db.failure_reason decides).
FAILURE_REASONS = ("database_busy", "database_unreachable", "database_error", "session_store_unreachable", "error")
CHECKOUT_FAILURE_REASONS = (
    "validation", "empty_cart", "out_of_stock", "cart_changed", "not_logged_in", "throttled", "payment_in_flight",
    *FAILURE_REASONS,
)  # fmt: skip
RETRY_REASONS = ("busy", "serialization", "deadlock")
# A client chooses the method of its request: any other is counted as "other" (a bounded label).
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def initialise(service_name: str, environment: str) -> None:
    """Publish the info metric and create every labelled series at 0, so rates start from a known value."""
    if not MULTIPROCESS:  # Info is not supported by the multiprocess collector
        APP_INFO.info({"version": __version__, "service": service_name, "environment": environment})
    for status in LOGIN_STATUSES:
        USER_LOGINS.labels(status=status)
    for reason in CHECKOUT_FAILURE_REASONS:
        CHECKOUT_FAILURES.labels(reason=reason)
    for reason in FAILURE_REASONS:
        EVENT_FAILURES.labels(reason=reason)
    for reason in RETRY_REASONS:
        DB_TRANSACTION_RETRIES.labels(reason=reason)
    for kind in CLIENT_EVENT_KINDS:
        CLIENT_EVENTS_REFUSED.labels(kind=kind)
    for outcome in SPAN_OUTCOMES:
        SPANS.labels(outcome=outcome)
    for step in PASSWORD_RESET_STEPS:
        PASSWORD_RESETS.labels(step=step)
    for step in EMAIL_VERIFICATION_STEPS:
        EMAIL_VERIFICATIONS.labels(step=step)
    for handler in LOG_HANDLERS:
        for outcome in LOG_OUTCOMES:
            LOG_RECORDS.labels(handler=handler, outcome=outcome)
    for reason in LOG_SUPPRESSION_REASONS:
        LOG_RECORDS_SUPPRESSED.labels(reason=reason)
    for outcome in PAYMENT_OUTCOMES:
        PAYMENTS.labels(outcome=outcome)
    for operation in PAYMENT_OPERATIONS:
        for outcome in PAYMENT_CALL_OUTCOMES:
            PAYMENT_REQUEST_DURATION.labels(operation=operation, outcome=outcome)
    for outcome in REFUND_OUTCOMES:
        REFUNDS.labels(outcome=outcome)
    PAYMENT_BREAKER_OPEN.set(0)
    for pool in THREAD_POOLS:
        THREAD_QUEUE_WAIT.labels(pool=pool)
        THREAD_QUEUE_DEPTH.labels(pool=pool).set(0)


def initialise_events(events: list[str]) -> None:
    """Every event handler's series at 0, errors included: the first error of a handler then counts
    (an increase() over a series that starts at that error is 0)."""
    for event in events:
        for status in ("ok", "error"):
            EVENT_DURATION.labels(event=event, status=status)


def initialise_browser(pages: tuple[str, ...]) -> None:
    """The browser relay's counters at 0: refusals, span outcomes, disconnect reasons, and errors of every
    page route (`pages`, the app's own), so the first of each counts."""
    for reason in BROWSER_REFUSAL_REASONS:
        BROWSER_TELEMETRY_REFUSED.labels(reason=reason)
    for outcome in BROWSER_SPAN_OUTCOMES:
        BROWSER_SPANS.labels(outcome=outcome)
    for reason in (*SOCKET_DISCONNECT_REASONS.values(), "other"):
        BROWSER_SOCKET_DISCONNECTS.labels(reason=reason)
    for page in (*pages, UNKNOWN_PAGE):
        BROWSER_ERRORS.labels(page=page)


def initialise_emails(kinds: tuple[str, ...]) -> None:
    """Every e-mail kind's series at 0 (the kinds are services/mail.py's)."""
    for kind in kinds:
        for outcome in EMAIL_OUTCOMES:
            EMAILS.labels(kind=kind, outcome=outcome)


def count_spans(outcome: str, count: int) -> None:
    SPANS.labels(outcome=outcome).inc(count)


def count_log_record(handler: str, outcome: str) -> None:
    LOG_RECORDS.labels(handler=handler, outcome=outcome).inc()


def count_suppressed_log_record(reason: str) -> None:
    LOG_RECORDS_SUPPRESSED.labels(reason=reason).inc()


def set_fault_flags(values: dict[str, int | bool]) -> None:
    for flag, value in values.items():
        FAULT_FLAGS.labels(flag=flag).set(float(value))


def count_refused_client_event(kind: str) -> None:
    CLIENT_EVENTS_REFUSED.labels(kind=kind).inc()


def _exemplar(trace_id: str | None) -> dict[str, str] | None:
    return {"trace_id": trace_id} if trace_id and not MULTIPROCESS else None


def observe_event(event: str, status: str, seconds: float, trace_id: str | None = None) -> None:
    EVENT_DURATION.labels(event=event, status=status).observe(seconds, exemplar=_exemplar(trace_id))


def observe_http(method: str, route: str, status: int, seconds: float, trace_id: str | None = None) -> None:
    method = method if method in HTTP_METHODS else "other"
    HTTP_REQUEST_DURATION.labels(method=method, route=route, status=str(status)).observe(
        seconds, exemplar=_exemplar(trace_id)
    )


def observe_web_vital(page: str, vital: str, value: float, rating: str) -> None:
    """One web vital of a page route: `value` in seconds (LCP, FCP, TTFB, INP) or unitless (CLS); `rating`
    counted when it is one of WEB_VITAL_RATINGS. The caller bounds `page` and `vital`."""
    if vital == "CLS":
        BROWSER_WEB_VITAL_CLS.labels(page=page).observe(value)
    else:
        BROWSER_WEB_VITAL_SECONDS.labels(page=page, vital=vital).observe(value)
    if rating in WEB_VITAL_RATINGS:
        BROWSER_WEB_VITAL_RATING_COUNTS.labels(page=page, vital=vital, rating=rating).inc()


def observe_click_to_answer(event: str, seconds: float, trace_id: str | None = None) -> None:
    BROWSER_CLICK_TO_ANSWER.labels(event=event).observe(seconds, exemplar=_exemplar(trace_id))


def count_socket_disconnect(reason: str) -> None:
    """`reason` is socket.io's words; counted under SOCKET_DISCONNECT_REASONS' name for it, else "other"."""
    BROWSER_SOCKET_DISCONNECTS.labels(reason=SOCKET_DISCONNECT_REASONS.get(reason, "other")).inc()


def count_socket_reconnect() -> None:
    BROWSER_SOCKET_RECONNECTS.inc()


def count_browser_error(page: str) -> None:
    BROWSER_ERRORS.labels(page=page).inc()


def count_browser_spans(outcome: str, count: int) -> None:
    if count > 0:
        BROWSER_SPANS.labels(outcome=outcome).inc(count)


def count_browser_refusal(reason: str) -> None:
    BROWSER_TELEMETRY_REFUSED.labels(reason=reason).inc()


def count_payment(outcome: str) -> None:
    PAYMENTS.labels(outcome=outcome if outcome in PAYMENT_OUTCOMES else "unknown").inc()


def observe_payment_call(
    operation: str, outcome: str, seconds: float, trace_id: str | None, breaker_open: bool
) -> None:
    PAYMENT_REQUEST_DURATION.labels(operation=operation, outcome=outcome).observe(seconds, exemplar=_exemplar(trace_id))
    PAYMENT_BREAKER_OPEN.set(1 if breaker_open else 0)


def set_payment_backlog(awaiting_payment: int, refunds_pending: int, breaker_open: bool) -> None:
    ORDERS_AWAITING_PAYMENT.set(awaiting_payment)
    REFUNDS_PENDING.set(refunds_pending)
    PAYMENT_BREAKER_OPEN.set(1 if breaker_open else 0)


def count_expired_holds(count: int) -> None:
    PAYMENT_HOLDS_EXPIRED.inc(count)


def count_refund(outcome: str) -> None:
    REFUNDS.labels(outcome=outcome).inc()


def set_low_stock_products(count: int) -> None:
    LOW_STOCK_PRODUCTS.set(count)


def set_email_backlog(depth: int, oldest_age_seconds: float) -> None:
    EMAIL_OUTBOX_DEPTH.set(depth)
    EMAIL_OUTBOX_OLDEST_AGE.set(oldest_age_seconds)


def observe_write_transaction(seconds: float) -> None:
    DB_WRITE_TRANSACTION.observe(seconds)


def count_transaction_retry(reason: str) -> None:
    DB_TRANSACTION_RETRIES.labels(reason=reason if reason in RETRY_REASONS else "busy").inc()


def count_event_failure(reason: str) -> None:
    EVENT_FAILURES.labels(reason=reason if reason in FAILURE_REASONS else "error").inc()


def observe_event_loop_lag(seconds: float, worst_recent: float) -> None:
    EVENT_LOOP_LAG.observe(seconds)
    EVENT_LOOP_LAG_MAX.set(worst_recent)


def thread_work_queued(pool: str) -> None:
    THREAD_QUEUE_DEPTH.labels(pool=pool).inc()


def thread_work_dequeued(pool: str, waited_seconds: float | None) -> None:
    """Work left the pool's queue: started after `waited_seconds`, or cancelled before it started (None)."""
    THREAD_QUEUE_DEPTH.labels(pool=pool).dec()
    if waited_seconds is not None:
        THREAD_QUEUE_WAIT.labels(pool=pool).observe(waited_seconds)


_process_collector: ProcessCollector | None = None


def sample_process() -> None:
    """This worker's CPU, memory and open files into its own series (multiprocess mode only: otherwise the
    default registry's ProcessCollector reads them at each scrape)."""
    global _process_collector
    if not _PROCESS_GAUGES:
        return
    if _process_collector is None:
        _process_collector = ProcessCollector(registry=None)
    for family in _process_collector.collect():
        for sample in family.samples:
            if gauge := _PROCESS_GAUGES.get(sample.name):
                gauge.set(sample.value)


def mark_process_dead(pid: int) -> None:
    """A worker is leaving: its live gauges (websocket connections) stop counting."""
    multiprocess.mark_process_dead(pid)


def _registry() -> CollectorRegistry:
    if not MULTIPROCESS:
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return registry


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text by default; OpenMetrics (with exemplars) when the scraper asks for it.

    With METRICS_TOKEN set, only a scraper that brings it as a bearer token gets an answer:
    the metrics tell revenue, order counts and login failures.
    """
    if (token := get_settings().metrics_token) is not None and (refusal := bearer_refusal(request, token)):
        return refusal
    registry = _registry()
    if "application/openmetrics-text" in request.headers.get("accept", ""):
        return Response(generate_openmetrics(registry), media_type=OPENMETRICS_CONTENT_TYPE)
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
