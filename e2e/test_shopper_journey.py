"""Shopper journeys in Chromium against the production build."""

import re

from playwright.sync_api import Page, expect

from e2e.fixtures import ARTIFACTS
from e2e.helpers import (
    CARD_OK,
    add_from_product_page,
    cart_count,
    charges,
    confirm_email,
    execute,
    fill_card,
    fill_shipping,
    from_own_address,
    listing_pages,
    log_in,
    log_out,
    product_id,
    query,
    register,
    unique_name,
)
from testkit.smtp import html_of, text_of


def test_register_search_add_change_quantity_check_out_and_see_the_order(page: Page, shop_server):
    db = shop_server.db_file
    username = unique_name("journey")
    register(page, username)
    confirm_email(page, shop_server.smtp, f"{username}@example.com")  # order e-mails go to a confirmed address

    # Search, then add from the listing.
    page.goto("/")
    page.get_by_test_id("search-input").fill("keyboard")
    page.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/\?q=keyboard$"))
    cards = page.get_by_test_id("product-card")
    expect(cards).to_have_count(1)
    cards.first.get_by_test_id("add-to-cart").click()
    expect(cart_count(page)).to_have_text("1")

    # A second product, two of them, from its own page.
    add_from_product_page(page, db, "Yoga Mat", quantity=2)
    expect(cart_count(page)).to_have_text("3")

    # Change a quantity in the cart: the totals follow.
    page.goto("/cart")
    lines = page.get_by_test_id("cart-line")
    expect(lines).to_have_count(2)
    keyboard = lines.filter(has_text="Mechanical Keyboard")
    keyboard.get_by_role("button", name="More").click()
    expect(keyboard.get_by_test_id("line-total")).to_have_text("$258.00")
    expect(page.get_by_test_id("cart-total")).to_have_text("$317.98")  # 2 x 129.00 + 2 x 29.99
    expect(cart_count(page)).to_have_text("4")

    stock_before = dict(query(db, "SELECT name, stock FROM products WHERE name IN ('Mechanical Keyboard', 'Yoga Mat')"))
    page.get_by_test_id("checkout-link").click()
    expect(page).to_have_url(re.compile(r"/checkout$"))

    # The pay button says what will be charged.
    expect(page.get_by_test_id("place-order")).to_have_text("Place order and pay $317.98")
    # Missing fields, the card's too, are named next to the field; nothing is ordered or charged.
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("error-name")).to_have_text("Full name is required.")
    expect(page.get_by_test_id("error-country")).to_be_visible()
    expect(page.get_by_test_id("error-card_number")).to_have_text("Card number is required.")
    expect(page.get_by_test_id("error-card_cvc")).to_be_visible()
    assert query(
        db, "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?", username
    ) == [(0,)]

    fill_shipping(page, "Ada Lovelace", "12 Analytical Street", "N1 9GU", "London", "United Kingdom", region="")
    fill_card(page, CARD_OK, expiry="12/34", cvc="123", name="Ada Lovelace")
    page.get_by_test_id("place-order").dblclick()  # a double click must still make one order and one payment

    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/orders/\d+\?placed=1$"))
    number = page.get_by_test_id("order-number").inner_text().removeprefix("Order #")
    expect(page.get_by_test_id("order-total")).to_have_text("$317.98")
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    expect(page.get_by_test_id("payment-status")).to_have_text("paid")
    expect(page.get_by_test_id("payment-card")).to_have_text("Visa •••• 4242, expires 12/34")
    expect(page.get_by_test_id("payment-reference")).to_contain_text("pi_")
    page.screenshot(path=str(ARTIFACTS / "order-confirmation.png"), full_page=True)

    orders = query(
        db,
        "SELECT o.id, o.total_cents, o.status, o.payment_status, o.card_brand, o.card_last4"
        " FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?",
        username,
    )
    assert orders == [(int(number), 31798, "paid", "captured", "visa", "4242")]
    # The payment service charged the card once, the total the page showed.
    assert charges(shop_server, int(number)) == [("succeeded", 31798)]
    stock_after = dict(query(db, "SELECT name, stock FROM products WHERE name IN ('Mechanical Keyboard', 'Yoga Mat')"))
    assert stock_after == {name: stock - 2 for name, stock in stock_before.items()}
    expect(cart_count(page)).to_have_count(0)

    # Exactly one "order placed" e-mail, once paid, with the lines, the total, the card and a link that opens the order.
    (email,) = shop_server.smtp.wait_for(to=f"{username}@example.com", kind="order_placed")
    assert email["Subject"] == f"Your order #{number} at Reflex Shop"
    text = text_of(email)
    assert "2 x Mechanical Keyboard at $129.00 = $258.00" in text and "2 x Yoga Mat at $29.99 = $59.98" in text
    assert "Total: $317.98, paid with Visa •••• 4242" in text and "12 Analytical Street" in text
    assert "Mechanical Keyboard" in html_of(email) and "$317.98" in html_of(email)
    assert "Visa •••• 4242" in html_of(email)
    assert query(db, "SELECT count(*) FROM email_outbox WHERE order_id = ? AND kind = 'order_placed'", int(number)) == [
        (1,)
    ]
    order_link = re.search(r"http://\S+/orders/\d+", text).group(0)
    assert order_link == f"{shop_server.url}/orders/{int(number)}"
    page.goto(order_link)
    expect(page.get_by_test_id("order-total")).to_have_text("$317.98")
    expect(page.get_by_test_id("order-number")).to_contain_text(number)
    assert len(shop_server.smtp.messages(to=f"{username}@example.com", kind="order_placed")) == 1

    page.goto("/orders")
    rows = page.get_by_test_id("order-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"#{number}")
    expect(rows.first.get_by_test_id("order-status")).to_have_text("paid")
    rows.first.get_by_role("link").click()
    # Placed (awaiting payment), then paid.
    expect(page.get_by_test_id("history-step")).to_have_count(2)
    expect(page.get_by_test_id("order-confirmation")).to_have_count(0)
    expect(page.get_by_test_id("pay-now")).to_have_count(0)


def test_a_guest_cart_merges_into_the_account_on_login(page: Page, shop_server):
    username = unique_name("merger")
    register(page, username)
    add_from_product_page(page, shop_server.db_file, "Jump Rope", quantity=1)
    log_out(page)
    expect(cart_count(page)).to_have_count(0)

    # As a guest: the cart lives in the browser and survives a reload.
    add_from_product_page(page, shop_server.db_file, "Jump Rope", quantity=2)
    add_from_product_page(page, shop_server.db_file, "Wool Beanie", quantity=1)
    page.reload()
    expect(cart_count(page)).to_have_text("3")

    page.goto("/login")
    log_in(page, username)
    expect(page.get_by_test_id("current-user")).to_have_text(username)
    expect(cart_count(page)).to_have_text("4")
    stored = query(
        shop_server.db_file,
        "SELECT p.name, c.quantity FROM cart_items c JOIN users u ON u.id = c.user_id"
        " JOIN products p ON p.id = c.product_id WHERE u.username = ? ORDER BY p.name",
        username,
    )
    assert stored == [("Jump Rope", 3), ("Wool Beanie", 1)]


def test_checkout_needs_login_and_comes_back(page: Page, shop_server):
    username = unique_name("returner")
    register(page, username)
    log_out(page)
    add_from_product_page(page, shop_server.db_file, "Plush Bear")
    page.goto("/checkout")
    expect(page).to_have_url(re.compile(r"/login\?next=/checkout$"))
    log_in(page, username)
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.get_by_test_id("checkout-total")).to_have_text("$17.99")


def test_a_guesser_is_throttled_and_the_owner_still_logs_in(page: Page, browser, shop_server):
    username = unique_name("guessed")
    register(page, username)
    log_out(page)
    page.goto("/login")
    for _ in range(5):
        log_in(page, username, "not-the-password")
        expect(page.get_by_test_id("form-error")).to_have_text("Wrong username or password.")
    log_in(page, username)  # from the guessing address, even the right password is not checked now
    expect(page.get_by_test_id("form-error")).to_contain_text("Too many failed logins for this account. Try again in")
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    # The owner, from an address of their own, gets in: guessing is no lockout button.
    owner = browser.new_context(base_url=shop_server.url, **from_own_address())
    owner_page = owner.new_page()
    owner_page.goto("/login")
    log_in(owner_page, username)
    expect(owner_page.get_by_test_id("current-user")).to_have_text(username)
    owner.close()


def test_a_shortage_at_checkout_names_the_product_and_changes_nothing(page: Page, shop_server):
    db = shop_server.db_file
    username = unique_name("short")
    register(page, username)
    add_from_product_page(page, db, "Science Kit", quantity=3)
    add_from_product_page(page, db, "Jigsaw Puzzle 1000", quantity=1)
    page.goto("/checkout")
    expect(page.get_by_test_id("checkout-total")).to_have_text("$124.96")
    fill_shipping(page, "A B", "1 Road", "1000", "X", "Norway", region="")
    fill_card(page, CARD_OK)
    # Someone else buys most of the kits while this page is open.
    (stock_before,) = query(db, "SELECT stock FROM products WHERE name = 'Jigsaw Puzzle 1000'")[0]
    execute(db, "UPDATE products SET stock = 2 WHERE name = 'Science Kit'")
    try:
        page.get_by_test_id("place-order").click()
        expect(page.get_by_test_id("checkout-error")).to_have_text(
            "Not enough stock, nothing was ordered. Science Kit: only 2 left."
        )
        assert query(db, "SELECT stock FROM products WHERE name = 'Science Kit'") == [(2,)]
        assert query(db, "SELECT stock FROM products WHERE name = 'Jigsaw Puzzle 1000'") == [(stock_before,)]
        assert query(
            db, "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?", username
        ) == [(0,)]
        expect(page.get_by_test_id("place-order")).to_be_disabled()

        page.goto("/cart")
        expect(page.get_by_test_id("line-unavailable")).to_have_text("Only 2 left: lower the quantity to check out.")
        expect(page.get_by_test_id("checkout-blocked")).to_be_visible()
    finally:
        execute(db, "UPDATE products SET stock = 13 WHERE name = 'Science Kit'")


def test_garbage_in_the_url_gets_a_page_not_an_error(page: Page, shop_server):
    page.goto("/?page=abc&sort=drop%20table&q=" + "x" * 500)
    expect(page.get_by_test_id("empty-state")).to_be_visible()
    page.goto("/?page=-5&sort=nonsense")
    pages = listing_pages(shop_server.db_file)
    expect(page.get_by_test_id("page-indicator")).to_have_text(f"Page 1 of {pages}")
    page.goto("/?page=999")
    expect(page.get_by_test_id("page-indicator")).to_have_text(f"Page {pages} of {pages}")
    page.goto("/orders/abc")
    expect(page).to_have_url(re.compile(r"/login\?next=/orders/abc$"))


def test_quantity_is_capped_by_stock_with_a_message(page: Page, shop_server):
    db = shop_server.db_file
    # Trekking Poles: one left.
    page.goto(f"/product/{product_id(db, 'Trekking Poles')}")
    expect(page.get_by_test_id("stock-status")).to_have_text("Only 1 left")
    expect(page.get_by_role("button", name="More")).to_be_disabled()
    page.get_by_test_id("add-to-cart").click()
    expect(cart_count(page)).to_have_text("1")
    page.goto("/cart")
    page.get_by_test_id("line-quantity").fill("7")
    page.get_by_test_id("line-quantity").blur()
    expect(page.get_by_text("Only 1 of Trekking Poles is in stock.")).to_be_visible()
    expect(page.get_by_test_id("line-quantity")).to_have_value("1")
    page.get_by_test_id("remove-line").click()
    expect(page.get_by_test_id("empty-cart")).to_be_visible()


def test_out_of_stock_products_cannot_be_added(page: Page, shop_server):
    page.goto(f"/product/{product_id(shop_server.db_file, 'Webcam HD')}")
    expect(page.get_by_test_id("stock-status")).to_have_text("Out of stock")
    expect(page.get_by_test_id("add-to-cart")).to_have_count(0)


def test_registration_errors_are_shown_next_to_each_field(page: Page, shop_server):
    existing = unique_name("taken")
    register(page, existing)
    log_out(page)
    page.goto("/register")
    page.get_by_label("Username").fill(existing.upper())
    page.get_by_label("E-mail").fill("not-an-email")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Confirm password").fill("different")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("error-username")).to_have_text("This username is taken.")
    expect(page.get_by_test_id("error-email")).to_have_text("Enter a valid e-mail address.")
    expect(page.get_by_test_id("error-password")).to_have_text("Use at least 10 characters.")
    expect(page.get_by_test_id("error-confirm")).to_have_text("The passwords do not match.")
    assert query(shop_server.db_file, "SELECT count(*) FROM users WHERE lower(username) = ?", existing.lower()) == [
        (1,)
    ]


def test_unknown_product_and_order_and_page_are_friendly(page: Page, shop_server):
    page.goto("/product/999999")
    expect(page.get_by_test_id("not-found")).to_contain_text("Product not found")
    page.goto("/product/not-a-number")
    expect(page.get_by_test_id("not-found")).to_contain_text("Product not found")
    page.goto("/no/such/page")
    expect(page.get_by_test_id("not-found")).to_contain_text("Page not found")
    register(page, unique_name("snoop"))
    page.goto("/orders/1")  # someone else's order, or none: the same answer
    expect(page.get_by_test_id("not-found")).to_contain_text("Order not found")


def test_sort_and_category_pages_are_linkable(page: Page, shop_server):
    page.goto("/category/books?sort=price_asc")
    expect(page.get_by_test_id("listing-title")).to_have_text("Books")
    prices = page.get_by_test_id("product-price")
    expect(prices).to_have_count(8)
    values = [float(p.strip("$").replace(",", "")) for p in prices.all_inner_texts()]
    assert values == sorted(values)
    page.get_by_test_id("sort").click()
    page.get_by_role("option", name="Price: high to low").click()
    expect(page).to_have_url(re.compile(r"/category/books\?sort=price_desc$"))
    expect(prices.first).to_have_text("$47.99")


def test_phone_width_has_a_usable_menu_and_cart(page: Page, shop_server):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    expect(page.get_by_test_id("product-card").first).to_be_visible()
    page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart").click()
    expect(cart_count(page)).to_have_text("1")
    page.get_by_test_id("menu").click()
    page.get_by_role("menuitem", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    page.get_by_test_id("cart-link").click()
    expect(page.get_by_test_id("cart-line")).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    page.screenshot(path=str(ARTIFACTS / "phone-cart.png"), full_page=True)
