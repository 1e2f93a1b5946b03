"""Checkout and order history.

Placing an order is one transaction (the caller opens it with
`session_scope(write=True)`): the account's earlier unpaid order is released, current
prices are re-read, stock is taken with a conditional UPDATE that cannot go below zero
(services/stock.py), the order ("awaiting payment", with a deadline) and its lines are written
and the cart is cleared. Any shortage raises OutOfStock and the caller's rollback leaves
everything as it was. Two submissions of one checkout attempt give one order, even when they
race (see place_order). The money is services/order_payments.py's and ecom_reflex/payments.py's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ecom_reflex import faults
from ecom_reflex.models import (
    CartItem,
    Order,
    OrderItem,
    OrderStatus,
    OrderStatusChange,
    PaymentStatus,
    Product,
    User,
    utcnow,
)
from ecom_reflex.money import format_cents
from ecom_reflex.observability.tracing import span
from ecom_reflex.services import addresses, cart, mail, order_payments, stock
from ecom_reflex.services.errors import ChangedSinceSeen, FieldErrors, NotFound, ServiceError
from ecom_reflex.services.listing import clamp_page, search_text, text_match
from ecom_reflex.services.numbers import parse_id
from ecom_reflex.services.stock import OutOfStock
from ecom_reflex.services.text import readable_text
from ecom_reflex.settings import get_settings

ORDERS_PER_PAGE = 10
ADMIN_ORDERS_PER_PAGE = 20

S = OrderStatus
# What an admin may do: from -> the statuses it may move to. Anything else is refused. The money's
# own moves (paid, payment failed, expired, refunded) are made by services/order_payments.py only:
# nobody marks an order paid by hand. Cancelling a paid order starts its refund (refund_pending).
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    S.AWAITING_PAYMENT: frozenset({S.CANCELLED}),
    S.PAYMENT_FAILED: frozenset({S.CANCELLED}),
    S.PAID: frozenset({S.SHIPPED, S.CANCELLED}),
    S.SHIPPED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.REFUND_PENDING: frozenset(),
    S.EXPIRED: frozenset(),
    S.CANCELLED: frozenset(),
}

# The moves the customer is told of by e-mail (services/mail.py), in the move's transaction. A
# cancelled paid order is told by its refund's e-mail; an unpaid one was never confirmed to them.
STATUS_EMAILS = {S.SHIPPED: "order_shipped"}

# Field: (label, required, max length), in the form's order (the error summary's too). Lengths match
# the Order columns. The region is required only where the country has a list (services/addresses.py).
SHIPPING_FIELDS: dict[str, tuple[str, bool, int]] = {
    "email": ("E-mail", True, 254),
    "phone": ("Phone", False, 32),
    "name": ("Full name", True, 120),
    "line1": ("Address", True, 200),
    "line2": ("Address line 2", False, 200),
    "country": ("Country", True, 60),
    "region": ("State, province or region", False, 100),
    "postal_code": ("Postal code", True, 20),
    "city": ("City", True, 100),
}


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    line1: str
    line2: str
    city: str
    postal_code: str
    # The country's ISO 3166 name.
    country: str
    email: str = ""
    phone: str = ""
    region: str = ""


class EmptyCart(ServiceError):
    def __init__(self) -> None:
        super().__init__("Your cart is empty.")


class CartChanged(ServiceError):
    def __init__(self) -> None:
        super().__init__(
            "Your cart changed since this page showed it: a price or a quantity is different now (see the "
            "summary). Nothing was charged. Check the new total and place the order again."
        )


__all__ = ["OutOfStock"]


def validate_shipping(form: dict[str, str]) -> ShippingAddress:
    values, errors = {}, {}
    for field, (label, required, max_length) in SHIPPING_FIELDS.items():
        # What the courier, the admin pages, the CSV export and the e-mails show: no invisible characters.
        value = " ".join(readable_text(str(form.get(field, ""))).split())
        if required and not value:
            errors[field] = f"{label} is required."
        elif len(value) > max_length:
            errors[field] = f"{label} must be at most {max_length} characters."
        values[field] = value
    code = addresses.country_code(values["country"])
    if code is None and "country" not in errors:
        errors["country"] = "Choose a country from the list."
    elif code is not None:
        values["country"] = addresses.country_name(code)
        if "region" not in errors:
            values["region"], problem = addresses.region_problem(code, values["region"])
            if problem:
                errors["region"] = problem
    if "postal_code" not in errors:
        values["postal_code"], problem = addresses.postcode_problem(code, values["postal_code"])
        if problem:
            errors["postal_code"] = problem
    if "email" not in errors:
        try:
            values["email"] = validate_email(values["email"], check_deliverability=False).normalized
        except EmailNotValidError:
            errors["email"] = "Enter a valid e-mail address, such as ada@example.com."
    if "phone" not in errors and (problem := addresses.phone_problem(values["phone"])):
        errors["phone"] = problem
    if errors:
        # In the form's order: the summary at the top lists them as the fields come.
        raise FieldErrors({field: errors[field] for field in SHIPPING_FIELDS if field in errors})
    return ShippingAddress(**values)


def order_number(order_id: int) -> str:
    return f"{order_id:06d}"


@dataclass(frozen=True)
class PlacedOrder:
    order: Order
    # False when the key had already placed this order (a replay): nothing new happened.
    created: bool
    items: int


def place_order(
    session: Session,
    user_id: int,
    address: ShippingAddress,
    idempotency_key: str,
    shown: str,
    hold: timedelta | None = None,
) -> PlacedOrder:
    """Turn the user's cart into an order awaiting payment at the prices and quantities the shopper was shown.

    `shown` is the fingerprint of the cart as the checkout page showed it (cart.fingerprint):
    when a price or a quantity changed since, nothing is placed (CartChanged). The same key
    always yields the same order. The stock is held for `hold` (PAYMENT_HOLD_MINUTES); the
    account's earlier unpaid order is released first (an account holds stock for one order).
    """
    if not idempotency_key or len(idempotency_key) > 64:
        raise ServiceError("This checkout form has expired; reload the page.")
    if faults.checkout_fails():
        raise faults.CheckoutFaultInjected("checkoutFailurePercent: this checkout fails on purpose")
    existing = session.exec(select(Order).where(Order.idempotency_key == idempotency_key)).first()
    if existing is not None:
        if existing.user_id != user_id:
            raise ServiceError("This checkout form has expired; reload the page.")
        return PlacedOrder(existing, created=False, items=0)
    with span("checkout.validate_cart"):
        rows = _cart_lines(session, user_id)
        if shown != cart.fingerprint((product.id, item.quantity, product.price_cents) for item, product in rows):
            raise CartChanged()
    hold = hold or timedelta(minutes=get_settings().payment_hold_minutes)
    try:
        # A savepoint: losing the race below undoes this attempt's own writes and nothing else.
        with session.begin_nested():
            order_payments.release_holds(session, user_id)
            with span("checkout.reserve_stock", lines=len(rows)):
                stock.take(session, [(product.id, item.quantity) for item, product in rows])
            with span("checkout.create_order"):
                # Its e-mail is queued when it is paid (order_payments.record_charge): an unpaid order mails nobody.
                order = _create_order(session, user_id, address, idempotency_key, rows, hold)
    except IntegrityError:
        # A concurrent submission of this very attempt committed its order first (PostgreSQL
        # lets both pass the check above; SQLite queues writers, so the check sees it there).
        existing = find_by_idempotency_key(session, user_id, idempotency_key)
        if existing is None:
            raise ServiceError("Your order could not be placed; please try again.") from None
        return PlacedOrder(existing, created=False, items=0)
    except (OutOfStock, order_payments.PaymentInFlight):
        # The same race lost earlier (PostgreSQL): the concurrent submission's order took the last
        # units, or is being paid. It is this attempt's order; without one, the refusal stands.
        existing = find_by_idempotency_key(session, user_id, idempotency_key)
        if existing is None:
            raise
        return PlacedOrder(existing, created=False, items=0)
    return PlacedOrder(order, created=True, items=sum(item.quantity for item, _ in rows))


def _cart_lines(session: Session, user_id: int) -> list[tuple[CartItem, Product]]:
    rows = session.exec(
        select(CartItem, Product)
        .join(Product, Product.id == CartItem.product_id)
        .where(CartItem.user_id == user_id)
        # Rows are locked in one order by every checkout, so two checkouts never deadlock (PostgreSQL).
        .order_by(CartItem.product_id)
    ).all()
    if not rows:
        raise EmptyCart()
    return list(rows)


def _create_order(
    session: Session,
    user_id: int,
    address: ShippingAddress,
    idempotency_key: str,
    rows: list[tuple[CartItem, Product]],
    hold: timedelta,
) -> Order:
    now = utcnow()
    order = Order(
        user_id=user_id,
        status=OrderStatus.AWAITING_PAYMENT.value,
        payment_due_at=now + hold,
        total_cents=sum(product.price_cents * item.quantity for item, product in rows),
        shipping_name=address.name,
        shipping_line1=address.line1,
        shipping_line2=address.line2,
        shipping_city=address.city,
        shipping_postal_code=address.postal_code,
        shipping_country=address.country,
        shipping_region=address.region,
        shipping_email=address.email,
        shipping_phone=address.phone,
        idempotency_key=idempotency_key,
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    session.flush()
    # One statement for every line, however many there are.
    session.execute(
        insert(OrderItem),
        [
            {
                "order_id": order.id,
                "product_id": product.id,
                "product_name": product.name,
                "unit_price_cents": product.price_cents,
                "quantity": item.quantity,
            }
            for item, product in rows
        ],
    )
    session.add(OrderStatusChange(order_id=order.id, to_status=order.status, changed_at=now, changed_by_id=user_id))
    cart.clear(session, user_id)
    session.flush()
    return order


def find_by_idempotency_key(session: Session, user_id: int, idempotency_key: str) -> Order | None:
    return session.exec(select(Order).where(Order.idempotency_key == idempotency_key, Order.user_id == user_id)).first()


@dataclass(frozen=True)
class OrderSummary:
    id: int
    number: str
    status: str
    total: str
    item_count: int
    created_at: str
    # The shopper may pay (again) now: /checkout?order=<id>.
    can_pay: bool = False


@dataclass(frozen=True)
class OrderPage:
    items: list[OrderSummary]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class OrderLine:
    product_id: int
    name: str
    unit_price: str
    quantity: int
    line_total: str


@dataclass(frozen=True)
class StatusStep:
    from_status: str
    to_status: str
    at: str
    by: str


@dataclass(frozen=True)
class OrderDetail:
    id: int
    number: str
    customer: str
    status: str
    total: str
    created_at: str
    shipping_lines: list[str]
    lines: list[OrderLine]
    history: list[StatusStep]
    # The money, as models.PaymentStatus says and as a receipt shows it.
    payment_status: str = PaymentStatus.NONE.value
    card: str = ""
    payment_reference: str = ""
    # ISO 8601 (UTC): until when an unpaid order holds its stock; "" once that no longer matters.
    payment_due_at: str = ""
    payment_error: str = ""
    can_pay: bool = False
    # A payment's outcome is not known yet: the page says so and looks again.
    confirming: bool = False


CARD_BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover"}


def card_label(order: Order) -> str:
    """'Visa •••• 4242, expires 12/34' (what a receipt shows), or '' before any card paid."""
    if not order.card_last4:
        return ""
    brand = CARD_BRANDS.get(order.card_brand, order.card_brand.title() or "Card")
    expiry = f", expires {order.card_exp_month:02d}/{order.card_exp_year % 100:02d}" if order.card_exp_month else ""
    return f"{brand} •••• {order.card_last4}{expiry}"


def can_pay(order: Order, now: datetime | None = None) -> bool:
    """Whether the shopper may pay (again) for this order now."""
    if order.status not in order_payments.PAYABLE or order.payment_status in order_payments.IN_FLIGHT:
        return False
    due = order.payment_due_at
    due = due.replace(tzinfo=UTC) if due is not None and due.tzinfo is None else due
    return due is None or due > (now or utcnow())


def _when(moment: datetime) -> str:
    """ISO 8601 in UTC: the page shows it in the reader's own time zone (components/layout.local_time)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def list_orders_for_user(session: Session, user_id: int, page: int = 1) -> OrderPage:
    total = session.exec(select(func.count(Order.id)).where(Order.user_id == user_id)).one()
    page, pages = clamp_page(total, page, ORDERS_PER_PAGE)
    item_counts = (
        select(OrderItem.order_id, func.sum(OrderItem.quantity).label("item_count"))
        .group_by(OrderItem.order_id)
        .subquery()
    )
    rows = session.exec(
        select(Order, item_counts.c.item_count)
        .join(item_counts, item_counts.c.order_id == Order.id)
        .where(Order.user_id == user_id)
        .order_by(Order.created_at.desc(), Order.id.desc())
        .offset((page - 1) * ORDERS_PER_PAGE)
        .limit(ORDERS_PER_PAGE)
    ).all()
    items = [
        OrderSummary(
            id=order.id,
            number=order_number(order.id),
            status=order.status,
            total=format_cents(order.total_cents),
            item_count=int(items or 0),
            created_at=_when(order.created_at),
            can_pay=can_pay(order),
        )
        for order, items in rows
    ]
    return OrderPage(items=items, total=total, page=page, pages=pages)


def order_detail(session: Session, order_id: int, *, user_id: int | None = None) -> OrderDetail:
    """One order with lines and history; with `user_id`, only if it is that user's order."""
    order = session.get(Order, order_id)
    if order is None or (user_id is not None and order.user_id != user_id):
        raise NotFound("We could not find that order.")
    customer = session.get(User, order.user_id)
    lines = session.exec(select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)).all()
    changes = session.exec(
        select(OrderStatusChange, User.username)
        .join(User, User.id == OrderStatusChange.changed_by_id, isouter=True)
        .where(OrderStatusChange.order_id == order.id)
        .order_by(OrderStatusChange.changed_at, OrderStatusChange.id)
    ).all()
    return OrderDetail(
        id=order.id,
        number=order_number(order.id),
        customer=customer.username if customer else "",
        status=order.status,
        total=format_cents(order.total_cents),
        created_at=_when(order.created_at),
        shipping_lines=addresses.order_address_lines(order, contact=True),
        lines=[
            OrderLine(
                product_id=line.product_id,
                name=line.product_name,
                unit_price=format_cents(line.unit_price_cents),
                quantity=line.quantity,
                line_total=format_cents(line.unit_price_cents * line.quantity),
            )
            for line in lines
        ],
        history=[
            StatusStep(
                from_status=change.from_status or "",
                to_status=change.to_status,
                at=_when(change.changed_at),
                by=_changed_by(change.changed_by_id, username, viewer_id=user_id),
            )
            for change, username in changes
        ],
        payment_status=order.payment_status,
        card=card_label(order),
        payment_reference=order.payment_reference,
        payment_due_at=_when(order.payment_due_at)
        if order.status in order_payments.PAYABLE and order.payment_due_at
        else "",
        payment_error=order.payment_error if order.status == OrderStatus.PAYMENT_FAILED else "",
        can_pay=can_pay(order),
        confirming=order.status == OrderStatus.AWAITING_PAYMENT and order.payment_status in order_payments.IN_FLIGHT,
    )


def _changed_by(changed_by_id: int | None, username: str | None, *, viewer_id: int | None) -> str:
    """Who made a status change, as the viewer may see it: a shopper sees "you" or "the shop", never
    a staff member's username; the admins (no viewer_id) see the username."""
    if viewer_id is None:
        return username or ""
    if changed_by_id is None:
        return ""
    return "you" if changed_by_id == viewer_id else "the shop"


def allowed_next_statuses(status: str) -> list[str]:
    """The statuses an order can move to next, in workflow order (a cancel last)."""
    allowed = TRANSITIONS.get(OrderStatus(status), frozenset())
    return [next_status.value for next_status in OrderStatus if next_status in allowed]


def change_status(
    session: Session, order_id: int, to_status: str, actor_id: int, seen_status: str | None = None
) -> Order:
    """Move an order along the workflow (an admin's move). Cancelling an unpaid order puts its held
    stock back in the same transaction; cancelling a paid one makes it refund_pending, and the stock
    comes back once the refund went through (ecom_reflex/payments.py calls the service).

    `seen_status` is the status the admin's page showed: when the order moved on since (another
    tab, another admin), nothing changes (ChangedSinceSeen). The move is one conditional UPDATE
    from the status read here, so two changes racing on PostgreSQL cannot both apply (nor a
    cancel restock twice).
    """
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound("We could not find that order.")
    try:
        target = OrderStatus(to_status)
    except ValueError:
        raise ServiceError(f"'{to_status}' is not an order status.") from None
    current = OrderStatus(order.status)
    if seen_status is not None and seen_status != current.value:
        raise _changed_since_seen(order)
    if target not in TRANSITIONS[current]:
        raise ServiceError(
            f"An order that is {_words(current)} cannot become {_words(target)}."
            + (" Orders become paid when their payment goes through." if target is OrderStatus.PAID else "")
        )
    if target is OrderStatus.CANCELLED:
        if current is OrderStatus.PAID:
            order_payments.begin_refund(session, order, actor_id)
        else:
            order_payments.cancel_unpaid(session, order, actor_id)
        session.flush()
        return order
    now = utcnow()
    moved = session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == current.value)
        .values(status=target.value, updated_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(order)
    if not moved:
        raise _changed_since_seen(order)
    session.add(
        OrderStatusChange(
            order_id=order.id, from_status=current.value, to_status=target.value, changed_at=now, changed_by_id=actor_id
        )
    )
    if target in STATUS_EMAILS:
        mail.queue_order_status(session, order, STATUS_EMAILS[target])
    session.flush()
    return order


def _words(status: OrderStatus) -> str:
    return status.value.replace("_", " ")


def _changed_since_seen(order: Order) -> ChangedSinceSeen:
    return ChangedSinceSeen(
        f"Order #{order_number(order.id)} changed since you opened it: it is {order.status} now. Nothing was changed."
    )


@dataclass(frozen=True)
class AdminOrderRow:
    id: int
    number: str
    customer: str
    status: str
    total: str
    item_count: int
    created_at: str
    payment_status: str = PaymentStatus.NONE.value
    card: str = ""
    payment_reference: str = ""


@dataclass(frozen=True)
class AdminOrderPage:
    items: list[AdminOrderRow]
    total: int
    page: int
    pages: int


def list_orders(session: Session, *, status: str = "", search: str = "", page: int = 1) -> AdminOrderPage:
    """All orders, newest first; `search` is an order number or part of a customer's name or e-mail."""
    conditions = []
    if status in {s.value for s in OrderStatus}:
        conditions.append(Order.status == status)
    search = search_text(search).lstrip("#")
    if search:
        by_customer = text_match(search, User.username, User.email)
        # An order number within bounds ("000042"); "²" or 23 digits are only text to look for.
        order_id = parse_id(search)
        conditions.append(or_(Order.id == order_id, by_customer) if order_id is not None else by_customer)
    base = select(Order, User.username).join(User, User.id == Order.user_id).where(*conditions)
    total = session.exec(select(func.count()).select_from(base.subquery())).one()
    page, pages = clamp_page(total, page, ADMIN_ORDERS_PER_PAGE)
    rows = session.exec(
        base.order_by(Order.created_at.desc(), Order.id.desc())
        .offset((page - 1) * ADMIN_ORDERS_PER_PAGE)
        .limit(ADMIN_ORDERS_PER_PAGE)
    ).all()
    counts = (
        dict(
            session.exec(
                select(OrderItem.order_id, func.sum(OrderItem.quantity))
                .where(OrderItem.order_id.in_([order.id for order, _ in rows]))
                .group_by(OrderItem.order_id)
            ).all()
        )
        if rows
        else {}
    )
    items = [
        AdminOrderRow(
            id=order.id,
            number=order_number(order.id),
            customer=username,
            status=order.status,
            total=format_cents(order.total_cents),
            item_count=int(counts.get(order.id, 0)),
            created_at=_when(order.created_at),
            payment_status=order.payment_status,
            card=card_label(order),
            payment_reference=order.payment_reference,
        )
        for order, username in rows
    ]
    return AdminOrderPage(items=items, total=total, page=page, pages=pages)
