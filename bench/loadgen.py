"""Simulated shoppers that speak Reflex's own websocket protocol to a running shop.

Each shopper opens a socket.io connection to /_event exactly as the browser does (a
token in the query, the hydrate event in the CONNECT packet), then sends the same events
the pages send: list the catalogue, search, open products, add to the cart; a share of
them register and check out, paying by card through the shop's payment service (Stripe's
approved test card unless told otherwise). Latency is measured per event, from sending it to
the first state update that answers it; a checkout's answer is its payment's outcome: approved
(a redirect to the order, `?placed=1`), declined (the reason, and the order to pay again) or
unknown (a redirect to the order, `?confirming=1`), each counted.

    python -m bench.loadgen --url http://127.0.0.1:8000 --shoppers 5 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import random
import re
import signal
import statistics
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field

import socketio

NAMESPACE = "/_event"
ROOT = "reflex___state____state"
SESSION = f"{ROOT}.ecom_reflex___state___session____session_state"
CART = f"{SESSION}.ecom_reflex___state___cart____cart_state"
CATALOG = f"{CART}.ecom_reflex___state___catalog____catalog_state"
PRODUCT = f"{CART}.ecom_reflex___state___catalog____product_state"
# The login and registration forms' errors live in their parent, AuthFormState.
AUTH_FORM = f"{CART}.ecom_reflex___state___auth____auth_form_state"
REGISTER = f"{AUTH_FORM}.ecom_reflex___state___auth____register_state"
CHECKOUT = f"{CART}.ecom_reflex___state___checkout____checkout_state"
SEARCHES = ("mat", "book", "USB", "wool", "set", "coffee", "game", "jacket")
CATEGORIES = ("books", "clothing", "electronics", "home-kitchen", "sports-outdoors", "toys-games")
EVENT_TIMEOUT_S = 30.0
# Stripe's test cards (README "Payments"): 4242... is approved, 4000 0000 0000 0002 declined.
APPROVED_CARD = "4242424242424242"
OUTCOMES = ("approved", "declined", "unknown")
_ORDER_REDIRECT = re.compile(r"/orders/\d+\?(placed|confirming)=1")


def card_form(number: str = APPROVED_CARD) -> dict[str, str]:
    """The checkout form's card fields: `number`, an expiry two years ahead, CVC 123."""
    today = datetime.date.today()
    expiry = f"{today.month:02d}/{(today.year + 2) % 100:02d}"
    return {"card_name": "Load Test", "card_number": number, "card_expiry": expiry, "card_cvc": "123"}


def checkout_outcome(delta: dict, events: list[dict]) -> str | None:
    """What a place_order (or pay_order_again) answer says: "approved", "declined", "unknown", "refused" (the
    order was not placed: out of stock, throttled, a field refused), or None while it has not answered yet."""
    if match := _ORDER_REDIRECT.search(json.dumps(events)):
        return "approved" if match.group(1) == "placed" else "unknown"
    checkout = delta.get(CHECKOUT, {})
    if checkout.get("form_error_rx_state_"):
        return "declined" if checkout.get("pay_order_rx_state_") else "refused"
    if checkout.get("errors_rx_state_"):
        return "refused"
    return None


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    orders: int = 0  # orders placed, whatever their payment's outcome
    # Checkouts by their payment's outcome: approved, declined, unknown.
    payments: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None  # set when the run ends; until then rates are "so far"

    @property
    def events(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def elapsed(self) -> float:
        return (self.finished or time.perf_counter()) - self.started

    def summary(self) -> dict[str, dict[str, float]]:
        elapsed = self.elapsed
        table = {}
        for name, values in sorted(self.latencies.items()):
            ordered = sorted(values)
            table[name] = {
                "count": len(ordered),
                "per_second": len(ordered) / elapsed,
                "p50_ms": 1000 * ordered[len(ordered) // 2],
                "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
                "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
                "mean_ms": 1000 * statistics.fmean(ordered),
                "errors": self.errors.get(name, 0),
            }
        return table


def router_data(path: str, query: dict[str, str] | None = None) -> dict:
    query = query or {}
    as_path = path + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
    return {"pathname": path, "asPath": as_path, "query": query}


class Shopper:
    """One browser tab: one socket, events sent one at a time like the frontend's queue."""

    def __init__(self, url: str, stats: Stats, rng: random.Random, card: str = APPROVED_CARD):
        self.url, self.stats, self.rng, self.card = url, stats, rng, card
        self.token = str(uuid.uuid4())
        # Each simulated shopper comes from an address of its own, as real ones do: a shop that
        # trusts the load generator as its proxy (TRUSTED_PROXIES) throttles each one apart.
        self.address = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        self.updates: asyncio.Queue = asyncio.Queue()
        # The events (redirects, toasts, focus) that came with the answer of the last event sent.
        self.answer_events: list[dict] = []
        self.client = socketio.AsyncClient(reconnection=False)
        self.client.on("event", self._received, namespace=NAMESPACE)

    async def _received(self, update: dict) -> None:
        await self.updates.put(update)

    async def connect(self, path: str = "/") -> None:
        boot = {"name": f"{ROOT}.hydrate_and_load", "payload": {}, "router_data": router_data(path)}
        await self.client.connect(
            f"{self.url}?token={self.token}",
            socketio_path="/_event",
            transports=["websocket"],
            namespaces=[NAMESPACE],
            auth={"event": boot},
            headers={"X-Forwarded-For": self.address},
            wait_timeout=EVENT_TIMEOUT_S,
        )
        # Hydration ends with is_hydrated = true.
        while True:
            update = await asyncio.wait_for(self.updates.get(), EVENT_TIMEOUT_S)
            if update.get("delta", {}).get(ROOT, {}).get("is_hydrated_rx_state_") is True:
                break

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.disconnect()

    async def send(self, label: str, state: str, handler: str, payload: dict | None = None, route=None,
                   until=None) -> dict:  # fmt: skip
        """Send one event; returns the merged delta of its answer.

        The answer is the first update, or with `until` the first update for which
        until(merged delta) holds (handlers that first show a spinner answer twice). The events
        that came with the answer (a redirect, say) are in `self.answer_events` meanwhile.
        """
        while not self.updates.empty():  # leftovers of the previous event (toasts, chained events)
            self.updates.get_nowait()
        self.answer_events = []
        event = {"name": f"{state}.{handler}", "payload": payload or {}, "router_data": route or router_data("/")}
        start = time.perf_counter()
        await self.client.emit("event", event, namespace=NAMESPACE)
        delta: dict = {}
        try:
            while True:
                update = await asyncio.wait_for(self.updates.get(), EVENT_TIMEOUT_S)
                delta.update(update.get("delta", {}))
                self.answer_events.extend(update.get("events") or [])
                if until is None or until(delta):
                    break
        except TimeoutError:
            self.stats.errors[label] += 1
            return delta
        self.stats.latencies[label].append(time.perf_counter() - start)
        # Let the rest of this event's updates arrive (a handler may send several).
        await asyncio.sleep(0.01)
        while not self.updates.empty():
            update = self.updates.get_nowait()
            delta.update(update.get("delta", {}))
            self.answer_events.extend(update.get("events") or [])
        return delta

    async def open_checkout(self, label: str) -> dict:
        """The checkout page loaded, as a browser waits for it before its form can be sent (the
        account's e-mail is the form's default): not the first update, which may be a late one of
        the cart's event."""
        return await self.send(label, CHECKOUT, "open_checkout", route=router_data("/checkout"),
                               until=lambda d: "account_email_rx_state_" in d.get(CHECKOUT, {}))  # fmt: skip

    async def pay(self, label: str, handler: str, form: dict) -> tuple[str | None, dict]:
        """Send the checkout's `handler` (place_order, pay_order_again) with `form`; (its outcome, the answer).

        The answer is the payment's outcome (or the order's refusal), not the spinner that comes first
        nor a late update of an earlier event (a toast of the registration, on a busy machine)."""
        delta = await self.send(label, CHECKOUT, handler, {"form_data": form}, router_data("/checkout"),
                                until=lambda d: checkout_outcome(d, self.answer_events) is not None)  # fmt: skip
        return checkout_outcome(delta, self.answer_events), delta

    async def visit(self, checkout: bool) -> None:
        await self.send("browse", CATALOG, "load_listing", route=router_data("/"))
        category = self.rng.choice(CATEGORIES)
        await self.send("browse", CATALOG, "load_listing", route=router_data(f"/category/{category}"))
        delta = await self.send(
            "search", CATALOG, "load_listing", route=router_data("/", {"q": self.rng.choice(SEARCHES)})
        )
        products = delta.get(CATALOG, {}).get("products_rx_state_") or []
        for product in self.rng.sample(products, min(2, len(products))):
            await self.send("product", PRODUCT, "load_product", route=router_data(f"/product/{product['id']}"))
            if product.get("stock", 0) > 0:
                await self.send("add_to_cart", CART, "add_to_cart", {"product_id": product["id"]})
        if checkout:
            await self.register_and_check_out()

    async def register_and_check_out(self) -> None:
        name = f"load_{self.token[:12]}"
        form = {"username": name, "email": f"{name}@example.com", "password": "load-pass-1", "confirm": "load-pass-1"}
        await self.send(
            "register",
            REGISTER,
            "register",
            {"form_data": form},
            router_data("/register"),
            until=lambda delta: bool(delta.get(SESSION, {}).get("username_rx_state_")),
        )
        await self.open_checkout("checkout")
        shipping = {"name": "Load Test", "line1": "1 Load St", "line2": "", "city": "Bench", "postal_code": "10115",
                    "country": "Germany"}  # fmt: skip
        outcome, _ = await self.pay("checkout", "place_order", {**shipping, **card_form(self.card)})
        if outcome in OUTCOMES:  # the order was placed, whatever its payment's outcome
            self.stats.orders += 1
            self.stats.payments[outcome] += 1


async def shopper_loop(url: str, stats: Stats, seed: int, checkout_share: float, deadline: float, pause_s: float,
                       card: str = APPROVED_CARD):  # fmt: skip
    rng = random.Random(seed)
    while time.perf_counter() < deadline:
        shopper = Shopper(url, stats, rng, card)
        try:
            await shopper.connect()
            await shopper.visit(checkout=rng.random() < checkout_share)
        except Exception as error:  # one broken visit must not stop the run
            stats.errors[type(error).__name__] += 1
        finally:
            await shopper.close()
        await asyncio.sleep(pause_s * rng.random())


async def run(url: str, shoppers: int, duration_s: float, checkout_share: float, pause_s: float, live: bool,
              card: str = APPROVED_CARD) -> Stats:  # fmt: skip
    """`shoppers` shoppers visiting for `duration_s`; a `checkout_share` of the visits check out and pay with `card`."""
    stats = Stats()
    deadline = time.perf_counter() + duration_s
    tasks = [
        asyncio.create_task(shopper_loop(url, stats, seed, checkout_share, deadline, pause_s, card))
        for seed in range(shoppers)
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, stop.set)
    while not all(task.done() for task in tasks) and not stop.is_set():
        await asyncio.sleep(1)
        if live:
            paid = "/".join(str(stats.payments[outcome]) for outcome in OUTCOMES)
            print(f"\r{time.perf_counter() - stats.started:6.0f}s  events {stats.events:6d}  orders "
                  f"{stats.orders:4d} (approved/declined/unknown {paid})  errors {sum(stats.errors.values()):3d}",
                  end="", flush=True)  # fmt: skip
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    stats.finished = time.perf_counter()
    if live:
        print()
    return stats


def print_table(stats: Stats) -> None:
    print(f"{'event':14} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, row in stats.summary().items():
        print(f"{name:14} {row['count']:7d} {row['per_second']:7.1f} {row['p50_ms']:8.1f} {row['p95_ms']:8.1f} "
              f"{row['p99_ms']:8.1f} {row['errors']:7d}")  # fmt: skip
    payments = ", ".join(f"{outcome} {stats.payments[outcome]}" for outcome in OUTCOMES)
    print(f"orders placed: {stats.orders} (payments: {payments}); other errors: {dict(stats.errors)}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--shoppers", type=int, default=3)
    parser.add_argument("--duration", type=float, default=float("inf"), help="seconds; default: until Ctrl-C")
    parser.add_argument("--checkout-share", type=float, default=0.2)
    parser.add_argument("--pause", type=float, default=2.0, help="seconds between visits (gentle by default)")
    parser.add_argument("--card", default=APPROVED_CARD, help="the card checkouts pay with (a Stripe test card)")
    args = parser.parse_args(argv)
    print(f"{args.shoppers} shoppers against {args.url}; Ctrl-C stops", file=sys.stderr)
    stats = asyncio.run(
        run(args.url, args.shoppers, args.duration, args.checkout_share, args.pause, live=True, card=args.card)
    )
    print_table(stats)


if __name__ == "__main__":
    main()
