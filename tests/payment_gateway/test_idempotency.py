"""The same idempotency key never charges or refunds twice, whatever arrives twice, and at whatever moment."""

from __future__ import annotations

import asyncio

import pytest

from tests.payment_gateway.conftest import GOOD_CARD, client_for, create, gateway_of

pytestmark = pytest.mark.anyio


def count(app, table: str, where: str = "1", *params) -> int:
    return gateway_of(app).ledger.count(table, where, *params)


def metric(app, name: str, **labels: str) -> float:
    return gateway_of(app).metrics.value(name, **labels)


async def test_the_same_key_twice_replays_the_first_answer(app, client):
    first = await create(client, "order-1", card=GOOD_CARD)
    second = await create(client, "order-1", card={**GOOD_CARD, "number": "4242424242424242"})  # same card, no spaces
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert count(app, "payment_intents") == 1 and count(app, "charges") == 1
    assert metric(app, "payment_gateway_payments_total", outcome="succeeded") == 1
    assert metric(app, "payment_gateway_idempotent_replays_total", operation="create") == 1


async def test_the_same_key_with_other_parameters_is_refused(app, client):
    await create(client, "order-1", amount=1000, card=GOOD_CARD)
    for changed in (
        {"amount": 1001, "card": GOOD_CARD},
        {"amount": 1000, "card": {**GOOD_CARD, "number": "5555555555554444"}},
        {"amount": 1000, "card": {**GOOD_CARD, "cvc": "124"}},
        {"amount": 1000, "card": GOOD_CARD, "reference": "order-2"},
        {"amount": 1000},
    ):
        response = await create(client, "order-1", **changed)
        assert response.status_code == 400
        assert response.json()["error"]["type"] == "idempotency_error"
        assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert count(app, "payment_intents") == 1 and count(app, "charges") == 1


async def test_a_decline_is_stored_and_replayed_without_a_second_charge(app, client):
    declined = {**GOOD_CARD, "number": "4000000000000002"}
    first = await create(client, "order-1", card=declined)
    second = await create(client, "order-1", card=declined)
    assert first.status_code == second.status_code == 402
    assert first.json() == second.json()
    assert count(app, "charges") == 1
    assert metric(app, "payment_gateway_payments_total", outcome="declined") == 1


async def test_confirm_keys_are_scoped_to_their_intent(app, client):
    one = (await create(client, "a")).json()["id"]
    two = (await create(client, "b")).json()["id"]
    headers = {"Idempotency-Key": "confirm-1"}
    declined = {**GOOD_CARD, "number": "4000000000000002"}
    first = await client.post(f"/v1/payment_intents/{one}/confirm", json={"card": declined}, headers=headers)
    replay = await client.post(f"/v1/payment_intents/{one}/confirm", json={"card": declined}, headers=headers)
    assert first.status_code == replay.status_code == 402 and first.json() == replay.json()
    # The same key on another intent is another request altogether.
    other = await client.post(f"/v1/payment_intents/{two}/confirm", json={"card": GOOD_CARD}, headers=headers)
    assert other.status_code == 200
    # And on the first intent with another card it is a reuse, refused (a new key may try the new card).
    reused = await client.post(f"/v1/payment_intents/{one}/confirm", json={"card": GOOD_CARD}, headers=headers)
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert count(app, "charges") == 2
    assert metric(app, "payment_gateway_idempotent_replays_total", operation="confirm") == 1


async def test_a_create_key_and_a_refund_key_do_not_collide(app, client):
    intent = (await create(client, "same-key", card=GOOD_CARD)).json()
    refunded = await client.post(
        "/v1/refunds", json={"payment_intent": intent["id"]}, headers={"Idempotency-Key": "same-key"}
    )
    assert refunded.status_code == 200 and refunded.json()["object"] == "refund"


async def test_a_refund_key_twice_refunds_once(app, client):
    intent = (await create(client, "k1", amount=1000, card=GOOD_CARD)).json()
    body = {"payment_intent": intent["id"], "amount": 400}
    first = await client.post("/v1/refunds", json=body, headers={"Idempotency-Key": "refund-1"})
    second = await client.post("/v1/refunds", json=body, headers={"Idempotency-Key": "refund-1"})
    assert first.json() == second.json()
    assert count(app, "refunds") == 1
    assert (await client.get(f"/v1/payment_intents/{intent['id']}")).json()["amount_refunded"] == 400
    other = await client.post("/v1/refunds", json={**body, "amount": 401}, headers={"Idempotency-Key": "refund-1"})
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert metric(app, "payment_gateway_idempotent_replays_total", operation="refund") == 1


async def test_a_parameter_error_is_not_stored(app, client):
    bad = await client.post(
        "/v1/payment_intents",
        json={"amount": -5, "currency": "eur", "reference": "x"},
        headers={"Idempotency-Key": "k"},
    )
    assert bad.status_code == 400
    assert count(app, "idempotency_records") == 0
    assert (await create(client, "k")).status_code == 200  # the key is still free


async def test_twenty_concurrent_requests_with_one_key_charge_once(app, client):
    responses = await asyncio.gather(*(create(client, "order-burst", card=GOOD_CARD) for _ in range(20)))
    assert {response.status_code for response in responses} == {200}
    assert len({response.text for response in responses}) == 1
    assert count(app, "payment_intents") == 1
    assert count(app, "charges") == 1 and count(app, "charges", "outcome = 'succeeded'") == 1
    assert metric(app, "payment_gateway_payments_total", outcome="succeeded") == 1
    assert metric(app, "payment_gateway_idempotent_replays_total", operation="create") == 19
    assert len(gateway_of(app).locks) == 0  # the per-key locks are gone once nobody waits


async def test_concurrent_confirms_of_one_intent_without_keys_charge_once(app, client):
    intent = (await create(client, "k1")).json()
    responses = await asyncio.gather(
        *(client.post(f"/v1/payment_intents/{intent['id']}/confirm", json={"card": GOOD_CARD}) for _ in range(10))
    )
    assert {response.status_code for response in responses} == {200}
    assert count(app, "charges") == 1
    assert metric(app, "payment_gateway_payments_total", outcome="succeeded") == 1


async def test_two_gateways_on_one_ledger_still_charge_once(make_app):
    """The ledger is the backstop when the in-process lock is not shared (two processes, one file)."""
    first, second = make_app(), make_app()
    async with client_for(first) as one, client_for(second) as two:
        responses = await asyncio.gather(
            *(create(http, "order-split", card=GOOD_CARD) for _ in range(10) for http in (one, two))
        )
    assert {response.status_code for response in responses} == {200}
    assert len({response.json()["id"] for response in responses}) == 1
    assert count(first, "payment_intents") == 1 and count(first, "charges") == 1
    charged = sum(metric(app, "payment_gateway_payments_total", outcome="succeeded") for app in (first, second))
    assert charged == 1


async def test_a_server_failure_is_not_stored_and_the_retry_charges_once(app, client, monkeypatch, caplog):
    """A 500 (here: the ledger failing mid-charge) is rolled back whole; the same key then succeeds."""
    from payment_gateway.ledger import Transaction

    original = Transaction.insert_charge

    def broken(self, charge):
        original(self, charge)
        raise OSError("disk I/O error")

    monkeypatch.setattr(Transaction, "insert_charge", broken)
    failed = await create(client, "order-1", card=GOOD_CARD)
    assert failed.status_code == 500
    assert failed.json()["error"]["type"] == "api_error"
    assert "disk" not in failed.text  # no internals in the answer
    assert count(app, "payment_intents") == count(app, "charges") == count(app, "idempotency_records") == 0
    assert metric(app, "payment_gateway_payments_total", outcome="error") == 1
    monkeypatch.setattr(Transaction, "insert_charge", original)
    retried = await create(client, "order-1", card=GOOD_CARD)
    assert retried.status_code == 200 and retried.json()["status"] == "succeeded"
    assert count(app, "charges") == 1
