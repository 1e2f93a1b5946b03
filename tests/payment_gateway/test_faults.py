"""Each fault flag does what it says, read live from the flag file (an edit applies without a restart)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from payment_gateway.faults import FaultFlags
from tests.payment_gateway.conftest import GOOD_CARD, client_for, create, gateway_of, wait_until, write_flags

pytestmark = pytest.mark.anyio


async def test_unreachable_answers_503_everywhere_then_recovers(app, client, flag_file):
    write_flags(flag_file, paymentUnreachable=True)

    async def down() -> bool:
        return (await client.get("/health")).status_code == 503

    await wait_until(down)
    for method, path in [("GET", "/health"), ("GET", "/metrics"), ("POST", "/v1/payment_intents"),
                         ("GET", f"/v1/payment_intents/pi_{'e' * 24}")]:  # fmt: skip
        response = await client.request(method, path, json={}, headers={"Idempotency-Key": "k"})
        assert response.status_code == 503, path
        assert response.json()["error"]["code"] == "service_unavailable"
    async with client_for(app) as anonymous:  # even without a key: it looks down to everyone
        anonymous.headers.pop("Authorization")
        assert (await anonymous.get("/metrics")).status_code == 503
    assert gateway_of(app).ledger.count("payment_intents") == 0
    write_flags(flag_file)

    async def up() -> bool:
        return (await client.get("/health")).status_code == 200

    await wait_until(up)
    assert (await create(client, "k1", card=GOOD_CARD)).status_code == 200


async def test_failure_percent_fails_before_any_work_and_stores_nothing(app, client, flag_file):
    write_flags(flag_file, paymentFailurePercent=100)

    async def failing() -> bool:
        # A refund of an intent that does not exist: 404 (and nothing stored) until the flag applies.
        probe = {"payment_intent": "pi_" + "f" * 24}
        return (await client.post("/v1/refunds", json=probe, headers={"Idempotency-Key": "probe"})).status_code == 500

    await wait_until(failing)
    response = await create(client, "order-1", card=GOOD_CARD)
    assert response.status_code == 500
    assert response.json()["error"] == {**response.json()["error"], "type": "api_error", "code": "processing_failure"}
    refund = await client.post(
        "/v1/refunds", json={"payment_intent": "pi_" + "f" * 24}, headers={"Idempotency-Key": "r"}
    )
    assert refund.status_code == 500
    ledger = gateway_of(app).ledger
    assert ledger.count("payment_intents") == ledger.count("charges") == ledger.count("idempotency_records") == 0
    assert gateway_of(app).metrics.value("payment_gateway_payments_total", outcome="succeeded") == 0
    # Reads are not POSTs: they still answer.
    assert (await client.get("/v1/payment_intents", params={"idempotency_key": "order-1"})).status_code == 404
    write_flags(flag_file)

    async def recovered() -> bool:
        # The retry with the same key does the work now (nothing was stored under it).
        return (await create(client, "order-1", card=GOOD_CARD)).status_code == 200

    await wait_until(recovered)
    assert ledger.count("charges") == 1


async def test_delay_holds_every_v1_request(app, client, flag_file):
    write_flags(flag_file, paymentDelayMs=300)

    async def slow() -> bool:
        started = time.monotonic()
        await client.get("/v1/payment_intents", params={"idempotency_key": "none"})
        return time.monotonic() - started >= 0.3

    await wait_until(slow)
    started = time.monotonic()
    assert (await create(client, "k1", card=GOOD_CARD)).status_code == 200
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert (await client.get("/health")).status_code == 200  # not /v1: not delayed
    assert time.monotonic() - started < 0.3


async def test_the_fault_flag_gauge_shows_current_values(client, flag_file):
    write_flags(flag_file, paymentFailurePercent=25, paymentDelayMs=0)

    async def shown() -> bool:
        return 'payment_gateway_fault_flag{flag="paymentFailurePercent"} 25.0' in (await client.get("/metrics")).text

    await wait_until(shown)
    text = (await client.get("/metrics")).text
    assert 'payment_gateway_fault_flag{flag="paymentUnreachable"} 0.0' in text
    assert 'payment_gateway_fault_flag{flag="paymentDelayMs"} 0.0' in text


def test_an_unreadable_or_partial_flag_file_means_every_flag_off(tmp_path: Path):
    missing = FaultFlags(tmp_path / "no-such-file.json", poll_ms=50)
    partial_file = tmp_path / "flags.json"
    partial_file.write_text('{"flags": {"checkoutFailurePercent": {"state": "ENABLED", "variants": {"on": 100},'
                            ' "defaultVariant": "on"}}}')  # fmt: skip
    partial = FaultFlags(partial_file, poll_ms=50)
    try:
        for flags in (missing, partial):
            assert flags.current() == {"paymentFailurePercent": 0, "paymentDelayMs": 0, "paymentUnreachable": False}
            assert not flags.failure_injected() and flags.delay_seconds() == 0 and not flags.unreachable()
    finally:
        missing.close()
        partial.close()


def test_the_projects_flag_file_has_the_payment_flags_off():
    import json

    from payment_gateway.settings import DEFAULT_FLAGS_FILE

    flags = json.loads(DEFAULT_FLAGS_FILE.read_text())["flags"]
    for name, off in (("paymentFailurePercent", 0), ("paymentDelayMs", 0), ("paymentUnreachable", False)):
        assert flags[name]["state"] == "ENABLED"
        assert flags[name]["variants"][flags[name]["defaultVariant"]] == off
