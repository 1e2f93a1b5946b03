"""The shop's money flow against the real payment service (payment_gateway/, a process of its own):
approved, declined, unknown and reconciled, the breaker, expiry, released holds, refunds, throttling
and idempotency, each checked in the shop's database and in the service's own ledger."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import threading
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from prometheus_client import REGISTRY
from sqlmodel import select

from ecom_reflex import payments
from ecom_reflex.db import session_scope, transaction
from ecom_reflex.models import Order, OutboxEmail, Product, utcnow
from ecom_reflex.services import cart, order_payments, orders, throttling
from ecom_reflex.services.cart import UserCart
from ecom_reflex.services.errors import ServiceError
from ecom_reflex.services.order_payments import Attempt, PaymentInFlight
from ecom_reflex.services.orders import OutOfStock, ShippingAddress
from ecom_reflex.services.payment_client import Card, Charge, ChargeOutcome
from tests.conftest import reset_caches
from tests.factories import HOLD, make_product, make_user, shown_cart

T = TypeVar("T")
ADDRESS = ShippingAddress(
    "Ada Lovelace", "12 Analytical St", "", "London", "N1 9GU", "United Kingdom", email="ada@example.com"
)
APPROVED = "4242424242424242"
DECLINES = {
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card was declined: insufficient funds.",
    "4000000000000069": "Your card was declined: it has expired.",
    "4000000000000127": "Your card was declined: the security code (CVC) is incorrect.",
    "4000000000000119": "Your card could not be charged: the bank had a processing error. Try again.",
}


# --- helpers ------------------------------------------------------------------


def card(number: str = APPROVED) -> Card:
    return Card(number=number, exp_month=12, exp_year=2034, cvc="123", name="Ada Lovelace")


def run(work: Callable[[], Awaitable[T]]) -> T:
    """`work()` on a new event loop with a client of its own, closed after (each asyncio.run is a new loop)."""

    async def main() -> T:
        try:
            return await work()
        finally:
            await payments.client().aclose()
            payments.forget()

    payments.forget()
    return asyncio.run(main())


def checkout(session, user, product: Product, quantity: int = 2) -> Order:
    """The user's cart with `quantity` of `product`, placed: awaiting payment, the stock held.

    A random checkout key, as the page makes: the payment service is shared by every test's database."""
    cart.add_item(session, UserCart(user.id), product.id, quantity)
    session.commit()
    shown = shown_cart(user.id)
    with session_scope(write=True) as scoped:
        return orders.place_order(scoped, user.id, ADDRESS, uuid.uuid4().hex, shown).order


def start(order: Order) -> Attempt:
    return transaction(lambda s: order_payments.start_attempt(s, order.id, order.user_id, HOLD), write=True)


def charge(attempt: Attempt, number: str = APPROVED, *, user_id: int) -> payments.Paid:
    return run(lambda: payments.charge(attempt, card(number), actor_id=user_id))


def order_now(order_id: int) -> Order:
    with session_scope() as scoped:
        return scoped.get(Order, order_id)


def stock_now(product_id: int) -> int:
    with session_scope() as scoped:
        return scoped.get(Product, product_id).stock


def emails(kind: str | None = None) -> list[OutboxEmail]:
    with session_scope() as scoped:
        query = select(OutboxEmail).order_by(OutboxEmail.id)
        return list(scoped.exec(query.where(OutboxEmail.kind == kind) if kind else query).all())


def ledger(gateway, sql: str, *params) -> list[tuple]:
    """Rows of the payment service's own ledger (payment_gateway/ledger.py), read as the service wrote them."""
    with sqlite3.connect(gateway.ledger, timeout=10) as connection:
        return connection.execute(sql, params).fetchall()


def captured_intents(gateway, attempt_key: str) -> int:
    """Payments the service captured under this attempt's idempotency key (the shop's proof of "charged once")."""
    return ledger(gateway, "SELECT count(*) FROM payment_intents WHERE idempotency_key = ? AND status = 'succeeded'",
                  attempt_key)[0][0]  # fmt: skip


def successful_charges(gateway, order: Order) -> int:
    """Every successful card charge the service ran for any attempt of this order (its keys share a prefix)."""
    prefix = order.idempotency_key + "-"
    return ledger(
        gateway,
        "SELECT count(*) FROM charges c JOIN payment_intents i ON i.id = c.payment_intent"
        " WHERE substr(i.idempotency_key, 1, ?) = ? AND c.outcome = 'succeeded'",
        len(prefix),
        prefix,
    )[0][0]


def sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still not so after {timeout_s}s")
        time.sleep(0.05)


@contextmanager
def paused(gateway) -> Iterator[None]:
    """The payment service frozen (SIGSTOP) for the block: requests hang as with a stuck provider."""
    gateway.pause()
    try:
        yield
    finally:
        gateway.resume()


def gateway_flag(gateway, flag: str) -> float | None:
    with urllib.request.urlopen(gateway.url + "/metrics", timeout=5) as response:
        for line in response.read().decode().splitlines():
            if line.startswith(f'payment_gateway_fault_flag{{flag="{flag}"}}'):
                return float(line.split()[-1])
    return None


def _write_flag(flags_file: Path, flag: str, variant: str) -> None:
    flags = json.loads(flags_file.read_text())
    assert variant in flags["flags"][flag]["variants"]
    flags["flags"][flag]["defaultVariant"] = variant
    staged = flags_file.with_suffix(".new")
    staged.write_text(json.dumps(flags, indent=2))
    os.replace(staged, flags_file)  # never half-written


@contextmanager
def fault_flag(gateway, flag: str, variant: str) -> Iterator[None]:
    """The service's fault flag at `variant` for the block (seen by the service itself), off after it."""
    values = json.loads(gateway.flags_file.read_text())["flags"][flag]["variants"]
    try:
        _write_flag(gateway.flags_file, flag, variant)
        wait_until(lambda: gateway_flag(gateway, flag) == float(values[variant]), 15, f"{flag}={variant}")
        yield
    finally:
        _write_flag(gateway.flags_file, flag, "off")
        wait_until(lambda: gateway_flag(gateway, flag) == 0, 15, f"{flag} off")


@pytest.fixture
def short_payments(payment_service, monkeypatch):
    """Calls that give up quickly: a 1 s timeout, one retry."""
    monkeypatch.setenv("PAYMENT_TIMEOUT_SECONDS", "1")
    monkeypatch.setenv("PAYMENT_RETRIES", "1")
    reset_caches()
    return payment_service


@pytest.fixture
def shop(payment_service, session):
    """A shopper, an admin and a product of 10 in stock, in a fresh database, paying through the real service."""
    return make_user(session, "shopper"), make_user(session, "boss", is_admin=True), make_product(session, stock=10)


# --- approved -----------------------------------------------------------------


def test_an_approved_card_pays_the_order_and_the_service_holds_the_payment(payment_service, shop, session):
    user, _, product = shop
    order = checkout(session, user, product)
    approved_before = sample("ecommerce_payments_total", {"outcome": "approved"})
    attempt = start(order)
    assert order_now(order.id).payment_status == "processing"

    paid = charge(attempt, user_id=user.id)

    assert paid.charge.outcome is ChargeOutcome.APPROVED and paid.status == "paid"
    stored = order_now(order.id)
    assert (stored.status, stored.payment_status, stored.payment_error) == ("paid", "captured", "")
    assert (stored.card_brand, stored.card_last4, stored.card_exp_month, stored.card_exp_year) == (
        "visa", "4242", 12, 2034
    )  # fmt: skip
    # The reference is the service's id of the payment it captured under this attempt's key.
    ((intent_id, amount, status, last4),) = ledger(
        payment_service, "SELECT id, amount, status, card_last4 FROM payment_intents WHERE idempotency_key = ?",
        attempt.key,
    )  # fmt: skip
    assert stored.payment_reference == intent_id and intent_id.startswith("pi_")
    assert (amount, status, last4) == (order.total_cents, "succeeded", "4242")
    assert stock_now(product.id) == 8
    # The order's e-mail goes now, naming what was paid and with which card.
    (email,) = emails()
    assert email.kind == "order_placed" and email.order_id == order.id
    assert "Visa •••• 4242" in email.text_body and "$20.00" in email.text_body
    assert sample("ecommerce_payments_total", {"outcome": "approved"}) == approved_before + 1
    detail = orders.order_detail(session, order.id, user_id=user.id)
    assert (detail.card, detail.payment_reference, detail.can_pay) == (
        "Visa •••• 4242, expires 12/34", intent_id, False
    )  # fmt: skip


# --- declined -----------------------------------------------------------------


@pytest.mark.parametrize("number", list(DECLINES))
def test_a_declined_card_gives_the_stock_back_and_another_card_pays_the_same_order(
    payment_service, shop, session, number
):
    user, _, product = shop
    order = checkout(session, user, product)
    declined_before = sample("ecommerce_payments_total", {"outcome": "declined"})
    first = start(order)

    paid = charge(first, number, user_id=user.id)

    assert paid.charge.outcome is ChargeOutcome.DECLINED and paid.charge.message == DECLINES[number]
    stored = order_now(order.id)
    assert (stored.status, stored.payment_status, stored.payment_error) == (
        "payment_failed", "declined", DECLINES[number]
    )  # fmt: skip
    assert stored.payment_reference == "" and stored.card_last4 == ""
    assert stock_now(product.id) == 10, "the stock is back in the decline's own transaction"
    assert emails() == [], "a declined order sends nothing"
    assert captured_intents(payment_service, first.key) == 0
    assert sample("ecommerce_payments_total", {"outcome": "declined"}) == declined_before + 1
    detail = orders.order_detail(session, order.id, user_id=user.id)
    assert detail.can_pay and detail.payment_error == DECLINES[number]

    # Another card, the same order: its stock is held again, then it is paid.
    second = start(order)
    assert second.key != first.key and second.number == first.number + 1
    assert (order_now(order.id).status, stock_now(product.id)) == ("awaiting_payment", 8)
    assert charge(second, user_id=user.id).charge.approved
    stored = order_now(order.id)
    assert (stored.status, stored.payment_status, stored.payment_error, stored.card_last4) == (
        "paid", "captured", "", "4242"
    )  # fmt: skip
    assert stock_now(product.id) == 8
    assert [email.kind for email in emails()] == ["order_placed"]
    assert successful_charges(payment_service, order) == 1


def test_a_declined_order_whose_stock_sold_meanwhile_cannot_be_paid_and_nothing_changes(payment_service, session):
    user, rival = make_user(session, "shopper"), make_user(session, "rival")
    product = make_product(session, stock=2)
    order = checkout(session, user, product, quantity=2)
    charge(start(order), "4000000000009995", user_id=user.id)
    assert stock_now(product.id) == 2
    checkout(session, rival, product, quantity=2)  # the units went back on sale, and sold
    before = order_now(order.id)

    with pytest.raises(OutOfStock, match="none left"):
        start(order)

    after = order_now(order.id)
    assert (after.status, after.payment_status, after.payment_attempts, after.payment_due_at) == (
        "payment_failed", "declined", before.payment_attempts, before.payment_due_at
    )  # fmt: skip
    assert stock_now(product.id) == 0


# --- outcome unknown, then reconciled ------------------------------------------------


def test_an_unknown_outcome_is_reconciled_and_paid_exactly_once(short_payments, shop, session):
    gateway = short_payments
    user, _, product = shop
    order = checkout(session, user, product)
    unknown_before = sample("ecommerce_payments_total", {"outcome": "unknown"})
    attempt = start(order)

    with paused(gateway):
        paid = charge(attempt, user_id=user.id)
        assert paid.charge.outcome is ChargeOutcome.UNKNOWN
        stored = order_now(order.id)
        # Never guessed: the stock stays held, the order waits, the shopper is told it is being confirmed.
        assert (stored.status, stored.payment_status) == ("awaiting_payment", "unknown")
        assert stock_now(product.id) == 8 and emails() == []
        detail = orders.order_detail(session, order.id, user_id=user.id)
        assert detail.confirming and not detail.can_pay
        # An unknown payment does not expire, whatever its deadline says.
        later = utcnow() + timedelta(days=1)
        assert transaction(lambda s: order_payments.expire_overdue(s, now=later), write=True) == []
        assert sample("ecommerce_payments_total", {"outcome": "unknown"}) == unknown_before + 1

    # Back: the requests that waited reach the service (one charge, whatever arrived twice); the
    # reconciler asks by the attempt's key until it knows.
    wait_until(lambda: captured_intents(gateway, attempt.key) == 1, 15, "the waiting request charged")
    deadline = time.monotonic() + 15
    while order_now(order.id).payment_status == "unknown" and time.monotonic() < deadline:
        run(payments.reconcile_once)
    stored = order_now(order.id)
    assert (stored.status, stored.payment_status, stored.card_last4) == ("paid", "captured", "4242")
    (intent_id,) = ledger(gateway, "SELECT id FROM payment_intents WHERE idempotency_key = ?", attempt.key)[0]
    assert stored.payment_reference == intent_id
    assert [email.kind for email in emails()] == ["order_placed"]
    # Another round changes nothing: never paid twice, never a second e-mail.
    run(payments.reconcile_once)
    assert captured_intents(gateway, attempt.key) == 1 and successful_charges(gateway, order) == 1
    assert len(emails()) == 1 and order_now(order.id).status == "paid" and stock_now(product.id) == 8


def test_the_breaker_opens_and_calls_fail_fast_while_the_service_is_down(short_payments, monkeypatch, session):
    monkeypatch.setenv("PAYMENT_BREAKER_FAILURES", "2")
    reset_caches()
    gateway = short_payments
    product = make_product(session, stock=10)
    first_user, second_user = make_user(session, "first"), make_user(session, "second")
    first, second = checkout(session, first_user, product), checkout(session, second_user, product)
    first_attempt, second_attempt = start(first), start(second)

    async def both() -> tuple[payments.Paid, payments.Paid, float, bool]:
        one = await payments.charge(first_attempt, card(), actor_id=first_user.id)
        opened = payments.client().breaker_open
        started = time.monotonic()
        two = await payments.charge(second_attempt, card(), actor_id=second_user.id)
        return one, two, time.monotonic() - started, opened

    with paused(gateway):
        one, two, fail_fast_s, opened = run(both)

    assert opened, "two failed tries (a call and its retry) open the breaker"
    assert one.charge.outcome is ChargeOutcome.UNKNOWN and two.charge.outcome is ChargeOutcome.UNKNOWN
    assert fail_fast_s < 0.5, f"the open breaker failed fast, not after a timeout ({fail_fast_s:.2f}s)"
    for order in (first, second):
        stored = order_now(order.id)
        assert (stored.status, stored.payment_status) == ("awaiting_payment", "unknown")
    # The second call never left the shop: the service has never heard of its key.
    wait_until(lambda: captured_intents(gateway, first_attempt.key) == 1, 15, "the first request charged")
    assert ledger(gateway, "SELECT count(*) FROM payment_intents WHERE idempotency_key = ?", second_attempt.key) == [
        (0,)
    ]


# --- expiry and released holds -------------------------------------------------


def test_an_overdue_unpaid_order_expires_and_one_being_confirmed_does_not(payment_service, monkeypatch, session):
    monkeypatch.setenv("PAYMENT_HOLD_MINUTES", "0.005")  # 0.3 s
    reset_caches()
    product = make_product(session, stock=10)
    idle, declined, confirming = (make_user(session, name) for name in ("idle", "declined", "confirming"))
    idle_order = checkout(session, idle, product)
    declined_order = checkout(session, declined, product)
    charge(start(declined_order), "4000000000000002", user_id=declined.id)
    confirming_order = checkout(session, confirming, product)
    attempt = start(confirming_order)
    unknown = Charge(ChargeOutcome.UNKNOWN, error=True)
    transaction(lambda s: order_payments.record_charge(s, confirming_order.id, attempt.number, unknown,
                                                       actor_id=None), write=True)  # fmt: skip
    assert stock_now(product.id) == 10 - 2 - 2
    expired_before = sample("ecommerce_payment_holds_expired_total")

    def overdue() -> bool:
        return all(order_now(order.id).payment_due_at.replace(tzinfo=None) < utcnow().replace(tzinfo=None)
                   for order in (idle_order, declined_order, confirming_order))  # fmt: skip

    wait_until(overdue, 5, "the holds are past their deadline")
    run(payments.reconcile_once)

    assert order_now(idle_order.id).status == "expired"
    assert order_now(declined_order.id).status == "expired"
    # Its payment may yet come: it keeps its stock and waits (the service has not seen its key).
    stored = order_now(confirming_order.id)
    assert (stored.status, stored.payment_status) == ("awaiting_payment", "unknown")
    # The idle hold's units are back; the declined one's were back already (not twice).
    assert stock_now(product.id) == 10 - 2
    assert sample("ecommerce_payment_holds_expired_total") == expired_before + 2
    assert emails() == []
    for order in (idle_order, declined_order):
        detail = orders.order_detail(session, order.id)
        assert detail.history[-1].to_status == "expired" and not detail.can_pay
    with pytest.raises(ServiceError, match="expired"):
        start(idle_order)


def test_a_new_checkout_releases_the_accounts_unpaid_order_unless_its_payment_is_being_confirmed(session):
    user = make_user(session)
    product = make_product(session, stock=10)
    first = checkout(session, user, product, quantity=2)
    assert stock_now(product.id) == 8

    second = checkout(session, user, product, quantity=1)

    assert order_now(first.id).status == "expired" and order_now(second.id).status == "awaiting_payment"
    assert stock_now(product.id) == 9, "the first hold's units are back, the second's held"
    # The second's payment is being confirmed: a third checkout must not end it, and changes nothing.
    attempt = start(second)
    unknown = Charge(ChargeOutcome.UNKNOWN, error=True)
    transaction(lambda s: order_payments.record_charge(s, second.id, attempt.number, unknown, actor_id=None),
                write=True)  # fmt: skip
    with pytest.raises(PaymentInFlight, match="being confirmed"):
        checkout(session, user, product, quantity=3)
    assert (order_now(second.id).status, order_now(second.id).payment_status) == ("awaiting_payment", "unknown")
    assert stock_now(product.id) == 9
    with session_scope() as scoped:
        assert len(scoped.exec(select(Order).where(Order.user_id == user.id)).all()) == 2
        assert cart.view(scoped, UserCart(user.id)).lines[0].quantity == 3, "the cart is still there"


# --- refunds ------------------------------------------------------------------


def paid_order(session, user, product) -> tuple[Order, Attempt]:
    order = checkout(session, user, product)
    attempt = start(order)
    assert charge(attempt, user_id=user.id).charge.approved
    return order_now(order.id), attempt


def cancel(order: Order, admin_id: int) -> Order:
    with session_scope(write=True) as scoped:
        return orders.change_status(scoped, order.id, "cancelled", admin_id, "paid")


def refunds_of(gateway, intent_id: str) -> tuple[int, int]:
    """(amount refunded on the intent, refunds recorded) in the service's ledger."""
    ((refunded,),) = ledger(gateway, "SELECT amount_refunded FROM payment_intents WHERE id = ?", intent_id)
    ((count,),) = ledger(gateway, "SELECT count(*) FROM refunds WHERE payment_intent = ?", intent_id)
    return refunded, count


def test_cancelling_a_paid_order_refunds_it_through_the_service_then_gives_the_stock_back(
    payment_service, shop, session
):
    user, admin, product = shop
    order, _ = paid_order(session, user, product)

    assert cancel(order, admin.id).status == "refund_pending"
    assert (order_now(order.id).payment_status, stock_now(product.id)) == ("captured", 8)
    assert refunds_of(payment_service, order.payment_reference) == (0, 0)

    assert run(lambda: payments.refund(order.id)) == 1

    stored = order_now(order.id)
    assert (stored.status, stored.payment_status) == ("cancelled", "refunded")
    assert stock_now(product.id) == 10
    assert refunds_of(payment_service, order.payment_reference) == (order.total_cents, 1)
    (refunded,) = emails("order_refunded")
    assert refunded.order_id == order.id and "Visa •••• 4242" in refunded.text_body
    # Nothing left to refund: another round does nothing.
    assert run(lambda: payments.refund(order.id)) == 0
    assert refunds_of(payment_service, order.payment_reference) == (order.total_cents, 1)


def test_a_refund_that_fails_stays_pending_and_the_reconciler_refunds_it_once(payment_service, shop, session):
    user, admin, product = shop
    order, _ = paid_order(session, user, product)
    cancel(order, admin.id)

    with fault_flag(payment_service, "paymentFailurePercent", "all"):
        assert run(lambda: payments.refund(order.id)) == 0
        stored = order_now(order.id)
        assert (stored.status, stored.payment_status) == ("refund_pending", "captured")
        assert stock_now(product.id) == 8 and emails("order_refunded") == []
        assert refunds_of(payment_service, order.payment_reference) == (0, 0)
        assert transaction(order_payments.counts).refunds_pending == 1
        detail = orders.order_detail(session, order.id)
        assert detail.status == "refund_pending"

    run(payments.reconcile_once)

    stored = order_now(order.id)
    assert (stored.status, stored.payment_status) == ("cancelled", "refunded")
    assert stock_now(product.id) == 10
    assert refunds_of(payment_service, order.payment_reference) == (order.total_cents, 1)
    run(payments.reconcile_once)
    assert refunds_of(payment_service, order.payment_reference) == (order.total_cents, 1)
    assert len(emails("order_refunded")) == 1
    assert sample("ecommerce_refunds_pending") == 0


# --- throttling ---------------------------------------------------------------


def burst(who: str, warm: bool) -> list:
    """30 payment attempts at once, from one account (30 addresses) or one address (30 accounts): card
    testing either way. With `warm`, the limiter already served a request in this process."""
    if warm:
        assert throttling.payment_refusal("198.51.100.1", "warm-up") is None
    barrier = threading.Barrier(30)
    answers: list = []
    lock = threading.Lock()

    def attempt(n: int) -> None:
        address, account = (f"192.0.2.{n}", "42") if who == "account" else ("192.0.2.7", str(n))
        barrier.wait()
        refusal = throttling.payment_refusal(address, account)
        with lock:
            answers.append(refusal)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(30)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(answers) == 30
    return answers


@pytest.fixture
def five_per_minute(monkeypatch, request):
    who = request.param
    monkeypatch.setenv("PAYMENT_ATTEMPTS_PER_ACCOUNT", "5 per minute" if who == "account" else "1000 per minute")
    monkeypatch.setenv("PAYMENT_ATTEMPTS_PER_ADDRESS", "5 per minute" if who == "address" else "1000 per minute")
    reset_caches()
    return who


@pytest.mark.parametrize("five_per_minute", ["account", "address"], indirect=True)
def test_a_burst_of_parallel_attempts_gets_exactly_the_limit_through(five_per_minute):
    who = five_per_minute
    answers = burst(who, warm=True)
    assert sum(refusal is None for refusal in answers) == 5
    assert {refusal.reason for refusal in answers if refusal is not None} == {f"payment_{who}"}
    # And after the burst: still refused, saying why and for how long.
    refusal = throttling.payment_refusal("192.0.2.99" if who == "account" else "192.0.2.7",
                                         "42" if who == "account" else "99")  # fmt: skip
    assert refusal is not None and refusal.reason == f"payment_{who}"
    who_words = "for this account" if who == "account" else "from your network"
    assert refusal.message == f"Too many payment attempts {who_words}. Try again in 1 minute."


@pytest.mark.parametrize("five_per_minute", ["account"], indirect=True)
def test_the_first_burst_in_a_fresh_worker_gets_no_more_than_the_limit_either(five_per_minute):
    answers = burst(five_per_minute, warm=False)
    assert sum(refusal is None for refusal in answers) == 5


# --- idempotency from the shop's side ----------------------------------------------


def test_the_same_attempt_charged_twice_at_once_is_charged_once(payment_service, shop, session):
    user, _, product = shop
    order = checkout(session, user, product)
    attempt = start(order)

    async def twice() -> list[payments.Paid]:
        return list(await asyncio.gather(*(payments.charge(attempt, card(), actor_id=user.id) for _ in range(2))))

    results = run(twice)

    assert all(paid.charge.approved for paid in results)
    assert len({paid.charge.reference for paid in results}) == 1
    assert captured_intents(payment_service, attempt.key) == 1 and successful_charges(payment_service, order) == 1
    stored = order_now(order.id)
    assert (stored.status, stored.payment_status, stored.payment_reference) == (
        "paid", "captured", results[0].charge.reference
    )  # fmt: skip
    assert stock_now(product.id) == 8 and [email.kind for email in emails()] == ["order_placed"]


def test_an_order_paid_by_two_answers_of_one_attempt_is_counted_once(payment_service, shop, session):
    user, _, product = shop
    order = checkout(session, user, product)
    attempt = start(order)
    orders_before = sample("ecommerce_orders_total")

    async def twice() -> None:
        await asyncio.gather(*(payments.charge(attempt, card(), actor_id=user.id) for _ in range(2)))

    run(twice)
    assert order_now(order.id).status == "paid"
    assert sample("ecommerce_orders_total") == orders_before + 1
