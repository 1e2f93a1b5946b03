"""Checkout pays (issue 25), in Chromium against the real shop and its real payment service.

Each journey buys a product of its own (a known stock) and checks what the shopper sees, what the
shop's database says and what the payment service's ledger (SQLite, its own process) says. The
service is frozen mid-payment with SIGSTOP, made to fail with its fault flags, and the card data a
shopper typed is looked for everywhere the shop and the service write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect

from e2e.fixtures import ARTIFACTS
from e2e.helpers import (
    CARD_DECLINED,
    CARD_NO_FUNDS,
    CARD_OK,
    confirm_email,
    execute,
    fill_card,
    fill_shipping,
    from_own_address,
    log_in,
    new_product,
    payment_fault_flag,
    payment_service_paused,
    query,
    register,
    unique_name,
    wait_until,
)
from e2e.test_money_and_stock import stock_of
from testkit.smtp import text_of

NO_FUNDS_MESSAGE = "Your card was declined: insufficient funds."
# Long enough for a frozen service: three tries of PAYMENT_TIMEOUT_SECONDS=2, then the breaker's 5 s.
CONFIRM_TIMEOUT_MS = 40_000


# --- steps ------------------------------------------------------------------------------------------


def to_checkout(page: Page, product_id: int, quantity: int = 1) -> None:
    """`quantity` of the product in the cart, then the checkout with its address filled in."""
    page.goto(f"/product/{product_id}")
    for _ in range(quantity - 1):
        page.get_by_role("button", name="More").click()
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_text(re.compile("to your cart"))).to_be_visible()
    page.goto("/checkout")
    fill_shipping(page)


def order_id_of(page: Page) -> int:
    """The order the page shows (/orders/<id>), once it has loaded."""
    expect(page).to_have_url(re.compile(r"/orders/\d+"))
    expect(page.get_by_test_id("order-number")).to_be_visible()
    return int(re.search(r"/orders/(\d+)", page.url).group(1))


def pay(page: Page, product_id: int, card: str = CARD_OK, cvc: str = "123") -> int:
    """Buy one of the product with `card`, approved: the order's id (the shopper is on its page)."""
    to_checkout(page, product_id)
    fill_card(page, card, cvc=cvc)
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    return order_id_of(page)


def decline(page: Page, product_id: int, card: str = CARD_NO_FUNDS, cvc: str = "123") -> int:
    """Try to buy one of the product with a card that declines: the order's id (the shopper stays on
    the checkout, which now asks only for another card)."""
    to_checkout(page, product_id)
    fill_card(page, card, cvc=cvc)
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("checkout-error")).to_be_visible()
    number = re.search(r"Order #(\d+) is waiting", page.get_by_text("is waiting for its payment").inner_text())
    return int(number.group(1))


def order_row(db: Path, order_id: int) -> dict:
    columns = ("status", "payment_status", "payment_reference", "card_brand", "card_last4", "card_exp_month",
               "card_exp_year", "payment_attempts")  # fmt: skip
    (row,) = query(db, f"SELECT {', '.join(columns)} FROM orders WHERE id = ?", order_id)
    return dict(zip(columns, row, strict=True))


def history(db: Path, order_id: int) -> list[tuple]:
    return query(db, "SELECT from_status, to_status FROM order_status_changes WHERE order_id = ? ORDER BY id", order_id)


def user_email(db: Path, order_id: int) -> str:
    return query(db, "SELECT u.email FROM orders o JOIN users u ON u.id = o.user_id WHERE o.id = ?", order_id)[0][0]


def ledger(shop_server, sql: str, *params) -> list[tuple]:
    """The payment service's own ledger (payment_gateway/ledger.py), read as an auditor would."""
    return query(shop_server.payments.ledger, sql, *params)


def succeeded_charges(shop_server, order_id: int) -> list[tuple]:
    """(intent id, amount) of every successful card charge the service made for the order (its reference
    is the order's number)."""
    return ledger(
        shop_server,
        "SELECT i.id, c.amount FROM charges c JOIN payment_intents i ON i.id = c.payment_intent"
        " WHERE i.reference = ? AND c.outcome = 'succeeded'",
        f"{order_id:06d}",
    )


def refunds_of(shop_server, intent_id: str) -> list[tuple]:
    return ledger(shop_server, "SELECT amount, status FROM refunds WHERE payment_intent = ?", intent_id)


@pytest.fixture
def admin(browser: Browser, shop_server) -> Iterator[Page]:
    context = browser.new_context(base_url=shop_server.url, viewport={"width": 1280, "height": 900},
                                  **from_own_address())  # fmt: skip
    page = context.new_page()
    page.goto("/login?next=/admin")
    log_in(page, shop_server.admin_username, shop_server.admin_password)
    expect(page.get_by_test_id("current-user")).to_have_text(shop_server.admin_username)
    yield page
    context.close()


def cancel_in_admin(admin: Page, order_id: int) -> None:
    admin.goto(f"/admin/orders/{order_id}")
    expect(admin.get_by_test_id("order-status")).to_have_text("paid")
    admin.get_by_test_id("move-to-cancelled").click()
    dialog = admin.get_by_role("alertdialog")
    expect(dialog).to_contain_text("refunded through the payment service first")
    dialog.get_by_role("button", name=f"Cancel order #{order_id:06d}").click()


# --- paying -----------------------------------------------------------------------------------------


def test_a_card_that_pays_makes_the_order_paid_with_its_card_and_reference(page: Page, shop_server):
    db = shop_server.db_file
    product_id, name = new_product(db, 2500, 5)
    username = unique_name("payer")
    register(page, username)
    confirm_email(page, shop_server.smtp, f"{username}@example.com")  # order e-mails go to it
    order_id = pay(page, product_id, CARD_OK)

    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    expect(page.get_by_test_id("payment-status")).to_have_text("paid")
    expect(page.get_by_test_id("payment-card")).to_have_text("Visa •••• 4242, expires 12/34")
    expect(page.get_by_test_id("payment-reference")).to_have_text(re.compile(r"^Payment reference pi_\w+$"))
    expect(page.get_by_test_id("pay-now")).to_have_count(0)

    row = order_row(db, order_id)
    reference = page.get_by_test_id("payment-reference").inner_text().removeprefix("Payment reference ")
    assert row == {"status": "paid", "payment_status": "captured", "payment_reference": reference,
                   "card_brand": "visa", "card_last4": "4242", "card_exp_month": 12, "card_exp_year": 2034,
                   "payment_attempts": 1}  # fmt: skip
    assert stock_of(db, product_id) == 4, "the stock went down once"
    assert succeeded_charges(shop_server, order_id) == [(reference, 2500)]

    # The order's e-mail says what was paid and with which card.
    (email,) = shop_server.smtp.wait_for(to=f"{username}@example.com", kind="order_placed")
    text = text_of(email)
    assert f"1 x {name} at $25.00 = $25.00" in text and "Total: $25.00" in text
    assert "Visa" in text and "4242" in text, text


def test_a_declined_card_says_why_and_another_card_pays_the_same_order(page: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1800, 5)
    username = unique_name("declined")
    register(page, username)
    confirm_email(page, shop_server.smtp, f"{username}@example.com")  # order e-mails go to it
    order_id = decline(page, product_id, CARD_NO_FUNDS)

    expect(page.get_by_test_id("checkout-error")).to_have_text(NO_FUNDS_MESSAGE)
    assert stock_of(db, product_id) == 5, "a declined order's stock is back"
    assert order_row(db, order_id)["status"] == "payment_failed"
    # A declined order sends no e-mail: nothing is queued with the decline, nothing arrived.
    assert query(db, "SELECT count(*) FROM email_outbox WHERE order_id = ?", order_id) == [(0,)]
    assert [m["X-Shop-Email-Kind"] for m in shop_server.smtp.messages(to=f"{username}@example.com")] == ["verify_email"]

    # Only another card is asked for: the card fields are empty again, the address is not asked again.
    for label in ("Name on card", "Card number", "Expiry (MM/YY)", "Security code (CVC)"):
        expect(page.get_by_label(label)).to_have_value("")
    expect(page.get_by_label("Full name")).to_have_count(0)
    expect(page.get_by_label("Address", exact=True)).to_have_count(0)
    expect(page.get_by_text("1 Navy Way")).to_be_visible()  # the address, as given
    expect(page.get_by_test_id("checkout-total")).to_have_text("$18.00")

    fill_card(page, CARD_OK)
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    assert order_id_of(page) == order_id, "the same order is paid"
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    row = order_row(db, order_id)
    assert (row["status"], row["payment_status"], row["payment_attempts"]) == ("paid", "captured", 2)
    assert stock_of(db, product_id) == 4, "the stock went down once"
    assert query(db, "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?",
                 username) == [(1,)]  # fmt: skip
    assert len(succeeded_charges(shop_server, order_id)) == 1
    (email,) = shop_server.smtp.wait_for(to=f"{username}@example.com", kind="order_placed")
    assert "4242" in text_of(email)


def test_a_frozen_payment_service_gives_being_confirmed_then_paid_exactly_once(page: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 4200, 5)
    register(page, unique_name("frozen"))
    to_checkout(page, product_id)
    fill_card(page, CARD_OK)
    with payment_service_paused(shop_server):
        page.get_by_test_id("place-order").click()
        expect(page.get_by_test_id("payment-confirming")).to_be_visible(timeout=CONFIRM_TIMEOUT_MS)
        order_id = order_id_of(page)
        row = order_row(db, order_id)
        assert (row["status"], row["payment_status"]) == ("awaiting_payment", "unknown")
        assert stock_of(db, product_id) == 4, "the stock is held while a payment can still come"
        expect(page.get_by_test_id("order-status")).to_have_text("awaiting payment")
        expect(page.get_by_test_id("pay-now")).to_have_count(0)  # no second payment while one is unknown
        # Nor a new checkout from another tab: it would release this order, which may yet be paid.
        other_tab = page.context.new_page()
        to_checkout(other_tab, product_id)
        fill_card(other_tab, CARD_OK)
        other_tab.get_by_test_id("place-order").click()
        expect(other_tab.get_by_test_id("checkout-error")).to_contain_text(
            f"A payment for order #{order_id:06d} is being confirmed"
        )
        other_tab.close()
        assert stock_of(db, product_id) == 4 and order_row(db, order_id)["status"] == "awaiting_payment"
    # Back: the page, watching in the background (no reload), shows the outcome the reconciler learnt.
    expect(page.get_by_test_id("order-status")).to_have_text("paid", timeout=CONFIRM_TIMEOUT_MS)
    expect(page.get_by_test_id("payment-confirming")).to_have_count(0)
    expect(page.get_by_test_id("payment-card")).to_contain_text("Visa •••• 4242")
    row = order_row(db, order_id)
    assert (row["status"], row["payment_status"]) == ("paid", "captured")
    assert stock_of(db, product_id) == 4
    (charge,) = succeeded_charges(shop_server, order_id)
    assert charge == (row["payment_reference"], 4200), "charged exactly once, and the order knows by which payment"
    intents = ledger(shop_server, "SELECT status FROM payment_intents WHERE reference = ?", f"{order_id:06d}")
    assert intents == [("succeeded",)], "every retry reused the one idempotency key"


# --- unpaid orders ----------------------------------------------------------------------------------


def overdue(db: Path, order_id: int) -> None:
    """A test shop with a short hold: the order's deadline is now in the past."""
    execute(db, "UPDATE orders SET payment_due_at = datetime('now', '-1 minute') WHERE id = ?", order_id)


def expect_expired_page(page: Page, order_id: int) -> None:
    page.goto(f"/orders/{order_id}")
    expect(page.get_by_test_id("order-status")).to_have_text("expired")
    expect(page.get_by_text("Nobody paid for this order in time")).to_be_visible()
    expect(page.get_by_test_id("pay-now")).to_have_count(0)


def test_an_unpaid_order_expires_at_its_deadline(page: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1500, 5)
    register(page, unique_name("unpaid"))
    order_id = decline(page, product_id, CARD_DECLINED)
    page.goto(f"/orders/{order_id}")
    expect(page.get_by_test_id("order-status")).to_have_text("payment failed")
    expect(page.get_by_test_id("pay-now")).to_be_visible()

    overdue(db, order_id)
    wait_until(lambda: order_row(db, order_id)["status"] == "expired")  # the reconciler, twice a second
    expect_expired_page(page, order_id)
    assert stock_of(db, product_id) == 5, "its stock came back once, with the decline"
    assert query(db, "SELECT count(*) FROM email_outbox WHERE order_id = ?", order_id) == [(0,)], "no e-mail"
    # "Pay now" by its address is refused too: the order's page says why.
    page.goto(f"/checkout?order={order_id}")
    expect(page).to_have_url(re.compile(rf"/orders/{order_id}$"))
    expect(page.get_by_test_id("order-status")).to_have_text("expired")


def test_a_held_order_past_its_deadline_waits_for_its_payment_then_expires_with_its_stock_back(page: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1500, 5)
    register(page, unique_name("held"))
    to_checkout(page, product_id)
    fill_card(page, CARD_NO_FUNDS)
    with payment_service_paused(shop_server):
        page.get_by_test_id("place-order").click()
        expect(page.get_by_test_id("payment-confirming")).to_be_visible(timeout=CONFIRM_TIMEOUT_MS)
        order_id = order_id_of(page)
        assert stock_of(db, product_id) == 4, "held while the payment's outcome is unknown"
        overdue(db, order_id)
    # Its deadline passed while nobody knew whether it was paid: it expires only once the service has
    # said (declined), never while a payment may still come.
    wait_until(lambda: order_row(db, order_id)["status"] == "expired", CONFIRM_TIMEOUT_MS / 1000)
    assert history(db, order_id) == [
        (None, "awaiting_payment"), ("awaiting_payment", "payment_failed"), ("payment_failed", "expired")
    ]  # fmt: skip
    assert order_row(db, order_id)["payment_status"] == "declined"
    assert stock_of(db, product_id) == 5, "the held stock came back, once"
    assert succeeded_charges(shop_server, order_id) == []
    assert query(db, "SELECT count(*) FROM email_outbox WHERE order_id = ?", order_id) == [(0,)], "no e-mail"
    expect_expired_page(page, order_id)


def test_a_new_checkout_releases_the_earlier_unpaid_order(page: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1200, 5)
    register(page, unique_name("again"))
    first = decline(page, product_id, CARD_DECLINED)
    assert stock_of(db, product_id) == 5
    assert order_row(db, first)["status"] == "payment_failed"

    second = pay(page, product_id, CARD_OK)
    assert second != first
    assert order_row(db, first)["status"] == "expired", "an account has at most one order waiting for money"
    assert order_row(db, second)["status"] == "paid"
    assert stock_of(db, product_id) == 4, "the first order's stock came back once, the second's went once"
    expect_expired_page(page, first)


# --- admin: refunds ---------------------------------------------------------------------------------


def test_the_admin_sees_the_payment_and_cancelling_a_paid_order_refunds_it(page: Page, admin: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 3100, 5)
    username = unique_name("refunded")
    register(page, username)
    confirm_email(page, shop_server.smtp, f"{username}@example.com")  # order e-mails go to it
    order_id = pay(page, product_id)
    reference = order_row(db, order_id)["payment_reference"]
    assert stock_of(db, product_id) == 4

    admin.goto(f"/admin/orders?q={order_id:06d}")
    row = admin.get_by_test_id("admin-order-row").filter(has_text=f"#{order_id:06d}")
    expect(row).to_have_count(1)
    expect(row.get_by_test_id("admin-payment-status")).to_have_text("paid")
    expect(row).to_contain_text("Visa •••• 4242, expires 12/34")
    expect(row).to_contain_text(reference)

    cancel_in_admin(admin, order_id)
    expect(admin.get_by_test_id("order-status")).to_have_text("cancelled")
    expect(admin.get_by_test_id("payment-status")).to_have_text("refunded")
    row = order_row(db, order_id)
    assert (row["status"], row["payment_status"]) == ("cancelled", "refunded")
    assert stock_of(db, product_id) == 5, "the stock is back, after the refund"
    assert refunds_of(shop_server, reference) == [(3100, "succeeded")]
    assert ledger(shop_server, "SELECT amount_refunded FROM payment_intents WHERE id = ?", reference) == [(3100,)]
    (email,) = shop_server.smtp.wait_for(to=f"{username}@example.com", kind="order_refunded")
    assert f"#{order_id:06d}" in email["Subject"] + text_of(email)
    assert "$31.00" in text_of(email)


def test_a_refund_that_fails_stays_refund_pending_and_goes_through_once_the_service_works(
    page: Page, admin: Page, shop_server
):
    db = shop_server.db_file
    product_id, _ = new_product(db, 2700, 5)
    username = unique_name("pending")
    register(page, username)
    confirm_email(page, shop_server.smtp, f"{username}@example.com")  # order e-mails go to it
    order_id = pay(page, product_id)
    reference = order_row(db, order_id)["payment_reference"]

    with payment_fault_flag(shop_server, "paymentFailurePercent", "all"):
        cancel_in_admin(admin, order_id)
        expect(admin.get_by_test_id("order-status")).to_have_text("refund pending")
        expect(admin.get_by_text(re.compile("refund did not go through yet"))).to_be_visible()
        admin.reload()
        expect(admin.get_by_test_id("order-status")).to_have_text("refund pending")
        expect(admin.get_by_text(re.compile("the refund is on its way"))).to_be_visible()
        page.goto(f"/orders/{order_id}")
        expect(page.get_by_test_id("order-status")).to_have_text("refund pending")
        assert order_row(db, order_id)["status"] == "refund_pending"
        assert stock_of(db, product_id) == 4, "the stock stays out until the money is back"
        assert refunds_of(shop_server, reference) == []
    # The service works again: the reconciler's retry refunds it.
    wait_until(lambda: order_row(db, order_id)["status"] == "cancelled", 30)
    assert order_row(db, order_id)["payment_status"] == "refunded"
    assert stock_of(db, product_id) == 5
    assert refunds_of(shop_server, reference) == [(2700, "succeeded")], "refunded exactly once"
    shop_server.smtp.wait_for(to=f"{username}@example.com", kind="order_refunded")
    assert query(db, "SELECT count(*) FROM email_outbox WHERE order_id = ? AND kind = 'order_refunded'",
                 order_id) == [(1,)]  # fmt: skip
    admin.reload()
    expect(admin.get_by_test_id("order-status")).to_have_text("cancelled")
    expect(admin.get_by_test_id("payment-status")).to_have_text("refunded")


# --- card data --------------------------------------------------------------------------------------

# A CVC no other journey types (they use 123): found anywhere, it came from this test.
CVC = "731"


def card_needles(number: str) -> list[str]:
    """The card number as typed and as digits only."""
    return [number, number.replace(" ", "")]


def cvc_in(text: str) -> bool:
    """The CVC as a value of its own: a JSON or quoted string ("731", \\"731\\", '731') or a key's value
    (cvc=731, "cvc": 731), never three digits inside a longer number, a timestamp or hex."""
    return bool(re.search(rf"""(\\*["']{CVC}\\*["'])|(cvc\\*["']?\s*[:=]\s*\\*["']?{CVC}(?!\d))""", text, re.I))


def leaks(text: str, numbers: list[str]) -> list[str]:
    found = [needle for number in numbers for needle in card_needles(number) if needle in text]
    return found + (["CVC"] if cvc_in(text) else [])


def database_leaks(db: Path, numbers: list[str]) -> list[str]:
    """Every text value of every table: a card number inside it, or the CVC as the whole value or quoted in it."""
    found = []
    tables = [name for (name,) in query(db, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for column in [row[1] for row in query(db, f'PRAGMA table_info("{table}")')]:
            values = query(db, f'SELECT "{column}" FROM "{table}" WHERE typeof("{column}") IN (\'text\', \'blob\')')
            for (value,) in values:
                text = value.decode(errors="replace") if isinstance(value, bytes) else value
                if text.strip() == CVC or leaks(text, numbers):
                    found.append(f"{db.name}: {table}.{column} = {text[:120]!r}")
    return found


def file_leaks(path: Path, numbers: list[str], *, text: bool) -> list[str]:
    """The card numbers in the file's bytes (a database's pages, its WAL, a log); in a text file the CVC too."""
    data = path.read_bytes()
    found = [f"{path}: {needle}" for number in numbers for needle in card_needles(number) if needle.encode() in data]
    if text and cvc_in(data.decode(errors="replace")):
        found.append(f"{path}: the CVC")
    return found


def sqlite_files(db: Path) -> list[Path]:
    return [path for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if path.exists()]


def log_files(shop_server) -> list[Path]:
    logs = {path for path in ARTIFACTS.rglob("*") if path.is_file() and ".log" in path.name}
    for log in (shop_server.log_file, shop_server.payments.log_file):
        logs |= set(log.parent.glob(log.name + "*"))  # rotated siblings too
    return sorted(logs)


def span_leaks(shop_server, numbers: list[str]) -> list[str]:
    """Every span's name and attribute (its events' and resource's too), from the shop and the service."""
    found = []
    for span in shop_server.otlp.snapshot():
        values = [("name", span.name), *span.attributes.items(), *span.resource.items()]
        for event_name, attributes in span.events:
            values += [("event", event_name), *attributes.items()]
        for key, value in values:
            text = str(value)
            if text == CVC or leaks(text, numbers):
                found.append(f"span {span.name} ({span.resource.get('service.name')}): {key} = {text[:120]!r}")
    return found


def test_the_shop_never_keeps_the_card_number_or_cvc(page: Page, shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 900, 5)
    received: list[str] = []
    sent: list[str] = []

    def watch(socket: WebSocket) -> None:
        socket.on("framereceived", lambda payload: received.append(payload if isinstance(payload, str)
                                                                    else payload.decode(errors="replace")))  # fmt: skip
        socket.on("framesent", lambda payload: sent.append(payload if isinstance(payload, str)
                                                            else payload.decode(errors="replace")))  # fmt: skip

    page.on("websocket", watch)
    register(page, unique_name("cardholder"))
    # Declined first, then paid, the same order, both cards with the same distinctive CVC.
    order_id = decline(page, product_id, CARD_NO_FUNDS, cvc=CVC)
    expect(page.get_by_test_id("checkout-error")).to_have_text(NO_FUNDS_MESSAGE)
    fill_card(page, CARD_OK, cvc=CVC)
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    assert order_id_of(page) == order_id
    # The tab's whole state comes back on a reload (hydrate), on the order page and on the checkout.
    page.reload()
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    page.goto("/checkout")
    expect(page.get_by_test_id("empty-cart")).to_be_visible()
    numbers = [CARD_NO_FUNDS, CARD_OK]

    # The search can find them: the browser did send both cards, with the CVC, to the server.
    assert all(any(number in frame for frame in sent) for number in numbers), "the frames were not captured"
    assert any(cvc_in(frame) for frame in sent)
    # The server never sent them back: no tab state holds them.
    assert received, "no frames from the server were captured"
    assert [frame[:200] for frame in received if leaks(frame, numbers)] == []

    # Everything the payments wrote is flushed: the log lines of both attempts, the spans of the
    # service's calls for this order.
    def logged(path: Path, **fields) -> bool:
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if all(entry.get(key) == value for key, value in fields.items()):
                return True
        return False

    wait_until(lambda: logged(shop_server.log_file, action="payment", order_id=order_id, outcome="approved"))
    wait_until(lambda: any(s.resource.get("service.name") == "payment-gateway" and "confirm" not in s.name
                           and s.attributes.get("http.route") == "/v1/payment_intents"
                           for s in shop_server.otlp.snapshot()), 30)  # fmt: skip
    wait_until(lambda: any(s.name == "payment.pay" and s.attributes.get("order.id") == order_id
                           and s.attributes.get("payment.outcome") == "approved"
                           for s in shop_server.otlp.snapshot()), 30)  # fmt: skip

    problems = []
    for database in (db, shop_server.payments.ledger):
        problems += database_leaks(database, numbers)
        for path in sqlite_files(database):
            problems += file_leaks(path, numbers, text=False)
    logs = log_files(shop_server)
    assert shop_server.log_file in logs and shop_server.payments.log_file in logs
    for path in logs:
        problems += file_leaks(path, numbers, text=True)
    problems += span_leaks(shop_server, numbers)
    assert problems == []
