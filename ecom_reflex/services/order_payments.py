"""An order's money, over a Session: payment attempts and what became of them, expiry, refunds.

Each function is one short write transaction's worth of rules. The calls to the payment service
happen between them (ecom_reflex/payments.py), never inside a transaction:

    start_attempt  -> call the service with the attempt's key -> record_charge
    begin_refund (orders.change_status) -> call the service -> record_refund
    unresolved -> ask the service by the attempt's key -> record_charge (the reconciler)
    expire_overdue (the reconciler)

Every move is a conditional UPDATE from the state that was read (the attempt's number
included), so two workers, two tabs or a late answer never apply a move twice, and an order
is never marked paid without a captured payment: a capture that finds its order gone on
(which the rules below should never allow) becomes a refund instead of a lost payment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, update
from sqlmodel import Session, select

from ecom_reflex.models import Order, OrderItem, OrderStatus, OrderStatusChange, PaymentStatus, utcnow
from ecom_reflex.services import mail, stock
from ecom_reflex.services.errors import NotFound, ServiceError
from ecom_reflex.services.payment_client import Charge, ChargeOutcome

S, P = OrderStatus, PaymentStatus
# An attempt's charge can happen at the service only within this window after it starts (the
# service refuses an intent past its expires_at), so after it "not found" means "never charged".
ATTEMPT_WINDOW = timedelta(minutes=2)
# A call still marked processing this long after it started belongs to a worker that died.
PROCESSING_LEASE = ATTEMPT_WINDOW + timedelta(seconds=30)
# Order statuses in which the order still waits for money (and may be paid).
PAYABLE = (S.AWAITING_PAYMENT.value, S.PAYMENT_FAILED.value)
IN_FLIGHT = (P.PROCESSING.value, P.UNKNOWN.value)


class PaymentInFlight(ServiceError):
    def __init__(self, number: str):
        super().__init__(
            f"A payment for order #{number} is being confirmed. You will not be charged twice; this page shows "
            "the outcome as soon as the bank answers."
        )


@dataclass(frozen=True)
class Attempt:
    """One try at paying an order, as the service is asked for it."""

    order_id: int
    number: int
    # The idempotency key: every retry of this attempt, and every question about it, uses it.
    key: str
    amount_cents: int
    # The order's number, as the service's reference.
    reference: str
    # Past this, the service charges nothing for it (so "not found" then means "never charged").
    expires_at: datetime


def _number(order_id: int) -> str:
    return f"{order_id:06d}"


def payment_key(order: Order, attempt: int) -> str:
    """Unique across databases that share one payment service (the checkout key is random)."""
    base = order.idempotency_key or f"legacy{order.id}x{int(order.created_at.timestamp())}"
    return f"{base}-{attempt}"


def refund_key(order: Order) -> str:
    return payment_key(order, 0).removesuffix("-0") + "-refund"


def _aware(moment: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes for timezone columns; they were written in UTC.
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def _attempt(order: Order) -> Attempt:
    started = _aware(order.payment_started_at) or utcnow()
    return Attempt(
        order_id=order.id,
        number=order.payment_attempts,
        key=payment_key(order, order.payment_attempts),
        amount_cents=order.total_cents,
        reference=_number(order.id),
        expires_at=started + ATTEMPT_WINDOW,
    )


def _move(session: Session, order: Order, expected: dict, **values) -> bool:
    """A conditional UPDATE of one order: applied only while it is still as `expected` says."""
    conditions = [getattr(Order, name) == value for name, value in expected.items()]
    moved = session.execute(
        update(Order).where(Order.id == order.id, *conditions).values(updated_at=utcnow(), **values),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(order)
    return bool(moved)


def _history(session: Session, order: Order, from_status: str, to_status: str, actor_id: int | None) -> None:
    if from_status != to_status:
        session.add(
            OrderStatusChange(
                order_id=order.id, from_status=from_status, to_status=to_status, changed_at=utcnow(),
                changed_by_id=actor_id,
            )
        )  # fmt: skip


def start_attempt(session: Session, order_id: int, user_id: int, hold: timedelta) -> Attempt:
    """The order's next payment attempt, marked processing; a payment_failed order holds its stock again.

    Refused (ServiceError) when the order is not the user's, is not waiting for money, has a
    payment being confirmed, or its stock is gone (OutOfStock: nothing changes).
    """
    order = session.get(Order, order_id)
    if order is None or order.user_id != user_id:
        raise NotFound("We could not find that order.")
    if order.payment_status in IN_FLIGHT:
        raise PaymentInFlight(_number(order.id))
    now = utcnow()
    due = _aware(order.payment_due_at)
    if order.status not in PAYABLE or (order.status == S.PAYMENT_FAILED and due is not None and due <= now):
        raise ServiceError(_not_payable(order, now))
    values = {
        "payment_status": P.PROCESSING.value,
        "payment_attempts": order.payment_attempts + 1,
        "payment_started_at": now,
        "payment_error": "",
    }
    if order.status == S.PAYMENT_FAILED:
        # Its stock went back with the decline: held again, for a new hold period.
        stock.take(session, stock.order_lines(session, order.id))
        values |= {"status": S.AWAITING_PAYMENT.value, "payment_due_at": now + hold}
    previous = order.status
    expected = {"status": order.status, "payment_status": order.payment_status,
                "payment_attempts": order.payment_attempts}  # fmt: skip
    if not _move(session, order, expected, **values):
        raise ServiceError(f"Order #{_number(order.id)} changed since you opened it: reload the page.")
    _history(session, order, previous, order.status, user_id)
    return _attempt(order)


def _not_payable(order: Order, now: datetime) -> str:
    number = _number(order.id)
    if order.status in (S.EXPIRED, S.PAYMENT_FAILED):
        return f"Order #{number} expired: nobody paid for it in time, so its items went back on sale. Order again."
    if order.status == S.CANCELLED:
        return f"Order #{number} was cancelled."
    return f"Order #{number} is paid already."


@dataclass(frozen=True)
class Recorded:
    """The order after an answer was recorded; `paid` only for the one answer that made it paid,
    so an order answered twice (the call and the reconciler, a retried request) is counted once."""

    order: Order
    paid: bool = False


def record_charge(session: Session, order_id: int, attempt: int, charge: Charge, *, actor_id: int | None) -> Recorded:
    """What became of attempt `attempt`: approved -> paid (and its e-mail), declined -> payment_failed
    with the stock back, unknown -> left for the reconciler. A stale answer (another attempt since)
    changes nothing."""
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("We could not find that order.")
    expected = {"payment_attempts": attempt}
    if charge.outcome is ChargeOutcome.UNKNOWN:
        _move(session, order, {**expected, "payment_status": P.PROCESSING.value}, payment_status=P.UNKNOWN.value)
        return Recorded(order)
    in_flight = or_(Order.payment_status == P.PROCESSING.value, Order.payment_status == P.UNKNOWN.value)
    moved = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.payment_attempts == attempt, in_flight)
        .values(payment_status=P.CAPTURED.value if charge.approved else P.DECLINED.value, updated_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(order)
    if not moved:
        return Recorded(order)
    previous = order.status
    if charge.approved:
        card = charge.card
        values = {"payment_reference": charge.reference, "payment_error": ""}
        if card is not None:
            values |= {"card_brand": card.brand, "card_last4": card.last4, "card_exp_month": card.exp_month,
                       "card_exp_year": card.exp_year}  # fmt: skip
        # The rules keep a payment in flight from expiring or being cancelled; were it to happen,
        # the captured money goes back (refund_pending) rather than staying without its order.
        target = S.PAID if previous == S.AWAITING_PAYMENT else S.REFUND_PENDING
        if not _move(session, order, {"status": previous}, status=target.value, **values):
            return Recorded(order)
        _history(session, order, previous, target.value, actor_id)
        if target is not S.PAID:
            return Recorded(order)
        mail.queue_order_placed(session, order, _mail_lines(session, order.id))
        return Recorded(order, paid=True)
    _move(session, order, {"status": S.AWAITING_PAYMENT.value}, status=S.PAYMENT_FAILED.value,
          payment_error=charge.message[:200])  # fmt: skip
    if order.status == S.PAYMENT_FAILED and previous == S.AWAITING_PAYMENT:
        stock.give_back(session, order.id)
        _history(session, order, previous, order.status, actor_id)
    return Recorded(order)


def _mail_lines(session: Session, order_id: int) -> list[tuple[str, int, int]]:
    return [
        (line.product_name, line.unit_price_cents, line.quantity)
        for line in session.exec(select(OrderItem).where(OrderItem.order_id == order_id).order_by(OrderItem.id))
    ]


def release_holds(session: Session, user_id: int) -> None:
    """Before a new checkout: the account's earlier unpaid orders end (at most one order waits for money).

    Refused (PaymentInFlight) while one of them has a payment being confirmed: it may yet be paid.
    """
    waiting = session.exec(select(Order).where(Order.user_id == user_id, Order.status.in_(PAYABLE))).all()
    for order in waiting:
        if order.payment_status in IN_FLIGHT:
            raise PaymentInFlight(_number(order.id))
    for order in waiting:
        _end_unpaid(session, order, S.EXPIRED, actor_id=user_id)


def _end_unpaid(session: Session, order: Order, target: OrderStatus, *, actor_id: int | None) -> bool:
    """An unpaid order ends (expired, cancelled): its held stock back, if it still held any."""
    previous = order.status
    expected = {"status": previous, "payment_status": order.payment_status,
                "payment_attempts": order.payment_attempts}  # fmt: skip
    if not _move(session, order, expected, status=target.value):
        return False
    if previous == S.AWAITING_PAYMENT:
        stock.give_back(session, order.id)
    _history(session, order, previous, target.value, actor_id)
    return True


def cancel_unpaid(session: Session, order: Order, actor_id: int) -> None:
    """An admin's cancel of an order nobody has paid: refused while a payment is being confirmed."""
    if order.payment_status in IN_FLIGHT:
        raise PaymentInFlight(_number(order.id))
    if not _end_unpaid(session, order, S.CANCELLED, actor_id=actor_id):
        raise ServiceError(f"Order #{_number(order.id)} changed since you opened it: it is {order.status} now.")


def _overdue(now: datetime):
    return select(Order).where(
        Order.status.in_(PAYABLE), Order.payment_due_at <= now, Order.payment_status.not_in(IN_FLIGHT)
    )


def has_overdue(session: Session, now: datetime | None = None) -> bool:
    """Whether expire_overdue has anything to do (a read: an idle reconciler never takes the write lock)."""
    return session.exec(_overdue(now or utcnow()).limit(1)).first() is not None


def expire_overdue(session: Session, now: datetime | None = None) -> list[int]:
    """Unpaid orders past their deadline, with no payment in flight: expired, their stock back."""
    overdue = session.exec(_overdue(now or utcnow())).all()
    return [order.id for order in overdue if _end_unpaid(session, order, S.EXPIRED, actor_id=None)]


def unresolved(session: Session, now: datetime | None = None) -> list[Attempt]:
    """Attempts whose outcome the shop does not know: unknown, or processing past the lease (a dead worker)."""
    now = now or utcnow()
    rows = session.exec(
        select(Order).where(
            or_(
                Order.payment_status == P.UNKNOWN.value,
                (Order.payment_status == P.PROCESSING.value) & (Order.payment_started_at <= now - PROCESSING_LEASE),
            )
        )
    ).all()
    return [_attempt(order) for order in rows]


@dataclass(frozen=True)
class Refund:
    order_id: int
    key: str
    reference: str
    amount_cents: int


def begin_refund(session: Session, order: Order, actor_id: int) -> None:
    """paid -> refund_pending: the stock stays out until the money is back (record_refund)."""
    if not _move(session, order, {"status": S.PAID.value}, status=S.REFUND_PENDING.value):
        raise ServiceError(f"Order #{_number(order.id)} changed since you opened it: it is {order.status} now.")
    _history(session, order, S.PAID.value, S.REFUND_PENDING.value, actor_id)


def pending_refunds(session: Session, order_id: int | None = None) -> list[Refund]:
    query = select(Order).where(Order.status == S.REFUND_PENDING.value)
    if order_id is not None:
        query = query.where(Order.id == order_id)
    return [
        Refund(order_id=order.id, key=refund_key(order), reference=order.payment_reference,
               amount_cents=order.total_cents)
        for order in session.exec(query.order_by(Order.id)).all()
    ]  # fmt: skip


def record_refund(session: Session, order_id: int, *, actor_id: int | None = None) -> bool:
    """The service refunded it: cancelled, the stock back, the refund e-mail queued. False if already done."""
    order = session.get(Order, order_id)
    if order is None:
        return False
    if not _move(session, order, {"status": S.REFUND_PENDING.value}, status=S.CANCELLED.value,
                 payment_status=P.REFUNDED.value):  # fmt: skip
        return False
    stock.give_back(session, order.id)
    _history(session, order, S.REFUND_PENDING.value, S.CANCELLED.value, actor_id)
    mail.queue_order_refunded(session, order)
    return True


@dataclass(frozen=True)
class MoneyCounts:
    awaiting_payment: int
    refunds_pending: int


def counts(session: Session) -> MoneyCounts:
    """For the gauges: orders holding stock for a payment, refunds not yet through."""
    rows = dict(
        session.exec(
            select(Order.status, func.count(Order.id))
            .where(Order.status.in_((S.AWAITING_PAYMENT.value, S.REFUND_PENDING.value)))
            .group_by(Order.status)
        ).all()
    )
    return MoneyCounts(rows.get(S.AWAITING_PAYMENT.value, 0), rows.get(S.REFUND_PENDING.value, 0))
