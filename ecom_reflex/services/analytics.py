"""Business figures for the admin dashboard, each one SQL aggregate; and the CSV exports.

Revenue counts every order that is not cancelled. A period is the last N days
up to `now`, by order (or registration) time.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func
from sqlmodel import Session, select

from ecom_reflex.models import Category, Order, OrderItem, OrderStatus, Product, User, utcnow
from ecom_reflex.money import plain_amount
from ecom_reflex.services.catalog import LOW_STOCK_THRESHOLD

PERIODS = (7, 30, 90)
LOW_STOCK_SHOWN = 20  # the dashboard lists the 20 scarcest; the gauge counts them all
TOP_PRODUCTS = 10


@dataclass(frozen=True)
class Kpis:
    revenue_cents: int
    order_count: int
    average_order_cents: int
    customers: int
    new_registrations: int


@dataclass(frozen=True)
class DailyFigures:
    day: str  # ISO date
    revenue_cents: int
    orders: int


@dataclass(frozen=True)
class ProductRevenue:
    product_id: int
    name: str
    quantity: int
    revenue_cents: int


@dataclass(frozen=True)
class LowStockProduct:
    id: int
    name: str
    stock: int


def period_start(days: int, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(days=days)


# Orders that are sales: paid for and not given back (unpaid, expired, refunding and cancelled ones are not).
SOLD = (OrderStatus.PAID.value, OrderStatus.SHIPPED.value, OrderStatus.DELIVERED.value)


def _counted(since: datetime, until: datetime | None = None) -> list:
    conditions = [Order.created_at >= since, Order.status.in_(SOLD)]
    return conditions if until is None else [*conditions, Order.created_at < until]


def kpis(session: Session, days: int, now: datetime | None = None, *, periods_back: int = 0) -> Kpis:
    """The KPIs of the last `days` days, or (periods_back=1) of the `days` days before those."""
    end = period_start(days * periods_back, now) if periods_back else None
    since = period_start(days * (periods_back + 1), now)
    revenue, orders, customers = session.exec(
        select(
            func.coalesce(func.sum(Order.total_cents), 0),
            func.count(Order.id),
            func.count(func.distinct(Order.user_id)),
        ).where(*_counted(since, end))
    ).one()
    joined = [User.created_at >= since] + ([User.created_at < end] if end is not None else [])
    registrations = session.exec(select(func.count(User.id)).where(*joined)).one()
    return Kpis(
        revenue_cents=int(revenue),
        order_count=int(orders),
        average_order_cents=round(revenue / orders) if orders else 0,
        customers=int(customers),
        new_registrations=int(registrations),
    )


@dataclass(frozen=True)
class Change:
    """A KPI against the period before: its words ("+12%", "new", "no change") and direction."""

    text: str
    direction: str  # "up", "down" or "flat"


def change(current: int, previous: int) -> Change:
    if current == previous:
        return Change("no change", "flat")
    if previous == 0:
        return Change("new", "up")
    percent = round((current - previous) * 100 / previous)
    if percent == 0:
        return Change("±0%", "up" if current > previous else "down")
    return Change(f"{percent:+d}%", "up" if percent > 0 else "down")


def kpi_changes(current: Kpis, previous: Kpis) -> dict[str, Change]:
    """Each KPI's change against the previous period of the same length."""
    return {name: change(getattr(current, name), getattr(previous, name)) for name in Kpis.__dataclass_fields__}


def daily(session: Session, days: int, now: datetime | None = None) -> list[DailyFigures]:
    """One row per calendar day (UTC) of the period, days without orders included."""
    now = now or utcnow()
    since = period_start(days, now)
    day = func.date(Order.created_at)
    rows = session.exec(
        select(day, func.sum(Order.total_cents), func.count(Order.id)).where(*_counted(since)).group_by(day)
    ).all()
    by_day = {str(key): (int(revenue), int(count)) for key, revenue, count in rows}
    first: date = since.date()
    result = []
    for offset in range((now.date() - first).days + 1):
        key = (first + timedelta(days=offset)).isoformat()
        revenue, count = by_day.get(key, (0, 0))
        result.append(DailyFigures(day=key, revenue_cents=revenue, orders=count))
    return result


def top_products(session: Session, days: int, now: datetime | None = None) -> list[ProductRevenue]:
    revenue = func.sum(OrderItem.unit_price_cents * OrderItem.quantity)
    rows = session.exec(
        select(OrderItem.product_id, func.max(OrderItem.product_name), func.sum(OrderItem.quantity), revenue)
        .join(Order, Order.id == OrderItem.order_id)
        .where(*_counted(period_start(days, now)))
        .group_by(OrderItem.product_id)
        .order_by(revenue.desc(), OrderItem.product_id)
        .limit(TOP_PRODUCTS)
    ).all()
    return [
        ProductRevenue(product_id=pid, name=name, quantity=int(qty), revenue_cents=int(rev))
        for pid, name, qty, rev in rows
    ]


def orders_by_status(session: Session, days: int, now: datetime | None = None) -> dict[str, int]:
    """Every status, with 0 where there are none; cancelled orders included here."""
    rows = session.exec(
        select(Order.status, func.count(Order.id))
        .where(Order.created_at >= period_start(days, now))
        .group_by(Order.status)
    ).all()
    counts = dict(rows)
    return {status.value: int(counts.get(status.value, 0)) for status in OrderStatus}


def low_stock_count(session: Session) -> int:
    return session.exec(
        select(func.count(Product.id)).where(Product.is_active, Product.stock < LOW_STOCK_THRESHOLD)
    ).one()


def low_stock(session: Session, limit: int = LOW_STOCK_SHOWN) -> list[LowStockProduct]:
    rows = session.exec(
        select(Product.id, Product.name, Product.stock)
        .where(Product.is_active, Product.stock < LOW_STOCK_THRESHOLD)
        .order_by(Product.stock, Product.name)
        .limit(limit)
    ).all()
    return [LowStockProduct(id=pid, name=name, stock=stock) for pid, name, stock in rows]


# A spreadsheet evaluates a cell that starts with one of these (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> object:
    """Text a spreadsheet would run as a formula, as text it shows: a leading apostrophe
    (OWASP's advice). Our own numbers are not text and stay numbers."""
    if isinstance(cell, str) and cell.startswith(FORMULA_TRIGGERS):
        return "'" + cell
    return cell


def _csv(header: list[str], rows) -> str:
    """Every text cell goes through spreadsheet_safe: names, addresses and e-mails are typed by shoppers."""
    buffer = io.StringIO()
    # RFC 4180 line ends: a cell holding a bare CR or LF is quoted, never read as a new row.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([spreadsheet_safe(cell) for cell in row] for row in rows)
    return buffer.getvalue()


def products_csv(session: Session) -> str:
    rows = session.exec(
        select(Product, Category.name).join(Category, Category.id == Product.category_id).order_by(Product.id)
    ).all()
    return _csv(
        ["id", "name", "category", "price", "price_cents", "stock", "active", "created_at"],
        (
            [
                p.id,
                p.name,
                category,
                plain_amount(p.price_cents),
                p.price_cents,
                p.stock,
                p.is_active,
                p.created_at.isoformat(),
            ]
            for p, category in rows
        ),
    )


def orders_csv(session: Session) -> str:
    items = func.coalesce(func.sum(OrderItem.quantity), 0)
    rows = session.exec(
        select(Order, User.username, User.email, items)
        .join(User, User.id == Order.user_id)
        .join(OrderItem, OrderItem.order_id == Order.id, isouter=True)
        .group_by(Order.id, User.username, User.email)
        .order_by(Order.id)
    ).all()
    return _csv(
        [
            "order_number",
            "customer",
            "email",
            "status",
            "items",
            "total",
            "total_cents",
            "city",
            "country",
            "created_at",
        ],
        (
            [
                f"{o.id:06d}",
                username,
                email,
                o.status,
                int(n),
                plain_amount(o.total_cents),
                o.total_cents,
                o.shipping_city,
                o.shipping_country,
                o.created_at.isoformat(),
            ]
            for o, username, email, n in rows
        ),
    )


def users_csv(session: Session) -> str:
    """Accounts without any secret: no password hash, no sessions."""
    users = session.exec(select(User).order_by(User.id)).all()
    return _csv(
        ["id", "username", "email", "admin", "active", "created_at"],
        ([u.id, u.username, u.email, u.is_admin, u.is_active, u.created_at.isoformat()] for u in users),
    )
