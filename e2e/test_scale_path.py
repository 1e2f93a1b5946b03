"""The shopper journey on the scale path: PostgreSQL, Redis and 2 backend workers, restarted mid-journey.

Runs its own copy of the app (a copy of the source in a temporary folder, so its frontend
build never touches the one the other journeys use), against a throwaway PostgreSQL cluster
and Redis server.
"""

from __future__ import annotations

import json
import pickle
import pickletools
import random
import re
import secrets
import shutil
import tempfile
import urllib.request
from pathlib import Path

import psycopg
import pytest
import redis as redis_client
from playwright.sync_api import Browser, expect
from stdnum import luhn

from bench.journeys import LOGIN, run_journeys
from bench.loadgen import CART, SESSION, router_data
from e2e.fixtures import ARTIFACTS
from e2e.helpers import cart_count, fill_card, fill_shipping, from_own_address, unique_name, wait_until
from e2e.test_concurrency import SHOPPERS, assert_all_completed, in_own_loop
from ecom_reflex.cli import reflex_environment
from ecom_reflex.settings import PROJECT_ROOT
from testkit.servers import PostgresServer, ShopProcess, copy_of_the_app, free_port, start_postgres, start_redis
from testkit.smtp import SmtpSink, text_of
from tests.security.conftest import Client, register


class ScaleShop(ShopProcess):
    def __init__(self, root: Path, env: dict, log_path: Path, redis_url: str, postgres: PostgresServer, smtp: SmtpSink):
        healthy = {"status": "ok", "database": "ok", "redis": "ok", "payments": "ok"}
        super().__init__(root, env, log_path, healthy=healthy)
        self.redis_url = redis_url
        self.postgres = postgres
        self.smtp = smtp

    def query(self, sql: str, *params) -> list[tuple]:
        with psycopg.connect(self.postgres.url("shop").replace("+psycopg", "")) as connection:
            return connection.execute(sql, params).fetchall()

    def log_lines(self) -> list[dict]:
        """Every worker's lines: with several workers each writes a file of its own (app.<pid>.json.log)."""
        paths = sorted((self.root / "logs").glob("app.*.json.log"))
        return [json.loads(line) for path in paths for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def scale_shop():
    workdir = Path(tempfile.mkdtemp(prefix="shop-scale-"))
    # Its own temporary folder: the server runs as postgres and cannot enter root's private ones.
    pg_dir = Path(tempfile.mkdtemp(prefix="shop-scale-pg-"))
    postgres = start_postgres(pg_dir)
    redis = start_redis(workdir)
    root = copy_of_the_app(PROJECT_ROOT, workdir)
    postgres.execute("CREATE DATABASE shop")
    port = free_port()
    smtp = SmtpSink().start()
    env = reflex_environment()
    env.update(
        DB_URL=postgres.url("shop").replace("+psycopg", ""),  # the plain form operators write
        # Both workers' senders send to this one server.
        SMTP_URL=smtp.url,
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        EMAIL_POLL_SECONDS="0.2",
        REDIS_URL=redis.url,
        WORKERS="2",
        HOST="127.0.0.1",
        PORT=str(port),
        ADMIN_PASSWORD=secrets.token_urlsafe(16),
        LOG_FILE=str(root / "logs" / "app.json.log"),
        TRUSTED_PROXIES="127.0.0.1",  # each simulated shopper says its own address (X-Forwarded-For)
        PAYMENT_PORT=str(free_port()),  # `cli serve` starts the payment service there
    )
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    shop = ScaleShop(root, env, ARTIFACTS / "scale-server.log", redis_url=redis.url, postgres=postgres, smtp=smtp)
    shop.log_path.parent.mkdir(parents=True, exist_ok=True)
    shop.log_path.write_text("")
    try:
        shop.setup()
        shop.start()
        yield shop
    finally:
        shop.stop()
        smtp.stop()
        redis.stop()
        postgres.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(pg_dir, ignore_errors=True)


def test_journey_on_postgres_redis_and_two_workers_survives_a_restart(browser: Browser, scale_shop: ScaleShop):
    started = [line["pid"] for line in scale_shop.log_lines() if line["message"] == "shop started"]
    assert len(set(started)) == 2, "two worker processes, each with its own lifespan"
    # Each worker writes a file of its own (two rotating one file would lose lines).
    files = {path.name for path in (scale_shop.root / "logs").glob("app.*.json.log")}
    assert files >= {f"app.{pid}.json.log" for pid in started}

    context = browser.new_context(
        base_url=scale_shop.url, viewport={"width": 1280, "height": 900}, **from_own_address()
    )
    page = context.new_page()
    username = unique_name("scaled")
    page.goto("/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("E-mail").fill(f"{username}@example.com")
    page.get_by_label("Password", exact=True).fill("Scaled-pass-1")
    page.get_by_label("Confirm password").fill("Scaled-pass-1")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_test_id("current-user")).to_have_text(username)

    page.goto("/?q=yoga")
    page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart").click()
    expect(cart_count(page)).to_have_text("1")
    page.goto("/?q=beanie")
    page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart").click()
    expect(cart_count(page)).to_have_text("2")

    # Every browser's state lives in Redis, not in a worker: whichever worker the next
    # connection reaches, and a restarted one, loads it from there.
    store = redis_client.Redis.from_url(scale_shop.redis_url)
    state_keys = store.keys("*")
    assert state_keys, "Reflex keeps the session state in Redis"
    store.close()

    # The backend goes away in the middle of the journey and comes back.
    scale_shop.stop()
    scale_shop.start()

    page.reload()
    expect(page.get_by_test_id("current-user")).to_have_text(username)
    expect(cart_count(page)).to_have_text("2")
    page.goto("/checkout")
    fill_shipping(page, "Scale Tester", "2 Worker Way", "10115", "Berlin", "Germany", region="")
    # A card number and CVC of this test's own (any valid number the test cards do not name is approved),
    # so that finding them anywhere can only mean the shop kept them (a CVC above 2999 is no year, nor the
    # "1000" of a product's name).
    number, cvc = a_card_number(), f"{random.randrange(3000, 10000)}"
    fill_card(page, " ".join(number[i : i + 4] for i in range(0, 16, 4)), expiry="11/33", cvc=cvc, name="Scale Tester")
    page.get_by_test_id("place-order").click()
    expect(page.get_by_test_id("order-confirmation")).to_be_visible()
    expect(page.get_by_test_id("order-status")).to_have_text("paid")
    expect(page.get_by_test_id("payment-card")).to_have_text(f"Visa •••• {number[-4:]}, expires 11/33")
    page.goto("/orders")
    expect(page.get_by_test_id("order-row")).to_have_count(1)
    expect(page.get_by_test_id("order-row").get_by_test_id("order-status")).to_have_text("paid")
    context.close()
    assert scale_shop.query("SELECT status, payment_status, card_last4 FROM orders") == [
        ("paid", "captured", number[-4:])
    ]

    # The state lives in Redis: no key's value, whatever its type, holds the card number or the CVC.
    store = redis_client.Redis.from_url(scale_shop.redis_url)
    try:
        assert store.dbsize() > 0, "the state store holds the tabs' states"
        found = card_data_in_redis(store, number, cvc)
        # The search finds what it looks for, in a pickle as Reflex writes a state.
        store.set("e2e-canary", pickle.dumps({"card_cvc": cvc}), ex=60)
        assert "e2e-canary" in card_data_in_redis(store, number, cvc)
        store.delete("e2e-canary")
    finally:
        store.close()
    assert found == [], f"card data kept in Redis under {found}"

    # Metrics of both workers add up in multiprocess mode; the restart began a fresh run.
    with urllib.request.urlopen(f"{scale_shop.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert re.search(r"^ecommerce_orders_total 1\.0$", text, re.M), "one order since the restart"
    # Log lines say which worker served them.
    placed = [line for line in scale_shop.log_lines() if line.get("action") == "order_placed"]
    assert len(placed) == 1 and isinstance(placed[0]["pid"], int)


def a_card_number() -> str:
    """A Luhn-valid Visa number of 16 digits, random: not one of the test cards, so it is approved."""
    body = "4" + "".join(random.choice("0123456789") for _ in range(14))
    return body + luhn.calc_check_digit(body)


def _values(store: redis_client.Redis, key: bytes) -> list[bytes]:
    """Everything stored under `key`, whatever the key's type."""
    kind = store.type(key).decode()
    if kind == "string":
        return [store.get(key) or b""]
    if kind == "hash":
        return [part for pair in store.hgetall(key).items() for part in pair]
    if kind == "list":
        return store.lrange(key, 0, -1)
    if kind == "set":
        return list(store.smembers(key))
    if kind == "zset":
        return store.zrange(key, 0, -1)
    if kind == "stream":
        return [part for _id, fields in store.xrange(key) for pair in fields.items() for part in pair]
    return []


def _texts(value: bytes) -> list[str]:
    """The strings in a stored value: each string of a pickle (how Reflex stores a state), else the whole value."""
    try:
        return [str(arg) for opcode, arg, _ in pickletools.genops(value) if isinstance(arg, (str, bytes))]
    except Exception:  # not a pickle (or not all of it): read it as text
        return [value.decode("latin-1")]


def card_data_in_redis(store: redis_client.Redis, number: str, cvc: str) -> list[str]:
    """The keys whose value holds the card number (typed with or without spaces) or the CVC (as a value of its own)."""
    spaced = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    alone = re.compile(rf"(?<![0-9A-Za-z]){cvc}(?![0-9A-Za-z])")
    found = []
    for key in store.scan_iter(count=500):
        for value in _values(store, key):
            texts = [value.decode("latin-1"), *_texts(value)]
            if any(number in text or spaced in text for text in texts) or any(alone.search(text) for text in texts[1:]):
                found.append(key.decode("latin-1"))
                break
    return found


def test_ten_shoppers_at_once_on_postgres_redis_and_two_workers(scale_shop: ScaleShop):
    before = dict(scale_shop.query("SELECT id, stock FROM products"))
    result = in_own_loop(run_journeys(scale_shop.url, SHOPPERS, journeys_each=1, seed=21))
    after = dict(scale_shop.query("SELECT id, stock FROM products"))
    orders = scale_shop.query(
        "SELECT count(*) FROM orders JOIN users ON users.id = orders.user_id WHERE users.username = ANY(%s)",
        result.usernames,
    )[0][0]
    assert_all_completed(result, orders, before, after)
    # Two workers' senders, one outbox: each registration's confirmation link arrives, and only once, each
    # written out with its own link by whichever sender took it; no order e-mail goes to an address
    # nobody confirmed.
    shoppers = {f"{name}@example.com" for name in result.usernames}
    scale_shop.smtp.wait_for(kind="verify_email", count=len(shoppers), timeout_s=60)
    wait_until(lambda: scale_shop.query("SELECT count(*) FROM email_outbox WHERE status <> 'sent'")[0][0] == 0, 60)
    received = [m for m in scale_shop.smtp.messages(kind="verify_email") if m["To"].addresses[0].addr_spec in shoppers]
    assert len(received) == len(shoppers) == len({message["Message-ID"] for message in received})
    assert {m["To"].addresses[0].addr_spec for m in received} == shoppers
    tokens = {re.search(r"/verify-email#token=(\S+)", text_of(message)).group(1) for message in received}
    assert len(tokens) == len(shoppers)
    assert not [m for m in scale_shop.smtp.messages(kind="order_placed") if m["To"].addresses[0].addr_spec in shoppers]


def test_redis_keeps_no_session_token_and_forgets_idle_tabs(scale_shop: ScaleShop):
    username = unique_name("stored")
    password = "Stored-token-pass-7"
    register(scale_shop.url, "198.18.80.1", username, password)
    signed_in, session_token, anonymous = in_own_loop(
        _a_signed_in_tab_and_an_anonymous_one(scale_shop.url, username, password)
    )
    assert len(session_token) > 30, "the browser got its session token"
    store = redis_client.Redis.from_url(scale_shop.redis_url)
    try:
        keys = [key for key in store.keys("*") if store.type(key) == b"string"]
        assert not [key for key in keys if session_token.encode() in (store.get(key) or b"")], "only the token's hash"

        def lifetimes(tab: str) -> list[int]:
            return [store.ttl(key) for key in keys if key.startswith(f"{tab}_".encode())]

        # Every key of a tab expires with the tab (state/store.py): a signed-in tab after an hour,
        # an anonymous one after 5 minutes (the defaults).
        signed_in_ttls, anonymous_ttls = lifetimes(signed_in), lifetimes(anonymous)
        assert len(signed_in_ttls) > 3 and len(anonymous_ttls) > 3
        assert all(300 < ttl <= 3600 for ttl in signed_in_ttls), signed_in_ttls
        assert max(signed_in_ttls) - min(signed_in_ttls) <= 5, "the whole tree expires together"
        assert all(0 < ttl <= 300 for ttl in anonymous_ttls), anonymous_ttls
    finally:
        store.close()


async def _a_signed_in_tab_and_an_anonymous_one(url: str, username: str, password: str) -> tuple[str, str, str]:
    """(the signed-in tab's client token, its session token, an anonymous tab's client token)."""
    tab = Client(url, "198.18.80.2")
    await tab.connect("/login")
    form = {"username": username, "password": password}
    delta = await tab.send("login", LOGIN, "log_in", {"form_data": form}, router_data("/login"),
                           until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_")))  # fmt: skip
    await tab.send("cart", CART, "load_cart", route=router_data("/cart"))  # one more event: written again
    await tab.close()
    visitor = Client(url, "198.18.80.3")
    await visitor.connect("/")
    await visitor.close()
    return tab.token, delta[SESSION]["auth_token_rx_state_"], visitor.token


def test_bursts_get_no_more_through_than_the_limits_across_two_workers(scale_shop: ScaleShop):
    """The attacks of tests/security/test_bursts.py and test_password_reset.py, here with the throttles'
    counters in Redis and each burst's tabs served by both workers."""
    from tests.security.conftest import form_error
    from tests.security.test_bursts import PASSWORD, WRONG, login_burst, registration_burst
    from tests.security.test_password_reset import ask, decided, sent_to

    victim = unique_name("scaled_victim")
    register(scale_shop.url, "198.18.81.1", victim, PASSWORD)
    guesses = [(victim, f"guess-{n}") for n in range(60)]
    answers = [form_error(answer) for answer in login_burst(scale_shop.url, "198.18.81.2", guesses)]
    assert answers.count(WRONG) == 5, answers

    names = [unique_name("scaled_rush") for _ in range(20)]
    registration_burst(scale_shop.url, "198.18.81.3", names)
    assert scale_shop.query("SELECT count(*) FROM users WHERE username = ANY(%s)", names) == [(5,)]

    email = f"{victim}@example.com"
    before = decided(scale_shop)
    answers = ask(scale_shop.url, [f"198.18.82.{n}" for n in range(1, 41)], [email] * 40)
    assert [sent_to(answer) for answer, _ in answers] == [email] * 40
    wait_until(lambda: decided(scale_shop) - before >= 40, 60)
    unsent = "SELECT count(*) FROM email_outbox WHERE recipient = %s AND status IN ('queued', 'sending')"
    wait_until(lambda: scale_shop.query(unsent, email) == [(0,)], 60)
    assert len(scale_shop.smtp.messages(to=email, kind="password_reset")) == 3
    # Both workers decided some of them: the cap held across processes, not within one.
    deciders = {line["pid"] for line in scale_shop.log_lines() if line["message"].startswith("password reset request:")}
    assert len(deciders) == 2
