"""Attacks at the edge: framing, sniffing, injected scripts, other sites' pages, open metrics."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
import socketio
from playwright.sync_api import Page, expect

from bench.loadgen import NAMESPACE
from e2e.helpers import log_in, product_id
from tests.security.conftest import in_own_loop

PAGES = ["/", "/category/books", "/product/{product}", "/cart", "/login", "/register", "/checkout", "/orders",
         "/no-such-page", "/admin", "/admin/products", "/admin/products/new", "/admin/orders",
         "/admin/users"]  # fmt: skip
HTTP_ROUTES = ["/", "/health", "/ping", "/favicon.ico", "/products/yoga-mat.svg", "/no-such-page"]


def headers_of(url: str) -> dict[str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return {name.lower(): value for name, value in response.headers.items()}
    except urllib.error.HTTPError as error:  # a 404 page needs the headers as much as any other
        return {name.lower(): value for name, value in error.headers.items()}


@pytest.mark.parametrize("path", [*HTTP_ROUTES, "/metrics"])
def test_every_response_forbids_framing_sniffing_and_foreign_scripts(shop_server, path):
    headers = headers_of(shop_server.url + path)
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "object-src 'none'" in policy
    script_sources = next(part for part in policy.split(";") if part.strip().startswith("script-src")).split()[1:]
    # No inline script runs unless the build has it; eval stays, for Reflex's server-sent actions (toasts).
    assert "'unsafe-inline'" not in script_sources
    assert all(source in ("'self'", "'unsafe-eval'") or source.startswith("'sha256-") for source in script_sources)
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


def test_every_page_runs_under_its_content_security_policy(page: Page, shop_server):
    page.add_init_script(
        "window.__violations = [];"
        "document.addEventListener('securitypolicyviolation',"
        " e => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile));"
    )
    console = []
    page.on("console", lambda message: console.append(message.text) if message.type == "error" else None)
    page.goto("/login")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    expect(page.get_by_test_id("current-user")).to_have_text(shop_server.admin_username)
    product = product_id(shop_server.db_file, "Yoga Mat")
    for path in PAGES:
        page.goto(path.format(product=product))
        # The page ran: React rendered the shell and the websocket answered (the user's name).
        expect(page.get_by_test_id("current-user")).to_have_text(shop_server.admin_username)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("window.__violations") == [], path
    # What the server sends the page to do runs too: a toast, a download.
    page.goto(f"/product/{product}")
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_text("Added Yoga Mat to your cart")).to_be_visible()
    page.goto("/admin")
    with page.expect_download():
        page.get_by_role("button", name="Orders", exact=True).click()
    assert page.evaluate("window.__violations") == []
    assert not [text for text in console if "Content Security Policy" in text], console


async def _open_websocket(url: str, origin: str | None) -> bool:
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(
            url, socketio_path="/_event", transports=["websocket"], namespaces=[NAMESPACE],
            headers={"Origin": origin} if origin else {}, wait_timeout=10,
        )  # fmt: skip
    except socketio.exceptions.ConnectionError:
        return False
    await client.disconnect()
    return True


def test_a_page_on_another_site_cannot_open_the_websocket(shop_server):
    assert in_own_loop(_open_websocket(shop_server.url, "https://evil.example")) is False
    assert in_own_loop(_open_websocket(shop_server.url, "null")) is False
    # The shop's own pages can (and clients that are not browsers send no Origin at all).
    assert in_own_loop(_open_websocket(shop_server.url, shop_server.url)) is True
    assert in_own_loop(_open_websocket(shop_server.url, None)) is True


def test_metrics_are_for_the_scraper_only(shop_server):
    for headers in ({}, {"Authorization": "Bearer not-the-token-at-all"}, {"Authorization": shop_server.metrics_token}):
        request = urllib.request.Request(f"{shop_server.url}/metrics", headers=headers)
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
        assert b"ecommerce_" not in refused.value.read()
    request = urllib.request.Request(
        f"{shop_server.url}/metrics", headers={"Authorization": f"Bearer {shop_server.metrics_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert b"ecommerce_orders_total" in response.read()
