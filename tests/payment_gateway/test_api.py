"""The payment API in-process: auth, test cards, confirm, expiry, refunds, reads and the card-data rules."""

from __future__ import annotations

import pytest

from payment_gateway.cards import TEST_CARDS
from tests.payment_gateway.conftest import API_KEY, GOOD_CARD, client_for, create, gateway_of

pytestmark = pytest.mark.anyio


def card(number: str, **changes) -> dict:
    return {**GOOD_CARD, "number": number, **changes}


def counts(app) -> dict[str, int]:
    ledger = gateway_of(app).ledger
    return {table: ledger.count(table) for table in ("payment_intents", "charges", "refunds", "idempotency_records")}


def payments(app, outcome: str) -> float:
    return gateway_of(app).metrics.value("payment_gateway_payments_total", outcome=outcome)


V1_ROUTES = [
    ("POST", "/v1/payment_intents"), ("POST", "/v1/refunds"), ("GET", "/v1/payment_intents/pi_" + "0" * 24),
    ("GET", "/v1/payment_intents?idempotency_key=k"), ("POST", f"/v1/payment_intents/pi_{'0' * 24}/confirm"),
]  # fmt: skip

# -- auth ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": API_KEY},
     {"Authorization": f"Basic {API_KEY}"}, {"Authorization": f"Bearer {API_KEY}x"}],
    ids=["missing", "wrong", "no-scheme", "basic", "longer"],
)  # fmt: skip
async def test_v1_needs_the_api_key(app, headers):
    async with client_for(app) as http:
        http.headers.pop("Authorization")
        before = counts(app)
        for method, path in V1_ROUTES:
            response = await http.request(
                method, path, headers={**headers, "Idempotency-Key": "k1"},
                json={"amount": 100, "currency": "eur", "reference": "x", "confirm": True, "card": GOOD_CARD},
            )  # fmt: skip
            assert response.status_code == 401, (method, path)
            assert response.json()["error"]["type"] == "authentication_error"
        assert counts(app) == before == {"payment_intents": 0, "charges": 0, "refunds": 0, "idempotency_records": 0}


async def test_bearer_scheme_is_case_insensitive(app):
    async with client_for(app, Authorization=f"bearer {API_KEY}") as http:
        assert (await create(http, "k1")).status_code == 200


async def test_health_and_metrics_need_no_key(app):
    async with client_for(app) as http:
        http.headers.pop("Authorization")
        health = await http.get("/health")
        assert health.status_code == 200 and health.json() == {"status": "ok", "ledger": "ok"}
        assert (await http.get("/metrics")).status_code == 200


# -- test cards and card rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize("test_card", TEST_CARDS, ids=[c.description for c in TEST_CARDS])
async def test_every_test_card_does_what_the_table_says(app, client, test_card):
    response = await create(client, "key-1", card=card(test_card.number))
    if test_card.decline is None:
        assert response.status_code == 200
        intent = response.json()
        assert intent["status"] == "succeeded"
        assert intent["card"] == {"brand": "visa", "last4": test_card.number[-4:], "exp_month": 12, "exp_year": 2099}
        assert intent["last_payment_error"] is None
        assert payments(app, "succeeded") == 1
    else:
        assert response.status_code == 402
        error = response.json()["error"]
        assert error["type"] == "card_error"
        assert (error["code"], error["decline_code"], error["message"]) == (
            test_card.decline.code, test_card.decline.decline_code, test_card.decline.message,
        )  # fmt: skip
        intent = error["payment_intent"]
        assert intent["status"] == "requires_payment_method" and intent["card"] is None
        assert intent["last_payment_error"] == {"type": "card_error", "code": test_card.decline.code,
                                                "decline_code": test_card.decline.decline_code,
                                                "message": test_card.decline.message}  # fmt: skip
        assert payments(app, "declined") == 1
        assert (
            gateway_of(app).metrics.value("payment_gateway_declines_total", decline_code=test_card.decline.decline_code)
            == 1
        )
    assert counts(app)["charges"] == 1


async def test_any_other_valid_number_is_approved_with_its_brand(client):
    for index, (number, brand) in enumerate([("5555555555554444", "mastercard"), ("2223003122003222", "mastercard"),
                                             ("378282246310005", "amex"), ("6011111111111117", "discover"),
                                             ("3566002020360505", "unknown")]):  # fmt: skip
        response = await create(client, f"k{index}", card=card(number, cvc="1234" if brand == "amex" else "123"))
        assert response.status_code == 200, response.json()
        assert response.json()["card"]["brand"] == brand


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"number": "4242424242424241"}, "incorrect_number", "Your card number is incorrect."),
        ({"number": "42424242424"}, "incorrect_number", None),
        ({"number": "4242-4242-4242-4242-4242"}, "incorrect_number", None),
        ({"number": "4242abcd42424242"}, "incorrect_number", None),
        ({"number": "4242424242424²42"}, "incorrect_number", None),
        ({"number": "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢"}, "incorrect_number", None),
        ({"exp_month": 13}, "invalid_expiry_month", "Your card's expiration month is invalid."),
        ({"exp_month": 0}, "invalid_expiry_month", None),
        ({"exp_year": 2001}, "invalid_expiry_year", "Your card's expiration year is in the past."),
        ({"exp_year": 99999}, "invalid_expiry_year", None),
        ({"cvc": "12"}, "invalid_cvc", None),
        ({"cvc": "12345"}, "invalid_cvc", None),
        ({"cvc": "12a"}, "invalid_cvc", None),
        ({"cvc": "١٢٣"}, "invalid_cvc", None),
        ({"cvc": "1²3"}, "invalid_cvc", None),
    ],
)
async def test_card_rules_refuse_with_a_card_error(app, client, changes, code, message):
    response = await create(client, "k1", card={**GOOD_CARD, **changes})
    assert response.status_code == 402
    error = response.json()["error"]
    assert error["type"] == "card_error" and error["code"] == code
    if message:
        assert error["message"] == message
    assert error["payment_intent"]["status"] == "requires_payment_method"
    assert gateway_of(app).metrics.value("payment_gateway_declines_total", decline_code=code) == 1


async def test_an_expiry_month_already_past_this_year_is_refused(client, clock):
    from datetime import UTC, datetime

    clock.now = datetime(2030, 6, 15, tzinfo=UTC).timestamp()
    response = await create(client, "k1", card=card("4242424242424242", exp_month=5, exp_year=2030))
    assert response.json()["error"]["message"] == "Your card's expiration date is in the past."
    assert (await create(client, "k2", card=card("4242424242424242", exp_month=6, exp_year=2030))).status_code == 200


# -- create and confirm --------------------------------------------------------------------------------------------


async def test_create_then_confirm_separately(app, client):
    created = await create(client, "order-7", expires_at=int(gateway_of(app).clock()) + 900)
    assert created.status_code == 200
    intent = created.json()
    assert intent["id"].startswith("pi_") and len(intent["id"]) == 27
    assert {k: intent[k] for k in ("object", "amount", "currency", "reference", "status", "idempotency_key",
                                    "amount_refunded", "refunded", "card", "last_payment_error")} == {
        "object": "payment_intent", "amount": 1000, "currency": "eur", "reference": "order-1",
        "status": "requires_payment_method", "idempotency_key": "order-7", "amount_refunded": 0,
        "refunded": False, "card": None, "last_payment_error": None,
    }  # fmt: skip
    assert counts(app)["charges"] == 0
    confirmed = await client.post(f"/v1/payment_intents/{intent['id']}/confirm", json={"card": GOOD_CARD})
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "succeeded" and confirmed.json()["card"]["last4"] == "4242"
    assert counts(app)["charges"] == 1


async def test_confirming_a_succeeded_intent_again_charges_nothing(app, client):
    intent = (await create(client, "k1", card=GOOD_CARD)).json()
    for other in (GOOD_CARD, card("4000000000000002"), card("5555555555554444")):
        again = await client.post(f"/v1/payment_intents/{intent['id']}/confirm", json={"card": other})
        assert again.status_code == 200 and again.json()["status"] == "succeeded"
        assert again.json()["card"]["last4"] == "4242"
    assert counts(app)["charges"] == 1
    assert payments(app, "succeeded") == 1 and payments(app, "declined") == 0


async def test_after_a_decline_another_card_may_pay_the_same_intent(app, client):
    declined = await create(client, "k1", card=card("4000000000009995"))
    intent_id = declined.json()["error"]["payment_intent"]["id"]
    paid = await client.post(f"/v1/payment_intents/{intent_id}/confirm", json={"card": GOOD_CARD})
    assert paid.status_code == 200
    assert paid.json()["status"] == "succeeded" and paid.json()["last_payment_error"] is None
    assert counts(app)["charges"] == 2 and counts(app)["payment_intents"] == 1


async def test_an_expired_intent_refuses_to_charge_and_is_canceled_for_good(app, client, clock):
    intent = (await create(client, "k1", expires_at=int(clock()) + 60)).json()
    clock.advance(61)
    refused = await client.post(f"/v1/payment_intents/{intent['id']}/confirm", json={"card": GOOD_CARD})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "payment_intent_expired" and error["payment_intent"]["status"] == "canceled"
    again = await client.post(f"/v1/payment_intents/{intent['id']}/confirm", json={"card": GOOD_CARD})
    assert again.status_code == 400 and again.json()["error"]["code"] == "payment_intent_expired"
    assert (await client.get(f"/v1/payment_intents/{intent['id']}")).json()["status"] == "canceled"
    assert counts(app)["charges"] == 0 and payments(app, "succeeded") == 0


async def test_reading_an_expired_unpaid_intent_shows_it_canceled(client, clock):
    intent = (await create(client, "order-9", expires_at=int(clock()) + 60)).json()
    clock.advance(60)
    by_key = await client.get("/v1/payment_intents", params={"idempotency_key": "order-9"})
    assert by_key.json()["status"] == "canceled"
    assert (await client.get(f"/v1/payment_intents/{intent['id']}")).json()["status"] == "canceled"


async def test_a_paid_intent_stays_succeeded_after_its_expiry(client, clock):
    intent = (await create(client, "k1", card=GOOD_CARD, expires_at=int(clock()) + 60)).json()
    clock.advance(3600)
    assert (await client.get(f"/v1/payment_intents/{intent['id']}")).json()["status"] == "succeeded"
    again = await client.post(f"/v1/payment_intents/{intent['id']}/confirm", json={"card": GOOD_CARD})
    assert again.status_code == 200 and again.json()["status"] == "succeeded"


async def test_confirm_of_an_unknown_intent_is_404(client):
    response = await client.post(f"/v1/payment_intents/pi_{'a' * 24}/confirm", json={"card": GOOD_CARD})
    assert response.status_code == 404 and response.json()["error"]["code"] == "resource_missing"


# -- refunds -------------------------------------------------------------------------------------------------------


async def refund(http, key: str, intent_id: str, amount: int | None = None):
    body = {"payment_intent": intent_id} | ({"amount": amount} if amount is not None else {})
    return await http.post("/v1/refunds", json=body, headers={"Idempotency-Key": key})


async def test_full_refund(app, client):
    intent = (await create(client, "k1", amount=2500, card=GOOD_CARD)).json()
    response = await refund(client, "r1", intent["id"])
    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("re_") and len(body["id"]) == 27
    assert {k: body[k] for k in ("object", "payment_intent", "amount", "status")} == {
        "object": "refund", "payment_intent": intent["id"], "amount": 2500, "status": "succeeded"}  # fmt: skip
    after = (await client.get(f"/v1/payment_intents/{intent['id']}")).json()
    assert after["amount_refunded"] == 2500 and after["refunded"] is True
    again = await refund(client, "r2", intent["id"])
    assert again.status_code == 400 and again.json()["error"]["code"] == "charge_already_refunded"
    metrics = gateway_of(app).metrics
    assert metrics.value("payment_gateway_refunds_total", outcome="succeeded") == 1
    assert metrics.value("payment_gateway_refunds_total", outcome="refused") == 1


async def test_partial_refunds_up_to_what_was_captured(app, client):
    intent = (await create(client, "k1", amount=1000, card=GOOD_CARD)).json()
    assert (await refund(client, "r1", intent["id"], 300)).json()["amount"] == 300
    mid = (await client.get(f"/v1/payment_intents/{intent['id']}")).json()
    assert mid["amount_refunded"] == 300 and mid["refunded"] is False
    too_much = await refund(client, "r2", intent["id"], 701)
    assert too_much.status_code == 400 and too_much.json()["error"]["code"] == "amount_too_large"
    rest = await refund(client, "r3", intent["id"])
    assert rest.status_code == 200 and rest.json()["amount"] == 700
    assert (await client.get(f"/v1/payment_intents/{intent['id']}")).json()["refunded"] is True
    assert counts(app)["refunds"] == 2


async def test_an_unpaid_intent_cannot_be_refunded(app, client):
    unpaid = (await create(client, "k1")).json()
    response = await refund(client, "r1", unpaid["id"])
    assert response.status_code == 400 and response.json()["error"]["code"] == "payment_intent_unexpected_state"
    declined = (await create(client, "k2", card=card("4000000000000002"))).json()["error"]["payment_intent"]
    assert (await refund(client, "r2", declined["id"])).status_code == 400
    missing = await refund(client, "r3", "pi_" + "b" * 24)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "resource_missing"
    assert counts(app)["refunds"] == 0


# -- reads ---------------------------------------------------------------------------------------------------------


async def test_read_by_id_and_by_idempotency_key(client):
    intent = (await create(client, "order-42", card=GOOD_CARD)).json()
    by_id = await client.get(f"/v1/payment_intents/{intent['id']}")
    by_key = await client.get("/v1/payment_intents", params={"idempotency_key": "order-42"})
    assert by_id.status_code == by_key.status_code == 200
    assert by_id.json() == by_key.json() == intent
    for response in (
        await client.get(f"/v1/payment_intents/pi_{'c' * 24}"),
        await client.get("/v1/payment_intents/not-an-id"),
        await client.get("/v1/payment_intents", params={"idempotency_key": "never-used"}),
    ):
        assert response.status_code == 404
        assert response.json()["error"] == {**response.json()["error"], "type": "invalid_request_error",
                                            "code": "resource_missing"}  # fmt: skip


async def test_a_declined_create_is_found_by_key_as_not_paid(client):
    await create(client, "order-43", card=card("4000000000000002"))
    found = (await client.get("/v1/payment_intents", params={"idempotency_key": "order-43"})).json()
    assert found["status"] == "requires_payment_method"
    assert found["last_payment_error"]["decline_code"] == "generic_decline"


# -- what is never kept --------------------------------------------------------------------------------------------


async def test_card_number_and_cvc_appear_nowhere_in_the_ledger_or_logs(app, client, settings, caplog):
    caplog.set_level("DEBUG")
    number, cvc = "5555555555554444", "7391"
    declined = "4000000000009995"
    paid = (await create(client, "k1", card=card(number, cvc=cvc))).json()
    await create(client, "k2", card=card(declined, cvc=cvc))
    await create(client, "k3", card=card("4242-4242-4242-4241", cvc=cvc))  # invalid: still never kept
    await refund(client, "r1", paid["id"], 100)
    ledger_bytes = b"".join(
        path.read_bytes() for path in settings.payment_ledger.parent.glob(settings.payment_ledger.name + "*")
    )
    assert len(ledger_bytes) > 0
    for secret in (number, declined, "4242424242424241", "4242-4242-4242-4241", f'"{cvc}"', "cvc"):
        assert secret.encode() not in ledger_bytes, secret
    assert b"4444" in ledger_bytes  # the last 4 digits are kept (and the search above would have found more)
    logged = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "payment succeeded" in logged and "payment declined" in logged
    for secret in (number, declined, "4242424242424241", cvc, API_KEY):
        assert secret not in logged, secret


async def test_health_names_a_broken_ledger(app, client):
    gateway_of(app).ledger.close()
    response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable" and "ledger" in response.json()
