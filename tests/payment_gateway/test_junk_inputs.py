"""No input makes a 500: junk bodies, headers and paths get a 4xx in Stripe's error shape; bodies are capped."""

from __future__ import annotations

import json

import pytest

from tests.payment_gateway.conftest import GOOD_CARD, create, gateway_of

pytestmark = pytest.mark.anyio

INTENT = "pi_" + "d" * 24
VALID = {"amount": 1000, "currency": "eur", "reference": "order-1"}


def body(**changes) -> bytes:
    return json.dumps({**VALID, **changes}).encode()


def card_body(**card_changes) -> bytes:
    return json.dumps({**VALID, "confirm": True, "card": {**GOOD_CARD, **card_changes}}).encode()


# (name, method, path, raw body, extra headers, expected status, expected param or None)
CASES = [
    ("list body", "POST", "/v1/payment_intents", b"[1, 2]", {}, 400, None),
    ("string body", "POST", "/v1/payment_intents", b'"hello"', {}, 400, None),
    ("null body", "POST", "/v1/payment_intents", b"null", {}, 400, None),
    ("number body", "POST", "/v1/payment_intents", b"12", {}, 400, None),
    ("empty body", "POST", "/v1/payment_intents", b"", {}, 400, "amount"),
    ("not json", "POST", "/v1/payment_intents", b"amount=100", {}, 400, None),
    ("bad utf-8", "POST", "/v1/payment_intents", b'{"amount": "\xff\xfe"}', {}, 400, None),
    ("nan", "POST", "/v1/payment_intents", b'{"amount": NaN, "currency": "eur", "reference": "x"}', {}, 400, None),
    (
        "infinity",
        "POST",
        "/v1/payment_intents",
        b'{"amount": 1e400, "currency": "eur", "reference": "x"}',
        {},
        400,
        "amount",
    ),
    ("5000 digits", "POST", "/v1/payment_intents", b'{"amount": ' + b"9" * 5000 + b"}", {}, 400, None),
    ("deep nesting", "POST", "/v1/payment_intents", b"[" * 8000 + b"]" * 8000, {}, 400, None),
    ("huge amount", "POST", "/v1/payment_intents", body(amount=10**30), {}, 400, "amount"),
    ("amount too big", "POST", "/v1/payment_intents", body(amount=100_000_000), {}, 400, "amount"),
    ("negative amount", "POST", "/v1/payment_intents", body(amount=-1), {}, 400, "amount"),
    ("zero amount", "POST", "/v1/payment_intents", body(amount=0), {}, 400, "amount"),
    ("amount string", "POST", "/v1/payment_intents", body(amount="100"), {}, 400, "amount"),
    ("amount unicode digit", "POST", "/v1/payment_intents", body(amount="²"), {}, 400, "amount"),
    ("amount float", "POST", "/v1/payment_intents", body(amount=10.5), {}, 400, "amount"),
    ("amount bool", "POST", "/v1/payment_intents", body(amount=True), {}, 400, "amount"),
    ("amount list", "POST", "/v1/payment_intents", body(amount=[100]), {}, 400, "amount"),
    ("amount object", "POST", "/v1/payment_intents", body(amount={"value": 1}), {}, 400, "amount"),
    (
        "missing amount",
        "POST",
        "/v1/payment_intents",
        json.dumps({"currency": "eur", "reference": "x"}).encode(),
        {},
        400,
        "amount",
    ),
    (
        "missing currency",
        "POST",
        "/v1/payment_intents",
        json.dumps({"amount": 1, "reference": "x"}).encode(),
        {},
        400,
        "currency",
    ),
    (
        "missing reference",
        "POST",
        "/v1/payment_intents",
        json.dumps({"amount": 1, "currency": "eur"}).encode(),
        {},
        400,
        "reference",
    ),
    ("upper currency", "POST", "/v1/payment_intents", body(currency="EUR"), {}, 400, "currency"),
    ("unicode currency", "POST", "/v1/payment_intents", body(currency="€ur"), {}, 400, "currency"),
    ("currency number", "POST", "/v1/payment_intents", body(currency=978), {}, 400, "currency"),
    ("currency newline", "POST", "/v1/payment_intents", body(currency="eur\n"), {}, 400, "currency"),
    ("empty reference", "POST", "/v1/payment_intents", body(reference=""), {}, 400, "reference"),
    ("long reference", "POST", "/v1/payment_intents", body(reference="r" * 65), {}, 400, "reference"),
    ("control reference", "POST", "/v1/payment_intents", body(reference="a\x00b"), {}, 400, "reference"),
    ("reference object", "POST", "/v1/payment_intents", body(reference={"a": 1}), {}, 400, "reference"),
    ("expires_at string", "POST", "/v1/payment_intents", body(expires_at="tomorrow"), {}, 400, "expires_at"),
    ("expires_at past", "POST", "/v1/payment_intents", body(expires_at=1), {}, 400, "expires_at"),
    ("expires_at huge", "POST", "/v1/payment_intents", body(expires_at=10**20), {}, 400, "expires_at"),
    ("confirm string", "POST", "/v1/payment_intents", body(confirm="yes"), {}, 400, "confirm"),
    ("confirm without card", "POST", "/v1/payment_intents", body(confirm=True), {}, 400, "card"),
    ("card without confirm", "POST", "/v1/payment_intents", body(card=GOOD_CARD), {}, 400, "card"),
    ("card list", "POST", "/v1/payment_intents", body(confirm=True, card=[GOOD_CARD]), {}, 400, "card"),
    ("card string", "POST", "/v1/payment_intents", body(confirm=True, card="4242424242424242"), {}, 400, "card"),
    ("unknown param", "POST", "/v1/payment_intents", body(metadata={"a": 1}), {}, 400, "metadata"),
    ("card number int", "POST", "/v1/payment_intents", card_body(number=4242424242424242), {}, 400, "card[number]"),
    ("card number long", "POST", "/v1/payment_intents", card_body(number="4" * 65), {}, 400, "card[number]"),
    ("card month string", "POST", "/v1/payment_intents", card_body(exp_month="12"), {}, 400, "card[exp_month]"),
    ("card year float", "POST", "/v1/payment_intents", card_body(exp_year=2099.0), {}, 400, "card[exp_year]"),
    ("card year huge", "POST", "/v1/payment_intents", card_body(exp_year=10**40), {}, 400, "card[exp_year]"),
    ("card cvc int", "POST", "/v1/payment_intents", card_body(cvc=123), {}, 400, "card[cvc]"),
    ("card name long", "POST", "/v1/payment_intents", card_body(name="n" * 121), {}, 400, "card[name]"),
    ("card name empty", "POST", "/v1/payment_intents", card_body(name=""), {}, 400, "card[name]"),
    ("card unknown field", "POST", "/v1/payment_intents", card_body(pin="1234"), {}, 400, "card[pin]"),
    (
        "card missing cvc",
        "POST",
        "/v1/payment_intents",
        json.dumps(
            {**VALID, "confirm": True, "card": {"number": "4242424242424242", "exp_month": 1, "exp_year": 2099}}
        ).encode(),
        {},
        400,
        "card[cvc]",
    ),
    ("no idempotency key", "POST", "/v1/payment_intents", body(), {"Idempotency-Key": None}, 400, "idempotency_key"),
    ("empty idempotency key", "POST", "/v1/payment_intents", body(), {"Idempotency-Key": ""}, 400, "idempotency_key"),
    (
        "long idempotency key",
        "POST",
        "/v1/payment_intents",
        body(),
        {"Idempotency-Key": "k" * 65},
        400,
        "idempotency_key",
    ),
    (
        "idempotency key spaces",
        "POST",
        "/v1/payment_intents",
        body(),
        {"Idempotency-Key": "a b"},
        400,
        "idempotency_key",
    ),
    (
        "idempotency key unicode",
        "POST",
        "/v1/payment_intents",
        body(),
        {"Idempotency-Key": "ключ".encode()},
        400,
        "idempotency_key",
    ),
    ("bad content-length", "POST", "/v1/payment_intents", body(), {"Content-Length": "abc"}, 400, None),
    ("refund list", "POST", "/v1/refunds", b"[]", {}, 400, None),
    ("refund no intent", "POST", "/v1/refunds", b"{}", {}, 400, "payment_intent"),
    (
        "refund intent list",
        "POST",
        "/v1/refunds",
        json.dumps({"payment_intent": [INTENT]}).encode(),
        {},
        400,
        "payment_intent",
    ),
    (
        "refund intent junk",
        "POST",
        "/v1/refunds",
        json.dumps({"payment_intent": "../../etc"}).encode(),
        {},
        404,
        "payment_intent",
    ),
    (
        "refund negative",
        "POST",
        "/v1/refunds",
        json.dumps({"payment_intent": INTENT, "amount": -1}).encode(),
        {},
        400,
        "amount",
    ),
    (
        "refund amount string",
        "POST",
        "/v1/refunds",
        json.dumps({"payment_intent": INTENT, "amount": "5"}).encode(),
        {},
        400,
        "amount",
    ),
    (
        "refund no key",
        "POST",
        "/v1/refunds",
        json.dumps({"payment_intent": INTENT}).encode(),
        {"Idempotency-Key": None},
        400,
        "idempotency_key",
    ),
    ("confirm list", "POST", f"/v1/payment_intents/{INTENT}/confirm", b"[]", {}, 400, None),
    ("confirm empty", "POST", f"/v1/payment_intents/{INTENT}/confirm", b"", {}, 400, "card"),
    (
        "confirm bad id",
        "POST",
        "/v1/payment_intents/pi_%00%ff/confirm",
        json.dumps({"card": GOOD_CARD}).encode(),
        {},
        404,
        None,
    ),
    (
        "confirm unicode id",
        "POST",
        "/v1/payment_intents/pi_²²²/confirm",
        json.dumps({"card": GOOD_CARD}).encode(),
        {},
        404,
        None,
    ),
    (
        "confirm bad key",
        "POST",
        f"/v1/payment_intents/{INTENT}/confirm",
        json.dumps({"card": GOOD_CARD}).encode(),
        {"Idempotency-Key": "!"},
        400,
        "idempotency_key",
    ),
    ("retrieve junk id", "GET", "/v1/payment_intents/%E2%80%AE", b"", {}, 404, None),
    ("retrieve long id", "GET", "/v1/payment_intents/" + "p" * 5000, b"", {}, 404, None),
    ("search no key", "GET", "/v1/payment_intents", b"", {}, 400, "idempotency_key"),
    ("search bad key", "GET", "/v1/payment_intents?idempotency_key=%00", b"", {}, 400, "idempotency_key"),
    ("unknown url", "GET", "/v1/charges", b"", {}, 404, None),
    ("wrong method", "DELETE", "/v1/payment_intents", b"", {}, 405, None),
    ("put on refunds", "PUT", "/v1/refunds", b"{}", {}, 405, None),
]


@pytest.mark.parametrize(("method", "path", "raw", "headers", "status", "param"),
                         [case[1:] for case in CASES], ids=[case[0] for case in CASES])  # fmt: skip
async def test_junk_gets_a_4xx_in_stripe_shape(app, client, method, path, raw, headers, status, param):
    headers = {"Idempotency-Key": "junk-1", "Content-Type": "application/json", **headers}
    response = await client.request(
        method, path, content=raw, headers={k: v for k, v in headers.items() if v is not None}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] in ("invalid_request_error", "idempotency_error") and error["code"] and error["message"]
    if param is not None:
        assert error["param"] == param
    ledger = gateway_of(app).ledger
    assert ledger.count("payment_intents") == 0 and ledger.count("idempotency_records") == 0


async def test_unknown_paths_outside_v1_are_json_404s_without_a_key(app):
    from tests.payment_gateway.conftest import client_for

    async with client_for(app) as http:
        http.headers.pop("Authorization")
        response = await http.get("/admin")
        assert response.status_code == 404 and response.json()["error"]["code"] == "url_invalid"


async def test_a_body_over_16_kib_is_refused_by_its_length(app, client):
    response = await create(client, "k1", reference="x" * 20_000)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"
    assert gateway_of(app).ledger.count("payment_intents") == 0


async def test_a_chunked_body_is_cut_off_past_the_cap(app, client):
    sent = 0

    async def endless():
        nonlocal sent
        yield b'{"amount": 100, "currency": "eur", "reference": "'
        for _ in range(10_000):  # 10 MB if it were all read
            sent += 1
            yield b"x" * 1024

    response = await client.post("/v1/payment_intents", content=endless(), headers={"Idempotency-Key": "k1"})
    assert response.status_code == 413
    assert sent <= 18  # it stopped reading just past 16 KiB
    assert gateway_of(app).ledger.count("payment_intents") == 0


async def test_a_body_just_under_the_cap_is_read(client):
    padding = 16 * 1024 - len(body(reference="x")) - 200
    raw = (
        json.dumps({**VALID, "reference": "x", "expires_at": None, "card": None}).encode()[:-1] + b" " * padding + b"}"
    )
    assert len(raw) < 16 * 1024
    response = await client.post("/v1/payment_intents", content=raw, headers={"Idempotency-Key": "k1"})
    assert response.status_code == 200
