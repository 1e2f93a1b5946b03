"""No N+1: the SQL a listing or a checkout runs does not grow with the page size or the catalogue."""

from __future__ import annotations

from contextlib import contextmanager

import pytest
from sqlalchemy import event

from ecom_reflex.db import get_engine, session_scope
from ecom_reflex.services import cart, catalog, orders, products, users
from ecom_reflex.services.cart import UserCart
from ecom_reflex.services.orders import ShippingAddress
from tests.factories import make_product, make_user, shown_cart


@contextmanager
def counted():
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args):
        if not statement.lstrip().upper().startswith(("BEGIN", "SAVEPOINT", "RELEASE", "PRAGMA")):
            statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def big_catalogue(session):
    for n in range(60):
        make_product(session, f"Product {n:02d}", price_cents=100 + n, stock=50)
    return session


@pytest.mark.parametrize("per_page", [5, 12, 48])
def test_a_listing_page_is_two_queries_whatever_its_size(big_catalogue, per_page):
    with counted() as statements, session_scope() as session:
        page = catalog.list_storefront_products(session, query="Product", sort="price_asc", per_page=per_page)
    assert len(page.items) == per_page
    assert len(statements) == 2, statements  # the count, then the page with its categories joined


def test_the_category_bar_is_one_query_and_then_cached(big_catalogue):
    with counted() as statements, session_scope() as session:
        catalog.list_categories(session)
    assert len(statements) == 1
    with counted() as statements, session_scope() as session:
        catalog.list_categories(session)
    assert statements == []


@pytest.mark.parametrize("lines", [1, 3, 8])
def test_a_checkout_runs_a_bounded_number_of_queries(session, lines):
    user = make_user(session)
    for n in range(lines):
        cart.add_item(session, UserCart(user.id), make_product(session, f"Line {n}", stock=10).id, 1)
    session.commit()
    address = ShippingAddress("A B", "1 Road", "", "Town", "1000", "Land", email="a.b@example.com")
    shown = shown_cart(user.id)
    with counted() as statements, session_scope(write=True) as scoped:
        orders.place_order(scoped, user.id, address, f"key-{lines}", shown)
    # Fixed: idempotency check, cart read, the account's earlier unpaid orders (none here), order
    # insert, items insert (batched), history, cart clear; no e-mail: that waits for the payment.
    # Per line: one conditional stock UPDATE (which is what makes overselling impossible).
    assert len(statements) == 7 + lines, "\n".join(s[:80] for s in statements)


def test_admin_lists_are_two_queries(session):
    for n in range(30):
        make_user(session, f"user{n}")
    with counted() as statements, session_scope() as scoped:
        users.list_users(scoped, page=2)
        products.list_admin_products(scoped, page=1)
    assert len(statements) == 4


def test_order_history_is_two_queries(session):
    user = make_user(session)
    product = make_product(session, stock=100)
    for n in range(12):
        cart.add_item(session, UserCart(user.id), product.id, 1)
        session.commit()
        shown = shown_cart(user.id)
        with session_scope(write=True) as scoped:
            orders.place_order(scoped, user.id, ShippingAddress("A", "B", "", "C", "1", "D"), f"h-{n}", shown)
    with counted() as statements, session_scope() as scoped:
        page = orders.list_orders_for_user(scoped, user.id)
    assert len(page.items) == 10 and len(statements) == 2
