"""What the browser relay makes of the spans it accepts (observability/browser_relay.py): metrics by the
shop's page routes and handler labels, never a raw path or a browser's text; exports read from OTLP/JSON
(hex ids) and protobuf alike; attributes cut before anything is forwarded; the trace sampler's decision.
The endpoint's bounds, against a real OTLP receiver: tests/security/test_browser_relay.py."""

from __future__ import annotations

import json
import secrets

import pytest
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from prometheus_client import REGISTRY

from ecom_reflex.observability import browser_relay, metrics
from ecom_reflex.observability.browser_relay import PageRoutes, Refused
from ecom_reflex.state.cart import CartState
from tests.browser_spans import body, export, span, ui_answer, web_vital

ROUTES = ("/", "/category/[slug]", "/product/[product_id]", "/cart", "/admin/products/new",
          "/admin/products/[product_id]", "/orders/[order_id]")  # fmt: skip
PAGES = PageRoutes([*ROUTES, "404"])
ADD_TO_CART = f"{CartState.get_full_name()}.add_to_cart"
LABELS = {ADD_TO_CART: "CartState.add_to_cart"}


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def measure(spans: list[dict], exemplar=lambda _trace_id: False) -> None:
    browser_relay.derive_metrics(browser_relay.parse_export(body(spans), "application/json"), PAGES, LABELS, exemplar)


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/", "/"),
        ("/product/42", "/product/[product_id]"),
        ("/product/42/", "/product/[product_id]"),
        ("/category/shoes", "/category/[slug]"),
        ("/admin/products/new", "/admin/products/new"),
        ("/admin/products/7", "/admin/products/[product_id]"),
        ("/cart", "/cart"),
        ("/nope/x", "unknown"),
        ("/product", "unknown"),
        ("/product/42/reviews", "unknown"),
        ("/category//shoes", "unknown"),
        ("404", "unknown"),
        ("/" + "a" * 5000, "unknown"),
    ],
)
def test_a_path_is_named_by_the_shops_own_page_route(path, route):
    assert PAGES.of(path) == route


def test_only_routes_that_are_paths_are_labels():
    assert PAGES.routes == ROUTES


def test_web_vitals_are_histograms_by_page_route_in_seconds_with_their_rating():
    page = "/product/[product_id]"
    before = {
        "lcp": sample("browser_web_vital_seconds_count", page=page, vital="LCP"),
        "lcp_sum": sample("browser_web_vital_seconds_sum", page=page, vital="LCP"),
        "good": sample("browser_web_vital_seconds_bucket", page=page, vital="LCP", le="2.5"),
        "cls": sample("browser_web_vital_cls_count", page=page),
        "poor": sample("browser_web_vital_ratings_total", page=page, vital="CLS", rating="poor"),
        "fair": sample("browser_web_vital_ratings_total", page=page, vital="LCP", rating="needs-improvement"),
        "unknown": sample("browser_web_vital_seconds_count", page="unknown", vital="INP"),
    }
    measure(
        [
            web_vital("LCP", 3100, "needs-improvement", "/product/42"),  # ms, as an integer: intValue
            web_vital("CLS", 0.31, "poor", "/product/43"),
            web_vital("INP", 120.5, "good", "/nope/x"),
            web_vital("LCP", 900.0, "splendid", "/product/44"),  # a rating that is not Google's: not counted
        ]
    )
    assert sample("browser_web_vital_seconds_count", page=page, vital="LCP") == before["lcp"] + 2
    assert sample("browser_web_vital_seconds_sum", page=page, vital="LCP") == pytest.approx(before["lcp_sum"] + 4.0)
    assert sample("browser_web_vital_seconds_bucket", page=page, vital="LCP", le="2.5") == before["good"] + 1
    assert sample("browser_web_vital_cls_count", page=page) == before["cls"] + 1
    assert sample("browser_web_vital_ratings_total", page=page, vital="CLS", rating="poor") == before["poor"] + 1
    fair = sample("browser_web_vital_ratings_total", page=page, vital="LCP", rating="needs-improvement")
    assert fair == before["fair"] + 1
    assert sample("browser_web_vital_ratings_total", page=page, vital="LCP", rating="splendid") == 0
    assert sample("browser_web_vital_seconds_count", page="unknown", vital="INP") == before["unknown"] + 1


def test_the_buckets_hold_googles_thresholds():
    for threshold in (2.5, 4.0, 1.8, 3.0, 0.8, 0.2, 0.5):
        assert threshold in metrics.WEB_VITAL_BUCKETS
    assert {0.1, 0.25} <= set(metrics.CLS_BUCKETS)


def test_a_vital_that_is_not_a_measurement_is_not_measured():
    before = sample("browser_web_vital_seconds_count", page="/cart", vital="FCP")
    spans = [web_vital("FCP", raw, "good", "/cart") for raw in (-5.0, "fast", True)]
    spans.append(web_vital("XYZ", 100.0, "good", "/cart"))
    measure(spans)
    assert sample("browser_web_vital_seconds_count", page="/cart", vital="FCP") == before
    assert sample("browser_web_vital_seconds_count", page="/cart", vital="XYZ") == 0


def test_click_to_answer_is_by_handler_label_and_an_unknown_event_is_other():
    before_cart = sample("browser_click_to_answer_seconds_count", event="CartState.add_to_cart")
    before_sum = sample("browser_click_to_answer_seconds_sum", event="CartState.add_to_cart")
    before_other = sample("browser_click_to_answer_seconds_count", event="other")
    measure([ui_answer(ADD_TO_CART, "/product/1"), ui_answer("reflex___state____state.evil.<script>")])
    assert sample("browser_click_to_answer_seconds_count", event="CartState.add_to_cart") == before_cart + 1
    assert sample("browser_click_to_answer_seconds_sum", event="CartState.add_to_cart") == pytest.approx(
        before_sum + 0.25
    )
    assert sample("browser_click_to_answer_seconds_count", event="other") == before_other + 1


def _exemplar_trace_ids() -> set[str]:
    return {
        sample.exemplar.labels["trace_id"]
        for family in metrics.BROWSER_CLICK_TO_ANSWER.collect()
        for sample in family.samples
        if sample.exemplar is not None
    }


def test_a_click_points_at_its_trace_only_when_that_trace_is_forwarded():
    forwarded, kept_here = secrets.token_hex(16), secrets.token_hex(16)
    measure(
        [ui_answer(ADD_TO_CART, trace_id=forwarded), ui_answer(ADD_TO_CART, trace_id=kept_here)],
        exemplar=lambda trace_id: trace_id.hex() == forwarded,
    )
    assert forwarded in _exemplar_trace_ids() and kept_here not in _exemplar_trace_ids()


def test_socket_disconnects_by_bounded_reason_and_reconnects_only_after_a_first_connect():
    reasons = {
        "io server disconnect": "server",
        "io client disconnect": "client",
        "ping timeout": "ping_timeout",
        "transport close": "transport_close",
        "transport error": "transport_error",
        "parse error": "parse_error",
        "the cat unplugged it": "other",
    }
    before = {label: sample("browser_socket_disconnects_total", reason=label) for label in reasons.values()}
    reconnects = sample("browser_socket_reconnects_total")
    measure([span("socket.disconnect", {"reflex.socket.disconnect_reason": reason}) for reason in reasons])
    measure([span("socket.connect", {"reflex.socket.connect_count": count}) for count in (1, 2, 5)])
    for label in reasons.values():
        assert sample("browser_socket_disconnects_total", reason=label) == before[label] + 1, label
    assert sample("browser_socket_reconnects_total") == reconnects + 2


def test_errors_are_counted_by_page_route():
    before = sample("browser_errors_total", page="/orders/[order_id]")
    unknown = sample("browser_errors_total", page="unknown")
    measure(
        [
            span("browser.error", {"exception.type": "TypeError", "url.path": "/orders/17"}),
            span("browser.error", {"exception.type": "TypeError", "url.path": "/wp-admin/x.php"}),
        ]
    )
    assert sample("browser_errors_total", page="/orders/[order_id]") == before + 1
    assert sample("browser_errors_total", page="unknown") == unknown + 1


def test_start_puts_every_counter_at_zero(monkeypatch):
    # A wiring of its own: the app module's (every page of the shop) stays for the tests after this one.
    monkeypatch.setattr(browser_relay, "_wiring", browser_relay._Wiring())
    browser_relay.configure(page_routes=ROUTES, take_slot=browser_relay._wiring.take_slot)
    browser_relay.start(LABELS)
    assert REGISTRY.get_sample_value("browser_errors_total", {"page": "/admin/products/new"}) is not None
    for reason in metrics.BROWSER_REFUSAL_REASONS:
        assert REGISTRY.get_sample_value("browser_telemetry_refused_total", {"reason": reason}) is not None
    for outcome in metrics.BROWSER_SPAN_OUTCOMES:
        assert REGISTRY.get_sample_value("browser_spans_total", {"outcome": outcome}) is not None
    assert REGISTRY.get_sample_value("browser_socket_disconnects_total", {"reason": "other"}) is not None


def test_json_ids_are_hex_and_protobuf_reads_the_same_export():
    trace_id = secrets.token_hex(16)
    link = {"traceId": secrets.token_hex(16), "spanId": secrets.token_hex(8)}
    spans = [span("ui.answer", {"url.path": "/"}, trace_id=trace_id, links=[link])]
    from_json = browser_relay.parse_export(body(spans), "application/json")
    (read,) = from_json.resource_spans[0].scope_spans[0].spans
    assert read.trace_id.hex() == trace_id and read.links[0].span_id.hex() == link["spanId"]
    from_protobuf = browser_relay.parse_export(from_json.SerializeToString(), "application/x-protobuf")
    assert from_protobuf == from_json


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'"resourceSpans"',
        b"\xff\xfe{}",
        b'{"resourceSpans": 7}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "not hex", "spanId": "00"}]}]}]}',
        json.dumps(export([span("x", {}, trace_id="00" * 16)])).encode(),  # an all-zero trace id
        json.dumps(export([span("x", {}, trace_id="ab" * 8)])).encode(),  # 8 bytes: not a trace id
        b'{"resourceSpans": [], "n": ' + b"9" * 10_000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
    ],
)
def test_a_body_that_is_not_an_otlp_export_is_refused_as_such(raw):
    with pytest.raises(Refused) as refused:
        browser_relay.parse_export(raw, "application/json")
    assert (refused.value.reason, refused.value.status) == ("not_otlp", 400)


def test_protobuf_that_does_not_decode_is_refused():
    with pytest.raises(Refused, match="expected an OTLP ExportTraceServiceRequest"):
        browser_relay.parse_export(b"\xff" * 10, "application/x-protobuf")


def test_attributes_and_names_are_cut_before_forwarding():
    many = {f"attribute.{number}": "x" * 1000 for number in range(100)}
    parsed = browser_relay.parse_export(body([span("n" * 1000, many)]), "application/json")
    browser_relay.cut_attributes(parsed)
    (cut,) = parsed.resource_spans[0].scope_spans[0].spans
    assert len(cut.name) == browser_relay.MAX_ATTRIBUTE_CHARS
    assert len(cut.attributes) == browser_relay.MAX_ATTRIBUTES
    assert cut.dropped_attributes_count == 100 - browser_relay.MAX_ATTRIBUTES
    assert {len(attribute.value.string_value) for attribute in cut.attributes} == {browser_relay.MAX_ATTRIBUTE_CHARS}


def test_another_service_name_in_any_resource_is_forged():
    mixed = export([span("x", {})])
    mixed["resourceSpans"].append(export([span("y", {})], service="ecom-shop")["resourceSpans"][0])
    parsed = browser_relay.parse_export(json.dumps(mixed).encode(), "application/json")
    with pytest.raises(Refused) as refused:
        browser_relay.check_export(parsed, "ecom-shop-frontend")
    assert (refused.value.reason, refused.value.status, refused.value.spans) == ("forged_service", 403, 2)


@pytest.mark.parametrize("ratio", [0.0, 0.25, 1.0])
def test_a_trace_is_kept_as_the_sdks_ratio_sampler_decides(ratio):
    keep = browser_relay.sampler(ratio)
    for _ in range(200):
        trace_id = secrets.token_bytes(16)
        decision = TraceIdRatioBased(ratio).should_sample(None, int.from_bytes(trace_id, "big"), "x").decision
        assert keep(trace_id) == decision.is_sampled()


def test_the_sampled_part_keeps_only_the_kept_traces_spans():
    kept_trace = secrets.token_hex(16)
    parsed = browser_relay.parse_export(
        body([span("a", {}, trace_id=kept_trace), span("b", {}), span("c", {}, trace_id=kept_trace)]),
        "application/json",
    )
    part, kept, left_out = browser_relay.sampled_part(parsed, lambda trace_id: trace_id.hex() == kept_trace)
    assert (kept, left_out) == (2, 1)
    assert [s.name for s in part.resource_spans[0].scope_spans[0].spans] == ["a", "c"]
    assert part.resource_spans[0].resource == parsed.resource_spans[0].resource
