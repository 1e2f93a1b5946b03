"""Many shoppers at once, and one holding things up: every journey completes, nobody waits on anybody else.

Real shoppers over Reflex's websocket protocol (bench.journeys) against the shared e2e shop
on SQLite; the same journeys on PostgreSQL + Redis + 2 workers are in test_scale_path.py.
Nothing here is timed against a clock: each test checks what happened, and in what order.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

from playwright.sync_api import Page, expect

from bench.journeys import PASSWORD, JourneyResult, JourneyShopper, run_journeys
from bench.loadgen import CART, CATALOG, REGISTER, SESSION, Stats, router_data
from e2e.helpers import log_in, query, unique_name

SHOPPERS = 10
LOCK_HOLD_S = 3.0


def in_own_loop(coroutine):
    """Playwright's sync API keeps an event loop running in the test's thread: asyncio runs in another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def stocks(rows: list[tuple[int, int]]) -> dict[int, int]:
    return dict(rows)


def assert_all_completed(result: JourneyResult, orders: int, stock_before: dict[int, int],
                         stock_after: dict[int, int]) -> None:  # fmt: skip
    assert result.failures == [], result.failures
    assert result.completed == SHOPPERS
    assert orders == SHOPPERS, "one order per shopper, all of them in the database"
    sold = {pid: stock_before[pid] - stock_after[pid] for pid in stock_before if stock_before[pid] != stock_after[pid]}
    assert sold == dict(result.bought), "stock went down by exactly what was bought"
    assert sum(sold.values()) == 2 * SHOPPERS


def test_ten_shoppers_register_log_in_and_check_out_at_once(shop_server):
    before = stocks(query(shop_server.db_file, "SELECT id, stock FROM products"))
    result = in_own_loop(run_journeys(shop_server.url, SHOPPERS, journeys_each=1, seed=12))
    after = stocks(query(shop_server.db_file, "SELECT id, stock FROM products"))
    placeholders = ",".join("?" * len(result.usernames))
    orders = query(
        shop_server.db_file,
        f"SELECT count(*) FROM orders JOIN users ON users.id = orders.user_id WHERE users.username IN ({placeholders})",
        *result.usernames,
    )[0][0]
    assert_all_completed(result, orders, before, after)


async def _held_lock_scenario(url: str, db_file) -> dict:
    stats, rng = Stats(), random.Random(3)
    buyer, browser = JourneyShopper(url, stats, rng), JourneyShopper(url, stats, rng)
    await buyer.connect("/register")
    await browser.connect("/")
    name = unique_name("held")
    form = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "confirm": PASSWORD}
    await buyer.send("register", REGISTER, "register", {"form_data": form}, router_data("/register"),
                     until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_")))  # fmt: skip
    product = query(db_file, "SELECT id FROM products WHERE is_active AND stock > 5 ORDER BY id LIMIT 1")[0][0]

    # Another program takes SQLite's write lock and sits on it.
    holder = sqlite3.connect(db_file, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    events: list[str] = []
    try:
        answered = lambda d: "item_count_rx_state_" in d.get(CART, {})  # noqa: E731
        adding = asyncio.create_task(
            buyer.send("add_to_cart", CART, "add_to_cart", {"product_id": product}, until=answered)
        )
        listing = await browser.send("browse", CATALOG, "load_listing", route=router_data("/"))
        events.append("browse answered")
        await asyncio.sleep(LOCK_HOLD_S)
        events.append("add answered" if adding.done() else "add still waiting")
    finally:
        holder.rollback()
        holder.close()
    events.append("lock released")
    added = await adding
    events.append("add answered")
    await buyer.close()
    await browser.close()
    return {
        "events": events,
        "listed": len(listing.get(CATALOG, {}).get("products_rx_state_") or []),
        "item_count": added.get(CART, {}).get("item_count_rx_state_"),
        "errors": buyer.error_toasts() + browser.error_toasts(),
        "timeouts": dict(stats.errors),
    }


def test_a_held_write_lock_delays_only_the_writer(shop_server):
    outcome = in_own_loop(_held_lock_scenario(shop_server.url, shop_server.db_file))
    # Reading never waits for the writer; the write queues for the lock instead of failing.
    assert outcome["events"] == ["browse answered", "add still waiting", "lock released", "add answered"]
    assert outcome["listed"] > 0
    assert outcome["item_count"] == 1
    assert outcome["errors"] == [] and outcome["timeouts"] == {}


def _browse_meanwhile(url: str, stop: threading.Event, stats: Stats) -> None:
    async def browse() -> None:
        shopper = JourneyShopper(url, stats, random.Random(5))
        await shopper.connect("/")
        while not stop.is_set():
            await shopper.send("browse", CATALOG, "load_listing", route=router_data("/"))
        await shopper.close()

    asyncio.run(browse())


def test_a_ten_thousand_line_guest_cart_is_cut_to_fifty_with_one_notice(page: Page, shop_server):
    name = unique_name("hoarder")
    in_own_loop(_register(shop_server.url, name))
    product_ids = [row[0] for row in query(shop_server.db_file, "SELECT id FROM products WHERE is_active")]
    huge = {str(pid): 1 for pid in product_ids}
    huge.update({str(1_000_000 + n): 1 for n in range(10_000 - len(huge))})
    page.goto("/login")
    page.evaluate("cart => localStorage.setItem('shop_guest_cart', cart)", json.dumps(huge))

    stop, other = threading.Event(), Stats()
    browsing = threading.Thread(target=_browse_meanwhile, args=(shop_server.url, stop, other))
    browsing.start()
    notices = page.get_by_text(re.compile("A cart holds at most 50 different products"))
    try:
        page.goto("/login")
        # Parsing 10,000 lines while another client browses flat out takes a few seconds on a busy
        # 2-core machine: this is about one notice and a cut cart, not about speed (bench/ measures that).
        expect(notices).to_have_count(1, timeout=20_000)
        log_in(page, name, PASSWORD)
        expect(page.get_by_test_id("current-user")).to_have_text(name)
    finally:
        stop.set()
        browsing.join(timeout=60)
    assert notices.count() <= 1, "one notice, not one per line"
    user_lines = query(
        shop_server.db_file,
        "SELECT count(*) FROM cart_items JOIN users ON users.id = cart_items.user_id WHERE users.username = ?",
        name,
    )[0][0]
    assert 0 < user_lines <= 50
    assert len(other.latencies["browse"]) >= 1 and other.errors == {}, "the other shopper was served meanwhile"


async def _register(url: str, name: str) -> None:
    shopper = JourneyShopper(url, Stats(), random.Random(1))
    await shopper.connect("/register")
    form = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "confirm": PASSWORD}
    await shopper.send("register", REGISTER, "register", {"form_data": form}, router_data("/register"),
                       until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_")))  # fmt: skip
    await shopper.close()
