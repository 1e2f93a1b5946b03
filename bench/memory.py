"""Memory: backend RSS per 100 connected shoppers, and the serialised state one client costs.

RSS: a shop started as `make run` does; 100 shoppers connect over the websocket, list the
catalogue, open a product and fill a cart, and stay connected; the growth of the server's
resident memory is measured against the same server with nobody connected.
Anonymous connections: 1,000 tabs connect to the home page and leave, in 4 rounds; after each
round, the files and bytes of the state store on disk and the server's RSS, with the idle
lifetime of an anonymous tab's state (ANONYMOUS_STATE_IDLE_SECONDS) cut to a few seconds so
that every round after the first finds the previous one forgotten.
State: every page a shopper visits is loaded into one client's state tree in process, and
the tree is serialised as Reflex stores it in Redis (pickle per substate).
"""

from __future__ import annotations

import asyncio
import os
import random
import tempfile
import time
from pathlib import Path

from bench.common import shop
from bench.loadgen import CART, CATALOG, PRODUCT, Shopper, Stats, router_data

SHOPPERS = 100
ANONYMOUS = 1000
ANONYMOUS_ROUNDS = 4
ANONYMOUS_IDLE_SECONDS = 10
TARGET_STATE_BYTES = 32 * 1024


def _rss_bytes(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except FileNotFoundError:
            continue
    return total


async def _connect_shoppers(url: str, count: int) -> list[Shopper]:
    stats, rng, shoppers = Stats(), random.Random(7), []
    for _ in range(count):
        shopper = Shopper(url, stats, rng)
        await shopper.connect()
        await shopper.send("browse", CATALOG, "load_listing", route=router_data("/"))
        await shopper.send("product", PRODUCT, "load_product", route=router_data("/product/3"))
        await shopper.send("add_to_cart", CART, "add_to_cart", {"product_id": 3})
        shoppers.append(shopper)
    return shoppers


async def _rss_with_shoppers(url: str, pids: list[int]) -> tuple[int, int]:
    await asyncio.sleep(2)
    idle = _rss_bytes(pids)
    shoppers = await _connect_shoppers(url, SHOPPERS)
    await asyncio.sleep(2)
    loaded = _rss_bytes(pids)
    for shopper in shoppers:
        await shopper.close()
    return idle, loaded


async def _come_and_go(url: str, count: int) -> None:
    stats, rng, limit = Stats(), random.Random(11), asyncio.Semaphore(20)

    async def one() -> None:
        async with limit:
            tab = Shopper(url, stats, rng)
            await tab.connect("/")
            await tab.close()

    await asyncio.gather(*(one() for _ in range(count)))


def _anonymous_storage() -> dict[str, float]:
    states = Path(tempfile.mkdtemp(prefix="bench-states-"))
    server = shop(ANONYMOUS_STATE_IDLE_SECONDS=str(ANONYMOUS_IDLE_SECONDS), REFLEX_STATES_WORKDIR=str(states))
    rounds: list[int] = []
    try:
        server.setup()
        server.start()
        time.sleep(2)
        idle = _rss_bytes(server.worker_pids())
        for _ in range(ANONYMOUS_ROUNDS):
            asyncio.run(_come_and_go(server.url, ANONYMOUS))
            time.sleep(2)
            rounds.append(_rss_bytes(server.worker_pids()))
            time.sleep(ANONYMOUS_IDLE_SECONDS + 2)
        files = [path for path in states.rglob("*") if path.is_file()]
    finally:
        server.stop()
    return {
        "state_files_per_1000": len(files) * 1000 / (ANONYMOUS * ANONYMOUS_ROUNDS),
        "state_bytes_per_1000": sum(path.stat().st_size for path in files) * 1000 / (ANONYMOUS * ANONYMOUS_ROUNDS),
        "rss_mb_after_first_1000": (rounds[0] - idle) / 2**20,
        "rss_mb_after_all_rounds": (rounds[-1] - idle) / 2**20,
    }


def _state_bytes() -> dict[str, int]:
    """One client's state tree after a full visit, serialised per substate as the Redis manager does."""
    from reflex.state import State

    import ecom_reflex.ecom_reflex  # noqa: F401 - registers every state
    from ecom_reflex import db, settings
    from ecom_reflex.cli import setup
    from ecom_reflex.db import session_scope
    from ecom_reflex.services import auth
    from ecom_reflex.services.users import get_by_username
    from ecom_reflex.state.cart import CartState
    from ecom_reflex.state.catalog import CatalogState, ProductState
    from ecom_reflex.state.checkout import CheckoutState
    from ecom_reflex.state.orders import OrdersState

    folder = Path(tempfile.mkdtemp(prefix="bench-state-"))
    os.environ["DB_URL"] = f"sqlite:///{folder / 'shop.db'}"
    os.environ["ADMIN_PASSWORD"] = "bench-admin-password"
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    setup(settings.get_settings())
    with session_scope() as session:
        token = auth.start_session(session, get_by_username(session, "admin"))
    root = State(_reflex_internal_init=True)
    for cls, loader in (
        (CatalogState, "load_listing"),
        (ProductState, "load_product"),
        (CartState, "load_cart"),
        (CheckoutState, "open_checkout"),
        (OrdersState, "load_orders"),
    ):
        state = root.get_substate(cls.get_full_name().split("."))
        state.auth_token = token
        loaded = cls.event_handlers[loader].fn(state)
        if asyncio.iscoroutine(loaded):  # handlers that touch the database run in its threads
            asyncio.run(loaded)
    sizes: dict[str, int] = {}

    def walk(state) -> None:
        sizes[type(state).__name__] = len(state._serialize())
        for child in state.substates.values():
            walk(child)

    walk(root)
    return sizes


def run() -> dict:
    server = shop()
    try:
        server.setup()
        server.start()
        pids = server.worker_pids()
        idle, loaded = asyncio.run(_rss_with_shoppers(server.url, pids))
    finally:
        server.stop()
    anonymous = _anonymous_storage()
    started = time.perf_counter()
    sizes = _state_bytes()
    total = sum(sizes.values())
    return {
        "shoppers": SHOPPERS,
        "rows": {
            "server": {
                "rss_idle_mb": idle / 2**20,
                "rss_with_shoppers_mb": loaded / 2**20,
                "mb_per_100_shoppers": (loaded - idle) / 2**20 * 100 / SHOPPERS,
            },
            "anonymous": anonymous,
            "state": {
                "bytes_per_client": float(total),
                "largest_substate_bytes": float(max(sizes.values())),
                "target_bytes": float(TARGET_STATE_BYTES),
            },
        },
        "state_bytes_by_substate": sizes,
        "state_measured_in_s": time.perf_counter() - started,
    }
