"""Metrics, spans and log lines of the payment service: named as documented, linked by trace id, free of card data."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from payment_gateway import telemetry
from payment_gateway.cards import DECLINE_CODES
from payment_gateway.settings import GatewaySettings
from tests.payment_gateway.conftest import API_KEY, GOOD_CARD, client_for, create

pytestmark = pytest.mark.anyio

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
TRACEPARENT = f"00-{TRACE_ID}-b7ad6b7169203331-01"


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced_app(make_app, spans):
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    return make_app(tracer_provider=provider, exemplars=True)


async def test_every_series_exists_at_zero_before_the_first_payment(client):
    text = (await client.get("/metrics")).text
    for outcome in ("succeeded", "declined", "error"):
        assert f'payment_gateway_payments_total{{outcome="{outcome}"}} 0.0' in text
    for code in DECLINE_CODES:
        assert f'payment_gateway_declines_total{{decline_code="{code}"}} 0.0' in text
    for outcome in ("succeeded", "refused"):
        assert f'payment_gateway_refunds_total{{outcome="{outcome}"}} 0.0' in text
    for operation in ("create", "confirm", "refund"):
        assert f'payment_gateway_idempotent_replays_total{{operation="{operation}"}} 0.0' in text
    for operation in ("create", "confirm", "refund", "retrieve", "search", "other"):
        for status_class in ("2xx", "4xx", "5xx"):
            assert (f'payment_gateway_request_duration_seconds_count{{operation="{operation}",'
                    f'status_class="{status_class}"}}') in text  # fmt: skip
    for flag in ("paymentFailurePercent", "paymentDelayMs", "paymentUnreachable"):
        assert f'payment_gateway_fault_flag{{flag="{flag}"}} 0.0' in text


async def test_requests_are_timed_by_operation_and_status_class(client):
    intent = (await create(client, "k1")).json()
    await client.post(f"/v1/payment_intents/{intent['id']}/confirm", json={"card": {**GOOD_CARD, "cvc": "1"}})
    await client.get(f"/v1/payment_intents/{intent['id']}")
    await client.get("/v1/payment_intents", params={"idempotency_key": "nope"})
    text = (await client.get("/metrics")).text
    for operation, status_class in (("create", "2xx"), ("confirm", "4xx"), ("retrieve", "2xx"), ("search", "4xx")):
        line = (
            f'payment_gateway_request_duration_seconds_count{{operation="{operation}",status_class="{status_class}"}}'
        )
        assert f"{line} 1.0" in text


async def test_a_callers_trace_continues_through_the_charge(traced_app, spans):
    async with client_for(traced_app, traceparent=TRACEPARENT) as http:
        assert (await create(http, "k1", amount=1234, card=GOOD_CARD)).status_code == 200
        assert (await create(http, "k2", card={**GOOD_CARD, "number": "4000000000000002"})).status_code == 402
    finished = spans.get_finished_spans()
    charges = [span for span in finished if span.name == "payment.charge"]
    assert len(charges) == 2
    paid, declined = charges
    assert paid.attributes["payment.amount"] == 1234 and paid.attributes["payment.currency"] == "eur"
    assert paid.attributes["payment.outcome"] == "succeeded" and paid.attributes["card.brand"] == "visa"
    assert declined.attributes["payment.outcome"] == "declined"
    assert declined.attributes["payment.decline_code"] == "generic_decline"
    server = [span for span in finished if span.name == "POST /v1/payment_intents"]
    assert len(server) == 2
    for span in finished:
        assert format(span.context.trace_id, "032x") == TRACE_ID  # the caller's trace, not a new one
        assert "4242424242424242" not in json.dumps(dict(span.attributes or {}), default=str)
        assert "4000000000000002" not in json.dumps(dict(span.attributes or {}), default=str)
    assert paid.parent.span_id == server[0].context.span_id


async def test_refunds_have_their_span(traced_app, spans):
    async with client_for(traced_app) as http:
        intent = (await create(http, "k1", card=GOOD_CARD)).json()
        await http.post("/v1/refunds", json={"payment_intent": intent["id"]}, headers={"Idempotency-Key": "r1"})
    (refund,) = [span for span in spans.get_finished_spans() if span.name == "payment.refund"]
    assert refund.attributes["payment.outcome"] == "succeeded" and refund.attributes["payment.amount"] == 1000


async def test_openmetrics_shows_the_trace_id_as_exemplar(traced_app):
    async with client_for(traced_app, traceparent=TRACEPARENT) as http:
        await create(http, "k1", card=GOOD_CARD)
        plain = (await http.get("/metrics")).text
        openmetrics = await http.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert f'# {{trace_id="{TRACE_ID}"}}' in openmetrics.text
    assert "trace_id" not in plain


async def test_no_exemplars_when_spans_are_not_exported(client):
    await create(client, "k1", card=GOOD_CARD)
    openmetrics = await client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert "trace_id" not in openmetrics.text


async def test_json_log_lines_per_outcome_without_secrets(tmp_path: Path, traced_app):
    settings = GatewaySettings(_env_file=None, payment_api_key=API_KEY, payment_log_file=tmp_path / "p.json.log")
    handlers = telemetry.log_handlers(settings)[1:]  # the file only (stdout is pytest's)
    logger = logging.getLogger("payment_gateway")
    logger.setLevel(logging.INFO)
    for handler in handlers:
        logger.addHandler(handler)
    try:
        async with client_for(traced_app, traceparent=TRACEPARENT) as http:
            await create(http, "k1", card={**GOOD_CARD, "number": "5555 5555 5555 4444", "cvc": "7391"})
            await create(http, "k2", card={**GOOD_CARD, "number": "4000000000009995", "cvc": "7391"})
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
    text = settings.payment_log_file.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    outcomes = [line for line in lines if line["message"].startswith("payment ")]
    assert [line["outcome"] for line in outcomes] == ["succeeded", "declined"]
    for line in outcomes:
        for field in ("timestamp", "level", "logger", "message", "service", "trace_id", "span_id", "intent_id",
                      "amount", "decline_code", "brand", "last4"):  # fmt: skip
            assert field in line, field
        assert line["service"] == "payment-gateway" and line["trace_id"] == TRACE_ID
    assert outcomes[0]["brand"] == "mastercard" and outcomes[0]["last4"] == "4444"
    assert outcomes[1]["decline_code"] == "insufficient_funds"
    for secret in ("5555 5555 5555 4444", "5555555555554444", "4000000000009995", "7391", API_KEY, "Ada Lovelace"):
        assert secret not in text, secret
