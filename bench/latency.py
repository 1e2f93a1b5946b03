"""Event latency and rate at 1, 10 and 50 concurrent shoppers, over the real websocket.

Starts the shop as `make run` does (temporary SQLite database, free port, tracing export
off), then runs bench.loadgen at each concurrency for the same time. The ratio compares
each p95 with the single-shopper p95 of the same run.
"""

from __future__ import annotations

import asyncio

from bench.common import shop
from bench.loadgen import run as load

CONCURRENCY = (1, 10, 50)
SECONDS = 20
EVENTS = ("browse", "add_to_cart", "checkout")


def run() -> dict:
    server = shop()
    rows: dict[str, dict[str, float]] = {}
    try:
        server.setup()
        server.start()
        for shoppers in CONCURRENCY:
            stats = asyncio.run(load(server.url, shoppers, SECONDS, checkout_share=0.2, pause_s=0.0, live=False))
            summary = stats.summary()
            for event in EVENTS:
                if event in summary:
                    row = summary[event]
                    rows[f"{event} @ {shoppers}"] = {
                        "per_second": row["per_second"],
                        "p50_ms": row["p50_ms"],
                        "p95_ms": row["p95_ms"],
                        "p99_ms": row["p99_ms"],
                        "errors": float(row["errors"]),
                    }
        for name, row in rows.items():
            event = name.split(" @ ")[0]
            single = rows.get(f"{event} @ 1")
            row["p95_vs_1_shopper"] = row["p95_ms"] / single["p95_ms"] if single else float("nan")
    finally:
        server.stop()
    return {"seconds_per_level": SECONDS, "rows": rows}
