"""Every page, as each kind of visitor, on a desktop and a phone: axe-core finds no serious or critical
violation, each page has one h1 and headings that do not skip a level, and nothing is wider than a
390 px screen.

axe-core 4.12 (bundled by axe-playwright-python) runs in the page itself, after its data has arrived.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect

from e2e.fixtures import ShopServer
from e2e.helpers import (
    CARD_NO_FUNDS,
    PASSWORD,
    add_from_product_page,
    check_out_and_pay,
    execute,
    fill_shipping,
    from_own_address,
    log_in,
    pay,
    query,
    register,
    unique_name,
)

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
AXE = Axe()
BLOCKING = ("serious", "critical")


@dataclass(frozen=True)
class Visitor:
    username: str
    password: str
    order_id: int


@pytest.fixture(scope="module")
def shopper(browser: Browser, shop_server: ShopServer) -> Visitor:
    """A shopper with one paid order and one product in the cart."""
    context = browser.new_context(base_url=shop_server.url, **from_own_address())
    page = context.new_page()
    username = unique_name("a11y")
    register(page, username)
    add_from_product_page(page, shop_server.db_file, "Yoga Mat")
    order_id = check_out_and_pay(page)
    add_from_product_page(page, shop_server.db_file, "Yoga Mat")
    context.close()
    # A disabled account too, so the users page shows its Enable button.
    make_disabled = browser.new_context(base_url=shop_server.url, **from_own_address())
    disabled = unique_name("a11y_off")
    register(make_disabled.new_page(), disabled)
    make_disabled.close()
    execute(shop_server.db_file, "UPDATE users SET is_active = 0 WHERE username = ?", disabled)
    return Visitor(username, PASSWORD, order_id)


def pages_for(role: str, shop_server: ShopServer, shopper: Visitor) -> list[str]:
    db = shop_server.db_file
    product = query(db, "SELECT id FROM products WHERE is_active ORDER BY id LIMIT 1")[0][0]
    category = query(db, "SELECT slug FROM categories ORDER BY id LIMIT 1")[0][0]
    if role == "visitor":
        return [
            "/", f"/category/{category}", "/?q=lamp&sort=price_asc", f"/product/{product}", "/product/99999999",
            "/cart", "/login", "/register", "/forgot-password", "/reset-password#token=" + "x" * 43, "/no-such-page",
            "/admin", "/verify-email#token=" + "x" * 43,
        ]  # fmt: skip
    if role == "shopper":
        return ["/cart", "/checkout", "/orders", f"/orders/{shopper.order_id}", "/orders/99999999", "/account"]
    return [
        "/admin", "/admin/products", "/admin/products/new", f"/admin/products/{product}", "/admin/orders",
        f"/admin/orders/{shopper.order_id}", "/admin/users",
    ]  # fmt: skip


def settle(page: Page) -> None:
    """Until the page's data has arrived: no spinner, no skeleton, a heading in place."""
    expect(page.locator("h1")).not_to_have_count(0)
    expect(page.get_by_test_id("loading")).to_have_count(0)
    expect(page.locator(".rt-Skeleton")).to_have_count(0)
    # A toast fading in is checked at its final colours, not half-transparent.
    page.wait_for_function("() => document.getAnimations().every(animation => animation.playState !== 'running')")


def problems_on(page: Page, viewport: str, impacts: tuple[str, ...] | None = BLOCKING) -> list[str]:
    """What is wrong with the page as it is; `impacts=None` counts every axe violation, minor ones too."""
    found = []
    for violation in AXE.run(page).response["violations"]:
        if impacts is None or violation["impact"] in impacts:
            targets = [" ".join(map(str, node["target"])) for node in violation["nodes"]][:3]
            found.append(f"axe {violation['id']} ({violation['impact']}): {violation['help']} at {targets}")
    levels = [
        int(tag[1]) for tag in page.eval_on_selector_all("h1, h2, h3, h4, h5, h6", "els => els.map(e => e.tagName)")
    ]
    if levels.count(1) != 1:
        found.append(f"{levels.count(1)} h1 elements (one expected)")
    for before, after in itertools.pairwise(levels):
        if after > before + 1:
            found.append(f"heading h{after} follows h{before} (a level skipped)")
    landmarks = page.evaluate("() => ['header', 'nav', 'main', 'footer'].filter(tag => !document.querySelector(tag))")
    if landmarks:
        found.append(f"no {', '.join(landmarks)} landmark")
    if viewport == "phone":
        width = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
        if width[0] > width[1]:
            found.append(f"{width[0]} px wide on a {width[1]} px screen (horizontal scrolling)")
    return found


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
@pytest.mark.parametrize("role", ["visitor", "shopper", "admin"])
def test_every_page_is_accessible(browser: Browser, shop_server: ShopServer, shopper: Visitor, role, viewport):
    context = browser.new_context(base_url=shop_server.url, viewport=VIEWPORTS[viewport], **from_own_address())
    page = context.new_page()
    if role != "visitor":
        username, password = (
            (shopper.username, shopper.password)
            if role == "shopper"
            else (shop_server.admin_username, shop_server.admin_password)
        )
        page.goto("/login")
        log_in(page, username, password)
        expect(page).not_to_have_url(re.compile(r"/login"))
    report = {}
    for path in pages_for(role, shop_server, shopper):
        page.goto(path)
        settle(page)
        if found := problems_on(page, viewport):
            report[path] = found
    context.close()
    assert not report, "\n".join(f"{path}:\n  " + "\n  ".join(found) for path, found in report.items())


@pytest.mark.parametrize("viewport", sorted(VIEWPORTS))
def test_the_card_form_its_errors_and_the_pay_again_view_after_a_decline_are_accessible(
    browser: Browser, shop_server: ShopServer, viewport
):
    """Where a shopper types a card: no axe violation at all, minor ones included."""
    context = browser.new_context(base_url=shop_server.url, viewport=VIEWPORTS[viewport], **from_own_address())
    page = context.new_page()
    register(page, unique_name("a11y_pay"))
    add_from_product_page(page, shop_server.db_file, "Yoga Mat")
    report = {}
    try:
        page.goto("/checkout")
        settle(page)
        expect(page.get_by_label("Card number")).to_be_visible()
        report["the checkout with its card fields"] = problems_on(page, viewport, impacts=None)
        # Submitted empty: every field says what is wrong, the summary at the top has the focus.
        page.get_by_test_id("place-order").click()
        expect(page.get_by_test_id("error-card_number")).to_be_visible()
        expect(page.get_by_test_id("error-summary")).to_be_focused()
        settle(page)
        report["the checkout with the errors of every field"] = problems_on(page, viewport, impacts=None)
        # Declined for want of funds: the reason, the order kept, and a new card form to pay it.
        fill_shipping(page)
        pay(page, CARD_NO_FUNDS)
        expect(page.get_by_test_id("checkout-error")).to_have_text("Your card was declined: insufficient funds.")
        expect(page.get_by_test_id("place-order")).to_have_text("Pay $29.99")
        expect(page.get_by_label("Card number")).to_have_value("")
        settle(page)
        report["the pay-again view after a decline"] = problems_on(page, viewport, impacts=None)
    finally:
        context.close()
    report = {view: found for view, found in report.items() if found}
    assert not report, "\n".join(f"{view}:\n  " + "\n  ".join(found) for view, found in report.items())
