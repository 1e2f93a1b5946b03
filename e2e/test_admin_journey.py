"""The admin's work in Chromium: products with images, the order workflow, analytics, access control."""

import csv
import io
import re
from pathlib import Path

from PIL import Image
from playwright.sync_api import Browser, Page, expect

from e2e.fixtures import ARTIFACTS
from e2e.helpers import (
    add_from_product_page,
    check_out_and_pay,
    confirm_email,
    fill_shipping,  # noqa: F401 (e2e/test_observability.py imports it from here)
    from_own_address,
    log_in,
    query,
    register,
    unique_name,
)


def test_admin_creates_a_product_ships_an_order_and_sees_the_revenue(
    browser: Browser, page: Page, shop_server, tmp_path
):
    db = shop_server.db_file

    # A shopper places an order and pays for it, in a browser of their own.
    shopper_context = browser.new_context(base_url=shop_server.url, **from_own_address())
    shopper = shopper_context.new_page()
    buyer = unique_name("buyer")
    register(shopper, buyer)
    confirm_email(shopper, shop_server.smtp, f"{buyer}@example.com")  # order e-mails go to a confirmed address
    add_from_product_page(shopper, db, "Canvas Sneakers", quantity=2)
    number = f"{check_out_and_pay(shopper):06d}"

    # The shopper is not an admin: the admin pages say so.
    shopper.goto("/admin/orders")
    expect(shopper.get_by_test_id("forbidden")).to_contain_text("403")

    # The admin logs in.
    page.goto("/login?next=/admin/products/new")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    expect(page).to_have_url(re.compile(r"/admin/products/new$"))

    # Bad input first: the messages are next to the fields and nothing is created.
    page.get_by_test_id("save-product").click()
    expect(page.get_by_test_id("error-name")).to_have_text("Name must be 1 to 200 characters.")
    expect(page.get_by_test_id("error-category_id")).to_have_text("Choose a category.")

    name = f"Lantern {unique_name('x')[-8:]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Description").fill("A warm light for long evenings.")
    page.get_by_label("Price ($)").fill("42.50")
    page.get_by_label("Stock").fill("7")
    page.get_by_label("Category").select_option(label="Home & Kitchen")
    picture = tmp_path / "lantern.png"
    Image.new("RGB", (64, 64), (250, 180, 40)).save(picture)
    # Chosen is uploaded: one step.
    page.locator("input[type=file]").set_input_files(picture)
    expect(page.get_by_test_id("image-preview")).to_have_attribute("src", re.compile(r"^/_upload/product-.*\.png$"))
    page.get_by_test_id("save-product").click()
    expect(page).to_have_url(re.compile(r"/admin/products\?q="))
    expect(page.get_by_test_id("admin-product-row")).to_have_count(1)
    stored = query(db, "SELECT price_cents, stock, image FROM products WHERE name = ?", name)
    assert stored[0][:2] == (4250, 7) and stored[0][2].startswith("/_upload/product-")
    # Its page is named after it, and links to it in the store.
    page.get_by_test_id("admin-product-row").get_by_role("link", name=name).click()
    expect(page.get_by_test_id("admin-title")).to_have_text(f"Edit: {name}")
    (product_id,) = query(db, "SELECT id FROM products WHERE name = ?", name)[0]
    expect(page.get_by_test_id("view-in-store")).to_have_attribute("href", f"/product/{product_id}")

    # The shopper finds it in the storefront, with its image.
    shopper.goto("/?q=" + name.replace(" ", "+"))
    card = shopper.get_by_test_id("product-card")
    expect(card).to_have_count(1)
    expect(card.get_by_test_id("product-price")).to_have_text("$42.50")
    shopper.wait_for_function(
        "() => { const img = document.querySelector('[data-testid=product-card] img');"
        " return img && img.complete && img.naturalWidth === 64; }"
    )

    # The admin finds the order paid (nobody marks it so by hand) and ships it: paid -> shipped.
    page.goto("/admin/orders")
    page.get_by_placeholder("Order number, customer name or e-mail…").fill(number)
    page.get_by_role("button", name="Search").click()
    rows = page.get_by_test_id("admin-order-row")
    expect(rows).to_have_count(1)
    # The list shows the payment: its status, the card and the payment's reference.
    expect(rows.first.get_by_test_id("order-status")).to_have_text("paid")
    expect(rows.first.get_by_test_id("admin-payment-status")).to_have_text("paid")
    expect(rows.first).to_contain_text("Visa •••• 4242")
    (reference,) = query(db, "SELECT payment_reference FROM orders WHERE id = ?", int(number))[0]
    assert reference.startswith("pi_")
    expect(rows.first).to_contain_text(reference)
    rows.first.get_by_role("link").click()
    expect(page.get_by_test_id("admin-title")).to_have_text(f"Order #{number}")
    expect(page.get_by_role("navigation", name="Admin").locator("[aria-current=page]")).to_have_text("Orders")
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    expect(page.get_by_test_id("payment-card")).to_have_text("Visa •••• 4242, expires 12/34")
    expect(page.get_by_test_id("payment-reference")).to_contain_text(reference)
    # The next steps in workflow order, in words, the cancel last; "Mark as paid" is gone.
    expect(page.locator("[data-testid^=move-to-]")).to_have_text(["Mark as shipped", "Cancel order"])
    expect(page.get_by_test_id("move-to-paid")).to_have_count(0)
    page.get_by_test_id("move-to-shipped").click()
    expect(page.get_by_test_id("order-status")).to_have_text("shipped")
    expect(page.get_by_test_id("move-to-cancelled")).to_have_count(0)  # a shipped order cannot be cancelled
    expect(page.locator("[data-testid^=move-to-]")).to_have_text(["Mark as delivered"])
    # Placed (awaiting payment), paid when its payment went through, shipped by the admin.
    expect(page.get_by_test_id("history-step")).to_have_count(3)
    last_step = page.get_by_test_id("history-step").last
    expect(last_step).to_contain_text("paid → shipped")
    expect(last_step).to_contain_text(f"by {shop_server.admin_username}")
    page.screenshot(path=str(ARTIFACTS / "admin-order.png"), full_page=True)
    # Shipping is the one status move that sends the shopper an e-mail.
    (shipped,) = shop_server.smtp.wait_for(to=f"{buyer}@example.com", kind="order_shipped")
    assert shipped["Subject"] == f"Order #{number} is on its way"
    kinds = sorted(message["X-Shop-Email-Kind"] for message in shop_server.smtp.messages(to=f"{buyer}@example.com"))
    assert kinds == ["order_placed", "order_shipped", "verify_email"]

    # The shopper sees it.
    shopper.goto("/orders")
    row = shopper.get_by_test_id("order-row").filter(has_text=f"#{number}")
    expect(row.get_by_test_id("order-status")).to_have_text("shipped")
    shopper_context.close()

    # Analytics: revenue is every order of the last 7 days whose money came in (paid, shipped or
    # delivered), this one included; an order awaiting payment or refunded is not revenue.
    (expected_cents,) = query(
        db, "SELECT sum(total_cents) FROM orders WHERE status IN ('paid', 'shipped', 'delivered')"
    )[0]
    (order_cents,) = query(db, "SELECT total_cents FROM orders WHERE id = ?", int(number))[0]
    assert order_cents == 2 * 5999 and expected_cents >= order_cents
    page.goto("/admin?days=7")
    expect(page.get_by_test_id("kpi-revenue")).to_have_text(f"${expected_cents // 100:,}.{expected_cents % 100:02d}")
    # Every order of this test shop is from today: against the 7 days before, revenue is new.
    expect(page.get_by_test_id("kpi-revenue-change")).to_have_text("new vs previous 7 days")
    # Money axes read as money.
    ticks = page.locator(".recharts-cartesian-axis-tick-value")
    expect(ticks.filter(has_text=re.compile(r"^\$\d")).first).to_be_visible()
    # The pie colours each status with its badge's colour (one home: components/orders.py).
    sectors = page.locator(".recharts-pie-sector path")
    expect(sectors.first).to_be_visible()
    fills = sectors.evaluate_all("paths => paths.map(path => getComputedStyle(path).fill)")
    assert "rgb(0, 0, 0)" not in fills and len(set(fills)) == len(fills), fills
    page.screenshot(path=str(ARTIFACTS / "admin-dashboard.png"), full_page=True)

    # CSV export of orders.
    with page.expect_download() as download:
        page.get_by_role("button", name="Orders", exact=True).click()
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    mine = next(r for r in rows if r["order_number"] == number)
    assert mine["status"] == "shipped" and mine["total"] == "119.98"


def test_user_management_disables_a_shopper_at_once(browser: Browser, page: Page, shop_server):
    username = unique_name("victim")
    shopper_context = browser.new_context(base_url=shop_server.url, **from_own_address())
    shopper = shopper_context.new_page()
    register(shopper, username)

    page.goto("/login?next=/admin/users")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    page.get_by_placeholder("Username or e-mail…").fill(username)
    page.get_by_role("button", name="Search").click()
    row = page.get_by_test_id("admin-user-row")
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Disable").click()
    # It asks first, naming what will happen; keeping it as it is changes nothing.
    dialog = page.get_by_role("alertdialog")
    expect(dialog).to_contain_text("logged out everywhere")
    dialog.get_by_role("button", name="Keep it as it is").click()
    expect(dialog).to_have_count(0)
    expect(row).to_contain_text("active")
    row.get_by_role("button", name="Disable").click()
    page.get_by_role("alertdialog").get_by_role("button", name=f"Disable {username}").click()
    expect(row).to_contain_text("disabled")

    # Their session is gone: the next page they open treats them as a guest.
    shopper.goto("/orders")
    expect(shopper).to_have_url(re.compile(r"/login\?next=/orders$"))
    shopper_context.close()

    # The admin cannot disable or demote themselves.
    page.get_by_placeholder("Username or e-mail…").fill(shop_server.admin_username)
    page.get_by_role("button", name="Search").click()
    me = page.get_by_test_id("admin-user-row").filter(has_text="you")
    expect(me.get_by_role("button", name="Disable")).to_be_disabled()
    expect(me.get_by_role("button", name="Revoke admin")).to_be_disabled()


def test_guests_get_a_403_page_not_a_blank_page(page: Page):
    for path in ("/admin", "/admin/products", "/admin/products/new", "/admin/users", "/admin/orders/1"):
        page.goto(path)
        expect(page.get_by_test_id("forbidden")).to_contain_text("403 · Admins only")
