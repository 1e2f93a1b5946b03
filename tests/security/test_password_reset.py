"""Attacks on "forgot password": mail bombing, account enumeration by timing, the token left on disk.

- Mail bombing: before, requests one after another were held to 3 e-mails, but 120 tabs asking at
  once got 25-120 reset e-mails to one victim, and the real owner was then refused a link for
  1,440 minutes (the cap counted requests, "10 per day"). Now each reset e-mail takes a slot of its
  recipient's cap (PASSWORD_RESET_EMAILS_PER_RECIPIENT, 3 an hour) before it is queued, and each
  request one of its client address (PASSWORD_RESETS_PER_ADDRESS) before anything else.
- Enumeration: the answer took 3-4 ms longer for an address with an account. Now the request does the
  same work either way (the address's slot, then the answer) and the rest is decided after it.
- The token on disk: a sent, still valid reset token was readable in data/shop.db-wal although its
  outbox row said "(redacted)". Now the sender makes the link as it sends: only its hash is written.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
import statistics
import urllib.request
import uuid

from limits import parse_many
from playwright.sync_api import Page, expect

from bench.loadgen import CART, router_data
from e2e.helpers import execute, query, wait_until
from ecom_reflex.settings import Settings
from testkit.smtp import text_of
from tests.security.conftest import Client, in_own_loop, log_in, logged_in_as, register

FORGOT = f"{CART}.ecom_reflex___state___password_reset____forgot_password_state"
PASSWORD = "Owner-knows-this-1"
NEW_PASSWORD = "violet kettle harbour 42"
DECIDED = ("queued", "no_account", "capped")
# A bcrypt hash nobody knows the password of: accounts made straight in the database for the timing test.
SOME_HASH = "$2b$12$" + "N" * 53


def fresh_address() -> str:
    return f"198.19.{random.randrange(256)}.{random.randrange(1, 255)}"


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _told(delta: dict) -> bool:
    form = delta.get(FORGOT, {})
    return bool(form.get("sent_to_rx_state_") or form.get("form_error_rx_state_") or form.get("errors_rx_state_"))


async def _ask(addresses: list[str], emails: list[str], url: str) -> list[tuple[dict, float]]:
    """Each e-mail asked for from its own tab and address, connected first, then all at the same moment:
    (the answer's delta, seconds from sending to the answer)."""
    tabs = [Client(url, address) for address in addresses]
    try:
        await asyncio.gather(*(tab.connect("/forgot-password") for tab in tabs))
        answers = await asyncio.gather(
            *(tab.send("forgot", FORGOT, "request_link", {"form_data": {"email": email}},
                       router_data("/forgot-password"), until=_told)
              for tab, email in zip(tabs, emails, strict=True))
        )  # fmt: skip
        return [(answer, tab.stats.latencies["forgot"][0]) for answer, tab in zip(answers, tabs, strict=True)]
    finally:
        await asyncio.gather(*(tab.close() for tab in tabs))


def ask(url: str, addresses: list[str], emails: list[str]) -> list[tuple[dict, float]]:
    return in_own_loop(_ask(addresses, emails, url))


def sent_to(answer: dict) -> str:
    return answer.get(FORGOT, {}).get("sent_to_rx_state_", "")


def form_error(answer: dict) -> str:
    return answer.get(FORGOT, {}).get("form_error_rx_state_", "")


def decided(shop) -> float:
    """Requests the shop has decided after answering them (ecommerce_password_resets_total, every worker's)."""
    token = getattr(shop, "metrics_token", None)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    text = urllib.request.urlopen(urllib.request.Request(f"{shop.url}/metrics", headers=headers), timeout=10).read()
    text = text.decode()
    pattern = re.compile(r'^ecommerce_password_resets_total\{step="(\w+)"\} (\S+)$', re.MULTILINE)
    return sum(float(value) for step, value in pattern.findall(text) if step in DECIDED)


def all_sent(db_file, email: str) -> bool:
    unsent = "SELECT count(*) FROM email_outbox WHERE recipient = ? AND status IN ('queued', 'sending')"
    return query(db_file, unsent, email) == [(0,)]


def reset_link(message) -> str:
    return re.search(r"http://\S+/reset-password#token=[A-Za-z0-9_-]+", text_of(message)).group(0)


def test_120_tabs_asking_at_once_get_the_victim_3_emails_and_the_owner_a_working_link(shop_server, page: Page):
    name = new_name("bombed")
    email = f"{name}@example.com"
    assert logged_in_as(register(shop_server.url, fresh_address(), name, PASSWORD)) == name
    before = decided(shop_server)
    answers = ask(shop_server.url, [fresh_address() for _ in range(120)], [email] * 120)
    # Every tab is told the same.
    assert [sent_to(answer) for answer, _ in answers] == [email] * 120
    wait_until(lambda: decided(shop_server) - before >= 120, 60)
    wait_until(lambda: all_sent(shop_server.db_file, email), 60)
    messages = shop_server.smtp.messages(to=email, kind="password_reset")
    assert len(messages) == 3, "PASSWORD_RESET_EMAILS_PER_RECIPIENT: 3 an hour, however many asked at once"

    # The owner is not locked out: the newest link works (each e-mail's link replaced the one before).
    page.goto(reset_link(messages[-1]))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    assert logged_in_as(log_in(shop_server.url, fresh_address(), name, NEW_PASSWORD)) == name


def test_the_cap_is_an_hour_at_most_never_a_day():
    window = max(rate.get_expiry() for rate in parse_many(Settings.model_fields[
        "password_reset_emails_per_recipient"].default))  # fmt: skip
    assert window <= 3600


def test_120_tabs_asking_at_once_from_one_address_get_5_answers(shop_server):
    address = fresh_address()
    emails = [f"{new_name('nobody')}@example.com" for _ in range(120)]
    answers = ask(shop_server.url, [address] * 120, emails)
    told = [sent_to(answer) for answer, _ in answers]
    assert sum(bool(email) for email in told) == 5, "PASSWORD_RESETS_PER_ADDRESS: 5 a minute"
    assert {form_error(answer) for answer, _ in answers if not sent_to(answer)} == {
        "Too many reset requests from your network. Try again in 1 minute."
    }


def test_the_cap_counts_emails_sent_not_requests_asked(shop_server):
    name = new_name("later")
    email = f"{name}@example.com"
    before = decided(shop_server)
    # Asked for ten times while no account has the address: nothing sent, nothing counted...
    answers = ask(shop_server.url, [fresh_address() for _ in range(10)], [email] * 10)
    assert [sent_to(answer) for answer, _ in answers] == [email] * 10
    wait_until(lambda: decided(shop_server) - before >= 10, 60)
    # ...so once its owner has an account, a request for it gets an e-mail.
    assert logged_in_as(register(shop_server.url, fresh_address(), name, PASSWORD)) == name
    ask(shop_server.url, [fresh_address()], [email])
    (message,) = shop_server.smtp.wait_for(to=email, kind="password_reset")
    assert reset_link(message)


def test_the_answer_takes_as_long_whether_or_not_an_account_has_the_address(shop_server):
    """60 requests each, one at a time in random order, each from an address of its own; the shop is left
    to finish what a request started (its e-mail sent) before the next is timed."""
    stamp = uuid.uuid4().hex[:8]
    known = [f"timed_{stamp}_{n}@example.com" for n in range(65)]
    unknown = [f"untimed_{stamp}_{n}@example.com" for n in range(65)]
    insert = ("INSERT INTO users (username, email, password_hash, is_admin, is_active, created_at)"
              " VALUES (?, ?, ?, 0, 1, datetime('now'))")  # fmt: skip
    for n, email in enumerate(known):
        execute(shop_server.db_file, insert, f"timed_{stamp}_{n}", email, SOME_HASH)
    # In pairs, one of each in a random order: whatever slows the machine meanwhile slows both alike.
    rng = random.Random(stamp)
    order = []
    for pair in zip(((email, True) for email in known), ((email, False) for email in unknown), strict=True):
        order += rng.sample(pair, 2)
    seconds: dict[bool, list[float]] = {True: [], False: []}
    answers: dict[bool, set[tuple[str, str]]] = {True: set(), False: set()}
    for email, has_account in order:
        ((answer, elapsed),) = ask(shop_server.url, [fresh_address()], [email])
        seconds[has_account].append(elapsed)
        answers[has_account].add((sent_to(answer) == email, form_error(answer)))
        if has_account:
            shop_server.smtp.wait_for(to=email, kind="password_reset")
    assert answers[True] == answers[False] == {(True, "")}
    # The first five of each warm up; the medians of the other sixty.
    with_account, without = (statistics.median(seconds[kind][5:]) for kind in (True, False))
    assert abs(with_account - without) < 0.001, (
        f"median {1000 * with_account:.2f} ms with an account, {1000 * without:.2f} ms without"
    )


def test_no_reset_token_can_be_read_from_the_database_files(shop_server):
    name = new_name("disk")
    email = f"{name}@example.com"
    register(shop_server.url, fresh_address(), name, PASSWORD)
    ask(shop_server.url, [fresh_address()], [email])
    (message,) = shop_server.smtp.wait_for(to=email, kind="password_reset")
    token = reset_link(message).rsplit("=", 1)[1]
    wait_until(lambda: all_sent(shop_server.db_file, email), 30)
    db = shop_server.db_file
    on_disk = b"".join(path.read_bytes() for path in db.parent.glob(db.name + "*"))  # the file, -wal, -shm
    # The link is valid (its hash is right there), yet the token is nowhere: not in a table, not in the WAL.
    assert hashlib.sha256(token.encode()).hexdigest().encode() in on_disk
    assert token.encode() not in on_disk
