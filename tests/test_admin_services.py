"""The admin's rules: products, images, users, the order workflow."""

import io
import itertools
from datetime import timedelta

import pytest
from PIL import Image
from sqlmodel import func, select

from ecom_reflex.db import session_scope, transaction
from ecom_reflex.models import AuthSession, Order, OrderStatus, OrderStatusChange, OutboxEmail, Product, utcnow
from ecom_reflex.services import auth, images, order_payments, orders, products, users
from ecom_reflex.services.errors import ChangedSinceSeen, FieldErrors, ServiceError
from ecom_reflex.services.order_payments import PaymentInFlight
from ecom_reflex.settings import ASSETS_DIR
from tests.factories import decline, make_product, make_user, pay
from tests.test_orders import fill_cart, place


def image_bytes(fmt: str, size=(8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=fmt)
    return buffer.getvalue()


# --- products -----------------------------------------------------------------


def product_form(**overrides):
    return {"name": "Lamp", "description": "Bright", "price": "19.99", "stock": "5", "category_id": "1", **overrides}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", ""),
        ("name", "x" * 201),
        ("price", "-1"),
        ("price", "1000000.01"),
        ("price", "12.345"),
        ("price", "abc"),
        ("price", "NaN"),
        ("stock", "-1"),
        ("stock", "1000001"),
        ("stock", "2.5"),
        ("stock", "²"),
        ("stock", "9" * 30),
        ("category_id", ""),
        ("category_id", "99"),
        ("category_id", "¹"),
        ("category_id", "9" * 23),
        ("image", "/../../etc/passwd"),
        ("image", "/_upload/missing.png"),
    ],
)
def test_product_validation_names_the_field(tmp_path, field, value):
    with pytest.raises(FieldErrors) as error:
        products.validate_product_form(product_form(**{field: value}), {1}, tmp_path, ASSETS_DIR)
    assert set(error.value.errors) == {field}


@pytest.mark.parametrize(
    ("price", "cents"),
    [("0", 0), ("12", 1200), ("12.5", 1250), ("12.50", 1250), (" 19.99 ", 1999), ("1000000.00", 100_000_000)],
)
def test_prices_are_parsed_to_cents(tmp_path, price, cents):
    data = products.validate_product_form(product_form(price=price), {1}, tmp_path, ASSETS_DIR)
    assert data.price_cents == cents


@pytest.mark.parametrize(
    "price", ["12,50", "1,250.00", "12.505", "-1", "1e3", "$12", "12.", ".5", "", "1 250", "１２", "0x10", "Infinity"]
)
def test_a_price_that_could_mean_two_things_is_refused_with_how_to_write_it(tmp_path, price):
    with pytest.raises(FieldErrors) as error:
        products.validate_product_form(product_form(price=price), {1}, tmp_path, ASSETS_DIR)
    assert error.value.errors == {"price": products.PRICE_FORMAT_ERROR}


def test_a_price_over_the_limit_says_the_limit(tmp_path):
    with pytest.raises(FieldErrors) as error:
        products.validate_product_form(product_form(price="1000000.01"), {1}, tmp_path, ASSETS_DIR)
    assert error.value.errors == {"price": "Price must be at most $1,000,000.00."}


def test_a_bundled_asset_image_is_accepted(tmp_path):
    data = products.validate_product_form(product_form(image="/products/yoga-mat.svg"), {1}, tmp_path, ASSETS_DIR)
    assert data.image == "/products/yoga-mat.svg"


def test_create_update_deactivate_and_list_inactive_too(session, tmp_path):
    make_product(session, "Existing")
    data = products.validate_product_form(product_form(), {1}, tmp_path, ASSETS_DIR)
    lamp = products.create(session, data)
    session.commit()
    products.update(
        session,
        lamp.id,
        products.validate_product_form(product_form(name="Lamp XL", price="25"), {1}, tmp_path, ASSETS_DIR),
        products.SeenProduct(version=lamp.version, stock=lamp.stock),
    )
    products.set_active(session, lamp.id, False)
    session.commit()
    stored = session.get(Product, lamp.id)
    assert (stored.name, stored.price_cents, stored.is_active) == ("Lamp XL", 2500, False)
    page = products.list_admin_products(session, query="lamp")
    assert [(row.name, row.is_active) for row in page.items] == [("Lamp XL", False)]


def _opened(session, product_id: int) -> products.SeenProduct:
    """What an admin's form shows when it is opened now."""
    session.commit()  # a read from now on, not from the test's earlier snapshot
    product = session.get(Product, product_id)
    session.refresh(product)
    return products.SeenProduct(version=product.version, stock=product.stock)


def _save(session, tmp_path, product_id, seen, **fields) -> products.SavedProduct:
    data = products.validate_product_form(product_form(**fields), {1}, tmp_path, ASSETS_DIR)
    with session_scope(write=True) as scoped:
        return products.update(scoped, product_id, data, seen)


def test_a_sale_made_while_the_form_was_open_is_kept(session, tmp_path):
    buyer = make_user(session)
    lamp = make_product(session, "Lamp", stock=6)
    seen = _opened(session, lamp.id)  # the admin opens the form: stock 6
    fill_cart(session, buyer, (lamp, 1))
    place(buyer.id)  # a shopper buys one: 5
    # Saved unchanged, the stock stays what the sale left; typed 10 means +4 on what the admin saw.
    _save(session, tmp_path, lamp.id, seen, stock="6")
    assert _opened(session, lamp.id).stock == 5
    saved = _save(session, tmp_path, lamp.id, _opened(session, lamp.id), stock="9")
    assert (saved.stock_before, saved.product.stock) == (5, 9)


def test_a_save_over_a_newer_save_is_refused_and_changes_nothing(session, tmp_path):
    lamp = make_product(session, "Lamp", price_cents=1000, stock=6)
    first_tab, second_tab = _opened(session, lamp.id), _opened(session, lamp.id)
    _save(session, tmp_path, lamp.id, first_tab, name="Lamp", price="12.00", stock="6")
    with pytest.raises(ChangedSinceSeen, match="changed since you opened it"):
        _save(session, tmp_path, lamp.id, second_tab, name="Lamp", price="99.00", stock="20")
    session.commit()
    stored = session.get(Product, lamp.id)
    session.refresh(stored)
    assert (stored.price_cents, stored.stock) == (1200, 6)


def test_stock_cannot_be_taken_below_what_is_left(session, tmp_path):
    buyer = make_user(session)
    lamp = make_product(session, "Lamp", stock=3)
    seen = _opened(session, lamp.id)
    fill_cart(session, buyer, (lamp, 2))
    place(buyer.id)  # 1 left
    with pytest.raises(FieldErrors) as error:
        _save(session, tmp_path, lamp.id, seen, stock="0")  # -3 on what the admin saw
    assert "Only 1 in stock now" in error.value.errors["stock"]
    assert _opened(session, lamp.id).stock == 1


def test_only_never_ordered_products_can_be_deleted(session):
    user = make_user(session)
    ordered = make_product(session, "Ordered", stock=5)
    fresh = make_product(session, "Fresh")
    fill_cart(session, user, (ordered, 1))
    place(user.id)
    with pytest.raises(ServiceError, match="Deactivate it instead"):
        products.delete(session, ordered.id)
    assert products.delete(session, fresh.id) == "Fresh"
    session.commit()
    assert session.get(Product, fresh.id) is None and session.get(Product, ordered.id) is not None


# --- images -------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "extension"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_images_are_stored_under_a_generated_name(tmp_path, fmt, extension):
    path = images.store_image(image_bytes(fmt), tmp_path)
    assert path.startswith("/_upload/product-") and path.endswith(f".{extension}")
    assert (tmp_path / path.removeprefix("/_upload/")).read_bytes() == image_bytes(fmt)


def test_the_content_decides_not_the_name(tmp_path):
    # store_image never sees the client's file name: a PNG sent as "photo.exe" is stored as .png,
    # an executable sent as "photo.png" is refused.
    assert images.store_image(image_bytes("PNG"), tmp_path).endswith(".png")
    with pytest.raises(ServiceError, match="not a PNG, JPEG or WebP"):
        images.store_image(b"MZ\x90\x00" + b"\x00" * 100, tmp_path)
    with pytest.raises(ServiceError, match="not a PNG, JPEG or WebP"):
        images.store_image(image_bytes("GIF"), tmp_path)
    # A PNG signature followed by garbage is not an image either.
    with pytest.raises(ServiceError):
        images.store_image(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20, tmp_path)
    assert len(list(tmp_path.iterdir())) == 1


def test_images_over_2mb_are_refused(tmp_path):
    with pytest.raises(ServiceError, match="larger than 2 MB"):
        images.store_image(b"\x89PNG" + b"\x00" * (2 * 1024 * 1024), tmp_path)
    with pytest.raises(ServiceError, match="empty"):
        images.store_image(b"", tmp_path)


# --- users --------------------------------------------------------------------


def test_disabling_a_user_ends_their_sessions(session):
    admin = make_user(session, "boss", is_admin=True)
    shopper = make_user(session, "shopper")
    token = auth.start_session(session, shopper)
    session.commit()
    users.set_active(session, admin.id, shopper.id, False)
    session.commit()
    assert session.exec(select(func.count(AuthSession.id))).one() == 0
    assert auth.user_for_token(session, token) is None
    users.set_active(session, admin.id, shopper.id, True)
    assert session.get(type(shopper), shopper.id).is_active


def test_admins_cannot_disable_or_demote_themselves(session):
    admin = make_user(session, "boss", is_admin=True)
    make_user(session, "other", is_admin=True)
    with pytest.raises(ServiceError, match="your own account"):
        users.set_active(session, admin.id, admin.id, False)
    with pytest.raises(ServiceError, match="your own account"):
        users.set_admin(session, admin.id, admin.id, False)


def test_the_last_active_admin_cannot_be_removed(session):
    boss = make_user(session, "boss", is_admin=True)
    deputy = make_user(session, "deputy", is_admin=True)
    # A disabled admin does not count: with deputy disabled, boss is the last active admin.
    users.set_active(session, boss.id, deputy.id, False)
    session.commit()
    with pytest.raises(ServiceError, match="last active admin"):
        users.set_admin(session, deputy.id, boss.id, False)
    with pytest.raises(ServiceError, match="last active admin"):
        users.set_active(session, deputy.id, boss.id, False)
    users.set_active(session, boss.id, deputy.id, True)
    users.set_admin(session, deputy.id, boss.id, False)  # now there is another active admin
    session.commit()
    assert not session.get(type(boss), boss.id).is_admin


def test_grant_admin_and_search(session):
    boss = make_user(session, "boss", is_admin=True)
    carol = make_user(session, "carol")
    users.set_admin(session, boss.id, carol.id, True)
    page = users.list_users(session, query="CAR")
    assert [(row.username, row.is_admin) for row in page.items] == [("carol", True)]


# --- order workflow -----------------------------------------------------------

# What an admin may do, and nothing else: nobody marks an order paid by hand (a captured payment
# does), and the money's own moves (payment failed, expired, refund pending, refunded) are not theirs.
ALLOWED = {
    ("awaiting_payment", "cancelled"),
    ("payment_failed", "cancelled"),
    ("paid", "shipped"),
    ("paid", "cancelled"),
    ("shipped", "delivered"),
}
# Where an allowed move ends: cancelling a paid order starts its refund, the stock still out.
LANDS_ON = {("paid", "cancelled"): "refund_pending"}


def test_the_transitions_table_is_exactly_the_admins_moves():
    assert {(start.value, target.value) for start, targets in orders.TRANSITIONS.items() for target in targets} == (
        ALLOWED
    )
    assert set(orders.TRANSITIONS) == set(OrderStatus), "every status says where it may go, if anywhere"
    assert orders.allowed_next_statuses("paid") == ["shipped", "cancelled"]
    assert orders.allowed_next_statuses("awaiting_payment") == ["cancelled"]
    for final in ("expired", "delivered", "refund_pending", "cancelled"):
        assert orders.allowed_next_statuses(final) == []


def order_in(session, status: str, stock: int = 10):
    """An order of 2 units, walked to `status` the way it gets there: by its payment or by an admin."""
    admin = make_user(session, f"admin{status}{stock}", is_admin=True)
    buyer = make_user(session, f"buyer{status}{stock}")
    product = make_product(session, f"Thing {status}", stock=stock)
    fill_cart(session, buyer, (product, 2))
    order = place(buyer.id, key=f"k-{status}-{stock}")
    if status == "payment_failed":
        decline(order.id, buyer.id)
    elif status == "expired":
        transaction(lambda s: order_payments.expire_overdue(s, now=utcnow() + timedelta(days=1)), write=True)
    elif status in ("paid", "shipped", "delivered", "refund_pending"):
        pay(order.id, buyer.id)
    admin_moves = {
        "shipped": ["shipped"],
        "delivered": ["shipped", "delivered"],
        "refund_pending": ["cancelled"],
        "cancelled": ["cancelled"],
    }
    for step in admin_moves.get(status, []):
        with session_scope(write=True) as scoped:
            orders.change_status(scoped, order.id, step, admin.id)
    session.expire_all()
    order = session.get(Order, order.id)
    assert order.status == status
    return order, product, admin


@pytest.mark.parametrize(("start", "target"), list(itertools.product([s.value for s in OrderStatus], repeat=2)))
def test_the_workflow_table(session, start, target):
    order, product, admin = order_in(session, start)
    session.refresh(product)
    stock_before = product.stock
    if (start, target) in ALLOWED:
        moved = orders.change_status(session, order.id, target, admin.id)
        session.commit()
        assert moved.status == LANDS_ON.get((start, target), target)
        return
    words = f"An order that is {start.replace('_', ' ')} cannot become {target.replace('_', ' ')}."
    with pytest.raises(ServiceError) as refused:
        orders.change_status(session, order.id, target, admin.id)
    assert str(refused.value).startswith(words)
    if target == "paid":
        assert "Orders become paid when their payment goes through." in str(refused.value)
    session.rollback()
    session.refresh(order)
    session.refresh(product)
    assert (order.status, product.stock) == (start, stock_before), "a refused move changes nothing"


@pytest.mark.parametrize("start", ["awaiting_payment", "payment_failed"])
def test_cancelling_an_unpaid_order_puts_its_held_stock_back_at_once_and_records_who(session, start):
    order, product, admin = order_in(session, start, stock=10)
    session.refresh(product)
    # A declined card already gave the stock back: the cancel must not give it back twice.
    assert product.stock == (8 if start == "awaiting_payment" else 10)
    orders.change_status(session, order.id, "cancelled", admin.id, seen_status=start)
    session.commit()
    session.refresh(product)
    session.refresh(order)
    assert (order.status, product.stock) == ("cancelled", 10)
    assert order.payment_status in ("none", "declined")
    last = session.exec(select(OrderStatusChange).order_by(OrderStatusChange.id.desc())).first()
    assert (last.from_status, last.to_status, last.changed_by_id) == (start, "cancelled", admin.id)
    assert outbox_kinds(session) == [], "an order nobody paid for was never confirmed: no e-mail"


def test_cancelling_a_paid_order_refunds_it_before_the_stock_comes_back(session):
    order, product, admin = order_in(session, "paid", stock=10)
    orders.change_status(session, order.id, "cancelled", admin.id, seen_status="paid")
    session.commit()
    session.refresh(product)
    session.refresh(order)
    # The money is not back yet: the stock stays out, the order says so.
    assert (order.status, order.payment_status, product.stock) == ("refund_pending", "captured", 8)
    last = session.exec(select(OrderStatusChange).order_by(OrderStatusChange.id.desc())).first()
    assert (last.from_status, last.to_status, last.changed_by_id) == ("paid", "refund_pending", admin.id)
    assert transaction(order_payments.counts).refunds_pending == 1
    assert outbox_kinds(session) == ["order_placed"]

    # The payment service refunded it (ecom_reflex/payments.refund records it so).
    assert transaction(lambda s: order_payments.record_refund(s, order.id), write=True) is True
    fresh(session)
    order, product = session.get(Order, order.id), session.get(Product, product.id)
    assert (order.status, order.payment_status, product.stock) == ("cancelled", "refunded", 10)
    last = session.exec(select(OrderStatusChange).order_by(OrderStatusChange.id.desc())).first()
    assert (last.from_status, last.to_status, last.changed_by_id) == ("refund_pending", "cancelled", None)
    assert outbox_kinds(session) == ["order_placed", "order_refunded"]
    # A second report of the same refund changes nothing: no second restock, no second e-mail.
    assert transaction(lambda s: order_payments.record_refund(s, order.id), write=True) is False
    fresh(session)
    assert session.get(Product, product.id).stock == 10 and len(outbox_kinds(session)) == 2
    assert transaction(order_payments.counts).refunds_pending == 0


def test_an_unpaid_order_whose_payment_is_being_confirmed_cannot_be_cancelled(session):
    order, product, admin = order_in(session, "awaiting_payment", stock=10)
    transaction(lambda s: order_payments.start_attempt(s, order.id, order.user_id, timedelta(minutes=15)), write=True)
    with pytest.raises(PaymentInFlight, match="being confirmed"), session_scope(write=True) as scoped:
        orders.change_status(scoped, order.id, "cancelled", admin.id, seen_status="awaiting_payment")
    fresh(session)
    order, product = session.get(Order, order.id), session.get(Product, product.id)
    assert (order.status, order.payment_status, product.stock) == ("awaiting_payment", "processing", 8)


def fresh(session) -> None:
    """Forget what the test's session read: its next reads see what other transactions committed since."""
    session.commit()
    session.expire_all()


def outbox_kinds(session) -> list[str]:
    fresh(session)
    return list(session.exec(select(OutboxEmail.kind).order_by(OutboxEmail.id)).all())


def test_a_status_change_from_a_page_showing_an_older_status_is_refused(session):
    order, product, admin = order_in(session, "awaiting_payment", stock=10)

    def change(to_status: str, seen_status: str) -> None:
        with session_scope(write=True) as scoped:
            orders.change_status(scoped, order.id, to_status, admin.id, seen_status=seen_status)

    def now() -> tuple[str, str, int]:
        fresh(session)
        stored, left = session.get(Order, order.id), session.get(Product, product.id)
        return stored.status, stored.payment_status, left.stock

    # The admin's page shows "awaiting payment"; meanwhile the shopper's card pays for it.
    pay(order.id, order.user_id)
    with pytest.raises(ChangedSinceSeen, match="it is paid now"):
        change("cancelled", seen_status="awaiting_payment")
    assert now() == ("paid", "captured", 8), "not cancelled, no stock put back"

    # Two tabs show "paid"; the first ships it, the second cancels what it saw as paid.
    change("shipped", seen_status="paid")
    with pytest.raises(ChangedSinceSeen, match="it is shipped now"):
        change("cancelled", seen_status="paid")
    assert now() == ("shipped", "captured", 8), "no refund started"


@pytest.mark.parametrize("status", ["refunded", "pending", "", "PAID"])
def test_unknown_status_is_refused(session, status):
    order, _, admin = order_in(session, "awaiting_payment")
    with pytest.raises(ServiceError, match="not an order status"):
        orders.change_status(session, order.id, status, admin.id)


def test_admin_order_list_filters_and_searches(session):
    order, _, _ = order_in(session, "paid")
    other, _, _ = order_in(session, "awaiting_payment", stock=11)
    assert [row.id for row in orders.list_orders(session, status="paid").items] == [order.id]
    assert [row.id for row in orders.list_orders(session, status="awaiting_payment").items] == [other.id]
    assert [row.id for row in orders.list_orders(session, search=f"#{other.id:06d}").items] == [other.id]
    assert [row.id for row in orders.list_orders(session, search="buyerpaid").items] == [order.id]
    assert orders.list_orders(session).total == 2
    assert orders.list_orders(session, status="bogus").total == 2
    assert orders.list_orders(session, status="pending").total == 2, "a status that no longer exists filters nothing"
    # The payment, as the admin's list shows it: status, card, the service's reference.
    rows = {row.id: row for row in orders.list_orders(session).items}
    paid, unpaid = rows[order.id], rows[other.id]
    assert (paid.payment_status, paid.card, paid.payment_reference) == (
        "captured", "Visa •••• 4242, expires 12/34", f"pi_test_{order.id}"
    )  # fmt: skip
    assert (unpaid.payment_status, unpaid.card, unpaid.payment_reference) == ("none", "", "")
    detail = orders.order_detail(session, order.id)
    assert (detail.payment_status, detail.card, detail.payment_reference) == (
        "captured", "Visa •••• 4242, expires 12/34", f"pi_test_{order.id}"
    )  # fmt: skip


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims `width` x `height` pixels: a decompression bomb's calling card."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


@pytest.mark.parametrize(("width", "height"), [(30_000, 30_000), (9_000, 9_000), (5_001, 5_000)])
def test_an_image_claiming_too_many_pixels_is_refused_before_decoding(tmp_path, width, height):
    with pytest.raises(ServiceError, match="use at most 25 megapixels"):
        images.store_image(png_claiming(width, height), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_image_at_the_pixel_limit_is_accepted(tmp_path):
    buffer = io.BytesIO()
    Image.new("1", (5_000, 5_000)).save(buffer, format="PNG")
    assert images.store_image(buffer.getvalue(), tmp_path).endswith(".png")
