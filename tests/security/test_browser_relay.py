"""Attacks on POST /otlp/v1/traces, the relay anyone's browser posts its spans to (observability/browser_relay.py).

The shop's own routes (ecom_reflex.ecom_reflex.api), its rate limit (services/throttling.py), and a
real OTLP/HTTP receiver standing in for the collector (e2e/otlp_receiver.py). Each refusal has its
status and its count in browser_telemetry_refused_total, and nothing of it reaches the receiver.
"""

from __future__ import annotations

import gzip
import json
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from e2e.otlp_receiver import OtlpReceiver, start_receiver
from ecom_reflex.observability import browser_relay
from ecom_reflex.settings import Settings
from ecom_reflex.state.cart import CartState
from tests.browser_spans import FRONTEND, body, export, span, ui_answer, web_vital
from tests.conftest import reset_caches

JSON = {"Content-Type": "application/json"}
PATH = "/otlp/v1/traces"


@pytest.fixture
def receiver():
    receiver = start_receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def relay(receiver: OtlpReceiver, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    """The shop's routes, forwarding to `receiver` (every trace: BROWSER_TRACE_SAMPLE_RATIO 1)."""
    from ecom_reflex.ecom_reflex import api
    from ecom_reflex.lifespan import _event_labels

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    for name in ("BROWSER_TRACE_SAMPLE_RATIO", "BROWSER_EXPORTS_PER_ADDRESS", "OBSERVABILITY", "SERVICE_NAME"):
        monkeypatch.delenv(name, raising=False)
    reset_caches()
    browser_relay.start(_event_labels())
    return TestClient(api)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def refused(reason: str) -> float:
    return sample("browser_telemetry_refused_total", reason=reason)


def spans_counted(outcome: str) -> float:
    return sample("browser_spans_total", outcome=outcome)


def forwarded_spans(receiver: OtlpReceiver) -> list:
    assert browser_relay.wait_for_forwards(10), "the forwards did not end within 10 s"
    return [received for received in receiver.snapshot() if received.resource.get("service.name") == FRONTEND]


def assert_refused(response, status: int, reason: str, before: float, receiver: OtlpReceiver) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]
    assert refused(reason) == before + 1
    assert forwarded_spans(receiver) == []


def test_an_oversized_body_is_a_413_and_nothing_is_read_past_the_cap(relay, receiver):
    before = refused("too_large")
    padding = "x" * browser_relay.MAX_BODY_BYTES
    response = relay.post(PATH, content=body([span("ui.answer", {"url.path": padding})]), headers=JSON)
    assert_refused(response, 413, "too_large", before, receiver)
    assert response.json() == {"error": f"body larger than {browser_relay.MAX_BODY_BYTES} bytes"}


def test_too_many_spans_are_a_413_and_their_spans_are_counted_as_refused(relay, receiver):
    before, spans_before = refused("too_many_spans"), spans_counted("refused")
    many = [span("socket.connect", {"reflex.socket.connect_count": 2}) for _ in range(browser_relay.MAX_SPANS + 1)]
    raw = body(many)
    assert len(raw) <= browser_relay.MAX_BODY_BYTES  # refused for its spans, not its size
    reconnects = sample("browser_socket_reconnects_total")
    response = relay.post(PATH, content=raw, headers=JSON)
    assert_refused(response, 413, "too_many_spans", before, receiver)
    assert response.json() == {"error": f"at most {browser_relay.MAX_SPANS} spans a request (got 513)"}
    assert spans_counted("refused") == spans_before + browser_relay.MAX_SPANS + 1
    assert sample("browser_socket_reconnects_total") == reconnects  # a refused export measures nothing


@pytest.mark.parametrize("service", ["ecom-shop", "payment-gateway", "", "ecom-shop-frontend "])
def test_a_browser_speaking_for_another_service_is_a_403(relay, receiver, service):
    before = refused("forged_service")
    response = relay.post(PATH, content=body([ui_answer("x")], service=service), headers=JSON)
    assert_refused(response, 403, "forged_service", before, receiver)
    assert response.json() == {"error": "only service.name 'ecom-shop-frontend' is accepted here"}


def test_an_export_without_a_service_name_is_refused_as_forged(relay, receiver):
    before = refused("forged_service")
    anonymous = export([ui_answer("x")])
    anonymous["resourceSpans"][0]["resource"] = {}
    response = relay.post(PATH, content=json.dumps(anonymous).encode(), headers=JSON)
    assert_refused(response, 403, "forged_service", before, receiver)


def test_a_burst_from_one_address_gets_its_rate_then_429s_with_retry_after(relay, receiver, monkeypatch):
    limit = 20
    monkeypatch.setenv("BROWSER_EXPORTS_PER_ADDRESS", f"{limit} per minute")
    reset_caches()
    before, lost_before = refused("rate_limited"), spans_counted("forward_failed")
    marks = [secrets.token_hex(4) for _ in range(limit + 10)]

    def post(mark: str):
        return relay.post(PATH, content=body([span("socket.connect", {"mark": mark})]), headers=JSON)

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(post, marks))
    statuses = [response.status_code for response in responses]
    assert statuses.count(200) == limit and statuses.count(429) == 10, statuses
    too_many = next(response for response in responses if response.status_code == 429)
    assert 1 <= int(too_many.headers["Retry-After"]) <= 60
    assert "too many exports from your address" in too_many.json()["error"]
    assert refused("rate_limited") == before + 10
    # What was taken went on to the collector (or, past the forwarding queue, was counted as lost);
    # nothing of what was refused did.
    accepted = {mark for mark, response in zip(marks, responses, strict=True) if response.status_code == 200}
    forwarded = {received.attributes["mark"] for received in forwarded_spans(receiver)}
    assert forwarded <= accepted
    assert len(forwarded) + spans_counted("forward_failed") - lost_before == limit


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"resourceSpans": "all of them"}',
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{}]}]}]}',
    ],
)
def test_a_body_that_is_not_otlp_is_a_400(relay, receiver, raw):
    before = refused("not_otlp")
    response = relay.post(PATH, content=raw, headers=JSON)
    assert_refused(response, 400, "not_otlp", before, receiver)


def test_protobuf_that_is_not_an_export_is_a_400(relay, receiver):
    before = refused("not_otlp")
    response = relay.post(PATH, content=b"\xff" * 64, headers={"Content-Type": "application/x-protobuf"})
    assert_refused(response, 400, "not_otlp", before, receiver)


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/plain"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {},
        {"Content-Type": "application/json", "Content-Encoding": "gzip"},
    ],
)
def test_another_media_type_or_a_compressed_body_is_a_415(relay, receiver, headers):
    before = refused("unsupported_media_type")
    raw = body([ui_answer("x")])
    if headers.get("Content-Encoding") == "gzip":
        raw = gzip.compress(raw)
    response = relay.post(PATH, content=raw, headers=headers)
    assert_refused(response, 415, "unsupported_media_type", before, receiver)


def test_a_valid_export_is_answered_at_once_and_forwarded_with_its_attributes_cut(relay, receiver):
    accepted, forwarded = spans_counted("accepted"), spans_counted("forwarded")
    event = f"{CartState.get_full_name()}.add_to_cart"
    trace_id = secrets.token_hex(16)
    answer = ui_answer(event, "/product/42", trace_id=trace_id)
    answer["attributes"] += [{"key": f"extra.{n}", "value": {"stringValue": "y" * 1000}} for n in range(80)]
    clicks = sample("browser_click_to_answer_seconds_count", event="CartState.add_to_cart")
    response = relay.post(PATH, content=body([answer, web_vital("LCP", 1800.0, "good", "/product/42")]), headers=JSON)
    assert (response.status_code, response.json()) == (200, {})
    received = {span.name: span for span in forwarded_spans(receiver)}
    assert set(received) == {"ui.answer", "web_vital.LCP"}
    sent = received["ui.answer"]
    assert sent.trace_id == trace_id and sent.resource["service.name"] == FRONTEND
    assert len(sent.attributes) == browser_relay.MAX_ATTRIBUTES
    assert max(len(str(value)) for value in sent.attributes.values()) == browser_relay.MAX_ATTRIBUTE_CHARS
    assert sent.attributes["reflex.event.name"] == event[: browser_relay.MAX_ATTRIBUTE_CHARS]
    assert spans_counted("accepted") == accepted + 2 and spans_counted("forwarded") == forwarded + 2
    assert sample("browser_click_to_answer_seconds_count", event="CartState.add_to_cart") == clicks + 1


def test_a_protobuf_export_gets_a_protobuf_answer(relay, receiver):
    request = browser_relay.parse_export(body([web_vital("TTFB", 300.0, "good")]), "application/json")
    response = relay.post(PATH, content=request.SerializeToString(), headers={"Content-Type": "application/x-protobuf"})
    assert response.status_code == 200 and response.headers["content-type"] == "application/x-protobuf"
    assert response.content == b""  # an empty ExportTraceServiceResponse
    assert [span.name for span in forwarded_spans(receiver)] == ["web_vital.TTFB"]


def test_an_unsampled_trace_is_not_forwarded_but_still_measured(relay, receiver, monkeypatch):
    monkeypatch.setenv("BROWSER_TRACE_SAMPLE_RATIO", "0")
    reset_caches()
    not_sampled = spans_counted("not_sampled")
    vitals = sample("browser_web_vital_seconds_count", page="/cart", vital="INP")
    disconnects = sample("browser_socket_disconnects_total", reason="ping_timeout")
    spans = [
        web_vital("INP", 640.0, "poor", "/cart"),
        span("socket.disconnect", {"reflex.socket.disconnect_reason": "ping timeout", "url.path": "/cart"}),
    ]
    response = relay.post(PATH, content=body(spans), headers=JSON)
    assert response.status_code == 200
    assert forwarded_spans(receiver) == []
    assert spans_counted("not_sampled") == not_sampled + 2
    assert sample("browser_web_vital_seconds_count", page="/cart", vital="INP") == vitals + 1
    assert sample("browser_socket_disconnects_total", reason="ping_timeout") == disconnects + 1


def test_a_collector_that_fails_costs_the_browser_nothing_and_is_counted(relay, receiver):
    receiver.unavailable.set()
    failed = spans_counted("forward_failed")
    response = relay.post(PATH, content=body([ui_answer("x")]), headers=JSON)
    assert response.status_code == 200
    forwarded_spans(receiver)
    assert spans_counted("forward_failed") == failed + 1


def test_without_an_endpoint_nothing_is_forwarded_and_the_metrics_are_still_derived(relay, receiver, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    reset_caches()
    errors = sample("browser_errors_total", page="/checkout")
    span_error = span("browser.error", {"exception.type": "TypeError", "url.path": "/checkout"})
    assert relay.post(PATH, content=body([span_error]), headers=JSON).status_code == 200
    assert sample("browser_errors_total", page="/checkout") == errors + 1
    assert forwarded_spans(receiver) == []


def test_with_observability_off_the_relay_answers_204_and_does_nothing(relay, receiver, monkeypatch):
    monkeypatch.setenv("OBSERVABILITY", "false")
    reset_caches()
    accepted = spans_counted("accepted")
    response = relay.post(PATH, content=body([ui_answer("x")]), headers=JSON)
    assert response.status_code == 204
    assert spans_counted("accepted") == accepted
    assert forwarded_spans(receiver) == []


def test_a_browser_gets_60_exports_a_minute_from_one_address_by_default():
    assert Settings.model_fields["browser_exports_per_address"].default == "60 per minute"


def test_only_post_is_served(relay):
    assert relay.get(PATH).status_code == 405
