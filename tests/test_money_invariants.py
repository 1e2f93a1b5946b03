"""Money and stock are never wrong, whatever shoppers and admins do in whatever order.

A Hypothesis state machine drives the services as the pages do, on SQLite and on
PostgreSQL: shoppers add, change and remove cart lines, open the checkout and place orders
(double submits and two checkouts racing in threads included); admins open a product's
form and save it later (with sales in between), hide and show products, and move or cancel
orders, sometimes from a page that shows an older status. After every step:

- no stock is negative;
- for every product: initial stock + the admins' changes - sold + put back by cancels = stock;
- every order's total is the sum of its lines, and both are what its checkout page showed;
- the dashboard's revenue is the sum of the orders that are not cancelled.

Each step's expected outcome is worked out from the machine's own model first, so a save
that should have been refused, or an order that should have been placed, fails the test too.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlmodel import func, select

from ecom_reflex.db import session_scope, transaction
from ecom_reflex.models import Category, Order, OrderItem, OrderStatus, Product, User
from ecom_reflex.services import analytics, cart, orders, products
from ecom_reflex.services.cart import UserCart
from ecom_reflex.services.errors import ChangedSinceSeen, FieldErrors, ServiceError
from ecom_reflex.services.orders import CartChanged, EmptyCart, OutOfStock, ShippingAddress
from ecom_reflex.settings import ASSETS_DIR
from tests.factories import _FAST_HASH

SHOPPERS, PRODUCTS = 2, 3
ADDRESS = ShippingAddress("Prop Tester", "1 Random Road", "", "Hypothesis", "1000", "Testland")
PRICES = (250, 1000, 1999, 19900)
IMAGE = "/products/yoga-mat.svg"

shopper_ids = st.integers(0, SHOPPERS - 1)
product_ids = st.integers(0, PRODUCTS - 1)


@dataclass(frozen=True)
class Shown:
    """A checkout page as it was shown: the cart's fingerprint, total and lines, and its attempt key."""

    fingerprint: str
    total_cents: int
    lines: dict[int, tuple[int, int]]  # product id -> (quantity, unit price in cents)
    key: str


class Shop(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex[:8]
        with session_scope(write=True) as session:
            category = session.exec(select(Category)).first() or Category(name="Props", slug="props")
            session.add(category)
            session.flush()
            self.category_id = category.id
            made = [
                Product(name=f"Prop {tag} {n}", price_cents=PRICES[n], stock=3 * n + 2, category_id=category.id)
                for n in range(PRODUCTS)
            ]
            people = [User(username=f"p{tag}{n}", email=f"p{tag}{n}@example.com", password_hash=_FAST_HASH)
                      for n in range(SHOPPERS)]  # fmt: skip
            admin = User(username=f"a{tag}", email=f"a{tag}@example.com", password_hash=_FAST_HASH, is_admin=True)
            session.add_all([*made, *people, admin])
            session.flush()
            self.products = [product.id for product in made]
            self.shoppers = [person.id for person in people]
            self.admin = admin.id
            self.initial = {product.id: product.stock for product in made}
        self.version = dict.fromkeys(self.products, 1)
        self.adjusted: dict[int, int] = defaultdict(int)
        self.sold: dict[int, int] = defaultdict(int)
        self.restocked: dict[int, int] = defaultdict(int)
        self.shown: dict[int, Shown] = {}
        self.placed_by_key: dict[str, int] = {}
        self.opened: dict[int, products.SeenProduct] = {}
        self.orders: dict[int, dict] = {}  # id -> {"status", "lines": {product: quantity}, "total"}

    # --- the model -----------------------------------------------------------------

    def _stock(self) -> dict[int, int]:
        with session_scope() as session:
            rows = session.exec(select(Product.id, Product.stock).where(Product.id.in_(self.products))).all()
        return dict(rows)

    def _expected_stock(self, product: int) -> int:
        return self.initial[product] + self.adjusted[product] - self.sold[product] + self.restocked[product]

    def _record(self, shown: Shown, placed: orders.PlacedOrder) -> None:
        if not placed.created:
            assert self.placed_by_key[shown.key] == placed.order.id, "a resubmission gets the same order"
            return
        assert shown.key not in self.placed_by_key, "one order per checkout attempt"
        self.placed_by_key[shown.key] = placed.order.id
        assert placed.order.total_cents == shown.total_cents, "charged what the page showed"
        with session_scope() as session:
            items = session.exec(select(OrderItem).where(OrderItem.order_id == placed.order.id)).all()
        assert {item.product_id: (item.quantity, item.unit_price_cents) for item in items} == shown.lines
        for product, (quantity, _) in shown.lines.items():
            self.sold[product] += quantity
        self.orders[placed.order.id] = {
            "status": OrderStatus.PENDING.value,
            "lines": {product: quantity for product, (quantity, _) in shown.lines.items()},
        }

    def _place(self, shopper: int, shown: Shown) -> orders.PlacedOrder | ServiceError:
        def place(session):
            return orders.place_order(session, self.shoppers[shopper], ADDRESS, shown.key, shown.fingerprint)

        try:
            return transaction(place, write=True)
        except (CartChanged, OutOfStock, EmptyCart) as refused:
            return refused

    # --- shoppers --------------------------------------------------------------------

    @rule(shopper=shopper_ids, product=product_ids, quantity=st.integers(1, 4))
    def add_to_cart(self, shopper, product, quantity):
        store = UserCart(self.shoppers[shopper])
        # Hidden or sold out: refused, and nothing changed (the invariants check).
        with contextlib.suppress(ServiceError):
            transaction(lambda s: cart.add_item(s, store, self.products[product], quantity), write=True)

    @rule(shopper=shopper_ids, product=product_ids, quantity=st.integers(1, 6))
    def change_quantity(self, shopper, product, quantity):
        store = UserCart(self.shoppers[shopper])
        with contextlib.suppress(ServiceError):
            transaction(lambda s: cart.set_quantity(s, store, self.products[product], quantity), write=True)

    @rule(shopper=shopper_ids, product=product_ids)
    def remove_line(self, shopper, product):
        store = UserCart(self.shoppers[shopper])
        transaction(lambda s: cart.remove_item(s, store, self.products[product]), write=True)

    @rule(shopper=shopper_ids)
    def open_checkout(self, shopper):
        with session_scope() as session:
            view = cart.view(session, UserCart(self.shoppers[shopper]))
        lines = {line.product_id: (line.quantity, line.unit_price_cents) for line in view.lines}
        self.shown[shopper] = Shown(view.fingerprint, view.total_cents, lines, uuid.uuid4().hex)

    @precondition(lambda self: self.shown)
    @rule(data=st.data())
    def place_order(self, data):
        # Mostly a page that showed something (an empty one is refused at once: EmptyCart).
        filled = sorted(shopper for shopper, shown in self.shown.items() if shown.lines) or sorted(self.shown)
        shopper = data.draw(st.sampled_from(filled))
        shown = self.shown[shopper]
        outcome = self._place(shopper, shown)
        if isinstance(outcome, orders.PlacedOrder):
            self._record(shown, outcome)

    @precondition(lambda self: len(self.shown) == SHOPPERS)
    @rule(same_shopper_twice=st.booleans())
    def two_checkouts_at_once(self, same_shopper_twice):
        """Two submissions in flight together: a double submit of one page, or two shoppers."""
        who = [0, 0] if same_shopper_twice else [0, 1]
        results: list = [None, None]
        start = threading.Barrier(2)

        def submit(slot: int) -> None:
            start.wait()
            results[slot] = self._place(who[slot], self.shown[who[slot]])

        threads = [threading.Thread(target=submit, args=(slot,)) for slot in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        placed = [(who[slot], r) for slot, r in enumerate(results) if isinstance(r, orders.PlacedOrder)]
        if same_shopper_twice:
            assert sum(r.created for _, r in placed) <= 1, "a double submit makes one order"
        for shopper, result in sorted(placed, key=lambda pair: not pair[1].created):  # the new order first
            self._record(self.shown[shopper], result)

    # --- admins ------------------------------------------------------------------------

    @rule(product=product_ids)
    def admin_opens_the_form(self, product):
        with session_scope() as session:
            row = session.get(Product, self.products[product])
            self.opened[product] = products.SeenProduct(version=row.version, stock=row.stock)

    @precondition(lambda self: self.opened)
    @rule(data=st.data(), change=st.integers(-4, 5), price=st.sampled_from(PRICES))
    def admin_saves_the_form(self, data, change, price):
        product = data.draw(st.sampled_from(sorted(self.opened)))
        seen, product_id = self.opened[product], self.products[product]
        form = {"name": f"Prop {product_id}", "description": "", "price": f"{price // 100}.{price % 100:02d}",
                "stock": str(seen.stock + change), "category_id": str(self.category_id), "image": IMAGE}  # fmt: skip
        current = self._stock()[product_id]

        def save(session):
            data = products.validate_product_form(form, {self.category_id}, ASSETS_DIR, ASSETS_DIR)
            return products.update(session, product_id, data, seen)

        if seen.stock + change < 0:
            expected = FieldErrors  # not a stock anyone can have: the form says so
        elif seen.version != self.version[product_id]:
            expected = ChangedSinceSeen
        elif current + change < 0:
            expected = FieldErrors  # sales since the form opened leave too little to take away
        else:
            expected = None
        try:
            transaction(save, write=True)
        except (FieldErrors, ChangedSinceSeen) as refused:
            assert type(refused) is expected, f"refused with {refused!r}, expected {expected}"
            return
        assert expected is None, f"saved, but expected {expected.__name__}"
        self.version[product_id] += 1
        self.adjusted[product_id] += change

    @rule(product=product_ids, active=st.booleans())
    def admin_hides_or_shows(self, product, active):
        transaction(lambda s: products.set_active(s, self.products[product], active), write=True)

    @precondition(lambda self: self.orders)
    @rule(data=st.data(), to_status=st.sampled_from([s.value for s in OrderStatus]), stale=st.booleans())
    def admin_changes_an_order(self, data, to_status, stale):
        order_id = data.draw(st.sampled_from(sorted(self.orders)))
        order = self.orders[order_id]
        # A page opened before the last change shows "pending" whatever the order is now.
        shown_status = OrderStatus.PENDING.value if stale else order["status"]
        allowed = OrderStatus(to_status) in orders.TRANSITIONS[OrderStatus(order["status"])]
        try:
            transaction(
                lambda s: orders.change_status(s, order_id, to_status, self.admin, seen_status=shown_status), write=True
            )
        except ChangedSinceSeen:
            assert shown_status != order["status"], "refused as changed, but it had not changed"
            return
        except ServiceError:
            assert not allowed, f"{order['status']} -> {to_status} is in the workflow, yet refused"
            return
        assert shown_status == order["status"] and allowed
        order["status"] = to_status
        if to_status == OrderStatus.CANCELLED.value:
            for product, quantity in order["lines"].items():
                self.restocked[product] += quantity

    # --- what must always hold ---------------------------------------------------------

    @invariant()
    def stock_is_never_negative_and_every_unit_is_accounted_for(self):
        stock = self._stock()
        for product in self.products:
            assert stock[product] >= 0
            assert stock[product] == self._expected_stock(product), (product, stock[product], self.initial[product],
                                                                      self.adjusted[product], self.sold[product],
                                                                      self.restocked[product])  # fmt: skip

    @invariant()
    def every_order_total_is_the_sum_of_its_lines(self):
        if not self.orders:
            return
        with session_scope() as session:
            totals = session.exec(select(Order.id, Order.total_cents).where(Order.id.in_(self.orders))).all()
            sums = dict(
                session.exec(
                    select(OrderItem.order_id, func.sum(OrderItem.unit_price_cents * OrderItem.quantity))
                    .where(OrderItem.order_id.in_(self.orders))
                    .group_by(OrderItem.order_id)
                ).all()
            )
        for order_id, total in totals:
            assert total == sums[order_id]

    @invariant()
    def revenue_on_the_dashboard_is_every_order_not_cancelled(self):
        with session_scope() as session:
            figures = analytics.kpis(session, days=7)
            expected = session.exec(
                select(func.coalesce(func.sum(Order.total_cents), 0)).where(Order.status != "cancelled")
            ).one()
        assert figures.revenue_cents == expected


def test_money_and_stock_hold_under_any_sequence(migrated):
    run_state_machine_as_test(
        Shop,
        settings=settings(
            max_examples=40,
            stateful_step_count=40,
            deadline=None,
            database=None,  # nothing written to the repository; failures print their steps
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
