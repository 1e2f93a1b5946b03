"""The load generator drives the real event path of the running shop: its shoppers browse,
add to carts, register, check out and pay (through the shop's payment service) over Reflex's
websocket protocol."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from bench.loadgen import run
from e2e.helpers import query


def test_simulated_shoppers_browse_and_check_out_over_the_websocket(shop_server):
    orders_before, last_order = query(shop_server.db_file, "SELECT count(*), coalesce(max(id), 0) FROM orders")[0]
    users_before = query(shop_server.db_file, "SELECT count(*) FROM users WHERE username LIKE 'load_%'")[0][0]

    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        stats = pool.submit(
            asyncio.run, run(shop_server.url, shoppers=2, duration_s=6, checkout_share=1.0, pause_s=0.1, live=False)
        ).result()

    summary = stats.summary()
    assert not stats.errors, stats.errors
    assert {"browse", "search", "product", "add_to_cart", "register", "checkout"} <= set(summary)
    assert all(row["p50_ms"] > 0 for row in summary.values())
    assert stats.orders >= 1
    # Every checkout paid with loadgen's card (Stripe's approved 4242) and was answered as approved.
    assert stats.payments == {"approved": stats.orders, "declined": 0, "unknown": 0}, stats.payments
    # What the shoppers did is really in the database.
    assert query(shop_server.db_file, "SELECT count(*) FROM orders")[0][0] - orders_before == stats.orders
    # ... and paid: the payment service captured each one, the order keeps only the card's brand and last 4.
    placed = query(
        shop_server.db_file, "SELECT status, payment_status, card_last4 FROM orders WHERE id > ?", last_order
    )
    assert placed == [("paid", "captured", "4242")] * stats.orders, placed
    registered = query(shop_server.db_file, "SELECT count(*) FROM users WHERE username LIKE 'load_%'")[0][0]
    assert registered - users_before == summary["register"]["count"]
