"""Attacks through input: text the search index would read as syntax, images that explode when decoded."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from bench.loadgen import CATALOG, router_data
from e2e.helpers import log_in, query
from tests.security.conftest import Client, in_own_loop
from tests.test_admin_services import png_claiming


async def _search(url: str, text: str) -> tuple[dict, list[str]]:
    client = Client(url, "198.18.200.1")
    await client.connect("/")
    try:
        delta = await client.send(
            "browse", CATALOG, "load_listing", route=router_data("/", {"q": text}),
            until=lambda d: "match_count_rx_state_" in d.get(CATALOG, {}),
        )  # fmt: skip
        return delta, client.error_toasts()
    finally:
        await client.close()


def test_control_characters_in_a_search_are_dropped_not_run(shop_server):
    for text in ("Key\x00board", "mat\x00\x00", "\x1b[31mbook", "%00USB"):
        delta, errors = in_own_loop(_search(shop_server.url, text))
        assert errors == [], (text, errors)
        assert delta[CATALOG]["match_count_rx_state_"] >= 0
    delta, _ = in_own_loop(_search(shop_server.url, "Key\x00board"))
    assert [product["name"] for product in delta[CATALOG]["products_rx_state_"]] == ["Mechanical Keyboard"]


def test_a_decompression_bomb_is_refused_with_a_message(page: Page, shop_server):
    page.goto("/login")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    expect(page.get_by_test_id("current-user")).to_have_text(shop_server.admin_username)
    page.goto("/admin/products/new")
    bomb = png_claiming(30_000, 30_000)  # 900 megapixels in a few dozen bytes
    page.locator("input[type=file]").set_input_files({"name": "bomb.png", "mimeType": "image/png", "buffer": bomb})
    expect(page.get_by_test_id("error-image")).to_contain_text("use at most 25 megapixels")
    assert query(shop_server.db_file, "SELECT count(*) FROM products WHERE image LIKE '%bomb%'") == [(0,)]
