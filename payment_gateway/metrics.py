"""Every Prometheus metric of the payment service, named in this one place, in a registry of its own.

A registry per service instance (not prometheus_client's global one): tests run several gateways in
one process, and the shop's metrics never mix with these. Every labelled series starts at 0, so a
rate() over the first payment or the first decline is not lost. Labels are bounded sets.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_CONTENT_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from payment_gateway.cards import DECLINE_CODES

PAYMENT_OUTCOMES = ("succeeded", "declined", "error")
REFUND_OUTCOMES = ("succeeded", "refused")
OPERATIONS = ("create", "confirm", "refund", "retrieve", "search", "other")
REPLAYED_OPERATIONS = ("create", "confirm", "refund")
STATUS_CLASSES = ("2xx", "4xx", "5xx")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """The service's counters, gauges and histogram, and their exposition."""

    def __init__(self, fault_flags: tuple[str, ...]):
        self.registry = CollectorRegistry()
        self.payments = Counter(
            "payment_gateway_payments",
            "Card charges that really ran (replays not counted), by outcome: succeeded, declined, error.",
            ["outcome"],
            registry=self.registry,
        )
        self.declines = Counter(
            "payment_gateway_declines", "Declined charges by decline code.", ["decline_code"], registry=self.registry
        )
        self.refunds = Counter(
            "payment_gateway_refunds",
            "Refunds by outcome: succeeded, refused (nothing left, too much, intent not paid).",
            ["outcome"],
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "payment_gateway_request_duration_seconds",
            "Time to answer an HTTP request, by operation and status class.",
            ["operation", "status_class"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.replays = Counter(
            "payment_gateway_idempotent_replays",
            "Requests answered from a stored response (same idempotency key, same parameters).",
            ["operation"],
            registry=self.registry,
        )
        self.fault_flags = Gauge(
            "payment_gateway_fault_flag",
            "Current value of each fault flag; 0 is off.",
            ["flag"],
            registry=self.registry,
        )
        for outcome in PAYMENT_OUTCOMES:
            self.payments.labels(outcome=outcome)
        for code in DECLINE_CODES:
            self.declines.labels(decline_code=code)
        for outcome in REFUND_OUTCOMES:
            self.refunds.labels(outcome=outcome)
        for operation in OPERATIONS:
            for status_class in STATUS_CLASSES:
                self.request_duration.labels(operation=operation, status_class=status_class)
        for operation in REPLAYED_OPERATIONS:
            self.replays.labels(operation=operation)
        for flag in fault_flags:
            self.fault_flags.labels(flag=flag).set(0)

    def count_payment(self, outcome: str, decline_code: str | None = None) -> None:
        """One charge that really ran; a decline also counts under its (bounded) code."""
        self.payments.labels(outcome=outcome).inc()
        if outcome == "declined" and decline_code in DECLINE_CODES:
            self.declines.labels(decline_code=decline_code).inc()

    def count_refund(self, outcome: str) -> None:
        """One refund that ran: succeeded or refused."""
        self.refunds.labels(outcome=outcome).inc()

    def count_replay(self, operation: str) -> None:
        """One answer replayed from the idempotency store."""
        self.replays.labels(operation=operation).inc()

    def observe_request(self, operation: str, status: int, seconds: float, trace_id: str | None) -> None:
        """One answered request; the trace id becomes the bucket's exemplar (OpenMetrics only shows it)."""
        # No route redirects: anything below 400 counts with the successes rather than adding a label value.
        status_class = "2xx" if status < 400 else "4xx" if status < 500 else "5xx"
        self.request_duration.labels(operation=operation, status_class=status_class).observe(
            seconds, exemplar={"trace_id": trace_id} if trace_id else None
        )

    def set_fault_flags(self, values: dict[str, int | bool]) -> None:
        """The flags' current values, set at each scrape."""
        for flag, value in values.items():
            self.fault_flags.labels(flag=flag).set(float(value))

    def exposition(self, accept: str) -> tuple[bytes, str]:
        """Prometheus text by default; OpenMetrics (with exemplars) when the scraper asks for it."""
        if "application/openmetrics-text" in accept:
            return generate_openmetrics(self.registry), OPENMETRICS_CONTENT_TYPE
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value (0 when absent): for tests and the health summary."""
        return self.registry.get_sample_value(name, labels) or 0.0
