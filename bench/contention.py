"""Checkout contention: 50 shoppers check out the same low-stock product at once.

Service-level (the transaction a checkout event runs), on a SQLite file, threads started
together. Baseline in the same run: 50 shoppers each buying a product of their own.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

SHOPPERS = 50
STOCK = 10
ROUNDS = 5


def _prepare(shared: bool) -> list[int]:
    from ecom_reflex import db, settings
    from ecom_reflex.cli import migrate
    from ecom_reflex.models import CartItem, Category, Product, User

    folder = Path(tempfile.mkdtemp(prefix="bench-contention-"))
    os.environ["DB_URL"] = f"sqlite:///{folder / 'shop.db'}"
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    migrate(settings.get_settings())
    with db.session_scope() as session:
        category = Category(name="Things", slug="things")
        session.add(category)
        session.flush()
        products = [
            Product(name=f"Thing {n}", price_cents=1000, stock=STOCK, category_id=category.id)
            for n in range(1 if shared else SHOPPERS)
        ]
        session.add_all(products)
        users = [User(username=f"u{n}", email=f"u{n}@example.com", password_hash="x") for n in range(SHOPPERS)]
        session.add_all(users)
        session.flush()
        for n, user in enumerate(users):
            session.add(CartItem(user_id=user.id, product_id=products[0 if shared else n].id, quantity=1))
        return [user.id for user in users]


def _race(user_ids: list[int]) -> dict:
    from ecom_reflex.db import session_scope
    from ecom_reflex.services import cart, orders
    from ecom_reflex.services.orders import OutOfStock, ShippingAddress

    address = ShippingAddress("Bench", "1 Road", "", "Town", "1000", "Land")
    outcomes: list[str] = []
    barrier = threading.Barrier(len(user_ids) + 1)

    def buy(user_id: int) -> None:
        with session_scope() as session:  # what each shopper's checkout page shows
            shown = cart.view(session, cart.UserCart(user_id)).fingerprint
        barrier.wait()
        try:
            with session_scope(write=True) as session:
                orders.place_order(session, user_id, address, f"bench-{user_id}", shown)
            outcomes.append("ok")
        except OutOfStock:
            outcomes.append("out_of_stock")

    threads = [threading.Thread(target=buy, args=(user_id,)) for user_id in user_ids]
    for thread in threads:
        thread.start()
    barrier.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "ok": outcomes.count("ok"), "out_of_stock": outcomes.count("out_of_stock")}


def _stock_and_orders() -> tuple[int, int]:
    from sqlalchemy import text

    from ecom_reflex.db import get_engine

    with get_engine().connect() as connection:
        stock = connection.execute(text("SELECT min(stock) FROM products")).scalar()
        ordered = connection.execute(text("SELECT coalesce(sum(quantity), 0) FROM order_items")).scalar()
    return stock, ordered


def run() -> dict:
    # One race lasts well under a second and SQLite's busy handler backs off in steps of up to
    # 100 ms, so single races swing widely: several rounds, medians, and every round checked.
    baseline, contended, sold, left = [], [], [], []
    for _ in range(ROUNDS):
        baseline.append(SHOPPERS / _race(_prepare(shared=False))["seconds"])
        race = _race(_prepare(shared=True))
        contended.append(SHOPPERS / race["seconds"])
        stock, ordered = _stock_and_orders()
        sold.append(ordered)
        left.append(stock)
        outcomes = (race["ok"], race["out_of_stock"])
    return {
        "shoppers": SHOPPERS,
        "stock": STOCK,
        "rounds": ROUNDS,
        "summary": {
            "checkouts_per_s": statistics.median(contended),
            "baseline_checkouts_per_s": statistics.median(baseline),
            "throughput_ratio": statistics.median(contended) / statistics.median(baseline),
            "orders_last_round": outcomes[0],
            "refused_last_round": outcomes[1],
            "stock_left_max": max(left),
            "units_sold_max": max(sold),
            "oversold_any_round": max(0, max(sold) - STOCK),
        },
    }
