"""Metrics, traces and logs of one shopper journey agree with each other, checked with real parts:
a real Prometheus scraping /metrics, a real OTLP/HTTP receiver, the app's JSON log file."""

import hashlib
import json
import time

from playwright.sync_api import Page, expect

from e2e.helpers import (
    add_from_product_page,
    confirm_email,
    fill_card,
    fill_shipping,
    log_in,
    log_out,
    placed_order_id,
    register,
    unique_name,
    wait_until,
)
from e2e.otlp_receiver import SPAN_KIND_CLIENT, SPAN_KIND_SERVER

BUSINESS = {
    "orders": "ecommerce_orders_total",
    "cart_additions": "ecommerce_cart_additions_total",
    "logins": 'ecommerce_user_logins_total{status="success"}',
    "registrations": "ecommerce_user_registrations_total",
}


def journey(page: Page, shop_server) -> tuple[str, str, int]:
    """Register, log out and in, add two products, check out. Returns (username, password, order id)."""
    username, password = unique_name("observed"), "Observed-Pass-9"
    register(page, username, password)
    confirm_email(page, shop_server.smtp, f"{username}@example.com")  # its order e-mail is traced below
    log_out(page)
    page.goto("/login")
    log_in(page, username, password)
    expect(page.get_by_test_id("current-user")).to_have_text(username)
    add_from_product_page(page, shop_server.db_file, "Bluetooth Speaker")
    add_from_product_page(page, shop_server.db_file, "Scented Candle")
    page.goto("/checkout")
    fill_shipping(page)
    fill_card(page)
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    order_id = placed_order_id(page)
    return username, password, order_id


def log_lines(shop_server) -> list[dict]:
    return [json.loads(line) for line in shop_server.log_file.read_text().splitlines() if line.strip()]


def scraped_values(prometheus) -> dict[str, float]:
    return {key: prometheus.value(f"sum({query})") or 0.0 for key, query in BUSINESS.items()}


def test_one_journey_in_metrics_traces_and_logs(page: Page, shop_server, prometheus):
    wait_until(lambda: prometheus.value('up{job="shop"}') == 1.0, timeout_s=30)
    before = scraped_values(prometheus)
    started = time.time()

    username, password, order_id = journey(page, shop_server)
    token = page.evaluate("() => localStorage.getItem('shop_session')") or ""
    assert len(token) >= 40, "the session token is where the shop keeps it"

    # 1. Prometheus saw exactly this journey's increments.
    expected = {"orders": 1, "cart_additions": 2, "logins": 1, "registrations": 1}
    wait_until(lambda: all(scraped_values(prometheus)[k] - before[k] >= v for k, v in expected.items()), 30)
    time.sleep(2)  # two more scrapes: a late extra increment would show up now
    after = scraped_values(prometheus)
    assert {key: after[key] - before[key] for key in BUSINESS} == expected
    p95 = prometheus.value("histogram_quantile(0.95, sum by (le) (rate(reflex_event_duration_seconds_bucket[5m])))")
    assert p95 is not None and p95 > 0
    assert prometheus.value('sum(reflex_event_duration_seconds_count{event="CheckoutState.place_order"})') >= 1
    assert prometheus.value("sum(reflex_websocket_connections)") >= 1  # this page's socket is open
    assert prometheus.value('sum(http_request_duration_seconds_count{route="/metrics",status="200"})') >= 1
    assert prometheus.value('ecommerce_app_info{service="ecom-shop"}') == 1
    exemplars = prometheus.api(
        "query_exemplars", query="reflex_event_duration_seconds_bucket", start=started - 60, end=time.time() + 60
    )
    trace_ids = {e["labels"]["trace_id"] for series in exemplars for e in series["exemplars"]}
    assert trace_ids and all(len(t) == 32 for t in trace_ids)

    # 2. The OTLP receiver got the checkout trace: event span, checkout steps and queries, one trace.
    def checkout_spans():
        spans = shop_server.otlp.snapshot()
        events = [s for s in spans if s.attributes.get("code.function.name", "").endswith("CheckoutState.place_order")]
        if not events:
            return None
        event = events[-1]
        in_trace = [s for s in spans if s.trace_id == event.trace_id]
        names = {s.name for s in in_trace}
        steps = {"checkout.validate_cart", "checkout.reserve_stock", "checkout.create_order"}
        has_db = any("db.statement" in s.attributes or "db.system" in s.attributes for s in in_trace)
        # The click that sent it: the browser's span, relayed by the shop, is the event span's parent.
        clicked = any(s.span_id == event.parent_span_id for s in in_trace)
        return (event, in_trace) if steps <= names and has_db and clicked else None

    wait_until(lambda: checkout_spans() is not None, 30)
    event, in_trace = checkout_spans()
    by_id = {s.span_id: s for s in in_trace}

    def ancestors(span):
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            yield span.span_id

    reserve = next(s for s in in_trace if s.name == "checkout.reserve_stock")
    assert event.span_id in ancestors(reserve)
    db_spans = [s for s in in_trace if "db.statement" in s.attributes or "db.system" in s.attributes]
    assert any(event.span_id in ancestors(s) for s in db_spans)
    # A span per statement (BEGIN IMMEDIATE shows the wait for SQLite's write lock), none per pool checkout.
    assert all("db.statement" in s.attributes for s in db_spans), {s.name for s in db_spans}
    assert any(s.name.startswith("BEGIN") for s in db_spans)  # checkout's BEGIN IMMEDIATE
    assert event.resource["service.name"] == "ecom-shop"
    assert {"service.version", "deployment.environment"} <= set(event.resource)
    click = by_id[event.parent_span_id]
    assert click.resource["service.name"] == "ecom-shop-frontend" and click.parent_span_id == ""
    assert click.attributes["url.path"] == "/checkout"

    # The order's e-mail was sent in a trace of its own, linked to the checkout's trace: the click's.
    def email_send():
        return next((s for s in shop_server.otlp.snapshot() if s.name == "email.send"
                     and s.attributes.get("email.kind") == "order_placed"
                     and any(trace_id == event.trace_id for trace_id, _ in s.links)), None)  # fmt: skip

    wait_until(lambda: email_send() is not None, 30)
    send = email_send()
    assert send.trace_id != event.trace_id and send.parent_span_id == ""
    assert send.attributes["email.attempt"] == 1

    # 3. The "order placed" log line carries that trace's id.
    wait_until(lambda: any(line.get("action") == "order_placed" and line.get("order_id") == order_id
                           for line in log_lines(shop_server)), 10)  # fmt: skip
    placed = next(line for line in log_lines(shop_server)
                  if line.get("action") == "order_placed" and line.get("order_id") == order_id)  # fmt: skip
    assert placed["message"] == "order placed" and placed["trace_id"] == event.trace_id
    assert placed["level"] == "INFO" and placed["service"] == "ecom-shop" and placed["logger"]
    assert placed["event"] == "CheckoutState.place_order" and isinstance(placed["user_id"], int)
    assert placed["timestamp"].endswith("+00:00")
    login = next(
        line for line in log_lines(shop_server) if line.get("action") == "login" and line.get("username") == username
    )
    assert login["outcome"] == "success"

    # 4. No line holds the password, the session token or its hash.
    text = shop_server.log_file.read_text()
    for secret in (password, token, hashlib.sha256(token.encode()).hexdigest()):
        assert secret not in text


def test_a_checkouts_trace_crosses_into_the_payment_service(page: Page, shop_server):
    """One checkout, one trace: the shop's event span, its httpx call, and the payment service's server
    span under that call (the trace context went over HTTP), from two processes with their own names."""
    *_, order_id = journey(page, shop_server)

    def payment_trace():
        spans = shop_server.otlp.snapshot()
        pay = next((s for s in spans if s.name == "payment.pay" and s.attributes.get("order.id") == order_id), None)
        if pay is None:
            return None
        in_trace = [s for s in spans if s.trace_id == pay.trace_id]
        gateway = [s for s in in_trace if s.resource.get("service.name") == "payment-gateway"]
        servers = [s for s in gateway if s.kind == SPAN_KIND_SERVER and s.name == "POST /v1/payment_intents"]
        # The checkout's event span ends last (after the payment): once it is here, so is the rest of the shop's.
        ended = any(s.attributes.get("code.function.name", "").endswith("CheckoutState.place_order") for s in in_trace)
        return (pay, in_trace, servers[0]) if servers and ended else None

    wait_until(lambda: payment_trace() is not None, 30)
    pay, in_trace, server = payment_trace()
    by_id = {s.span_id: s for s in in_trace}

    def ancestors(span):
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
            yield span

    # The service's server span is the child of the shop's httpx client span ...
    client = by_id.get(server.parent_span_id)
    assert client is not None, "the service's server span has no parent in the trace: no context crossed"
    assert client.kind == SPAN_KIND_CLIENT and client.resource["service.name"] == "ecom-shop", client
    assert client.attributes.get("http.request.method", client.attributes.get("http.method")) == "POST"
    # ... which runs under the payment step of the shopper's checkout event.
    above = list(ancestors(client))
    assert pay in above
    (event,) = [s for s in above if s.attributes.get("code.function.name", "").endswith("CheckoutState.place_order")]
    assert event.resource["service.name"] == "ecom-shop"
    assert server.trace_id == event.trace_id == client.trace_id
    assert server.resource["service.name"] == "payment-gateway" and server.attributes.get("http.route")
    # The service's own work for that request is in the trace too, under its server span.
    assert any(server in list(ancestors(s)) for s in in_trace if s.resource.get("service.name") == "payment-gateway")


def test_the_same_journey_works_with_the_collector_down(page: Page, shop_server):
    shop_server.otlp.stop()  # the endpoint is now a closed port
    try:
        lines_before = len(log_lines(shop_server))
        *_, order_id = journey(page, shop_server)
        assert order_id > 0
        time.sleep(1.5)  # let the exporter try (and fail) at least once
    finally:
        shop_server.otlp.restart()  # the tests after this one read exported spans again
    new = log_lines(shop_server)[lines_before:]
    exporter_warnings = [line for line in new if line["logger"].startswith("opentelemetry") and line["level"] != "INFO"]
    # Rate-limited: one a minute per logger, however many batches failed.
    assert len(exporter_warnings) <= 4, exporter_warnings


def test_every_dashboard_and_rule_query_runs_on_the_real_prometheus(prometheus):
    """After the journeys above: no PromQL errors, and every business KPI panel has data."""
    from grafana_as_code.dashboards.overview import BUSINESS_KPIS
    from tests.test_grafana_as_code import grafana_variables_filled as as_executed
    from tests.test_grafana_as_code import prometheus_exprs

    exprs = prometheus_exprs()
    assert len(exprs) >= 20
    for expr in exprs:
        prometheus.api("query", query=as_executed(expr))  # raises on a PromQL error

    for title, expr, *_ in BUSINESS_KPIS:
        result = prometheus.api("query", query=as_executed(expr))["result"]
        assert result, f"KPI panel {title!r} returns no data"
        value = float(result[0]["value"][1])
        assert value == value, f"KPI panel {title!r} is NaN"  # NaN != NaN
