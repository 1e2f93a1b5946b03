"""The /metrics endpoint, its labels, exemplars, and several processes adding up."""

import os
import subprocess
import sys
import textwrap

import pytest
from opentelemetry.sdk.trace import TracerProvider
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from ecom_reflex.observability import metrics, tracing
from ecom_reflex.observability.instrumentation import route_template
from ecom_reflex.settings import PROJECT_ROOT


@pytest.fixture
def client():
    return TestClient(Starlette(routes=[Route("/metrics", metrics.metrics_endpoint)]))


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/health", "/health"),
        ("/metrics", "/metrics"),
        ("/_upload", "/_upload"),
        ("/_upload/product-0123abcd.png", "/_upload/{file}"),
        ("/_event/", "/_event"),
        ("/product/17", "/{frontend}"),
        ("/orders/123456", "/{frontend}"),
        ("/assets/entry.client-D3JR.js", "/{frontend}"),
    ],
)
def test_routes_are_templates_never_raw_paths(path, route):
    assert route_template(path) == route


def test_event_labels_are_handler_names():
    assert tracing.event_label("ecom_reflex.state.cart.CartState.add_to_cart") == "CartState.add_to_cart"


def test_business_metric_names_operators_query(client):
    text = client.get("/metrics").text
    for name in (
        "ecommerce_orders_total",
        "ecommerce_cart_additions_total",
        "ecommerce_user_registrations_total",
        "ecommerce_revenue_cents_total",
        "ecommerce_order_value_dollars_bucket",
        "ecommerce_low_stock_products",
        "reflex_websocket_connections",
    ):
        assert f"\n{name}" in text or text.startswith(name) or f"# TYPE {name}" in text, name


def test_labels_carry_no_ids(client):
    metrics.initialise("ecom-shop", "test")
    text = client.get("/metrics").text
    assert 'ecommerce_user_logins_total{status="throttled"}' in text
    assert 'ecommerce_checkout_failures_total{reason="out_of_stock"}' in text
    assert 'ecommerce_app_info{environment="test",service="ecom-shop",version=' in text
    for forbidden in ("user_id=", "username=", "order_id=", "path="):
        assert forbidden not in text


def test_exemplars_are_served_as_openmetrics_only(client, monkeypatch):
    monkeypatch.setattr(tracing, "_exporting", True)
    span = TracerProvider().get_tracer("t").start_span("CartState.add_to_cart")
    span.set_attribute("reflex.event.name", "state.cart_state.add_to_cart")
    span.set_attribute("code.function.name", "ecom_reflex.state.cart.CartState.exemplar_probe")
    span.end()
    tracing.EventMetricsProcessor().on_end(span)
    trace_id = format(span.get_span_context().trace_id, "032x")

    plain = client.get("/metrics")
    assert plain.headers["content-type"].startswith("text/plain") and trace_id not in plain.text
    open_metrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert open_metrics.headers["content-type"].startswith("application/openmetrics-text")
    assert 'event="CartState.exemplar_probe",le=' in open_metrics.text
    assert f'# {{trace_id="{trace_id}"}}' in open_metrics.text


WORKER = textwrap.dedent(
    """
    import sys
    from ecom_reflex.observability import metrics
    assert metrics.MULTIPROCESS
    n = int(sys.argv[1])
    for _ in range(n):
        metrics.ORDERS.inc()
        metrics.CART_ADDITIONS.inc(2)
        metrics.observe_event("CartState.add_to_cart", "ok", 0.01)
    metrics.WEBSOCKET_CONNECTIONS.inc()
    """
)
SCRAPE = textwrap.dedent(
    """
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient
    from ecom_reflex.observability import metrics
    app = Starlette(routes=[Route("/metrics", metrics.metrics_endpoint)])
    print(TestClient(app).get("/metrics").text)
    """
)


def test_counts_from_two_worker_processes_add_up(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in (3, 4):
        subprocess.run([sys.executable, "-c", WORKER, str(count)], cwd=PROJECT_ROOT, env=env, check=True, timeout=60)
    assert len(list(tmp_path.glob("*.db"))) >= 2  # one file per process and metric type
    text = subprocess.run(
        [sys.executable, "-c", SCRAPE],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    assert "ecommerce_orders_total 7.0" in text
    assert "ecommerce_cart_additions_total 14.0" in text
    assert 'reflex_event_duration_seconds_count{event="CartState.add_to_cart",status="ok"} 7.0' in text


def test_observability_off_leaves_requests_untouched(monkeypatch):
    from ecom_reflex.observability.instrumentation import observe_requests
    from tests.conftest import reset_caches

    async def app(scope, receive, send):  # pragma: no cover - never called here
        pass

    assert observe_requests(app) is not app
    monkeypatch.setenv("OBSERVABILITY", "false")
    reset_caches()
    assert observe_requests(app) is app


def test_with_a_metrics_token_only_its_bearer_is_answered(client, monkeypatch):
    from tests.conftest import reset_caches

    monkeypatch.setenv("METRICS_TOKEN", "s" * 32)
    reset_caches()
    for headers in ({}, {"Authorization": "Bearer " + "t" * 32}, {"Authorization": "s" * 32}):
        refused = client.get("/metrics", headers=headers)
        assert refused.status_code == 401 and "ecommerce" not in refused.text
        assert refused.headers["www-authenticate"] == "Bearer"
    answered = client.get("/metrics", headers={"Authorization": "Bearer " + "s" * 32})
    assert answered.status_code == 200 and "python_info" in answered.text
