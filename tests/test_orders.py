import threading
from datetime import UTC, timedelta

import pytest
from sqlmodel import Session, func, select

from ecom_reflex.db import get_engine, session_scope
from ecom_reflex.models import CartItem, Order, OrderItem, OrderStatusChange, OutboxEmail, Product, utcnow
from ecom_reflex.services import cart, orders
from ecom_reflex.services.cart import UserCart
from ecom_reflex.services.errors import FieldErrors, NotFound, ServiceError
from ecom_reflex.services.orders import EmptyCart, OutOfStock, ShippingAddress
from tests.factories import make_product, make_user, pay, shown_cart

ADDRESS = ShippingAddress("Ada Lovelace", "12 Analytical St", "", "London", "N1 9GU", "United Kingdom")


def fill_cart(session, user, *lines):
    for product, quantity in lines:
        cart.add_item(session, UserCart(user.id), product.id, quantity)
    session.commit()


def place(user_id, key="key-1", address=ADDRESS):
    """Check out the cart as the checkout page shows it now."""
    shown = shown_cart(user_id)
    with session_scope(write=True) as scoped:
        return orders.place_order(scoped, user_id, address, key, shown).order


def test_placing_an_order_snapshots_prices_decrements_stock_and_clears_the_cart(session):
    user = make_user(session)
    widget = make_product(session, "Widget", price_cents=1000, stock=5)
    gadget = make_product(session, "Gadget", price_cents=250, stock=9)
    fill_cart(session, user, (widget, 2), (gadget, 3))
    # The price changes after the item went in the cart: the order uses the current one.
    widget.price_cents = 1200
    session.add(widget)
    session.commit()

    before = utcnow()
    order = place(user.id)
    session.expire_all()
    # Placed is not paid: the stock is held for the payment, until a deadline, and nobody is e-mailed yet.
    assert order.total_cents == 2 * 1200 + 3 * 250 and order.status == "awaiting_payment"
    assert (order.payment_status, order.payment_attempts, order.payment_reference) == ("none", 0, "")
    due = order.payment_due_at.replace(tzinfo=UTC) if order.payment_due_at.tzinfo is None else order.payment_due_at
    assert before + timedelta(minutes=15) <= due <= utcnow() + timedelta(minutes=15)
    assert session.exec(select(func.count(OutboxEmail.id))).one() == 0
    assert session.get(Product, widget.id).stock == 3 and session.get(Product, gadget.id).stock == 6
    items = session.exec(select(OrderItem).order_by(OrderItem.product_name)).all()
    assert [(i.product_name, i.unit_price_cents, i.quantity) for i in items] == [
        ("Gadget", 250, 3),
        ("Widget", 1200, 2),
    ]
    assert session.exec(select(CartItem)).all() == []
    history = session.exec(select(OrderStatusChange)).one()
    assert (history.from_status, history.to_status, history.changed_by_id) == (None, "awaiting_payment", user.id)


def test_a_shortage_changes_nothing_and_names_the_product(session):
    user = make_user(session)
    widget = make_product(session, "Widget", stock=5)
    scarce = make_product(session, "Scarce", stock=3)
    fill_cart(session, user, (widget, 2), (scarce, 3))
    scarce.stock = 1
    session.add(scarce)
    session.commit()

    with pytest.raises(OutOfStock) as error:
        place(user.id)
    assert error.value.shortages == [("Scarce", 1)]
    assert "Scarce: only 1 left" in str(error.value)
    session.expire_all()
    assert session.get(Product, widget.id).stock == 5 and session.get(Product, scarce.id).stock == 1
    assert session.exec(select(func.count(Order.id))).one() == 0
    assert session.exec(select(func.count(CartItem.id))).one() == 2


def test_an_empty_cart_cannot_be_checked_out(session):
    user = make_user(session)
    with pytest.raises(EmptyCart):
        place(user.id)


def test_the_same_idempotency_key_gives_the_same_order(session):
    user = make_user(session)
    widget = make_product(session, stock=5)
    fill_cart(session, user, (widget, 1))
    shown = shown_cart(user.id)
    with session_scope(write=True) as scoped:
        first = orders.place_order(scoped, user.id, ADDRESS, "attempt-42", shown)
    # The cart is empty now, but a replay must still answer with the order, not an error.
    with session_scope(write=True) as scoped:
        again = orders.place_order(scoped, user.id, ADDRESS, "attempt-42", shown)
    assert first.created and first.items == 1
    assert again.order.id == first.order.id and not again.created
    session.expire_all()
    assert session.exec(select(func.count(Order.id))).one() == 1
    assert session.get(Product, widget.id).stock == 4


def test_a_resubmission_racing_the_first_gets_its_order_and_charges_nothing_twice(session):
    user = make_user(session)
    widget = make_product(session, stock=5)
    fill_cart(session, user, (widget, 2))
    second: list = []
    shown = shown_cart(user.id)

    def resubmit():
        with session_scope(write=True) as scoped:
            second.append(orders.place_order(scoped, user.id, ADDRESS, "attempt-7", shown))

    with session_scope(write=True) as scoped:
        first = orders.place_order(scoped, user.id, ADDRESS, "attempt-7", shown)
        # The resubmission starts before the first commits: on PostgreSQL it passes the
        # idempotency check and waits on the stock rows; on SQLite it waits for the write lock.
        racer = threading.Thread(target=resubmit)
        racer.start()
        racer.join(0.5)
    racer.join(30)
    assert first.created and len(second) == 1
    assert second[0].order.id == first.order.id and not second[0].created
    session.expire_all()
    assert session.exec(select(func.count(Order.id))).one() == 1
    assert session.get(Product, widget.id).stock == 3


def test_another_users_key_is_refused(session):
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    widget = make_product(session, stock=5)
    fill_cart(session, alice, (widget, 1))
    fill_cart(session, bob, (widget, 1))
    place(alice.id, key="shared")
    with pytest.raises(ServiceError, match="expired"):
        place(bob.id, key="shared")


def test_fifty_buyers_for_the_last_ten_units(session):
    """Concurrent checkouts never oversell, on SQLite (write lock) and PostgreSQL (conditional UPDATE)."""
    product = make_product(session, "Last ones", stock=10)
    users = [make_user(session, f"buyer{i}") for i in range(50)]
    for user in users:
        fill_cart(session, user, (product, 1))

    results: list[str] = []
    barrier = threading.Barrier(len(users))

    def buy(user_id: int) -> None:
        barrier.wait()
        try:
            place(user_id, key=f"k-{user_id}")
            results.append("ok")
        except OutOfStock:
            results.append("out")

    threads = [threading.Thread(target=buy, args=(user.id,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(results) == ["ok"] * 10 + ["out"] * 40
    with Session(get_engine()) as fresh:
        assert fresh.get(Product, product.id).stock == 0
        assert fresh.exec(select(func.count(Order.id))).one() == 10
        assert fresh.exec(select(func.sum(OrderItem.quantity))).one() == 10


GOOD = {"email": "ada@example.com", "name": "A", "line1": "B", "city": "C", "postal_code": "1000", "country": "Norway"}


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({}, {"email", "name", "line1", "country", "postal_code", "city"}),
        ({**GOOD, "postal_code": "12$45"}, {"postal_code": "Use letters, digits, spaces or '-'."}),
        ({**GOOD, "name": "A" * 121}, {"name": "Full name must be at most 120 characters."}),
        ({**GOOD, "country": "Atlantis"}, {"country": "Choose a country from the list."}),
        ({**GOOD, "email": "ada@"}, {"email": "Enter a valid e-mail address, such as ada@example.com."}),
        ({**GOOD, "phone": "call me"}, {"phone"}),
        ({**GOOD, "phone": "12345"}, {"phone"}),
        # Where carriers need the state, it is required and must be one of the country's.
        (
            {**GOOD, "country": "United States", "postal_code": "10001"},
            {"region": "State is required for United States."},
        ),
        ({**GOOD, "country": "US", "region": "Narnia", "postal_code": "10001"}, {"region"}),
        # Postcodes in the country's own format.
        (
            {**GOOD, "country": "United States", "region": "New York", "postal_code": "1000"},
            {"postal_code": "United States ZIP codes look like 12345 or 12345-6789."},
        ),
        ({**GOOD, "country": "United Kingdom", "postal_code": "12345"}, {"postal_code"}),
        ({**GOOD, "country": "Canada", "region": "Ontario", "postal_code": "12345"}, {"postal_code"}),
    ],
)
def test_shipping_validation_names_each_problem(form, errors):
    with pytest.raises(FieldErrors) as error:
        orders.validate_shipping(form)
    found = error.value.errors
    assert (set(found) if isinstance(errors, set) else found) == errors
    # In the form's order: the summary lists them as the fields come.
    assert list(found) == [field for field in orders.SHIPPING_FIELDS if field in found]


def test_shipping_is_trimmed_and_normalised():
    address = orders.validate_shipping(
        {"email": " Ada@Example.com ", "phone": "+44 20 7946 0958", "name": "  Ada   Lovelace ", "line1": "1 St",
         "city": "X", "postal_code": "n1 9gu", "country": "gb"}
    )  # fmt: skip
    assert address.name == "Ada Lovelace" and address.line2 == ""
    assert address.country == "United Kingdom" and address.postal_code == "N1 9GU"
    assert address.email == "Ada@example.com" and address.phone == "+44 20 7946 0958"
    # A state by its name or its code (what a browser's autofill may send), stored by its name.
    for region in ("california", "CA", "US-CA"):
        address = orders.validate_shipping({**GOOD, "country": "USA", "region": region, "postal_code": "94103-1234"})
        assert (address.country, address.region) == ("United States", "California")
    # Elsewhere the region is free text, and optional.
    assert orders.validate_shipping({**GOOD, "region": "Viken"}).region == "Viken"


def test_history_and_detail_only_for_the_owner(session):
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    widget = make_product(session, "Widget", price_cents=500, stock=50)
    for n in range(12):
        fill_cart(session, alice, (widget, 1 + n % 2))
        placed = place(alice.id, key=f"a-{n}")
        if n % 3 == 0:
            pay(placed.id, alice.id)
    page = orders.list_orders_for_user(session, alice.id)
    assert page.total == 12 and page.pages == 2 and len(page.items) == 10
    assert page.items[0].id > page.items[-1].id
    assert orders.list_orders_for_user(session, alice.id, page=2).items[-1].number == "000001"
    assert orders.list_orders_for_user(session, bob.id).total == 0
    # An account holds stock for one unpaid order: each checkout ended the unpaid one before it.
    statuses = [item.status for item in page.items]
    assert statuses[0] == "awaiting_payment" and page.items[0].can_pay
    assert set(statuses[1:]) == {"paid", "expired"} and not any(item.can_pay for item in page.items[1:])

    detail = orders.order_detail(session, page.items[0].id, user_id=alice.id)
    assert detail.lines[0].name == "Widget" and detail.history[0].to_status == "awaiting_payment"
    assert detail.history[0].by == "you"
    assert detail.can_pay and detail.payment_due_at and not detail.confirming and detail.card == ""
    assert orders.order_detail(session, page.items[0].id).history[0].by == "alice"
    expired = orders.order_detail(session, page.items[1].id, user_id=alice.id)
    assert [(step.from_status, step.to_status, step.by) for step in expired.history] == [
        ("", "awaiting_payment", "you"),
        ("awaiting_payment", "expired", "you"),
    ]
    assert expired.payment_due_at == "" and not expired.can_pay
    # Every expired hold gave its units back; only the paid orders and the open hold keep theirs.
    session.expire_all()
    kept = sum(1 + n % 2 for n in range(12) if n % 3 == 0 or n == 11)
    assert session.get(Product, widget.id).stock == 50 - kept
    assert detail.shipping_lines == ["Ada Lovelace", "12 Analytical St", "N1 9GU London", "United Kingdom"]
    with pytest.raises(NotFound):
        orders.order_detail(session, page.items[0].id, user_id=bob.id)


@pytest.mark.parametrize("change", ["price", "quantity", "line added"])
def test_an_order_is_placed_only_at_what_the_page_showed(session, change):
    user = make_user(session)
    widget = make_product(session, "Widget", price_cents=19900, stock=5)
    other = make_product(session, "Other", price_cents=500, stock=5)
    fill_cart(session, user, (widget, 1))
    shown = shown_cart(user.id)  # the checkout page: 1 x $199.00
    if change == "price":  # an admin changes the price meanwhile
        widget.price_cents = 199000
        session.add(widget)
        session.commit()
    elif change == "quantity":  # another tab of the shopper's
        fill_cart(session, user, (widget, 1))
    else:
        fill_cart(session, user, (other, 1))
    with pytest.raises(orders.CartChanged, match="Nothing was charged"), session_scope(write=True) as scoped:
        orders.place_order(scoped, user.id, ADDRESS, "attempt-shown", shown)
    session.expire_all()
    assert session.exec(select(func.count(Order.id))).one() == 0
    assert session.get(Product, widget.id).stock == 5
    assert session.exec(select(func.count(CartItem.id)).where(CartItem.user_id == user.id)).one() >= 1
    # Placed again from the page showing the new cart, it goes through at the new figures.
    order = place(user.id, key="attempt-shown")
    assert order.total_cents == {"price": 199000, "quantity": 39800, "line added": 20400}[change]


def test_a_shopper_never_sees_who_on_the_staff_changed_an_order(session):
    """The history names the staff member to the admins only; the shopper reads "the shop"."""
    alice = make_user(session, "alice")
    staff = make_user(session, "night_shift_dave", is_admin=True)
    widget = make_product(session, "Widget", price_cents=500, stock=5)
    fill_cart(session, alice, (widget, 1))
    order = place(alice.id, key="staff-view")
    pay(order.id, alice.id)  # her card pays: her own move
    with session_scope(write=True) as scoped:
        orders.change_status(scoped, order.id, "shipped", staff.id, "paid")
    session.expire_all()
    mine = orders.order_detail(session, order.id, user_id=alice.id)
    assert [(step.to_status, step.by) for step in mine.history] == [
        ("awaiting_payment", "you"), ("paid", "you"), ("shipped", "the shop")
    ]  # fmt: skip
    assert "night_shift_dave" not in repr(mine)
    admins = orders.order_detail(session, order.id)
    assert [step.by for step in admins.history] == ["alice", "alice", "night_shift_dave"]


def test_nobody_marks_an_order_paid_by_hand(session):
    alice = make_user(session, "alice")
    staff = make_user(session, "staff", is_admin=True)
    fill_cart(session, alice, (make_product(session, stock=5), 1))
    order = place(alice.id, key="by-hand")
    with pytest.raises(ServiceError, match="Orders become paid when their payment goes through"):
        orders.change_status(session, order.id, "paid", staff.id, "awaiting_payment")
    session.rollback()
    assert orders.allowed_next_statuses("awaiting_payment") == ["cancelled"]
    assert orders.order_detail(session, order.id).status == "awaiting_payment"
