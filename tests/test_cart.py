import pytest
from sqlmodel import select

from ecom_reflex.models import CartItem
from ecom_reflex.services import cart
from ecom_reflex.services.cart import GuestCart, UserCart
from ecom_reflex.services.errors import ServiceError
from tests.factories import make_product, make_user


@pytest.fixture(params=["guest", "user"])
def store(request, session):
    return GuestCart({}) if request.param == "guest" else UserCart(make_user(session).id)


def test_add_accumulates_and_totals_in_cents(session, store):
    widget = make_product(session, "Widget", price_cents=1999, stock=10)
    gadget = make_product(session, "Gadget", price_cents=501, stock=10)
    cart.add_item(session, store, widget.id)
    cart.add_item(session, store, widget.id, 2)
    cart.add_item(session, store, gadget.id)
    current = cart.view(session, store)
    assert [(line.name, line.quantity) for line in current.lines] == [("Gadget", 1), ("Widget", 3)]
    assert current.item_count == 4
    assert current.total_cents == 3 * 1999 + 501 and current.total == "$64.98"
    assert current.can_check_out


def test_quantity_is_capped_by_stock_with_a_message(session, store):
    scarce = make_product(session, "Scarce", stock=3)
    change = cart.add_item(session, store, scarce.id, 5)
    assert change.quantity == 3 and change.message == "Only 3 of Scarce are in stock."
    assert cart.set_quantity(session, store, scarce.id, 4).quantity == 3


def test_quantity_is_capped_at_99(session, store):
    plenty = make_product(session, "Plenty", stock=500)
    change = cart.set_quantity(session, store, cart.add_item(session, store, plenty.id).quantity and plenty.id, 99)
    assert change.quantity == 99 and not change.message
    change = cart.add_item(session, store, plenty.id, 5)
    assert change.quantity == 99 and "At most 99" in change.message


@pytest.mark.parametrize("bad", [0, -1, 100])
def test_out_of_range_quantities_are_refused_and_change_nothing(session, store, bad):
    product = make_product(session, stock=50)
    cart.add_item(session, store, product.id, 2)
    with pytest.raises(ServiceError, match="between 1 and 99"):
        cart.set_quantity(session, store, product.id, bad)
    assert cart.view(session, store).lines[0].quantity == 2


def test_out_of_stock_and_inactive_products_cannot_be_added(session, store):
    gone = make_product(session, "Gone", stock=0)
    hidden = make_product(session, "Hidden", is_active=False)
    with pytest.raises(ServiceError, match="Gone is out of stock"):
        cart.add_item(session, store, gone.id)
    with pytest.raises(ServiceError, match="no longer available"):
        cart.add_item(session, store, hidden.id)
    with pytest.raises(ServiceError, match="no longer available"):
        cart.add_item(session, store, 424242)
    assert cart.view(session, store).lines == []


def test_remove(session, store):
    product = make_product(session)
    cart.add_item(session, store, product.id)
    cart.remove_item(session, store, product.id)
    assert cart.view(session, store).item_count == 0


def test_a_line_whose_stock_fell_blocks_checkout(session, store):
    product = make_product(session, stock=5)
    cart.add_item(session, store, product.id, 4)
    product.stock = 2
    session.add(product)
    session.commit()
    current = cart.view(session, store)
    assert current.lines[0].problem and not current.can_check_out


def test_user_cart_lives_in_the_database(session):
    user = make_user(session)
    product = make_product(session)
    cart.add_item(session, UserCart(user.id), product.id, 2)
    session.commit()
    assert session.exec(select(CartItem.quantity)).one() == 2


def test_guest_cart_merges_into_the_user_cart_capped_by_stock(session):
    user = make_user(session)
    widget = make_product(session, "Widget", stock=5)
    gadget = make_product(session, "Gadget", stock=10)
    gone = make_product(session, "Gone", stock=0)
    cart.add_item(session, UserCart(user.id), widget.id, 3)
    notices = cart.merge_guest_cart(session, {widget.id: 4, gadget.id: 2, gone.id: 1}, user.id)
    assert notices == ["Only 5 of Widget are in stock.", "Gone is out of stock."]
    quantities = UserCart(user.id).quantities(session)
    assert quantities == {widget.id: 5, gadget.id: 2}


def test_a_cart_holds_at_most_fifty_different_products(session, store):
    from ecom_reflex.services.cart import MAX_LINES

    many = [make_product(session, f"P{n}", stock=5) for n in range(MAX_LINES + 1)]
    for product in many[:MAX_LINES]:
        cart.add_item(session, store, product.id)
    with pytest.raises(ServiceError, match="50 different products"):
        cart.add_item(session, store, many[-1].id)
    assert cart.add_item(session, store, many[0].id).quantity == 2  # more of one already there is fine
    assert len(cart.view(session, store).lines) == MAX_LINES


def test_a_line_that_cannot_be_ordered_says_why_and_what_to_do(session):
    from ecom_reflex.services import products

    user = make_user(session, "blocked")
    hidden = make_product(session, "Hidden", stock=3)
    sold_out = make_product(session, "Sold out", stock=2)
    short = make_product(session, "Short", stock=5)
    fine = make_product(session, "Fine", stock=5)
    store = UserCart(user.id)
    for product, quantity in ((hidden, 1), (sold_out, 1), (short, 4), (fine, 1)):
        cart.add_item(session, store, product.id, quantity)
    products.set_active(session, hidden.id, False)
    sold_out.stock, short.stock = 0, 2
    session.add_all([sold_out, short])
    session.commit()
    current = cart.view(session, store)
    problems = {line.name: line.problem for line in current.lines}
    assert problems == {
        "Hidden": "No longer sold: remove it to check out.",
        "Sold out": "Sold out: remove it to check out.",
        "Short": "Only 2 left: lower the quantity to check out.",
        "Fine": "",
    }
    assert not current.can_check_out and "remove them or lower their quantity" in current.checkout_blocker
    assert [line.on_sale for line in current.lines if line.name == "Hidden"] == [False]
    with pytest.raises(ServiceError, match="in a shopper's cart, so it cannot be deleted"):
        products.delete(session, fine.id)


def test_a_guest_cart_line_whose_product_was_deleted_is_reported(session):
    gone = make_product(session, "Gone", stock=3)
    kept = make_product(session, "Kept", stock=3)
    store = GuestCart({gone.id: 1, kept.id: 2})
    session.delete(gone)
    session.commit()
    current = cart.view(session, store)
    assert [line.name for line in current.lines] == ["Kept"] and current.gone == (gone.id,)
    assert cart.gone_notice(1) == "A product in your cart is no longer sold and was removed."
