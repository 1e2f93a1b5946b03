"""Dashboard figures against numbers worked out by hand."""

import csv
import io
from datetime import timedelta

import pytest
from sqlmodel import select

from ecom_reflex.models import Order, OrderItem, OrderStatus, User, utcnow
from ecom_reflex.services import analytics
from tests.factories import make_product, make_user

NOW = utcnow().replace(hour=12, minute=0, second=0, microsecond=0)


def add_order(session, user, lines, *, days_ago=0, status=OrderStatus.PAID):
    created = NOW - timedelta(days=days_ago)
    order = Order(
        user_id=user.id,
        status=status.value,
        total_cents=sum(product.price_cents * qty for product, qty in lines),
        shipping_name="N",
        shipping_line1="L",
        shipping_city="C",
        shipping_postal_code="1",
        shipping_country="X",
        created_at=created,
        updated_at=created,
    )
    session.add(order)
    session.flush()
    for product, qty in lines:
        session.add(
            OrderItem(
                order_id=order.id,
                product_id=product.id,
                product_name=product.name,
                unit_price_cents=product.price_cents,
                quantity=qty,
            )
        )
    session.commit()
    return order


@pytest.fixture
def shop(session):
    """Orders of three customers over 40 days; worked figures in the tests below."""
    alice, bob, carol = (make_user(session, name) for name in ("alice", "bob", "carol"))
    old = make_user(session, "old")
    old.created_at = NOW - timedelta(days=60)
    session.add(old)
    session.commit()
    lamp = make_product(session, "Lamp", price_cents=1000, stock=3)
    desk = make_product(session, "Desk", price_cents=25000, stock=20)
    pen = make_product(session, "Pen", price_cents=150, stock=100)
    add_order(session, alice, [(lamp, 2), (pen, 4)], days_ago=0)  # 2600
    add_order(session, bob, [(desk, 1)], days_ago=1, status=OrderStatus.PAID)  # 25000
    add_order(session, alice, [(pen, 10)], days_ago=3, status=OrderStatus.SHIPPED)  # 1500
    add_order(session, carol, [(desk, 2)], days_ago=2, status=OrderStatus.CANCELLED)  # 50000, never counted
    add_order(session, carol, [(lamp, 1)], days_ago=20, status=OrderStatus.DELIVERED)  # 1000
    add_order(session, old, [(desk, 1)], days_ago=40)  # 25000
    # Not sales: nobody paid (yet) for these, so no figure counts them.
    add_order(session, bob, [(desk, 3)], days_ago=0, status=OrderStatus.AWAITING_PAYMENT)
    add_order(session, carol, [(pen, 5)], days_ago=1, status=OrderStatus.EXPIRED)
    return session


def test_kpis_for_seven_days(shop):
    figures = analytics.kpis(shop, 7, now=NOW)
    assert figures.revenue_cents == 2600 + 25000 + 1500
    assert figures.order_count == 3
    assert figures.average_order_cents == round(29100 / 3)  # 9700
    assert figures.customers == 2  # alice, bob (carol's only order in the week was cancelled)
    assert figures.new_registrations == 3  # alice, bob, carol; "old" registered 60 days ago


def test_kpis_for_thirty_and_ninety_days(shop):
    thirty = analytics.kpis(shop, 30, now=NOW)
    assert (thirty.revenue_cents, thirty.order_count, thirty.customers) == (30100, 4, 3)
    ninety = analytics.kpis(shop, 90, now=NOW)
    assert (ninety.revenue_cents, ninety.order_count, ninety.customers, ninety.new_registrations) == (55100, 5, 4, 4)


def test_kpis_of_an_empty_shop_are_zero(session):
    assert analytics.kpis(session, 30) == analytics.Kpis(0, 0, 0, 0, 0)


def test_daily_series_has_every_day_and_skips_cancelled(shop):
    days = analytics.daily(shop, 7, now=NOW)
    assert len(days) == 8  # the start day through today
    by_day = {d.day: (d.revenue_cents, d.orders) for d in days}
    assert by_day[NOW.date().isoformat()] == (2600, 1)
    assert by_day[(NOW - timedelta(days=1)).date().isoformat()] == (25000, 1)
    assert by_day[(NOW - timedelta(days=2)).date().isoformat()] == (0, 0)  # only the cancelled one
    assert by_day[(NOW - timedelta(days=3)).date().isoformat()] == (1500, 1)
    assert sum(d.revenue_cents for d in days) == 29100


def test_top_products_by_revenue(shop):
    top = analytics.top_products(shop, 30, now=NOW)
    assert [(p.name, p.quantity, p.revenue_cents) for p in top] == [
        ("Desk", 1, 25000),
        ("Lamp", 3, 3000),
        ("Pen", 14, 2100),
    ]


def test_orders_by_status(shop):
    assert analytics.orders_by_status(shop, 30, now=NOW) == {
        "awaiting_payment": 1,
        "payment_failed": 0,
        "expired": 1,
        "paid": 2,
        "shipped": 1,
        "delivered": 1,
        "refund_pending": 0,
        "cancelled": 1,
    }


def test_low_stock(shop):
    assert [(p.name, p.stock) for p in analytics.low_stock(shop)] == [("Lamp", 3)]


def read_csv(text):
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_exports(shop):
    users = read_csv(analytics.users_csv(shop))
    assert [u["username"] for u in users] == ["alice", "bob", "carol", "old"]
    assert set(users[0]) == {"id", "username", "email", "admin", "active", "created_at"}
    hashes = [u.password_hash for u in shop.exec(select(User)).all()]
    assert not any(h in analytics.users_csv(shop) for h in hashes)

    orders = read_csv(analytics.orders_csv(shop))
    # Every order, whatever became of it (the unpaid ones too: the export is the orders, not the sales).
    assert len(orders) == 8
    assert [o["status"] for o in orders[6:]] == ["awaiting_payment", "expired"]
    assert orders[0]["order_number"] == "000001" and orders[0]["total"] == "26.00" and orders[0]["items"] == "6"
    assert orders[3]["status"] == "cancelled" and orders[3]["total_cents"] == "50000"

    products = read_csv(analytics.products_csv(shop))
    assert [(p["name"], p["price"], p["stock"]) for p in products] == [
        ("Lamp", "10.00", "3"),
        ("Desk", "250.00", "20"),
        ("Pen", "1.50", "100"),
    ]


@pytest.mark.parametrize("typed", ['=HYPERLINK("http://x","click")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_exported_cells_a_spreadsheet_would_run_are_text(session, typed):
    customer = make_user(session, "sheet")
    product = make_product(session, typed, price_cents=100, stock=5)
    order = add_order(session, customer, [(product, 1)])
    order.shipping_city = order.shipping_country = typed
    session.add(order)
    session.commit()
    exported = read_csv(analytics.orders_csv(session))[0]
    assert exported["city"] == exported["country"] == "'" + typed
    assert read_csv(analytics.products_csv(session))[0]["name"] == "'" + typed
    # Numbers stay numbers, and ordinary text stays as typed.
    assert exported["total"] == "1.00" and exported["customer"] == "sheet"


def test_each_kpi_is_compared_with_the_period_before(shop):
    this = analytics.kpis(shop, 7, now=NOW)
    before = analytics.kpis(shop, 7, now=NOW, periods_back=1)
    # The two periods do not overlap and together make the last 14 days.
    both = analytics.kpis(shop, 14, now=NOW)
    assert this.order_count + before.order_count == both.order_count
    assert this.revenue_cents + before.revenue_cents == both.revenue_cents
    changes = analytics.kpi_changes(this, before)
    assert set(changes) == set(analytics.Kpis.__dataclass_fields__)


@pytest.mark.parametrize(
    ("current", "previous", "text", "direction"),
    [(120, 100, "+20%", "up"), (50, 100, "-50%", "down"), (7, 7, "no change", "flat"), (3, 0, "new", "up"),
     (1001, 1000, "±0%", "up"), (0, 4, "-100%", "down")],
)  # fmt: skip
def test_a_change_is_said_in_words(current, previous, text, direction):
    assert analytics.change(current, previous) == analytics.Change(text, direction)
