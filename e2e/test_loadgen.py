"""The load generator drives the real event path of the running shop: its shoppers browse,
add to carts, register and check out over Reflex's websocket protocol."""

import asyncio
from concurrent.futures import ThreadPoolExecutor

from bench.loadgen import run
from e2e.helpers import query


def test_simulated_shoppers_browse_and_check_out_over_the_websocket(shop_server):
    orders_before = query(shop_server.db_file, "SELECT count(*) FROM orders")[0][0]
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
    # What the shoppers did is really in the database.
    assert query(shop_server.db_file, "SELECT count(*) FROM orders")[0][0] - orders_before == stats.orders
    registered = query(shop_server.db_file, "SELECT count(*) FROM users WHERE username LIKE 'load_%'")[0][0]
    assert registered - users_before == summary["register"]["count"]
