"""Text people read is what it looks like: invisible characters typed into a name, an address or a
product never reach the database, the admin's pages or the CSV export (services/text.py).

Found before: right-to-left overrides, zero-width characters and C1 controls in a name or city
reached the admin order page, the CSV export and the e-mails. The order is placed straight over
the websocket, as a script would (a browser's form would not stop any of it anyway).
"""

from __future__ import annotations

import csv
import unicodedata
from pathlib import Path

from playwright.sync_api import Page, expect

from bench.loadgen import CHECKOUT
from e2e.helpers import log_in, new_product, query
from tests.security.conftest import in_own_loop
from tests.security.test_payment_form import CARD, SHIPPING, _order_of, _send_form, _shopper

# What an attacker types: an override that shows "Mallory" reversed, zero-width characters inside
# words (so two names that look the same differ), a BOM, isolates, C1 controls (CSI, NEL).
HOSTILE_SHIPPING = {
    **SHIPPING,
    "name": "\u202eyrollaM\u202c Ad\u200bmin\u2060istrator\ufeff",
    "line1": "1 \u2067Probe\u2069 Road\x9b31m",
    "city": "Ber\u200dlin\u200e\x85",
    "postal_code": "10\u200b115",
}
SHOWN = {"shipping_name": "yrollaM Administrator", "shipping_line1": "1 Probe Road31m", "shipping_city": "Berlin",
         "shipping_postal_code": "10115"}  # fmt: skip


def invisible(text: str) -> list[str]:
    """Code points in `text` that no one sees: format characters and controls other than line breaks and tabs."""
    return sorted({f"U+{ord(c):04X}" for c in text if unicodedata.category(c) in ("Cf", "Cc") and c not in "\n\t"})


async def _place_hostile_order(url: str, product_id: int) -> tuple[str, dict]:
    tab, username = await _shopper(url, product_id)
    try:
        delta = await _send_form(tab, "place_order", {**HOSTILE_SHIPPING, **CARD})
        return username, delta.get(CHECKOUT, {})
    finally:
        await tab.close()


def test_an_address_full_of_invisible_characters_is_stored_and_shown_as_it_looks(page: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1500, 5)
    username, checkout = in_own_loop(_place_hostile_order(shop_server.url, product_id))
    assert not checkout.get("errors_rx_state_"), checkout
    order_id, status, _ = _order_of(db, username)
    assert status == "paid"

    # The database row: exactly what a person sees, nothing hidden.
    columns = ", ".join(SHOWN)
    (row,) = query(db, f"SELECT {columns} FROM orders WHERE id = ?", order_id)
    assert dict(zip(SHOWN, row, strict=True)) == SHOWN

    # The admin's order page.
    page.goto("/login")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    expect(page.get_by_test_id("current-user")).to_have_text(shop_server.admin_username)
    page.goto(f"/admin/orders/{order_id}")
    shipping = page.get_by_text("Shipping to").locator("..")
    expect(shipping).to_contain_text(SHOWN["shipping_name"])
    assert invisible(shipping.inner_text()) == []

    # The CSV export, as a spreadsheet reads it.
    page.goto("/admin")
    with page.expect_download() as download:
        page.get_by_role("button", name="Orders", exact=True).click()
    exported_text = Path(download.value.path()).read_text(encoding="utf-8")
    mine = next(r for r in csv.DictReader(exported_text.splitlines()) if r["order_number"] == f"{order_id:06d}")
    assert mine["city"] == "Berlin"
    assert invisible(exported_text.replace("\r\n", "\n")) == []


def test_a_product_name_and_description_lose_invisible_characters_when_the_admin_saves(page: Page, shop_server):
    db = shop_server.db_file
    product_id, name = new_product(db, 1500, 5)
    page.goto("/login")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    expect(page.get_by_test_id("current-user")).to_have_text(shop_server.admin_username)
    page.goto(f"/admin/products/{product_id}")
    expect(page.get_by_label("Name")).to_have_value(name)
    page.get_by_label("Name").fill(f"\u202e{name}\u200b\u2066 XL\u2069")
    page.locator("#description").fill("Warm\u200b light\ufeff\n\nSecond\x85 paragraph\u202e")
    page.get_by_test_id("save-product").click()
    expect(page.get_by_text(f"{name} XL was saved")).to_be_visible()
    assert query(db, "SELECT name, description FROM products WHERE id = ?", product_id) == [
        (f"{name} XL", "Warm light\n\nSecond\n paragraph")  # NEL is a line break
    ]
