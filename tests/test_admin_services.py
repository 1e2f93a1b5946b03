"""The admin's rules: products, images, users, the order workflow."""

import io
import itertools

import pytest
from PIL import Image
from sqlmodel import func, select

from ecom_reflex.db import session_scope
from ecom_reflex.models import AuthSession, Order, OrderStatus, OrderStatusChange, Product
from ecom_reflex.services import auth, images, orders, products, users
from ecom_reflex.services.errors import ChangedSinceSeen, FieldErrors, ServiceError
from ecom_reflex.settings import ASSETS_DIR
from tests.factories import make_product, make_user
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
        ("category_id", ""),
        ("category_id", "99"),
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

ALLOWED = {
    ("pending", "paid"),
    ("pending", "cancelled"),
    ("paid", "shipped"),
    ("paid", "cancelled"),
    ("shipped", "delivered"),
}


def order_in(session, status: str, stock: int = 10):
    """An order of 2 units, walked along the workflow to `status`."""
    admin = make_user(session, f"admin{status}{stock}", is_admin=True)
    buyer = make_user(session, f"buyer{status}{stock}")
    product = make_product(session, f"Thing {status}", stock=stock)
    fill_cart(session, buyer, (product, 2))
    order = place(buyer.id, key=f"k-{status}-{stock}")
    path = {
        "pending": [],
        "paid": ["paid"],
        "shipped": ["paid", "shipped"],
        "delivered": ["paid", "shipped", "delivered"],
        "cancelled": ["cancelled"],
    }
    for step in path[status]:
        orders.change_status(session, order.id, step, admin.id)
    session.commit()
    return order, product, admin


@pytest.mark.parametrize(("start", "target"), list(itertools.product([s.value for s in OrderStatus], repeat=2)))
def test_the_workflow_table(session, start, target):
    order, _, admin = order_in(session, start)
    if (start, target) in ALLOWED:
        assert orders.change_status(session, order.id, target, admin.id).status == target
    else:
        with pytest.raises(ServiceError, match=f"{start} cannot become {target}"):
            orders.change_status(session, order.id, target, admin.id)


@pytest.mark.parametrize("start", ["pending", "paid"])
def test_cancel_puts_the_stock_back_and_records_who(session, start):
    order, product, admin = order_in(session, start, stock=10)
    session.refresh(product)
    assert product.stock == 8
    orders.change_status(session, order.id, "cancelled", admin.id)
    session.commit()
    session.refresh(product)
    assert product.stock == 10
    last = session.exec(select(OrderStatusChange).order_by(OrderStatusChange.id.desc())).first()
    assert (last.from_status, last.to_status, last.changed_by_id) == (start, "cancelled", admin.id)


def test_a_status_change_from_a_page_showing_an_older_status_is_refused(session):
    order, product, admin = order_in(session, "pending", stock=10)
    # Two tabs show "pending"; the first marks it paid, the second cancels what it saw as pending.
    orders.change_status(session, order.id, "paid", admin.id, seen_status="pending")
    session.commit()
    with pytest.raises(ChangedSinceSeen, match="it is paid now"):
        orders.change_status(session, order.id, "cancelled", admin.id, seen_status="pending")
    session.rollback()
    stored, product = session.get(Order, order.id), session.get(Product, product.id)
    session.refresh(stored)
    session.refresh(product)
    assert (stored.status, product.stock) == ("paid", 8), "not cancelled, no stock put back"


def test_unknown_status_is_refused(session):
    order, _, admin = order_in(session, "pending")
    with pytest.raises(ServiceError, match="not an order status"):
        orders.change_status(session, order.id, "refunded", admin.id)


def test_admin_order_list_filters_and_searches(session):
    order, _, _ = order_in(session, "paid")
    other, _, _ = order_in(session, "pending", stock=11)
    assert [row.id for row in orders.list_orders(session, status="paid").items] == [order.id]
    assert [row.id for row in orders.list_orders(session, search=f"#{other.id:06d}").items] == [other.id]
    assert [row.id for row in orders.list_orders(session, search="buyerpaid").items] == [order.id]
    assert orders.list_orders(session).total == 2
    assert orders.list_orders(session, status="bogus").total == 2


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
