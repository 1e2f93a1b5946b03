"""Every alert fires on a real symptom and resolves when it goes (README "Break it on purpose").

A real Prometheus loads the generated rule files (a test copy: `for: 0s` and every range
shortened, e.g. 5m to 20s, so a symptom shows within seconds) and scrapes the running shop and
its payment service every second. Each test breaks the shop on purpose: a fault flag turned on
in the shop's flag file (which the payment service reads too), the OTLP collector refusing
spans, the log file refusing writes. It drives traffic with the load generator (or, for the
payment service's own alerts, payments straight at its API), asserts through /api/v1/alerts
that the matching alert fires, mends what it broke and asserts that the alert resolves (for the
collector: that spans flow again).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import resource
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from playwright.sync_api import expect

from bench import loadgen
from e2e.fixtures import ARTIFACTS, ShopServer
from e2e.helpers import log_in, set_flag
from e2e.prometheus import Prometheus, start_prometheus
from ecom_reflex.settings import PROJECT_ROOT

RULES = PROJECT_ROOT / "monitoring" / "prometheus" / "rules" / "shop-alerts.yml"
COMPAT_RULES = PROJECT_ROOT / "monitoring" / "prometheus" / "rules" / "original-shop-compat.yml"
# The test copy's ranges: what takes minutes in production takes seconds here.
SHORTER = {"2m": "10s", "5m": "20s", "15m": "30s", "30m": "35s", "1h": "40s"}
ALERT_TIMEOUT_S = 90
# The payment service's gauge of its fault flags (the shop's is ecommerce_fault_flag).
GATEWAY_FLAG = "payment_gateway_fault_flag"
# Stripe's test cards (README "Payments"): approved, and declined (generic).
APPROVED_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"


def quick_rules(source: Path, target: Path) -> Path:
    rules = yaml.safe_load(source.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
            rule["expr"] = re.sub(r"\[(\d+[mh])\]", lambda m: f"[{SHORTER[m.group(1)]}]", rule["expr"])
    target.write_text(yaml.safe_dump(rules))
    return target


@pytest.fixture(scope="module")
def alerting(shop_server: ShopServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("alerting")
    rules = quick_rules(RULES, workdir / "shop-alerts.yml")
    server = start_prometheus(
        shop_server.address, workdir, ARTIFACTS / "prometheus-alerts.log", shop_server.metrics_token,
        rule_files=(rules, COMPAT_RULES), payments=shop_server.payments.url.removeprefix("http://"),
    )  # fmt: skip
    yield server
    server.stop()


def firing(prometheus: Prometheus, name: str, **labels: str) -> list[dict]:
    return [
        alert
        for alert in prometheus.api("alerts")["alerts"]
        if alert["labels"].get("alertname") == name
        and alert["state"] == "firing"
        and all(alert["labels"].get(key) == value for key, value in labels.items())
    ]


def wait_until(condition, what: str, timeout_s: float = ALERT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout_s} s"
        time.sleep(1)


@contextlib.contextmanager
def flag(
    shop_server: ShopServer, prometheus: Prometheus, name: str, variant: str, gauge: str = "ecommerce_fault_flag"
) -> Iterator[None]:
    """The flag on for the block, off again after it, seen by Prometheus both ways (in `gauge`: the shop's
    ecommerce_fault_flag, or the payment service's payment_gateway_fault_flag for its flags)."""
    query = f'{gauge}{{flag="{name}"}}'
    set_flag(shop_server.flags_file, name, variant)
    try:
        wait_until(lambda: (prometheus.value(query) or 0) > 0, f"{name} on in {gauge}", 30)
        yield
    finally:
        set_flag(shop_server.flags_file, name, "off")
        wait_until(lambda: prometheus.value(query) == 0, f"{name} off in {gauge}", 30)


def flag_value(shop_server: ShopServer, name: str, variant: str) -> int | bool:
    return json.loads(shop_server.flags_file.read_text())["flags"][name]["variants"][variant]


@contextlib.contextmanager
def traffic(url: str, shoppers: int = 3, checkout_share: float = 0.0, card: str | None = None) -> Iterator[None]:
    """Simulated shoppers (bench/loadgen.py) for the block, in a thread with its own event loop. Those who
    check out pay with `card` (loadgen's own, the approved 4242 card, when None)."""
    stop = threading.Event()
    paying_with = {"card": card} if card else {}

    def shop() -> None:
        while not stop.is_set():
            asyncio.run(loadgen.run(url, shoppers, 5, checkout_share, 0.2, live=False, **paying_with))

    thread = threading.Thread(target=shop, name="traffic", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(60)


@pytest.mark.parametrize(
    ("name", "variant", "alert", "labels", "checkout_share"),
    [
        ("checkoutFailurePercent", "all", "ShopCheckoutErrorBudgetBurn", {}, 1.0),
        ("catalogueDelayMs", "slow", "ShopSlowEvents", {"event": "CatalogState.load_listing"}, 0.0),
        ("databaseDelayMs", "slow", "ShopSlowEvents", {}, 0.0),
        ("spanExportBlackhole", "on", "ShopTracesLost", {}, 0.0),
        ("eventLoopBlockMs", "slow", "ShopEventLoopSaturated", {}, 0.0),
    ],
)
def test_each_fault_flag_fires_its_alert_and_it_resolves(
    shop_server, alerting, name, variant, alert, labels, checkout_share
):
    assert not firing(alerting, alert, **labels), f"{alert} was firing before the flag went on"
    with flag(shop_server, alerting, name, variant):
        with traffic(shop_server.url, checkout_share=checkout_share):
            wait_until(lambda: firing(alerting, alert, **labels), f"{alert} firing with {name}={variant}")
        set_flag(shop_server.flags_file, name, "off")
        with traffic(shop_server.url, checkout_share=checkout_share):
            wait_until(lambda: not firing(alerting, alert, **labels), f"{alert} resolved with {name} off")


def test_flag_evaluations_are_on_the_event_spans(shop_server, alerting):
    with traffic(shop_server.url, shoppers=1):
        time.sleep(3)
    evaluated = {
        attributes.get("feature_flag.key")
        for span in shop_server.otlp.snapshot()
        for event, attributes in span.events
        if event == "feature_flag.evaluation"
    }
    assert {"catalogueDelayMs", "databaseDelayMs"} <= evaluated, evaluated


def test_error_lines_name_their_event_and_trace(shop_server, alerting):
    offset = shop_server.log_file.stat().st_size
    with flag(shop_server, alerting, "checkoutFailurePercent", "all"), traffic(shop_server.url, checkout_share=1.0):
        wait_until(lambda: '"ecom_reflex.events"' in _log_since(shop_server.log_file, offset), "an ERROR line", 60)
    errors = [json.loads(line) for line in _log_since(shop_server.log_file, offset).splitlines()
              if '"level": "ERROR"' in line and '"ecom_reflex.events"' in line]  # fmt: skip
    assert errors
    for line in errors:
        assert line["event"] == "CheckoutState.place_order", line
        assert re.fullmatch(r"[0-9a-f]{32}", line["trace_id"]) and re.fullmatch(r"[0-9a-f]{16}", line["span_id"])
        assert line["trace_id"] in {span.trace_id for span in shop_server.otlp.snapshot()}


def _log_since(path: Path, offset: int) -> str:
    with path.open(encoding="utf-8") as log:
        log.seek(offset)
        return log.read()


def _counter(prometheus: Prometheus, query: str) -> float:
    return prometheus.value(query) or 0.0


def test_a_collector_that_is_down_is_counted_and_alerted(shop_server, alerting):
    failed = 'sum(otel_spans_total{outcome="failed"})'
    before = _counter(alerting, failed)
    shop_server.otlp.unavailable.set()
    try:
        with traffic(shop_server.url):
            wait_until(lambda: _counter(alerting, failed) > before, "otel_spans_total{outcome=failed} rising")
            wait_until(lambda: firing(alerting, "ShopTracesLost"), "ShopTracesLost firing")
    finally:
        shop_server.otlp.unavailable.clear()
    # Back up: spans flow again (whether the alert has resolved yet depends on the backlog).
    exported = 'sum(otel_spans_total{outcome="exported"})'
    after = _counter(alerting, exported)
    with traffic(shop_server.url):
        wait_until(lambda: _counter(alerting, exported) > after, "spans exported again")


def _shop_pids(shop_server: ShopServer) -> list[int]:
    """The processes serving the shop's port (the reflex CLI and its worker)."""
    port = shop_server.url.rsplit(":", 1)[1]
    pids = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if f"--backend-port\x00{port}" in status.read_text():
                pids.append(int(status.parent.name))
    return pids


def test_a_log_file_that_refuses_writes_is_counted_and_alerted(shop_server, alerting):
    failed = 'sum(log_records_total{handler="file", outcome="failed"})'
    before = _counter(alerting, failed)
    pids = _shop_pids(shop_server)
    assert pids, "the shop's processes"
    # The kernel refuses to grow any file past its current size for these processes, as a full
    # disk would; the database is not written meanwhile (only /health is asked).
    size = shop_server.log_file.stat().st_size
    limits = {pid: resource.prlimit(pid, resource.RLIMIT_FSIZE, (size, resource.RLIM_INFINITY)) for pid in pids}
    try:
        for _ in range(60):  # each answered as usual: a log that cannot be written fails no request
            with urllib.request.urlopen(f"{shop_server.url}/health", timeout=10) as answer:
                assert answer.status == 200
        wait_until(lambda: _counter(alerting, failed) > before, "log_records_total{outcome=failed} rising")
        wait_until(lambda: firing(alerting, "ShopLogsNotReachingFile"), "ShopLogsNotReachingFile firing")
    finally:
        for pid, limit in limits.items():
            resource.prlimit(pid, resource.RLIMIT_FSIZE, limit)
    # (How a failing handler says so, once a minute: tests/test_logging.py; here stderr is a file too.)
    wait_until(lambda: not firing(alerting, "ShopLogsNotReachingFile"), "ShopLogsNotReachingFile resolved")


def test_the_original_shops_documented_queries_still_answer(shop_server, alerting):
    with traffic(shop_server.url, shoppers=1):
        wait_until(lambda: alerting.value('sum(rate(flask_http_request_total{method="EVENT"}[20s]))'),
                   "flask_http_request_total recorded", 60)  # fmt: skip
    assert alerting.value('sum(flask_http_request_total{method="GET"})') > 0  # /health, /metrics, pages
    # Successful events as the original's queries ask for them: status 200, never "ok".
    assert alerting.value('sum(flask_http_request_total{method="EVENT", status=~"2.."})') > 0
    assert alerting.value('count(flask_http_request_total{status="ok"})') is None
    assert alerting.value("sum(flask_http_request_exceptions_total)") is not None


def test_the_admin_dashboard_says_which_fault_flags_are_on(page, shop_server, alerting):
    page.goto("/login?next=/admin")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    expect(page.get_by_test_id("fault-flags-off")).to_be_visible()
    with flag(shop_server, alerting, "spanExportBlackhole", "on"):
        page.reload()
        expect(page.get_by_test_id("fault-flags-on")).to_contain_text("spanExportBlackhole: on")
    page.reload()
    expect(page.get_by_test_id("fault-flags-off")).to_be_visible()


def test_plain_http_requests_have_server_spans_that_are_the_latency_exemplars(shop_server, alerting):
    started = time.time()
    for _ in range(5):
        urllib.request.urlopen(f"{shop_server.url}/health", timeout=10).read()

    def health_spans() -> dict:
        return {span.trace_id: span for span in shop_server.otlp.snapshot() if span.name == "GET /health"}

    def exemplar_trace_ids() -> set[str]:
        series = alerting.api("query_exemplars", query='http_request_duration_seconds_bucket{route="/health"}',
                              start=started - 5, end=time.time() + 5)  # fmt: skip
        return {e["labels"]["trace_id"] for s in series for e in s["exemplars"]}

    # Spans arrive when the exporter's batch goes out, exemplars with the next scrape: both, in time.
    wait_until(lambda: exemplar_trace_ids() & set(health_spans()), "an exemplar pointing at a /health span", 60)
    linked = health_spans()[next(iter(exemplar_trace_ids() & set(health_spans())))]
    assert linked.parent_span_id == "", "the request's own server span, the root of its trace"


# --- payments ---------------------------------------------------------------------------------


@contextlib.contextmanager
def payments_at_the_service(shop_server: ShopServer, callers: int = 3) -> Iterator[list[int]]:
    """Payments straight at the payment service's API (with the shop's key) for the block: `callers`
    threads each create-and-confirm one approved payment after another. Yields the statuses answered."""
    stop = threading.Event()
    statuses: list[int] = []

    def pay() -> None:
        headers = {"Authorization": f"Bearer {shop_server.payments_api_key}"}
        with httpx.Client(base_url=shop_server.payments.url, headers=headers, timeout=30) as client:
            while not stop.is_set():
                body = {
                    "amount": 1999, "currency": "usd", "reference": f"alert-test-{uuid.uuid4().hex[:12]}",
                    "confirm": True,
                    "card": {"number": APPROVED_CARD, "exp_month": 12, "exp_year": 2034, "cvc": "123", "name": "Test"},
                }  # fmt: skip
                try:
                    answer = client.post(
                        "/v1/payment_intents", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
                    )
                    statuses.append(answer.status_code)
                except httpx.HTTPError:
                    statuses.append(0)
                    stop.wait(0.5)
                stop.wait(0.1)

    threads = [threading.Thread(target=pay, name=f"payments-{i}", daemon=True) for i in range(callers)]
    for thread in threads:
        thread.start()
    try:
        yield statuses
    finally:
        stop.set()
        for thread in threads:
            thread.join(60)


def test_a_slow_payment_service_fires_payments_slow_and_it_resolves(shop_server, alerting):
    # PaymentsSlow is on the service's own histogram (create and confirm): driven at its API.
    assert flag_value(shop_server, "paymentDelayMs", "slow") > 1000, "paymentDelayMs=slow must exceed the 1 s p95"
    assert not firing(alerting, "PaymentsSlow"), "PaymentsSlow was firing before the flag went on"
    with payments_at_the_service(shop_server) as answered:
        with flag(shop_server, alerting, "paymentDelayMs", "slow", gauge=GATEWAY_FLAG):
            wait_until(lambda: firing(alerting, "PaymentsSlow"), "PaymentsSlow firing with paymentDelayMs=slow")
        wait_until(lambda: not firing(alerting, "PaymentsSlow"), "PaymentsSlow resolved with paymentDelayMs off")
    assert answered and {status // 100 for status in answered} == {2}, f"answered {sorted(set(answered))}"


def test_an_unreachable_payment_service_fires_payment_service_down_and_it_resolves(shop_server, alerting):
    # paymentUnreachable: every request, /metrics too, answers 503, so Prometheus sees up 0 (and not the
    # flag's gauge): no traffic needed.
    assert not firing(alerting, "PaymentServiceDown"), "PaymentServiceDown was firing before the flag went on"
    set_flag(shop_server.flags_file, "paymentUnreachable", "on")
    try:
        wait_until(lambda: alerting.value('up{job="payments"}') == 0, "the payment service's scrapes failing", 30)
        wait_until(lambda: firing(alerting, "PaymentServiceDown"), "PaymentServiceDown firing with the service down")
    finally:
        set_flag(shop_server.flags_file, "paymentUnreachable", "off")
    query = f'{GATEWAY_FLAG}{{flag="paymentUnreachable"}}'
    wait_until(lambda: alerting.value(query) == 0, "the payment service scraped again, the flag off", 30)
    # The shop's reconciler may have opened its breaker meanwhile: it closes on its next good call.
    wait_until(lambda: not firing(alerting, "PaymentServiceDown"), "PaymentServiceDown resolved")


def test_failing_payments_fire_payment_errors_and_the_open_breaker_payment_service_down(shop_server, alerting):
    """paymentFailurePercent=all: every POST to the service answers 500. The shop retries, counts the
    payment `unknown` (PaymentErrors) and opens its circuit breaker (PaymentServiceDown, while the service
    still answers its scrapes). Both resolve once payments go through again."""
    for alert in ("PaymentErrors", "PaymentServiceDown"):
        assert not firing(alerting, alert), f"{alert} was firing before the flag went on"
    approved = 'sum(ecommerce_payments_total{outcome="approved"})'
    failing = flag(shop_server, alerting, "paymentFailurePercent", "all", gauge=GATEWAY_FLAG)
    with failing, traffic(shop_server.url, checkout_share=1.0):
        wait_until(lambda: firing(alerting, "PaymentErrors"), "PaymentErrors firing with paymentFailurePercent")
        wait_until(lambda: alerting.value("max(ecommerce_payment_breaker_open)") == 1, "a breaker open")
        assert alerting.value('up{job="payments"}') == 1, "the service itself still answers"
        wait_until(lambda: firing(alerting, "PaymentServiceDown"), "PaymentServiceDown firing, breaker open")
    approved_before = _counter(alerting, approved)
    with traffic(shop_server.url, checkout_share=1.0):
        wait_until(lambda: _counter(alerting, approved) > approved_before, "payments approved again")
        wait_until(lambda: not firing(alerting, "PaymentErrors"), "PaymentErrors resolved with the flag off")
        wait_until(lambda: not firing(alerting, "PaymentServiceDown"), "PaymentServiceDown resolved, breaker closed")


def test_a_burst_of_declines_fires_card_testing_suspected_and_it_resolves(shop_server, alerting):
    # Card testing through the checkout: every shopper pays with a card that is declined.
    assert not firing(alerting, "CardTestingSuspected"), "CardTestingSuspected was firing before the burst"
    with traffic(shop_server.url, shoppers=5, checkout_share=1.0, card=DECLINED_CARD):
        wait_until(lambda: firing(alerting, "CardTestingSuspected"), "CardTestingSuspected firing on declines")
    with traffic(shop_server.url, checkout_share=1.0):
        wait_until(lambda: not firing(alerting, "CardTestingSuspected"), "CardTestingSuspected resolved")
