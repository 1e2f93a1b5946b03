"""What a shopper notices: searching inside a category, counts that read right, two columns on a
phone, page URLs answered where they are, and build assets the browser keeps."""

from __future__ import annotations

import re
import urllib.request

from playwright.sync_api import Page, expect

from e2e.helpers import (
    CARD_OK,
    PASSWORD,
    add_from_product_page,
    fault_flag,
    fill_card,
    fill_shipping,
    query,
    register,
    unique_name,
)


def test_a_search_in_a_category_says_so_and_searches_everywhere_in_one_click(page: Page, shop_server):
    # "set": one product in Home & Kitchen, more in Toys & Games.
    page.goto("/category/home-kitchen?q=set")
    count = page.get_by_test_id("result-count")
    expect(count).to_contain_text(re.compile(r'^\d+ products? for "set" in Home & Kitchen'))
    in_category = int(count.inner_text().split()[0])
    count.get_by_test_id("search-everywhere").click()
    expect(page).to_have_url(re.compile(r"/\?q=set$"))
    expect(page.get_by_test_id("listing-title")).to_have_text("All products")
    expect(count).to_have_text(re.compile(r'^\d+ products for "set"$'))
    assert int(count.inner_text().split()[0]) > in_category

    # Switching category keeps the search and the sort.
    page.goto("/?q=wireless&sort=price_asc")
    page.get_by_test_id("category-filter").filter(has_text="Books").click()
    expect(page).to_have_url(re.compile(r"/category/books\?q=wireless&sort=price_asc$"))
    # Nothing in Books: the empty state offers the same search in every category, text kept.
    empty = page.get_by_test_id("empty-state")
    expect(empty).to_contain_text("Nothing in Books matches your search")
    empty.get_by_test_id("search-everywhere").click()
    expect(page).to_have_url(re.compile(r"/\?q=wireless&sort=price_asc$"))
    expect(page.get_by_test_id("search-input")).to_have_value("wireless")
    expect(page.get_by_test_id("product-card")).not_to_have_count(0)


def test_counts_are_singular_for_one(page: Page, shop_server):
    page.goto("/?q=Strategy+Board+Game")
    expect(page.get_by_test_id("result-count")).to_have_text('1 product for "Strategy Board Game"')
    page.goto("/")
    total = query(shop_server.db_file, "SELECT count(*) FROM products WHERE is_active")[0][0]
    expect(page.get_by_test_id("result-count")).to_have_text(f"{total} products")


def test_a_phone_shows_two_product_columns_without_sideways_scrolling(page: Page, shop_server):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/")
    cards = page.get_by_test_id("product-card")
    expect(cards).to_have_count(12)
    first, second, third = (cards.nth(i).bounding_box() for i in range(3))
    assert first["y"] == second["y"] and second["x"] > first["x"], "two cards side by side"
    assert third["y"] > first["y"] and third["x"] == first["x"], "the third starts the next row"
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_page_urls_are_answered_where_they_are_and_assets_are_cached_for_good(shop_server):
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(NoRedirect)
    # The storefront's scripts come in a handful of chunks, not one per component (frontend_build.py):
    # each costs a phone a round trip before the first paint.
    with opener.open(shop_server.url + "/", timeout=10) as response:
        scripts = re.findall(r'<link rel="modulepreload" href="([^"]+)"', response.read().decode())
    assert 0 < len(scripts) <= 8, scripts
    for path in ("/cart", "/login", "/register", "/orders", "/admin", "/admin/products"):
        with opener.open(shop_server.url + path, timeout=10) as response:
            assert response.status == 200, path
            assert response.headers["Cache-Control"] == "no-cache", path
            page_html = response.read().decode()
    assets = set(re.findall(r'"(/assets/[^"]+-[A-Za-z0-9_-]{8}\.(?:js|css))"', page_html))
    assert assets
    for asset in sorted(assets)[:5]:
        with opener.open(shop_server.url + asset, timeout=10) as response:
            assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable", asset
    # The API and health answers are not cached by the browser as pages are.
    with opener.open(shop_server.url + "/health", timeout=10) as response:
        assert response.headers.get("Cache-Control") != "public, max-age=31536000, immutable"


def test_every_listing_change_says_it_is_loading_before_the_new_listing_arrives(page: Page, shop_server):
    with page.expect_websocket() as opened:
        page.goto("/?q=a")
    socket = opened.value
    title, grid = page.get_by_test_id("listing-title"), page.get_by_test_id("product-grid")
    loading, count = page.get_by_test_id("listing-loading"), page.get_by_test_id("result-count")
    expect(count).to_be_visible()
    expect(loading).to_have_count(0)

    def loads_while_the_old_listing_stays(change, old_title: str, new_url: str) -> None:
        change()
        # Said in the browser at once: the catalogue takes 1.5 s more to answer (catalogueDelayMs).
        expect(loading).to_be_visible()
        expect(loading).to_have_text("Loading products…")
        expect(grid).to_have_attribute("aria-busy", "true")
        expect(title).to_have_text(old_title)
        expect(page).to_have_url(re.compile(new_url))
        expect(loading).to_have_count(0, timeout=15_000)
        expect(grid).to_have_attribute("aria-busy", "false")
        expect(count).to_be_visible()

    with fault_flag(shop_server, "catalogueDelayMs", "slow"):
        loads_while_the_old_listing_stays(
            lambda: page.get_by_test_id("category-filter").filter(has_text="Books").click(),
            "All products",
            r"/category/books\?q=a$",
        )
        expect(title).to_have_text("Books")

        def sort() -> None:
            page.get_by_test_id("sort").click()
            page.get_by_role("option", name="Price: high to low").click()

        loads_while_the_old_listing_stays(sort, "Books", r"/category/books\?q=a&sort=price_desc$")

        def search_everywhere() -> None:
            page.get_by_test_id("search-input").fill("")
            page.get_by_test_id("category-filter").filter(has_text="All").click()

        loads_while_the_old_listing_stays(search_everywhere, "Books", r"/\?q=a&sort=price_desc$")

        def search() -> None:
            page.get_by_test_id("search-input").fill("e")
            page.get_by_test_id("search-input").press("Enter")

        loads_while_the_old_listing_stays(search, "All products", r"/\?q=e&sort=price_desc$")
        loads_while_the_old_listing_stays(
            lambda: page.get_by_role("link", name="Next").click(), "All products", r"page=2$"
        )
        expect(page.get_by_test_id("page-indicator")).to_contain_text("Page 2 of")
        loads_while_the_old_listing_stays(page.go_back, "All products", r"/\?q=e&sort=price_desc$")
        expect(page.get_by_test_id("page-indicator")).to_contain_text("Page 1 of")

        # The same search again has nothing to load: once the shop has answered, the indicator is gone.
        with socket.expect_event("framereceived", lambda frame: "setListing_requested" in str(frame)):
            page.get_by_test_id("search-input").press("Enter")
        expect(loading).to_have_count(0)
        expect(grid).to_have_attribute("aria-busy", "false")


def test_the_add_to_cart_toast_leads_to_the_cart(page: Page, shop_server):
    page.goto("/?q=Yoga+Mat")
    page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart").click()
    toast = page.locator("[data-sonner-toast]").filter(has_text="Added Yoga Mat to your cart")
    toast.get_by_role("button", name="View cart").click()
    expect(page).to_have_url(re.compile(r"/cart$"))
    expect(page.get_by_test_id("cart-line")).to_have_count(1)


def test_a_product_page_is_named_after_its_product_with_breadcrumbs(page: Page, shop_server):
    (product_id, name, description, category, slug) = query(
        shop_server.db_file,
        "SELECT p.id, p.name, p.description, c.name, c.slug FROM products p JOIN categories c ON c.id = p.category_id"
        " WHERE p.is_active ORDER BY p.id LIMIT 1",
    )[0]
    page.goto(f"/product/{product_id}")
    expect(page).to_have_title(f"{name} · Reflex Shop")
    summary = page.locator('meta[name="description"]')
    expect(summary).to_have_attribute("content", re.compile("^" + re.escape(" ".join(description.split())[:40])))
    trail = page.get_by_role("navigation", name="Breadcrumb")
    expect(trail.get_by_role("link")).to_have_text(["Shop", category])
    expect(trail.locator("[aria-current=page]")).to_have_text(name)
    trail.get_by_role("link", name=category).click()
    expect(page).to_have_url(re.compile(rf"/category/{slug}$"))

    page.goto("/product/99999999")
    expect(page.get_by_test_id("not-found")).to_be_visible()
    expect(page).to_have_title("Product not found · Reflex Shop")


def test_a_guest_is_told_why_to_log_in_and_comes_back_to_the_checkout_with_the_cart(page: Page, shop_server):
    page.goto("/?q=Yoga+Mat")
    page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    page.goto("/cart")
    total = page.get_by_test_id("cart-total").inner_text()
    page.get_by_test_id("checkout-link").click()
    expect(page).to_have_url(re.compile(r"/login\?next=/checkout$"))
    expect(page.get_by_test_id("checkout-notice")).to_contain_text("Your cart comes with you")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/register\?next=/checkout$"))
    expect(page.get_by_test_id("checkout-notice")).to_be_visible()
    username = unique_name("guest")
    page.get_by_label("Username").fill(username)
    page.get_by_label("E-mail").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Confirm password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page).to_have_url(re.compile(r"/checkout$"))
    expect(page.get_by_test_id("checkout-total")).to_have_text(total)


def test_cart_quantity_applies_on_enter_stops_at_the_stock_and_a_removal_can_be_undone(page: Page, shop_server):
    (stock,) = query(shop_server.db_file, "SELECT stock FROM products WHERE name = 'Plush Bear'")[0]
    page.goto("/?q=Plush+Bear")
    page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    page.goto("/cart")
    line = page.get_by_test_id("cart-line").filter(has_text="Plush Bear")
    more = line.get_by_role("button", name="More")
    expect(more).to_be_enabled()

    # Enter applies what was typed, up to the stock: then "+" cannot go further.
    box = line.get_by_test_id("line-quantity")
    box.fill(str(min(stock, 99)))
    box.press("Enter")
    expect(page.get_by_test_id("cart-count")).to_have_text(str(min(stock, 99)))
    expect(more).to_be_disabled()
    box = line.get_by_test_id("line-quantity")
    box.fill("2")
    box.press("Enter")
    expect(page.get_by_test_id("cart-count")).to_have_text("2")
    expect(more).to_be_enabled()

    # Removing says so, with an Undo that puts the line back as it was.
    line.get_by_test_id("remove-line").click()
    expect(page.get_by_test_id("cart-line").filter(has_text="Plush Bear")).to_have_count(0)
    toast = page.locator("[data-sonner-toast]").filter(has_text="Removed Plush Bear.")
    toast.get_by_role("button", name="Undo").click()
    expect(page.get_by_test_id("cart-line").filter(has_text="Plush Bear")).to_have_count(1)
    expect(page.get_by_test_id("cart-count")).to_have_text("2")


def test_cart_buttons_are_big_enough_to_tap_on_a_phone(page: Page, shop_server):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/?q=Card+Game+Classics")
    page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart").click()
    expect(page.get_by_test_id("cart-count")).to_have_text("1")
    page.goto("/cart")
    line = page.get_by_test_id("cart-line").first
    for target in (
        line.get_by_role("button", name="Fewer"),
        line.get_by_role("button", name="More"),
        line.get_by_test_id("remove-line"),
        # The box's frame (the input inside it is the frame less its border).
        line.get_by_test_id("line-quantity").locator("xpath=.."),
    ):
        box = target.bounding_box()
        assert box["height"] >= 44, box
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


def test_checkout_asks_for_contact_and_a_real_address_and_says_what_to_fix_at_the_top(page: Page, shop_server):
    username = unique_name("addr")
    register(page, username)
    add_from_product_page(page, shop_server.db_file, "Yoga Mat")
    page.goto("/checkout")
    expect(page.get_by_label("E-mail")).to_have_value(f"{username}@example.com")  # from the account
    fill_shipping(page, "Ada Lovelace", "1 Main St", "1000", "Springfield", "United States", region="")
    page.get_by_label("Phone (optional)").fill("call me")
    fill_card(page, CARD_OK, name="Ada Lovelace")
    page.get_by_test_id("place-order").click()

    # What to fix, at the top, with the focus on it; nothing ordered.
    summary = page.get_by_test_id("error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("Please check 3 fields")
    expect(summary).to_contain_text("State is required for United States.")
    expect(summary).to_contain_text("United States ZIP codes look like 12345 or 12345-6789.")
    expect(summary).to_contain_text("Phone")
    expect(page.get_by_label("Postal code")).to_have_attribute("aria-invalid", "true")
    assert query(
        shop_server.db_file,
        "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?",
        username,
    ) == [(0,)]

    # The state comes from the country's list; fixed, the order goes through with all of it.
    page.get_by_label("State").select_option(label="Illinois")
    page.get_by_label("Postal code").fill("62704")
    page.get_by_label("Phone (optional)").fill("+1 217 555 0100")
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    for shown in ("Illinois", "United States", f"{username}@example.com", "+1 217 555 0100"):
        expect(page.get_by_text(shown, exact=True)).to_be_visible()
    # Times in the reader's own zone, the exact instant kept in the <time> element.
    expect(page.locator("time").first).to_have_attribute("datetime", re.compile(r"^\d{4}-\d\d-\d\dT"))


def test_an_unknown_product_or_category_says_so_and_answers_404(page: Page, shop_server):
    for path, title in (
        ("/product/99999999", "Product not found"),
        ("/product/not-a-number", "Product not found"),
        ("/category/no-such-thing", "Category not found"),
    ):
        response = page.goto(path)
        assert response.status == 404, path
        expect(page.get_by_test_id("not-found")).to_be_visible()
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
    (product_id, slug) = query(
        shop_server.db_file,
        "SELECT p.id, c.slug FROM products p JOIN categories c ON c.id = p.category_id WHERE p.is_active LIMIT 1",
    )[0]
    assert page.goto(f"/product/{product_id}").status == 200
    assert page.goto(f"/category/{slug}?q=a").status == 200
    expect(page.get_by_test_id("not-found")).to_have_count(0)
