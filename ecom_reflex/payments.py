"""The money flow's steps that call the payment service, and each worker's reconciler.

Money moves only through the service, never inside a database transaction: a step writes what
it is about to do (services/order_payments.py, one short transaction), calls the service
(services/payment_client.py, on the event loop) and writes the outcome (another transaction).

The reconciler runs in every worker rather than in one elected leader, like the e-mail sender:
every move it makes is a conditional UPDATE and every call it makes carries the attempt's
idempotency key, so two workers doing the same round change nothing twice. Each round:
1. unpaid orders past their deadline, with no payment in flight, expire (stock back);
2. attempts whose outcome is unknown are looked up by their key until the service says;
3. refunds that did not go through are tried again (same key: never refunded twice);
4. the gauges (orders awaiting payment, refunds pending, the breaker) are brought up to date.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

from ecom_reflex.db import transaction
from ecom_reflex.observability import business, metrics
from ecom_reflex.observability.tracing import span
from ecom_reflex.offload import run_db
from ecom_reflex.services import order_payments, stock
from ecom_reflex.services.order_payments import Attempt
from ecom_reflex.services.payment_client import Card, Charge, ChargeOutcome, PaymentClient, service_health
from ecom_reflex.settings import Settings, get_settings

logger = logging.getLogger("ecom_reflex.payments")

_client: PaymentClient | None = None


def client() -> PaymentClient:
    """This worker's client (made by `running`; made on first use where no lifespan runs, e.g. a script)."""
    global _client
    if _client is None:
        _client = client_for(get_settings())
    return _client


def client_for(settings: Settings) -> PaymentClient:
    return PaymentClient(
        settings.payment_service_url,
        settings.payment_api_key or "",
        currency=settings.payment_currency,
        timeout_s=settings.payment_timeout_seconds,
        retries=settings.payment_retries,
        breaker_failures=settings.payment_breaker_failures,
        breaker_reset_s=settings.payment_breaker_reset_seconds,
    )


def hold(settings: Settings | None = None) -> timedelta:
    return timedelta(minutes=(settings or get_settings()).payment_hold_minutes)


@dataclass(frozen=True)
class Paid:
    """What a payment step tells the page: the charge's outcome and the order as it is now."""

    charge: Charge
    order_id: int
    status: str


async def charge(attempt: Attempt, card: Card, *, actor_id: int | None) -> Paid:
    """Attempt `attempt` (already marked processing) with `card`, and its outcome recorded."""
    with span("payment.pay", **{"order.id": attempt.order_id, "payment.attempt": attempt.number,
                                "payment.amount_cents": attempt.amount_cents}) as current:  # fmt: skip
        result = await client().charge(attempt.key, attempt.amount_cents, attempt.reference, attempt.expires_at, card)
        current.set_attribute("payment.outcome", result.outcome.value)
        if result.decline_code:
            current.set_attribute("payment.decline_code", result.decline_code)

    def record(session):
        recorded = order_payments.record_charge(session, attempt.order_id, attempt.number, result, actor_id=actor_id)
        return recorded.order.status, recorded.order.total_cents, recorded.paid

    status, total_cents, paid_now = await run_db(lambda: transaction(record, write=True))
    card_summary = result.card
    business.payment_attempt(
        attempt.order_id, attempt.number, result.outcome.value, decline_code=result.decline_code,
        brand=card_summary.brand if card_summary else "", last4=card_summary.last4 if card_summary else "",
        error=result.error,
    )  # fmt: skip
    if paid_now:
        await _order_paid(attempt.order_id, total_cents)
    return Paid(result, attempt.order_id, status)


async def _order_paid(order_id: int, total_cents: int) -> None:
    """An order's payment went through: counted and logged as a placed order (ecommerce_orders_total)."""
    units = await run_db(lambda: transaction(lambda s: sum(q for _, q in stock.order_lines(s, order_id))))
    business.order_placed(order_id, total_cents, units)


async def pay(order_id: int, user_id: int, card: Card) -> Paid:
    """Pay (again) for an order of the user's that waits for money: its next attempt, then the charge."""
    attempt = await run_db(
        lambda: transaction(lambda s: order_payments.start_attempt(s, order_id, user_id, hold()), write=True)
    )
    return await charge(attempt, card, actor_id=user_id)


async def refund(order_id: int | None = None) -> int:
    """Refund the order (or every order) whose refund is pending; how many went through."""
    pending = await run_db(lambda: transaction(lambda s: order_payments.pending_refunds(s, order_id)))
    done = 0
    for item in pending:
        with span("payment.refund", **{"order.id": item.order_id, "payment.amount_cents": item.amount_cents}):
            result = await client().refund(item.key, item.reference, item.amount_cents)
        if not result.ok:
            business.refund_attempt(item.order_id, False, result.message)
            continue
        # Two rounds may refund one order at once (the service answers both the same): the one whose
        # record moved the order counts it.
        if await run_db(
            lambda item=item: transaction(lambda s: order_payments.record_refund(s, item.order_id), write=True)
        ):
            business.refund_attempt(item.order_id, True)
            done += 1
    return done


async def _reconcile(attempt: Attempt) -> None:
    """Ask the service what became of `attempt`; record it once it is known."""
    result = await client().lookup(attempt.key, attempt.expires_at)
    if result.outcome is ChargeOutcome.UNKNOWN:
        return

    def record(session):
        return order_payments.record_charge(session, attempt.order_id, attempt.number, result, actor_id=None)

    recorded = await run_db(lambda: transaction(record, write=True))
    business.payment_resolved(attempt.order_id, attempt.number, result.outcome.value)
    if recorded.paid:
        await _order_paid(attempt.order_id, recorded.order.total_cents)


async def reconcile_once() -> None:
    """One round of the reconciler (see the module docstring)."""
    # A read first: an idle reconciler never takes SQLite's write lock.
    if await run_db(lambda: transaction(order_payments.has_overdue)):
        expired = await run_db(lambda: transaction(order_payments.expire_overdue, write=True))
        business.holds_expired(expired)
    for attempt in await run_db(lambda: transaction(order_payments.unresolved)):
        with span("payment.reconcile", **{"order.id": attempt.order_id, "payment.attempt": attempt.number}):
            await _reconcile(attempt)
    await refund()
    counts = await run_db(lambda: transaction(order_payments.counts))
    metrics.set_payment_backlog(counts.awaiting_payment, counts.refunds_pending, client().breaker_open)


async def reconcile_forever(settings: Settings) -> None:
    while True:
        try:
            await reconcile_once()
        except Exception:  # the reconciler must outlive a database or service hiccup
            logger.warning("the payment reconciler failed a round; trying again", exc_info=True)
        await asyncio.sleep(settings.payment_reconcile_seconds)


async def check() -> str | None:
    """/health: None when the payment service answers, else what is wrong."""
    return await service_health(get_settings().payment_service_url)


def forget() -> None:
    """Drop this process's client (tests: the next call builds one from the settings, on its own event loop)."""
    global _client
    _client = None


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[None]:
    """This worker's client and reconciler for the duration of the block (a worker's lifespan)."""
    global _client
    _client = client_for(settings)
    task = asyncio.create_task(reconcile_forever(settings), name="payment-reconciler")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await _client.aclose()
        _client = None


def new_api_key() -> str:
    """A key for a payment service that `cli serve` starts for this run only."""
    return secrets.token_urlsafe(32)
