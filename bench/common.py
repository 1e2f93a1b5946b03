"""What the server benchmarks share: a shop started as `make run` starts it, on a temporary database."""

from __future__ import annotations

from ecom_reflex.settings import PROJECT_ROOT
from testkit.servers import ShopProcess, sqlite_shop


def shop(**settings: str) -> ShopProcess:
    """A shop (not yet started) on a fresh SQLite file and a free port; `settings` override the environment."""
    return sqlite_shop(PROJECT_ROOT, **settings)


def merged(stats) -> dict[str, float]:
    """All events of a load run together: events/s and latency percentiles."""
    values = sorted(v for per_event in stats.latencies.values() for v in per_event)
    return {
        "events_per_second": len(values) / stats.elapsed,
        "p50_ms": 1000 * values[len(values) // 2],
        "p95_ms": 1000 * values[int(len(values) * 0.95)],
        "p99_ms": 1000 * values[int(len(values) * 0.99)],
    }
