"""Attacks on the payment form, as a card tester or a curious shopper would make them over the websocket.

- Junk in the card fields (lists, objects, megabytes, digits of other scripts) sent straight to
  `place_order` and `pay_order_again`: each gets a clear error next to its field, nothing is
  ordered or charged, no attempt is used up, and nothing fails on the server.
- Paying somebody else's order: the order being paid for (`pay_order`) is server state, set only
  from the caller's own orders; `/checkout?order=<their id>` leaves it unset (a forged `setvar`
  of it: test_protocol.py).
- Card testing: payment attempts per account are limited before any call to the payment service
  (PAYMENT_ATTEMPTS_PER_ACCOUNT, default "5 per 10 minutes; 20 per day"), from any address, and a
  burst of parallel attempts gets no more through than the limit.
"""

from __future__ import annotations

import asyncio
import json
import random

import pytest

from bench.journeys import LOGIN, PASSWORD
from bench.loadgen import CART, CHECKOUT, REGISTER, SESSION, router_data
from e2e.helpers import charges, new_product, query, unique_name
from tests.security.conftest import Client, in_own_loop
from tests.security.test_protocol import appended_lines

SHIPPING = {"name": "Eve Tester", "line1": "1 Probe Road", "line2": "", "city": "Berlin", "postal_code": "10115",
            "country": "Germany"}  # fmt: skip
CARD = {"card_name": "Eve Tester", "card_number": "4242 4242 4242 4242", "card_expiry": "12/34", "card_cvc": "123"}
DECLINED = {**CARD, "card_number": "4000 0000 0000 0002"}
NUMBER_ERROR = "Enter the card number as printed on the card (12 to 19 digits)."
EXPIRY_ERROR = "Enter the expiry as MM/YY, e.g. 04/29."
CVC_ERROR = "Enter the 3 or 4 digits of the security code on the card."
# One field of a good card made junk, and what the form must say next to that field.
JUNK = [
    ("card_number", ["4242", "4242", "4242", "4242"], "Card number is required."),
    ("card_number", {"$ne": None}, "Card number is required."),
    ("card_number", None, "Card number is required."),
    ("card_number", "4" * 400_000, NUMBER_ERROR),
    ("card_number", 4.242424242424242e15, NUMBER_ERROR),
    ("card_number", "４２４２ ４２４２ ４２４２ ４２４２", NUMBER_ERROR),  # fullwidth digits
    ("card_number", "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢", NUMBER_ERROR),  # Arabic-Indic digits
    ("card_number", "४२४२४२४२४२४२४२४२", NUMBER_ERROR),  # Devanagari digits
    ("card_number", "4242 4242 4242 4241", NUMBER_ERROR),  # the check digit is wrong
    ("card_number", "4242<script>alert(1)</script>", NUMBER_ERROR),
    ("card_expiry", "１２/３４", EXPIRY_ERROR),
    ("card_expiry", {"month": 12, "year": 34}, EXPIRY_ERROR),
    ("card_expiry", "12/" + "3" * 300_000, EXPIRY_ERROR),
    ("card_expiry", "13/34", "Enter the expiry as MM/YY, e.g. 04/29: the month is 01 to 12."),
    ("card_expiry", "01/20", "This card has expired: use another card."),
    ("card_cvc", "١٢٣", CVC_ERROR),
    ("card_cvc", ["1", "2", "3"], CVC_ERROR),
    ("card_cvc", True, CVC_ERROR),
    ("card_cvc", "12345", CVC_ERROR),
    ("card_cvc", "1" * 300_000, CVC_ERROR),
    ("card_name", "N" * 300_000, "Name on card must be at most 120 characters."),
    ("card_name", ["Eve"], "Name on card is required."),
]  # fmt: skip


async def _send_form(tab: Client, handler: str, form: object, path: str = "/checkout") -> dict:
    """One submit of the checkout's form: the merged delta once the handler is done with it (field errors,
    or `placing` back to False after an attempt)."""
    return await tab.send(
        handler,
        CHECKOUT,
        handler,
        {"form_data": form},
        router_data(path),
        until=lambda d: (
            bool(d.get(CHECKOUT, {}).get("errors_rx_state_")) or d.get(CHECKOUT, {}).get("placing_rx_state_") is False
        ),
    )


async def _shopper(url: str, product_id: int | None = None) -> tuple[Client, str]:
    """A registered shopper's tab (an address of its own) with `product_id` in the cart, on the checkout."""
    tab = Client(url, f"198.18.{random.randrange(100, 200)}.{random.randrange(1, 255)}")
    await tab.connect("/register")
    name = unique_name("payer")
    form = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "confirm": PASSWORD}
    await tab.send("register", REGISTER, "register", {"form_data": form}, router_data("/register"),
                   until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_")))  # fmt: skip
    if product_id is not None:
        await tab.send("add_to_cart", CART, "add_to_cart", {"product_id": product_id},
                       until=lambda d: "item_count_rx_state_" in d.get(CART, {}))  # fmt: skip
    await _open_checkout(tab)
    return tab, name


async def _open_checkout(tab: Client, order_id: int | None = None) -> dict:
    query_args = {"order": str(order_id)} if order_id is not None else {}
    return await tab.send("checkout_open", CHECKOUT, "open_checkout", route=router_data("/checkout", query_args),
                          until=lambda d: "attempt_key_rx_state_" in d.get(CHECKOUT, {}))  # fmt: skip


async def _tab_of(url: str, username: str) -> Client:
    """Another tab of `username`'s, logged in from an address of its own."""
    tab = Client(url, f"198.19.{random.randrange(1, 255)}.{random.randrange(1, 255)}")
    await tab.connect("/login")
    form = {"username": username, "password": PASSWORD}
    await tab.send("login", LOGIN, "log_in", {"form_data": form}, router_data("/login"),
                   until=lambda d: d.get(SESSION, {}).get("username_rx_state_") == username)  # fmt: skip
    return tab


def _order_of(db_file, username: str) -> tuple[int, str, int]:
    """(id, status, payment attempts) of the user's one order."""
    ((order_id, status, attempts),) = query(
        db_file,
        "SELECT o.id, o.status, o.payment_attempts FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?",
        username,
    )
    return order_id, status, attempts


async def _junk_then_pay(url: str, db_file, product_id: int) -> dict:
    tab, name = await _shopper(url, product_id)
    seen: dict = {"place_order": [], "pay_order_again": [], "not_a_form": []}
    try:
        for field, junk, _message in JUNK:
            delta = await _send_form(tab, "place_order", {**SHIPPING, **CARD, field: junk})
            seen["place_order"].append(delta.get(CHECKOUT, {}).get("errors_rx_state_"))
        seen["orders_after_junk"] = query(
            db_file, "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE u.username = ?", name
        )[0][0]
        # A form that is not a form at all.
        for junk in (["not", "a", "form"], "x" * 10_000, None, 7):
            delta = await _send_form(tab, "place_order", junk)
            seen["not_a_form"].append(delta.get(CHECKOUT, {}).get("errors_rx_state_"))
        # Declined: the tab now pays for that order; junk for its card form too.
        declined = await _send_form(tab, "place_order", {**SHIPPING, **DECLINED})
        seen["declined"] = declined.get(CHECKOUT, {}).get("form_error_rx_state_")
        for field, junk, _message in JUNK:
            delta = await _send_form(tab, "pay_order_again", {**CARD, field: junk})
            seen["pay_order_again"].append(delta.get(CHECKOUT, {}).get("errors_rx_state_"))
        # After all that, a good card still pays: no junk used up an attempt.
        await _send_form(tab, "pay_order_again", CARD)
        seen["toasts"] = tab.error_toasts()
        seen["username"] = name
        return seen
    finally:
        await tab.close()


def test_junk_card_payloads_get_field_errors_and_charge_nothing(shop_server):
    product_id, _ = new_product(shop_server.db_file, 1999, 5)
    offset = shop_server.log_file.stat().st_size
    seen = in_own_loop(_junk_then_pay(shop_server.url, shop_server.db_file, product_id))

    for handler in ("place_order", "pay_order_again"):
        for (field, junk, message), errors in zip(JUNK, seen[handler], strict=True):
            assert errors == {field: message}, (handler, field, repr(junk)[:60], errors)
    assert seen["orders_after_junk"] == 0, "junk placed no order"
    # Not a form: every field is missing, and each says so.
    for errors in seen["not_a_form"]:
        assert errors and errors.get("card_number") == "Card number is required." and "name" in errors, errors
    assert seen["declined"] == "Your card was declined."

    order_id, status, attempts = _order_of(shop_server.db_file, seen["username"])
    assert (status, attempts) == ("paid", 2), "the decline and the good card: the only attempts made"
    assert charges(shop_server, order_id) == [("declined", 1999), ("succeeded", 1999)]
    assert seen["toasts"] == []
    lines = appended_lines(shop_server.log_file, offset)
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")], lines
    text = json.dumps(lines)
    assert "Traceback" not in text and "4242424242424242" not in text and "4242 4242 4242 4242" not in text
    assert shop_server.log_file.stat().st_size - offset < 200_000, "no junk copied into the log"


async def _pay_someone_elses_order(url: str, product_id: int, victim_order: int) -> dict:
    attacker, _ = await _shopper(url, product_id)
    try:
        opened = await _open_checkout(attacker, victim_order)
        paid = await attacker.send("pay", CHECKOUT, "pay_order_again", {"form_data": CARD}, router_data("/checkout"))
        return {
            "opened": opened.get(CHECKOUT, {}),
            "paid": paid.get(CHECKOUT, {}),
            "toasts": attacker.error_toasts(),
        }
    finally:
        await attacker.close()


async def _declined_order(url: str, product_id: int) -> str:
    victim, name = await _shopper(url, product_id)
    try:
        await _send_form(victim, "place_order", {**SHIPPING, **DECLINED})
    finally:
        await victim.close()
    return name


def test_nobody_can_pay_for_someone_elses_order(shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 3100, 5)
    victim = in_own_loop(_declined_order(shop_server.url, product_id))
    victim_order, status, attempts = _order_of(db, victim)
    assert (status, attempts) == ("payment_failed", 1)
    offset = shop_server.log_file.stat().st_size

    seen = in_own_loop(_pay_someone_elses_order(shop_server.url, product_id, victim_order))
    # /checkout?order=<their order> sends the caller to their own orders, paying for nothing.
    assert seen["opened"].get("pay_order_rx_state_") is None
    assert "pay_order_rx_state_" not in seen["paid"]
    assert not seen["paid"].get("placing_rx_state_") and not seen["paid"].get("form_error_rx_state_")
    assert seen["toasts"] == []
    # The victim's order is as it was: no attempt, no charge, no change.
    assert _order_of(db, victim) == (victim_order, "payment_failed", 1)
    assert charges(shop_server, victim_order) == [("declined", 3100)]
    lines = appended_lines(shop_server.log_file, offset)
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL")], lines


async def _six_attempts_from_two_addresses(url: str, product_id: int) -> dict:
    tab, name = await _shopper(url, product_id)
    other = None
    messages = []
    try:
        messages.append((await _send_form(tab, "place_order", {**SHIPPING, **DECLINED}))[CHECKOUT])
        for _ in range(4):
            messages.append((await _send_form(tab, "pay_order_again", DECLINED))[CHECKOUT])
        # The sixth, with a good card, from another tab of the account on another address.
        other = await _tab_of(url, name)
        order_id = messages[0]["pay_order_rx_state_"]["id"]
        opened = await _open_checkout(other, order_id)
        assert opened[CHECKOUT]["pay_order_rx_state_"]["id"] == order_id
        messages.append((await _send_form(other, "pay_order_again", CARD))[CHECKOUT])
        return {"username": name, "errors": [message.get("form_error_rx_state_", "") for message in messages]}
    finally:
        await tab.close()
        if other is not None:
            await other.close()


def test_the_sixth_payment_attempt_of_an_account_is_refused_before_any_charge(shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1100, 5)
    seen = in_own_loop(_six_attempts_from_two_addresses(shop_server.url, product_id))
    assert seen["errors"][:5] == ["Your card was declined."] * 5
    assert seen["errors"][5].startswith("Too many payment attempts for this account. Try again in"), seen["errors"]
    # The refused attempt reached nobody: five declines, and the good card was never tried.
    order_id, status, attempts = _order_of(db, seen["username"])
    assert (status, attempts) == ("payment_failed", 5)
    assert charges(shop_server, order_id) == [("declined", 1100)] * 5


BURST = 8


async def _burst(url: str, product_id: int) -> dict:
    tab, name = await _shopper(url, product_id)
    tabs = []
    try:
        placed = (await _send_form(tab, "place_order", {**SHIPPING, **DECLINED}))[CHECKOUT]
        order_id = placed["pay_order_rx_state_"]["id"]
        tabs = await asyncio.gather(*(_tab_of(url, name) for _ in range(BURST)))
        for other in tabs:
            await _open_checkout(other, order_id)
        # Every tab at once, each from its own address: the account's limit holds across all of them.
        answers = await asyncio.gather(*(_send_form(other, "pay_order_again", DECLINED) for other in tabs))
        return {"username": name, "errors": [answer.get(CHECKOUT, {}).get("form_error_rx_state_", "")
                                             for answer in answers]}  # fmt: skip
    finally:
        for other in [tab, *tabs]:
            await other.close()


def test_a_burst_of_parallel_attempts_gets_no_more_through_than_the_limit(shop_server):
    db = shop_server.db_file
    product_id, _ = new_product(db, 1200, 5)
    seen = in_own_loop(_burst(shop_server.url, product_id))
    refused = [error for error in seen["errors"] if error.startswith("Too many payment attempts for this account")]
    # One attempt placed the order; of the burst, the 4 the limit has left get through, the rest are refused.
    assert len(refused) == BURST - 4, seen["errors"]
    order_id, status, attempts = _order_of(db, seen["username"])
    assert attempts <= 5 and status == "payment_failed"
    assert len(charges(shop_server, order_id)) == attempts


@pytest.fixture(autouse=True)
def _no_payment_service_faults(shop_server):
    """These attacks need the payment service answering: a fault flag left on by another test would change them."""
    flags = json.loads(shop_server.flags_file.read_text())["flags"]
    on = [name for name in ("paymentFailurePercent", "paymentDelayMs", "paymentUnreachable")
          if name in flags and flags[name]["defaultVariant"] != "off"]  # fmt: skip
    assert not on, f"fault flags left on: {on}"
