"""E-mail only to addresses that asked for it, attacked over the websocket as a script would, with a real
SMTP server counting what each address receives (issue 26, items 2 and 3):

- the contact e-mail typed at checkout is printed on the order for the courier and never mailed: 150
  paid checkouts naming someone else's address send it nothing, whoever places them;
- a registration with an address another account confirmed answers exactly like one with a new
  address, field by field, sends no link to it, and its owner is told once;
- no address receives more than EMAIL_PER_RECIPIENT_PER_HOUR (10) e-mails an hour, of every kind together:
  the rest are marked capped and counted, never sent later.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import urllib.request
import uuid
from collections import Counter

from bench.journeys import PASSWORD
from bench.loadgen import CART, CHECKOUT, REGISTER, SESSION, card_form, router_data
from e2e.helpers import new_product, query, wait_until
from testkit.smtp import text_of
from tests.security.conftest import Client, in_own_loop

ACCOUNT = f"{CART}.ecom_reflex___state___account____account_state"
VERIFY = f"{CART}.ecom_reflex___state___account____verify_email_state"
SHIPPING = {"name": "Eve Tester", "line1": "1 Probe Road", "line2": "", "city": "Berlin", "postal_code": "10115",
            "country": "Germany"}  # fmt: skip
CAP = 10  # EMAIL_PER_RECIPIENT_PER_HOUR's default, which the e2e shop runs with


def own_address() -> str:
    return f"198.51.{random.randrange(256)}.{random.randrange(1, 255)}"


async def _register(url: str, username: str, email: str) -> tuple[Client, dict, list[dict]]:
    """A new tab registering `username` with `email`: the tab (logged in), the answer's merged delta and its events."""
    tab = Client(url, own_address())
    await tab.connect("/register")
    form = {"username": username, "email": email, "password": PASSWORD, "confirm": PASSWORD}
    delta = await tab.send("register", REGISTER, "register", {"form_data": form}, router_data("/register"),
                           until=lambda d: d.get(SESSION, {}).get("username_rx_state_") == username)  # fmt: skip
    return tab, delta, list(tab.answer_events)


async def _register_and_leave(url: str, username: str, email: str) -> dict:
    tab, delta, _ = await _register(url, username, email)
    await tab.close()
    return delta


def link_token(message) -> str:
    return re.search(r"/verify-email#token=([A-Za-z0-9_-]{43})", text_of(message)).group(1)


async def _open_link(url: str, token: str) -> dict:
    """The confirmation link opened in a fresh tab (the token in the URL's fragment, as a browser has it)."""
    tab = Client(url, own_address())
    # Connected elsewhere: the page's own on_load (with no token yet) must not answer for the link.
    await tab.connect("/")
    try:
        route = {"pathname": "/verify-email", "asPath": f"/verify-email#token={token}", "query": {}}
        delta = await tab.send(
            "verify", VERIFY, "open_link", route=route,
            until=lambda d: d.get(VERIFY, {}).get("link_rx_state_") in ("verified", "invalid"),
        )  # fmt: skip
        return delta.get(VERIFY, {})
    finally:
        await tab.close()


async def _pay_an_order(tab: Client, product_id: int, contact: str) -> str | None:
    """One order of `product_id` through the checkout, its contact e-mail `contact`, paid by card: the outcome."""
    await tab.send("add_to_cart", CART, "add_to_cart", {"product_id": product_id},
                   until=lambda d: "item_count_rx_state_" in d.get(CART, {}))  # fmt: skip
    await tab.send("checkout_open", CHECKOUT, "open_checkout", route=router_data("/checkout"),
                   until=lambda d: "attempt_key_rx_state_" in d.get(CHECKOUT, {}))  # fmt: skip
    outcome, _ = await tab.pay("checkout", "place_order", {**SHIPPING, "email": contact, **card_form()})
    return outcome


def unsent(db_file) -> int:
    return query(db_file, "SELECT count(*) FROM email_outbox WHERE status IN ('queued', 'sending')")[0][0]


def emails_metric(shop_server, outcome: str) -> float:
    request = urllib.request.Request(
        shop_server.url + "/metrics", headers={"Authorization": f"Bearer {shop_server.metrics_token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    pattern = rf'^ecommerce_emails_total{{[^}}]*outcome="{outcome}"[^}}]*}} (\S+)$'
    return sum(float(value) for value in re.findall(pattern, text, re.MULTILINE))


# --- the contact e-mail at checkout --------------------------------------------------------------------

ACCOUNTS, ORDERS_EACH = 30, 5  # 5: PAYMENT_ATTEMPTS_PER_ACCOUNT's "5 per 10 minutes"


async def _orders_naming(url: str, smtp, product_id: int, victim: str) -> dict:
    names = [f"contact_{uuid.uuid4().hex[:10]}" for _ in range(ACCOUNTS)]
    registered = await asyncio.gather(*(_register(url, name, f"{name}@example.com") for name in names))
    tabs = [tab for tab, _delta, _events in registered]
    try:
        # Half the accounts confirm their own address (an attacker can, for an address of theirs).
        confirmed = names[: ACCOUNTS // 2]
        for name in confirmed:
            (message,) = await asyncio.to_thread(smtp.wait_for, to=f"{name}@example.com", kind="verify_email")
            assert (await _open_link(url, link_token(message)))["link_rx_state_"] == "verified"

        async def orders_of(tab: Client) -> list[str | None]:
            return [await _pay_an_order(tab, product_id, victim) for _ in range(ORDERS_EACH)]

        outcomes = await asyncio.gather(*(orders_of(tab) for tab in tabs))
        return {"names": names, "confirmed": confirmed, "outcomes": [o for each in outcomes for o in each]}
    finally:
        for tab in tabs:
            await tab.close()


def test_150_paid_checkouts_naming_someone_elses_address_mail_it_nothing(shop_server):
    db, smtp = shop_server.db_file, shop_server.smtp
    product_id, _ = new_product(db, 500, ACCOUNTS * ORDERS_EACH + 10)
    victim = f"victim-{uuid.uuid4().hex[:8]}@example.org"

    seen = in_own_loop(_orders_naming(shop_server.url, smtp, product_id, victim))
    assert seen["outcomes"] == ["approved"] * ACCOUNTS * ORDERS_EACH
    # Every order carries the contact address, for the courier...
    placed = query(db, "SELECT count(*) FROM orders WHERE shipping_email = ? AND status = 'paid'", victim)
    assert placed == [(ACCOUNTS * ORDERS_EACH,)]
    # ...and the confirmed accounts' own addresses got their order e-mails (the sink counts and works)...
    confirmed = seen["confirmed"]
    for name in confirmed:
        smtp.wait_for(to=f"{name}@example.com", kind="order_placed", count=ORDERS_EACH)
    wait_until(lambda: unsent(db) == 0, 60)
    # ...while the address typed at checkout got nothing at all, and nothing was even queued for it.
    assert smtp.messages(to=victim) == []
    assert query(db, "SELECT count(*) FROM email_outbox WHERE recipient = ?", victim) == [(0,)]
    # An account that never confirmed its address gets no order e-mail either, only its link.
    for name in seen["names"][ACCOUNTS // 2 :]:
        assert [m["X-Shop-Email-Kind"] for m in smtp.messages(to=f"{name}@example.com")] == ["verify_email"]
    for name in confirmed:
        kinds = Counter(m["X-Shop-Email-Kind"] for m in smtp.messages(to=f"{name}@example.com"))
        assert kinds == {"verify_email": 1, "order_placed": ORDERS_EACH}


# --- a registration with a taken address -------------------------------------------------------------

TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def _same_shape(answer: tuple[dict, list[dict]], username: str, email: str) -> str:
    """The answer with what differs by design taken out: the name and address typed, and the random token."""
    text = json.dumps(answer, sort_keys=True).replace(email, "<email>").replace(username, "<username>")
    return TOKEN.sub("<token>", text)


async def _two_registrations(url: str, owner_email: str) -> dict:
    fresh_name, taken_name = (f"same_{uuid.uuid4().hex[:10]}" for _ in range(2))
    fresh_email = f"{fresh_name}@example.com"
    fresh_tab, fresh_delta, fresh_events = await _register(url, fresh_name, fresh_email)
    taken_tab, taken_delta, taken_events = await _register(url, taken_name, owner_email)
    try:
        # Each account's page says the same of its address, and asking for the link again answers alike.
        answers = {}
        for key, tab in (("fresh", fresh_tab), ("taken", taken_tab)):
            loaded = await tab.send(
                "account", ACCOUNT, "load_account", route=router_data("/account"),
                until=lambda d: d.get(ACCOUNT, {}).get("account_loaded_rx_state_") is True,
            )  # fmt: skip
            again = await tab.send("again", ACCOUNT, "send_link_again", route=router_data("/account"),
                                   until=lambda d: d.get(ACCOUNT, {}).get("busy_rx_state_") is False)  # fmt: skip
            answers[key] = (loaded.get(ACCOUNT, {}), again.get(ACCOUNT, {}), tab.answer_events)
        return {
            "fresh": (fresh_name, fresh_email, (fresh_delta, fresh_events), answers["fresh"]),
            "taken": (taken_name, owner_email, (taken_delta, taken_events), answers["taken"]),
        }
    finally:
        await fresh_tab.close()
        await taken_tab.close()


def test_a_taken_address_registers_like_a_new_one_and_its_owner_is_told_once(shop_server):
    db, smtp = shop_server.db_file, shop_server.smtp
    owner = f"owner_{uuid.uuid4().hex[:10]}"
    owner_email = f"{owner}@example.com"

    async def owner_confirms() -> None:
        await _register_and_leave(shop_server.url, owner, owner_email)
        (message,) = await asyncio.to_thread(smtp.wait_for, to=owner_email, kind="verify_email")
        assert (await _open_link(shop_server.url, link_token(message)))["link_rx_state_"] == "verified"

    in_own_loop(owner_confirms())
    seen = in_own_loop(_two_registrations(shop_server.url, owner_email))

    fresh_name, fresh_email, fresh_answer, fresh_page = seen["fresh"]
    taken_name, taken_email, taken_answer, taken_page = seen["taken"]
    # Both are logged in, and the answers are the same field by field once the name and address typed are
    # taken out: the same welcome ("we sent a link to ..."), the same state, the same events.
    assert fresh_answer[0][SESSION]["username_rx_state_"] == fresh_name
    assert taken_answer[0][SESSION]["username_rx_state_"] == taken_name
    assert "We sent a link to" in json.dumps(taken_answer[1])
    assert _same_shape(fresh_answer, fresh_name, fresh_email) == _same_shape(taken_answer, taken_name, taken_email)
    assert _same_shape(fresh_page, fresh_name, fresh_email) == _same_shape(taken_page, taken_name, taken_email)
    loaded, again, _ = taken_page
    assert loaded["email_verified_rx_state_"] is False and loaded["mailed_to_rx_state_"] == ""
    assert again["form_error_rx_state_"].startswith("We sent you a link less than a minute ago")

    # The owner is told, once; no link for the other account reaches the owner's address.
    (told,) = smtp.wait_for(to=owner_email, kind="email_in_use")
    assert owner in text_of(told) and taken_name not in text_of(told)
    smtp.wait_for(to=fresh_email, kind="verify_email")
    # Another try the same day tells the owner nothing new.
    in_own_loop(_register_and_leave(shop_server.url, f"again_{uuid.uuid4().hex[:10]}", owner_email.upper()))
    wait_until(lambda: unsent(db) == 0, 30)
    kinds = Counter(m["X-Shop-Email-Kind"] for m in smtp.messages(to=owner_email))
    assert kinds == {"verify_email": 1, "email_in_use": 1}
    # The address stays the owner's: the other accounts keep an unconfirmed claim.
    claims = query(db, "SELECT username, verified_email FROM users WHERE email = ? ORDER BY id", owner_email)
    assert claims[0] == (owner, owner_email) and [verified for _, verified in claims[1:]] == [None, None]


# --- the per-recipient cap ---------------------------------------------------------------------------


async def _many_kinds_to_one_address(url: str, smtp, db_file, product_id: int, address: str) -> list[str | None]:
    # 8 accounts give the address (nobody has confirmed it): a link goes to it for each.
    names = [f"cap_{uuid.uuid4().hex[:10]}" for _ in range(8)]
    tabs = []
    for name in names:
        tab, _, _ = await _register(url, name, address)
        tabs.append(tab)
    try:
        links = await asyncio.to_thread(smtp.wait_for, to=address, kind="verify_email", count=8)
        # The last account confirms it (the link naming it).
        last = next(m for m in links if f"Hello {names[-1]}," in text_of(m))
        assert (await _open_link(url, link_token(last)))["link_rx_state_"] == "verified"
        # Someone registers with it: its owner is told.
        extra, _, _ = await _register(url, f"cap_{uuid.uuid4().hex[:10]}", address)
        tabs.append(extra)
        await asyncio.to_thread(wait_until, lambda: unsent(db_file) == 0, 30)
        # The owner pays for 5 orders: 5 order e-mails, of which the cap lets one through.
        return [await _pay_an_order(tabs[len(names) - 1], product_id, address) for _ in range(5)]
    finally:
        for tab in tabs:
            await tab.close()


def test_no_address_gets_more_than_the_hourly_cap_of_every_kind_together(shop_server):
    db, smtp = shop_server.db_file, shop_server.smtp
    product_id, _ = new_product(db, 700, 10)
    address = f"flooded-{uuid.uuid4().hex[:8]}@example.com"
    capped_before = emails_metric(shop_server, "capped")

    outcomes = in_own_loop(_many_kinds_to_one_address(shop_server.url, smtp, db, product_id, address))
    assert outcomes == ["approved"] * 5
    wait_until(lambda: unsent(db) == 0, 60)
    received = Counter(m["X-Shop-Email-Kind"] for m in smtp.messages(to=address))
    # 8 links, the owner's notice, the first order e-mail: 10, the cap. The other 4 order e-mails: capped.
    assert received == {"verify_email": 8, "email_in_use": 1, "order_placed": 1}
    rows = query(db, "SELECT kind, status FROM email_outbox WHERE recipient = ? ORDER BY id", address)
    assert Counter(rows) == {("verify_email", "sent"): 8, ("email_in_use", "sent"): 1, ("order_placed", "sent"): 1,
                             ("order_placed", "capped"): 4}  # fmt: skip
    wait_until(lambda: emails_metric(shop_server, "capped") - capped_before >= 4, 15)
    # Capped is final: nothing of it is queued to come later.
    assert smtp.messages(to=address, kind="order_placed")[0]["Subject"].startswith("Your order #")
    assert unsent(db) == 0
