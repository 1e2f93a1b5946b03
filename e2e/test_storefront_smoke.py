"""The storefront in a real browser against the real production build."""

import re
import sqlite3

from playwright.sync_api import Page, expect

from e2e.fixtures import ARTIFACTS
from e2e.helpers import active_product_count, listing_pages


def newest_product_names(db_file, limit=12, category=None):
    query = (
        "SELECT p.name FROM products p JOIN categories c ON c.id = p.category_id"
        " WHERE p.is_active AND (? IS NULL OR c.slug = ?) ORDER BY p.created_at DESC, p.id DESC LIMIT ?"
    )
    with sqlite3.connect(db_file) as connection:
        return [row[0] for row in connection.execute(query, (category, category, limit))]


def test_home_lists_the_seeded_products_with_images(page: Page, shop_server):
    page.goto("/")
    cards = page.get_by_test_id("product-card")
    expect(cards).to_have_count(12)
    expect(page.get_by_test_id("result-count")).to_have_text(f"{active_product_count(shop_server.db_file)} products")
    assert cards.get_by_test_id("product-name").all_inner_texts() == newest_product_names(shop_server.db_file)
    for price in cards.get_by_test_id("product-price").all_inner_texts():
        assert re.fullmatch(r"\$\d{1,3}(,\d{3})*\.\d{2}", price), price

    images = page.locator("[data-testid=product-card] img")
    images.first.scroll_into_view_if_needed()
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=product-card] img')]"
        ".every(img => img.complete && img.naturalWidth > 0)"
    )
    page.screenshot(path=str(ARTIFACTS / "storefront.png"), full_page=True)


def test_category_filter_is_in_the_url(page: Page, shop_server):
    page.goto("/")
    page.get_by_test_id("category-filter").filter(has_text="Books").click()
    expect(page).to_have_url(re.compile(r"/category/books$"))
    expect(page.get_by_role("heading", name="Books", exact=True)).to_be_visible()
    cards = page.get_by_test_id("product-card")
    expect(cards).to_have_count(8)
    assert cards.get_by_test_id("product-name").all_inner_texts() == newest_product_names(
        shop_server.db_file, category="books"
    )

    # A reload of the linked listing shows the same thing.
    page.reload()
    expect(page.get_by_test_id("product-card")).to_have_count(8)
    expect(page.get_by_role("heading", name="Books", exact=True)).to_be_visible()


def test_pagination_moves_through_the_catalogue(page: Page, shop_server):
    page.goto("/")
    pages = listing_pages(shop_server.db_file)
    expect(page.get_by_test_id("page-indicator")).to_have_text(f"Page 1 of {pages}")
    first_page = page.get_by_test_id("product-name").all_inner_texts()
    page.get_by_role("button", name="Next").click()
    expect(page).to_have_url(re.compile(r"\?page=2$"))
    expect(page.get_by_test_id("page-indicator")).to_have_text(f"Page 2 of {pages}")
    second_page = page.get_by_test_id("product-name").all_inner_texts()
    assert second_page == newest_product_names(shop_server.db_file, limit=24)[12:]
    assert not set(first_page) & set(second_page)


def test_unknown_category_says_so_and_leads_to_everything(page: Page):
    page.goto("/?category=no-such-category")
    expect(page.get_by_test_id("not-found")).to_contain_text("Category not found")
    page.get_by_role("button", name="See all products").click()
    expect(page.get_by_test_id("product-card")).to_have_count(12)


def test_health_and_metrics_on_the_same_port(page: Page, shop_server):
    health = page.request.get("/health")
    assert health.status == 200 and health.json() == {"status": "ok", "database": "ok", "payments": "ok"}
    # The metrics tell revenue and login failures: with METRICS_TOKEN set, only its bearer gets them.
    assert page.request.get("/metrics").status == 401
    assert page.request.get("/metrics", headers={"Authorization": "Bearer wrong-token-guess"}).status == 401
    metrics = page.request.get("/metrics", headers={"Authorization": f"Bearer {shop_server.metrics_token}"})
    assert metrics.status == 200 and "python_info" in metrics.text()


def test_the_server_output_has_no_misleading_advice(shop_server):
    """What `make run` shows a newcomer (the e2e shop is started the same way)."""
    output = (ARTIFACTS / "server.log").read_text()
    assert "App running at" in output or "shop started" in output
    for misleading in ("uv run reflex run", "reflex db makemigrations", "of Node.js is out of date"):
        assert misleading not in output
