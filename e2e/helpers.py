"""Shared steps for the journeys: the UI for what a person does, SQL for what we check."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import sqlite3
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Page, expect
from prometheus_client.parser import text_string_to_metric_families

from ecom_reflex.services import addresses
from testkit.smtp import text_of

PASSWORD = "journey-pass-1"


def from_own_address() -> dict:
    """Browser context arguments for a client with an address of its own (the e2e server trusts
    loopback's X-Forwarded-For, as it would a proxy's), so per-address throttles count it apart."""
    address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
    return {"extra_http_headers": {"X-Forwarded-For": address}}


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def query(db_file: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(db_file) as connection:
        return connection.execute(sql, params).fetchall()


def execute(db_file: Path, sql: str, *params) -> None:
    with sqlite3.connect(db_file) as connection:
        connection.execute(sql, params)


def product_id(db_file: Path, name: str) -> int:
    return query(db_file, "SELECT id FROM products WHERE name = ?", name)[0][0]


def register(page: Page, username: str, password: str = PASSWORD, next_path: str = "") -> None:
    page.goto("/register" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Username").fill(username)
    page.get_by_label("E-mail").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_label("Confirm password").fill(password)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("current-user")).to_have_text(username)


def confirm_email(page: Page, smtp, email: str) -> str:
    """Open the address-confirmation link the shop mailed to `email` (the newest), as its owner would: only
    a confirmed address gets order e-mails. The link, once it has been used."""
    message = smtp.wait_for(to=email, kind="verify_email")[-1]
    link = re.search(r"http://\S+/verify-email#token=[A-Za-z0-9_-]+", text_of(message)).group(0)
    page.goto(link)
    expect(page.get_by_test_id("email-verified")).to_contain_text(email)
    return link


def log_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    # Logging out lands on the home page with no user shown (the form pages have a "Log in" link too).
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_test_id("current-user")).to_have_count(0)
    expect(page.get_by_role("link", name="Log in").first).to_be_visible()


def add_from_product_page(page: Page, db_file: Path, name: str, quantity: int = 1) -> None:
    page.goto(f"/product/{product_id(db_file, name)}")
    expect(page.get_by_test_id("product-title")).to_have_text(name)
    for _ in range(quantity - 1):
        page.get_by_role("button", name="More").click()
    expect(page.get_by_test_id("quantity")).to_have_text(str(quantity))
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_text(re.compile(f"Added {re.escape(name)} to your cart"))).to_be_visible()


def fill_shipping(
    page: Page,
    name: str = "Grace Hopper",
    address: str = "1 Navy Way",
    postcode: str = "22201",
    city: str = "Arlington",
    country: str = "United States",
    region: str = "Virginia",
) -> None:
    """The checkout's shipping address, as a shopper types it (the e-mail is the account's, prefilled).
    `region` is chosen from the country's list where it has one, typed otherwise ("" leaves it)."""
    page.get_by_label("Full name").fill(name)
    page.get_by_label("Address", exact=True).fill(address)
    page.get_by_label("Country").select_option(label=country)
    if region and addresses.regions(addresses.country_code(country) or ""):
        page.locator("select#region").select_option(label=region)
    elif region:
        page.locator("input#region").fill(region)
    page.get_by_label("Postal code").fill(postcode)
    page.get_by_label("City").fill(city)


# Stripe's test cards (payment_gateway/cards.py): the one that pays, and some that do not.
CARD_OK = "4242 4242 4242 4242"
CARD_DECLINED = "4000 0000 0000 0002"
CARD_NO_FUNDS = "4000 0000 0000 9995"


def fill_card(page: Page, number: str = CARD_OK, expiry: str = "12/34", cvc: str = "123", name: str = "Grace Hopper"):
    """The checkout's card fields, as a shopper types them."""
    page.get_by_label("Name on card").fill(name)
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill(expiry)
    page.get_by_label("Security code (CVC)").fill(cvc)


def cart_count(page: Page):
    return page.get_by_test_id("cart-count")


def wait_until(condition, timeout_s: float = 10.0) -> None:
    """For server-side effects the page does not show; fails after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition still false after {timeout_s}s")
        time.sleep(0.05)


def active_product_count(db_file: Path) -> int:
    """Other journeys add products to the shared shop: listings are checked against the database."""
    return query(db_file, "SELECT count(*) FROM products WHERE is_active")[0][0]


def listing_pages(db_file: Path, per_page: int = 12) -> int:
    return -(-active_product_count(db_file) // per_page)


def set_flag(flags_file: Path, flag: str, variant: str) -> None:
    """Switch a fault flag (ecom_reflex/faults.py) in the shop's flag file to one of its variants."""
    flags = json.loads(flags_file.read_text())
    assert variant in flags["flags"][flag]["variants"]
    flags["flags"][flag]["defaultVariant"] = variant
    staged = flags_file.with_suffix(".new")
    staged.write_text(json.dumps(flags, indent=2))
    os.replace(staged, flags_file)  # the flag file changes at once, never half-written


def metric_value(shop_server, name: str, **labels: str) -> float | None:
    """The sum of the shop's own /metrics samples called `name` whose labels include `labels`;
    None when there is none."""
    request = urllib.request.Request(
        shop_server.url + "/metrics", headers={"Authorization": f"Bearer {shop_server.metrics_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    values = [
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == name and labels.items() <= sample.labels.items()
    ]
    return sum(values) if values else None


def _flag_value(shop_server, flag: str) -> float | None:
    return metric_value(shop_server, "ecommerce_fault_flag", flag=flag)


@contextlib.contextmanager
def fault_flag(shop_server, flag: str, variant: str) -> Iterator[None]:
    """The flag at `variant` for the block and off after it, each seen by the shop itself."""
    flags = json.loads(shop_server.flags_file.read_text())["flags"][flag]["variants"]
    set_flag(shop_server.flags_file, flag, variant)
    try:
        wait_until(lambda: _flag_value(shop_server, flag) == float(flags[variant]), 30)
        yield
    finally:
        set_flag(shop_server.flags_file, flag, "off")
        wait_until(lambda: _flag_value(shop_server, flag) == 0, 30)


def pay(page: Page, number: str = CARD_OK, **card) -> None:
    """Fill the card fields and press "Place order and pay" (or "Pay" on the pay-again view)."""
    fill_card(page, number, **card)
    page.get_by_test_id("place-order").click()


def check_out_and_pay(page: Page, number: str = CARD_OK) -> int:
    """From a filled cart: the checkout's address and card, paid; the order's id once its page says "paid"."""
    page.goto("/checkout")
    fill_shipping(page)
    pay(page, number)
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    order_id = placed_order_id(page)
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    return order_id


def placed_order_id(page: Page) -> int:
    """The id of the order whose page this is, once the page shows that order: after a second checkout
    in one tab, the order page's URL changes before its state, which shows the previous order until
    the new one has loaded."""
    expect(page).to_have_url(re.compile(r"/orders/\d+"))
    order_id = int(re.search(r"/orders/(\d+)", page.url).group(1))
    expect(page.get_by_test_id("order-number")).to_have_text(re.compile(rf"^Order #0*{order_id}$"))
    return order_id


def charges(shop_server, order_id: int) -> list[tuple[str, int]]:
    """(outcome, amount in cents) of every card check the payment service ran for the order, in order
    (its ledger: payment_gateway/ledger.py; an order's number is its payments' reference)."""
    return query(
        shop_server.payments.ledger,
        "SELECT c.outcome, c.amount FROM charges c JOIN payment_intents i ON i.id = c.payment_intent"
        " WHERE i.reference = ? ORDER BY c.created, c.rowid",
        f"{order_id:06d}",
    )


def refunded_cents(shop_server, order_id: int) -> int:
    """What the payment service refunded of the order's payments."""
    return query(
        shop_server.payments.ledger,
        "SELECT coalesce(sum(amount_refunded), 0) FROM payment_intents WHERE reference = ?",
        f"{order_id:06d}",
    )[0][0]


def _gateway_flag_value(shop_server, flag: str) -> float | None:
    """The payment service's own gauge of a fault flag (its /metrics needs no token)."""
    with urllib.request.urlopen(shop_server.payments.url + "/metrics", timeout=10) as response:
        metrics = response.read().decode()
    found = re.search(rf'^payment_gateway_fault_flag{{flag="{flag}"}} (\S+)$', metrics, re.MULTILINE)
    return float(found.group(1)) if found else None


@contextlib.contextmanager
def payment_fault_flag(shop_server, flag: str, variant: str) -> Iterator[None]:
    """A payment service's flag (paymentFailurePercent, ...) at `variant` for the block and off after it,
    each seen by the payment service itself (the shop does not read these flags)."""
    flags = json.loads(shop_server.flags_file.read_text())["flags"][flag]["variants"]
    set_flag(shop_server.flags_file, flag, variant)
    try:
        wait_until(lambda: _gateway_flag_value(shop_server, flag) == float(flags[variant]), 30)
        yield
    finally:
        set_flag(shop_server.flags_file, flag, "off")
        wait_until(lambda: _gateway_flag_value(shop_server, flag) == 0, 30)


@contextlib.contextmanager
def payment_service_paused(shop_server) -> Iterator[None]:
    """The payment service frozen (SIGSTOP) for the block, and always running again after it."""
    shop_server.payments.pause()
    try:
        yield
    finally:
        shop_server.payments.resume()


def new_product(db_file: Path, price_cents: int, stock: int) -> tuple[int, str]:
    """A product of the test's own, on sale (a copy of the first product's other columns): (id, name)."""
    name = f"Item {unique_name('m')[-8:]}"
    execute(
        db_file,
        "INSERT INTO products (name, description, price_cents, stock, image, category_id, is_active, created_at,"
        " version) SELECT ?, description, ?, ?, image, category_id, 1, created_at, 1 FROM products ORDER BY id LIMIT 1",
        name,
        price_cents,
        stock,
    )
    return query(db_file, "SELECT id FROM products WHERE name = ?", name)[0][0], name
