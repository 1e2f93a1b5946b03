"""Shoppers arriving together: N concurrent shoppers each run the whole journey at once.

The journey is the original Flask shop's own: register, log in (a fresh tab), list the
catalogue, add 2 products to the cart, check out and pay by card (Stripe's approved 4242 test
card, through the shop's payment service), over Reflex's real websocket protocol. A journey
completes only if every step did what a person would see it do, with no error toast, and
its payment was approved; each step's latency is measured from sending its event to the
answer (the checkout's includes the HTTP call to the payment service).

    python -m bench.journeys --url http://127.0.0.1:8000 --shoppers 10 --journeys 3
    python -m bench.journeys --bench --levels 2 --journeys 1 --backends sqlite  # a small `make bench` run

`run_journeys` is what e2e/test_concurrency.py runs (10 shoppers, once) and what the
benchmark (`run`, in `make bench`) runs at 1, 10 and 30 shoppers on SQLite with one
worker and on PostgreSQL + Redis with two, with an isolation case (browse alone vs
browse while 10 shoppers register and check out) and a profile of the browse load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import tempfile
import time
import urllib.request
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from bench.loadgen import (
    AUTH_FORM,
    CART,
    CATALOG,
    CHECKOUT,
    OUTCOMES,
    REGISTER,
    SESSION,
    Shopper,
    Stats,
    card_form,
    router_data,
)

LOGIN = f"{AUTH_FORM}.ecom_reflex___state___auth____login_state"
PASSWORD = "Journey-pass-1"
SHIPPING = {"name": "Journey Shopper", "line1": "1 Queue St", "line2": "", "city": "Bench", "postal_code": "10115",
            "country": "Germany"}  # fmt: skip
STEPS = ("register", "login", "browse", "add_to_cart", "checkout")


class JourneyShopper(Shopper):
    """A Shopper that also keeps the toasts the server sent: an error toast fails the journey."""

    def __init__(self, url: str, stats: Stats, rng: random.Random):
        super().__init__(url, stats, rng)
        self.toasts: list[str] = []

    async def _received(self, update: dict) -> None:
        for event in update.get("events") or []:
            text = json.dumps(event)
            if "toast" in text:
                self.toasts.append(text)
        await super()._received(update)

    def error_toasts(self) -> list[str]:
        return [toast for toast in self.toasts if re.search(r"toast\W+error|\"error\"", toast)]


@dataclass
class JourneyResult:
    shoppers: int
    journeys: int
    completed: int = 0
    seconds: float = 0.0
    stats: Stats = field(default_factory=Stats)
    # What each failed journey saw, and the products each completed one bought (id -> units).
    failures: list[str] = field(default_factory=list)
    bought: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    usernames: list[str] = field(default_factory=list)
    # Checkouts by their payment's outcome (only "approved" completes a journey).
    payments: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))

    def summary(self) -> dict:
        steps = {}
        for step in STEPS:
            values = sorted(self.stats.latencies.get(step, []))
            if values:
                steps[step] = {
                    "count": len(values),
                    "p50_ms": 1000 * values[len(values) // 2],
                    "p95_ms": 1000 * values[min(len(values) - 1, int(len(values) * 0.95))],
                    "errors": self.stats.errors.get(step, 0),
                }
        return {
            "shoppers": self.shoppers,
            "journeys": self.journeys,
            "completed": self.completed,
            "completion_percent": 100 * self.completed / max(1, self.journeys),
            "journeys_per_second": self.completed / self.seconds if self.seconds else 0.0,
            "payments": dict(self.payments),
            "steps": steps,
            "failures": self.failures[:10],
        }


async def _connect(url: str, result: JourneyResult, rng: random.Random, path: str) -> JourneyShopper:
    shopper = JourneyShopper(url, result.stats, rng)
    await shopper.connect(path)
    return shopper


async def journey(url: str, result: JourneyResult, rng: random.Random) -> None:
    """One whole journey; adds to result.completed, or a line to result.failures saying where it stopped."""
    name = f"j_{uuid.uuid4().hex[:16]}"
    tabs: list[JourneyShopper] = []
    step = "connect"
    try:
        tab = await _connect(url, result, rng, "/register")
        tabs.append(tab)
        step = "register"
        form = {"username": name, "email": f"{name}@example.com", "password": PASSWORD, "confirm": PASSWORD}
        delta = await tab.send("register", REGISTER, "register", {"form_data": form}, router_data("/register"),
                               until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_"))
                               or bool(d.get(AUTH_FORM, {}).get("errors_rx_state_"))
                               or bool(d.get(AUTH_FORM, {}).get("form_error_rx_state_")))  # fmt: skip
        if delta.get(SESSION, {}).get("username_rx_state_") != name:
            answer = delta.get(AUTH_FORM, {})
            refused = answer.get("errors_rx_state_") or answer.get("form_error_rx_state_")
            raise JourneyFailed(f"register: {refused} {tab.error_toasts()}")
        await tab.close()

        tab = await _connect(url, result, rng, "/login")  # a fresh tab: logged out, as on another device
        tabs.append(tab)
        step = "login"
        form = {"username": name, "password": PASSWORD}
        delta = await tab.send("login", LOGIN, "log_in", {"form_data": form}, router_data("/login"),
                               until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_"))
                               or bool(d.get(AUTH_FORM, {}).get("form_error_rx_state_")))  # fmt: skip
        if delta.get(SESSION, {}).get("username_rx_state_") != name:
            raise JourneyFailed(f"login: {delta.get(AUTH_FORM, {}).get('form_error_rx_state_')} {tab.error_toasts()}")

        step = "browse"
        delta = await tab.send("browse", CATALOG, "load_listing", route=router_data("/"),
                               until=lambda d: "products_rx_state_" in d.get(CATALOG, {}))  # fmt: skip
        listed = delta.get(CATALOG, {}).get("products_rx_state_") or []
        # Two of the four best-stocked products listed: a journey is about queueing, not about selling out.
        products = sorted((p for p in listed if p["stock"] > 0), key=lambda product: -product["stock"])[:4]
        if len(products) < 2:
            raise JourneyFailed("browse: fewer than 2 products in stock")
        step = "add_to_cart"
        chosen = rng.sample(products, 2)
        for count, product in enumerate(chosen, start=1):
            delta = await tab.send("add_to_cart", CART, "add_to_cart", {"product_id": product["id"]},
                                   until=lambda d: "item_count_rx_state_" in d.get(CART, {}))  # fmt: skip
            if delta.get(CART, {}).get("item_count_rx_state_") != count:
                raise JourneyFailed(f"add_to_cart: {delta.get(CART)} {tab.error_toasts()}")

        step = "checkout"
        await tab.open_checkout("checkout_open")
        outcome, delta = await tab.pay("checkout", "place_order", {**SHIPPING, **card_form()})
        if outcome in OUTCOMES:
            result.payments[outcome] += 1
        if outcome != "approved":
            answer = delta.get(CHECKOUT, {})
            said = answer.get("form_error_rx_state_") or answer.get("errors_rx_state_") or tab.answer_events
            raise JourneyFailed(f"checkout: payment {outcome or 'not answered'}: {said}")
        if delta.get(CART, {}).get("item_count_rx_state_") != 0:
            raise JourneyFailed(f"checkout: paid, but the cart was not emptied: {delta.get(CART)}")
        if errors := [toast for tab in tabs for toast in tab.error_toasts()]:
            raise JourneyFailed(f"error toasts: {errors}")
        result.completed += 1
        result.usernames.append(name)
        for product in chosen:
            result.bought[product["id"]] += 1
    except JourneyFailed as failure:
        result.failures.append(str(failure))
    except Exception as error:  # a timeout or a dropped socket fails this journey, not the run
        result.failures.append(f"{step}: {type(error).__name__} {error}")
    finally:
        for tab in tabs:
            await tab.close()


class JourneyFailed(Exception):
    pass


async def run_journeys(url: str, shoppers: int, journeys_each: int = 1, seed: int = 0) -> JourneyResult:
    """`shoppers` concurrent shoppers, each running `journeys_each` journeys one after another."""
    result = JourneyResult(shoppers=shoppers, journeys=shoppers * journeys_each)

    async def shopper(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        for _ in range(journeys_each):
            await journey(url, result, rng)

    started = time.perf_counter()
    await asyncio.gather(*(shopper(index) for index in range(shoppers)))
    result.seconds = time.perf_counter() - started
    result.stats.finished = time.perf_counter()
    return result


# --- the benchmark (make bench) -------------------------------------------------------------

LEVELS = (1, 10, 30)
JOURNEYS_EACH = 3
ISOLATION_SECONDS = 10
ISOLATION_ROUNDS = 3
BROWSE_SECONDS = 15
PROFILE_SECONDS = 12


def _metric_buckets(url: str, name: str) -> dict[float, float]:
    """Cumulative bucket counts of a histogram on the shop's /metrics (all workers added up)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        text = response.read().decode()
    buckets: dict[float, float] = defaultdict(float)
    for match in re.finditer(rf'^{name}_bucket\{{.*?le="([^"]+)".*?\}} ([0-9.e+]+)$', text, re.M):
        buckets[float(match.group(1))] += float(match.group(2))
    return dict(buckets)


def _write_hold(before: dict[float, float], after: dict[float, float]) -> dict[str, float]:
    """p99 and longest write-lock hold between two scrapes, as the histogram bucket that holds them."""
    counts = {le: after.get(le, 0) - before.get(le, 0) for le in sorted(after)}
    total = counts.get(float("inf"), 0)
    if not total:
        return {"write_transactions": 0, "hold_p99_ms_at_most": 0.0, "longest_hold_ms_at_most": 0.0}
    p99 = next(le for le, count in counts.items() if count >= 0.99 * total)
    longest = next(le for le, count in counts.items() if count >= total)
    return {"write_transactions": total, "hold_p99_ms_at_most": 1000 * p99, "longest_hold_ms_at_most": 1000 * longest}


def _browse_load(url: str, shoppers: int, seconds: float) -> Stats:
    """Browse only (list, category, search, product): what shoppers do most."""
    from bench.loadgen import run as load

    return asyncio.run(load(url, shoppers, seconds, checkout_share=0.0, pause_s=0.0, live=False))


def _browse_p95(stats: Stats) -> float:
    values = sorted(v for label in ("browse", "search", "product") for v in stats.latencies.get(label, []))
    return 1000 * values[min(len(values) - 1, int(len(values) * 0.95))] if values else float("nan")


def _journeys_until_stopped(url: str) -> None:
    # The other shoppers' browsers would run on their own machines: here their simulation yields
    # the shared cores to the server and to the browsing shoppers being measured.
    os.nice(10)
    asyncio.run(run_journeys(url, 10, journeys_each=1000, seed=7))


def _isolation(url: str, seconds: float, rounds: int = ISOLATION_ROUNDS) -> dict[str, float]:
    """Browse p95 of 2 browsing shoppers while 10 others register, log in and check out, vs alone.

    Alone and together take turns `rounds` times and each side's samples are pooled: one
    window of each swings from 1.0x to 1.8x on this shared machine. The journeys run in a
    process of their own: in the browsing shoppers' event loop, the client's own queueing
    would be measured as the server's.
    """
    import multiprocessing

    alone, together = Stats(started=0.0, finished=0.0), Stats(started=0.0, finished=0.0)
    for _ in range(rounds):
        _pool(alone, _browse_load(url, 2, seconds))
        journeys = multiprocessing.get_context("spawn").Process(target=_journeys_until_stopped, args=(url,))
        journeys.start()
        try:
            time.sleep(3.0)  # let the journeys get going (the process starts, connects, registers)
            _pool(together, _browse_load(url, 2, seconds))
        finally:
            journeys.terminate()
            journeys.join(30)
    p95_alone, p95_together = _browse_p95(alone), _browse_p95(together)
    return {"browse_p95_ms_alone": p95_alone, "browse_p95_ms_with_10_journeys": p95_together,
            "ratio": p95_together / p95_alone, "rounds": rounds, "seconds_each": seconds}  # fmt: skip


def _pool(into: Stats, stats: Stats) -> None:
    for label, values in stats.latencies.items():
        into.latencies[label].extend(values)


def _restock(db_url: str) -> None:
    """Stock enough for every journey of the run: the benchmark is about queueing, not selling out."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as connection:
        connection.execute(text("UPDATE products SET stock = 100000"))
    engine.dispose()


def _levels_row(server, shoppers: int, journeys_each: int) -> dict:
    """`shoppers` at once, `journeys_each` journeys each: completion, steps, CPU of the shop and of its
    payment service, write-lock hold."""
    before_hold = _metric_buckets(server.url, "db_write_transaction_seconds")
    shop_before, gateway_before = server.cpu_seconds()
    result = asyncio.run(run_journeys(server.url, shoppers, journeys_each, seed=shoppers))
    shop_after, gateway_after = server.cpu_seconds()
    row = result.summary()
    row["server_cpu_ms_per_journey"] = 1000 * (shop_after - shop_before) / max(1, result.completed)
    row["payments_made"] = sum(result.payments.values())
    row["payment_service_cpu_ms_per_payment"] = 1000 * (gateway_after - gateway_before) / max(1, row["payments_made"])
    row["checkout_p95_ms"] = row["steps"].get("checkout", {}).get("p95_ms", float("nan"))
    row.update(_write_hold(before_hold, _metric_buckets(server.url, "db_write_transaction_seconds")))
    return row


def _backend(name: str, server, levels=LEVELS, journeys_each: int = JOURNEYS_EACH, extras: bool = True) -> dict:
    """The journeys at each of `levels` on `server`; with `extras`, the isolation case, the browse load and its
    profile too."""
    from bench.profile import profile

    rows: dict[str, dict] = {}
    server.setup()
    _restock(server.env["DB_URL"])
    server.start()
    try:
        asyncio.run(run_journeys(server.url, 2, 1, seed=99))  # warm up (first hashes, caches)
        for shoppers in levels:
            rows[f"{shoppers} shoppers"] = _levels_row(server, shoppers, journeys_each)
        if "1 shoppers" in rows and "10 shoppers" in rows:
            single = rows["1 shoppers"]["steps"]
            for step in ("register", "login"):
                p95_10 = rows["10 shoppers"]["steps"].get(step, {}).get("p95_ms", float("nan"))
                rows["10 shoppers"][f"{step}_p95_vs_1_shopper_p50"] = p95_10 / single[step]["p50_ms"]
        if not extras:
            return {"backend": name, "rows": rows}
        isolation = _isolation(server.url, ISOLATION_SECONDS)
        cpu_before, _ = server.cpu_seconds()
        browse = _browse_load(server.url, 10, BROWSE_SECONDS)
        cpu = server.cpu_seconds()[0] - cpu_before
        browse_row = {"events_per_second": browse.events / browse.elapsed,
                      "server_cpu_ms_per_event": 1000 * cpu / max(1, browse.events),
                      "p95_ms": _browse_p95(browse)}  # fmt: skip
        profiled = profile(server, 10, PROFILE_SECONDS, checkout_share=0.0)
        shares = profiled.get("parts", {})
        browse_row["profile"] = {part: round(share, 1) for part, share in shares.items() if share >= 0.5} or profiled
    finally:
        server.stop()
    return {"backend": name, "rows": rows, "isolation": isolation, "browse_at_10": browse_row}


BACKENDS = ("sqlite", "postgres")


def run(levels=LEVELS, journeys_each: int = JOURNEYS_EACH, backends=BACKENDS, extras: bool = True) -> dict:
    """The journeys benchmark (`make bench` runs it with the defaults); smaller runs choose fewer levels,
    journeys, back ends, and no extras (isolation, browse load, profile)."""
    from bench.common import shop
    from testkit.servers import start_postgres, start_redis

    results = []
    if "sqlite" in backends:
        results.append(_backend("SQLite, 1 worker", shop(), levels, journeys_each, extras))
    if "postgres" in backends:
        pg_dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        redis_dir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        postgres = start_postgres(pg_dir)
        redis = start_redis(redis_dir)
        try:
            postgres.execute("CREATE DATABASE shop")
            server = shop(DB_URL=postgres.url("shop"), REDIS_URL=redis.url, WORKERS="2")
            server.healthy = {"status": "ok", "database": "ok", "redis": "ok", "payments": "ok"}
            results.append(_backend("PostgreSQL + Redis, 2 workers", server, levels, journeys_each, extras))
        finally:
            redis.stop()
            postgres.stop("immediate")
            shutil.rmtree(pg_dir, ignore_errors=True)
            shutil.rmtree(redis_dir, ignore_errors=True)
    return {"journeys_each": journeys_each, "backends": results}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--shoppers", type=int, default=10)
    parser.add_argument("--journeys", type=int, default=None, help="journeys per shopper, one after another")
    parser.add_argument(
        "--bench", action="store_true", help="the benchmark on shops of its own (as `make bench`), not --url"
    )
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS), help="with --bench: shoppers at once")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS), help="with --bench")
    parser.add_argument(
        "--full", action="store_true", help="with --bench: the isolation case, browse load and profile too"
    )
    args = parser.parse_args(argv)
    if args.bench:
        from bench.run import print_journeys

        result = run(args.levels, args.journeys or JOURNEYS_EACH, args.backends, extras=args.full)
        print(json.dumps(result, indent=2))
        print_journeys(result)
        return
    result = asyncio.run(run_journeys(args.url, args.shoppers, args.journeys or 1))
    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
