"""Money and stock are never wrong: two people acting on the same product or order at once.

Each test is one way it went wrong before (issue 15), tried in Chromium with two browser
contexts where it takes two people, on products of its own.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from e2e.helpers import (
    CARD_OK,
    cart_count,
    charges,
    fill_card,
    fill_shipping,
    from_own_address,
    log_in,
    new_product,
    pay,
    placed_order_id,
    query,
    refunded_cents,
    register,
    unique_name,
)


def stock_of(db: Path, product_id: int) -> int:
    return query(db, "SELECT stock FROM products WHERE id = ?", product_id)[0][0]


@pytest.fixture
def admin(browser: Browser, shop_server) -> Page:
    context = browser.new_context(base_url=shop_server.url, viewport={"width": 1280, "height": 900},
                                  **from_own_address())  # fmt: skip
    page = context.new_page()
    page.goto("/login?next=/admin")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    expect(page.get_by_test_id("current-user")).to_have_text(shop_server.admin_username)
    yield page
    context.close()


def shopper_context(browser: Browser, shop_server) -> BrowserContext:
    return browser.new_context(base_url=shop_server.url, viewport={"width": 1280, "height": 900},
                               **from_own_address())  # fmt: skip


def buy(page: Page, product_id: int, quantity: int = 1) -> int:
    """Put `quantity` in the cart from the product page, check out and pay; the order's id."""
    page.goto(f"/product/{product_id}")
    for _ in range(quantity - 1):
        page.get_by_role("button", name="More").click()
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_text(re.compile("to your cart"))).to_be_visible()
    page.goto("/checkout")
    fill_shipping(page)
    pay(page, CARD_OK)
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    return placed_order_id(page)


def open_product_form(admin: Page, product_id: int) -> None:
    admin.goto(f"/admin/products/{product_id}")
    expect(admin.get_by_label("Name")).not_to_have_value("")


def test_a_sale_while_the_admin_edits_is_not_erased(browser: Browser, admin: Page, shop_server, page: Page):
    db = shop_server.db_file
    product_id, _ = new_product(db, 2500, 6)
    open_product_form(admin, product_id)
    expect(admin.get_by_label("Stock")).to_have_value("6")
    register(page, unique_name("buyer"))
    buy(page, product_id)  # stock 5
    admin.get_by_test_id("save-product").click()  # saved unchanged
    expect(admin).to_have_url(re.compile(r"/admin/products\?q="))
    assert stock_of(db, product_id) == 5, "the sale made while the form was open is kept"

    # "Set 10" on a form showing 5 is +5, on top of whatever sold meanwhile.
    open_product_form(admin, product_id)
    buy(page, product_id)  # stock 4
    admin.get_by_label("Stock").fill("10")
    admin.get_by_test_id("save-product").click()
    expect(admin.get_by_text(re.compile(r"Stock is 9: it went from 5 to 4 while you edited"))).to_be_visible()
    assert stock_of(db, product_id) == 9


def test_two_admins_saving_the_same_product_cannot_overwrite_each_other(admin: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 2500, 6)
    open_product_form(admin, product_id)
    other_tab = admin.context.new_page()
    open_product_form(other_tab, product_id)
    other_tab.get_by_label("Price ($)").fill("30.00")
    other_tab.get_by_test_id("save-product").click()
    expect(other_tab).to_have_url(re.compile(r"/admin/products\?q="))

    admin.get_by_label("Price ($)").fill("99.00")
    admin.get_by_test_id("save-product").click()
    expect(admin.get_by_test_id("product-form-error")).to_contain_text("changed since you opened it")
    expect(admin.get_by_label("Price ($)")).to_have_value("99.00")  # the admin's typing is still there
    assert query(db, "SELECT price_cents FROM products WHERE id = ?", product_id)[0][0] == 3000
    other_tab.close()


def test_the_shopper_is_charged_only_what_the_checkout_showed(browser: Browser, admin: Page, shop_server, page: Page):
    db = shop_server.db_file
    product_id, _ = new_product(db, 19900, 5)
    username = unique_name("charged")
    register(page, username)
    page.goto(f"/product/{product_id}")
    page.get_by_test_id("add-to-cart").click()
    expect(cart_count(page)).to_have_text("1")
    page.goto("/checkout")
    expect(page.get_by_test_id("checkout-total")).to_have_text("$199.00")
    fill_shipping(page)
    fill_card(page, CARD_OK)

    open_product_form(admin, product_id)  # meanwhile the price becomes ten times higher
    admin.get_by_label("Price ($)").fill("1990.00")
    admin.get_by_test_id("save-product").click()
    expect(admin).to_have_url(re.compile(r"/admin/products\?q="))

    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("checkout-error")).to_contain_text("Nothing was charged")
    expect(page.get_by_test_id("checkout-total")).to_have_text("$1,990.00")  # the new figures, to confirm
    expect(page.get_by_test_id("place-order")).to_have_text("Place order and pay $1,990.00")
    orders = "SELECT o.id, o.total_cents FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?"
    assert query(db, orders, username) == []
    assert stock_of(db, product_id) == 5
    page.get_by_test_id("place-order").click()  # confirmed at the price now shown
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    ((order_id, total),) = query(db, orders, username)
    assert total == 199000
    # The card was charged once, and exactly what the page showed when the shopper confirmed.
    assert charges(shop_server, order_id) == [("succeeded", 199000)]


@pytest.mark.parametrize("typed", ["12,50", "1,250.00", "12.505", "-1", "1e3"])
def test_a_price_that_could_be_misread_is_refused_next_to_the_field(admin: Page, shop_server, typed):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1000, 5)
    open_product_form(admin, product_id)
    admin.get_by_label("Price ($)").fill(typed)
    admin.get_by_test_id("save-product").click()
    expect(admin.get_by_test_id("error-price")).to_contain_text("like 12.50")
    assert query(db, "SELECT price_cents, version FROM products WHERE id = ?", product_id) == [(1000, 1)]


def test_an_address_that_is_a_formula_stays_text_in_the_orders_csv(admin: Page, shop_server, page: Page):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1000, 5)
    formula = '=HYPERLINK("http://x","click")'
    register(page, unique_name("sheet"))
    page.goto(f"/product/{product_id}")
    page.get_by_test_id("add-to-cart").click()
    expect(cart_count(page)).to_have_text("1")
    page.goto("/checkout")
    fill_shipping(page)
    page.get_by_label("City").fill(formula)
    pay(page, CARD_OK)
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    number = page.get_by_test_id("order-number").inner_text().removeprefix("Order #")

    with admin.expect_download() as download:
        admin.get_by_role("button", name="Orders", exact=True).click()
    # Read as a spreadsheet reads it: the cell is text that starts with an apostrophe, not a formula.
    with Path(download.value.path()).open(newline="", encoding="utf-8") as exported:
        row = next(r for r in csv.DictReader(exported) if r["order_number"] == number)
    assert row["city"] == "'" + formula and not row["city"].startswith(("=", "+", "-", "@"))


def test_a_hidden_product_in_a_cart_says_so_and_checkout_says_why_not(admin: Page, shop_server, page: Page):
    db = shop_server.db_file
    product_id, name = new_product(db, 1000, 3)
    other_id, _ = new_product(db, 500, 3)
    register(page, unique_name("hidden"))
    for pid in (product_id, other_id):
        page.goto(f"/product/{pid}")
        page.get_by_test_id("add-to-cart").click()
        expect(page.get_by_text(re.compile("to your cart"))).to_be_visible()

    admin.goto(f"/admin/products?q={name.replace(' ', '+')}")
    admin.get_by_test_id("admin-product-row").get_by_role("button", name="Deactivate").click()
    expect(admin.get_by_text(re.compile("hidden from the shop"))).to_be_visible()

    page.goto("/cart")
    line = page.get_by_test_id("cart-line").filter(has_text=name)
    expect(line.get_by_test_id("line-unavailable")).to_have_text("No longer sold: remove it to check out.")
    expect(line.get_by_role("link", name=name)).to_have_count(0)  # no link to a page that is gone
    expect(page.get_by_test_id("checkout-blocked")).to_contain_text("remove them or lower their quantity")
    expect(page.get_by_role("button", name="Check out")).to_be_disabled()
    line.get_by_test_id("remove-line").click()
    expect(page.get_by_test_id("cart-line")).to_have_count(1)
    expect(page.get_by_test_id("checkout-blocked")).to_have_count(0)
    expect(page.get_by_role("button", name="Check out")).to_be_enabled()


def test_an_order_status_changed_in_another_tab_is_not_overwritten(admin: Page, shop_server, page: Page):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1000, 5)
    register(page, unique_name("twotabs"))
    order_id = buy(page, product_id, quantity=2)

    first_tab, second_tab = admin, admin.context.new_page()
    for tab in (first_tab, second_tab):
        tab.goto(f"/admin/orders/{order_id}")
        expect(tab.get_by_test_id("order-status")).to_have_text("paid")
    first_tab.get_by_test_id("move-to-shipped").click()
    expect(first_tab.get_by_test_id("order-status")).to_have_text("shipped")
    second_tab.get_by_test_id("move-to-cancelled").click()  # it still shows "paid"
    dialog = second_tab.get_by_role("alertdialog")
    expect(dialog).to_contain_text("refunded through the payment service first")
    dialog.get_by_role("button", name=re.compile(r"^Cancel order #")).click()
    expect(second_tab.get_by_text(re.compile("changed since you opened it: it is shipped now"))).to_be_visible()
    expect(second_tab.get_by_test_id("order-status")).to_have_text("shipped")
    assert query(db, "SELECT status, payment_status FROM orders WHERE id = ?", order_id) == [("shipped", "captured")]
    assert stock_of(db, product_id) == 3, "no stock put back for a cancel that did not happen"
    assert refunded_cents(shop_server, order_id) == 0, "no refund for a cancel that did not happen"
    second_tab.close()


def test_a_paid_order_cancelled_in_one_tab_is_refunded_once_and_a_stale_tab_changes_nothing(
    admin: Page, shop_server, page: Page
):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1250, 5)
    username = unique_name("refunded")
    register(page, username)
    order_id = buy(page, product_id, quantity=2)
    assert stock_of(db, product_id) == 3

    first_tab, second_tab = admin, admin.context.new_page()
    for tab in (first_tab, second_tab):
        tab.goto(f"/admin/orders/{order_id}")
        expect(tab.get_by_test_id("order-status")).to_have_text("paid")
    # Cancelling a paid order refunds it first; then its items go back in stock.
    first_tab.get_by_test_id("move-to-cancelled").click()
    dialog = first_tab.get_by_role("alertdialog")
    expect(dialog).to_contain_text("Its payment of $25.00 is refunded through the payment service first")
    dialog.get_by_role("button", name=re.compile(r"^Cancel order #")).click()
    expect(first_tab.get_by_text(re.compile(r"is cancelled and refunded"))).to_be_visible()
    expect(first_tab.get_by_test_id("order-status")).to_have_text("cancelled")
    expect(first_tab.get_by_test_id("payment-status")).to_have_text("refunded")
    expect(first_tab.locator("[data-testid^=move-to-]")).to_have_count(0)
    assert query(db, "SELECT status, payment_status FROM orders WHERE id = ?", order_id) == [("cancelled", "refunded")]
    assert stock_of(db, product_id) == 5
    assert refunded_cents(shop_server, order_id) == 2500

    # The stale tab still shows "paid": neither a second cancel (a second refund, a second restock) nor a ship.
    second_tab.get_by_test_id("move-to-cancelled").click()
    second_tab.get_by_role("alertdialog").get_by_role("button", name=re.compile(r"^Cancel order #")).click()
    expect(second_tab.get_by_text(re.compile("changed since you opened it: it is cancelled now"))).to_be_visible()
    expect(second_tab.get_by_test_id("order-status")).to_have_text("cancelled")
    assert stock_of(db, product_id) == 5, "the stock came back once"
    assert refunded_cents(shop_server, order_id) == 2500, "refunded once"
    assert charges(shop_server, order_id) == [("succeeded", 2500)]

    # The shopper sees it cancelled and refunded.
    page.goto(f"/orders/{order_id}")
    expect(page.get_by_test_id("order-status")).to_have_text("cancelled")
    expect(page.get_by_test_id("payment-status")).to_have_text("refunded")
    second_tab.close()
