"""What the server benchmarks share: a shop started as `make run` starts it, on a temporary database."""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path

from ecom_reflex.cli import reflex_environment
from ecom_reflex.settings import PROJECT_ROOT
from testkit.servers import ShopProcess, free_port


def shop(**settings: str) -> ShopProcess:
    """A shop (not yet started) on a fresh SQLite file and a free port; `settings` override the environment."""
    folder = Path(tempfile.mkdtemp(prefix="bench-shop-"))
    env = reflex_environment()
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    env.update(
        DB_URL=f"sqlite:///{folder / 'shop.db'}",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        ADMIN_PASSWORD=secrets.token_urlsafe(16),
        LOG_FILE=str(folder / "app.json.log"),
        # The load generator says which address each simulated shopper has (X-Forwarded-For), as
        # a proxy would: per-address throttles then see a crowd, not one client.
        TRUSTED_PROXIES="127.0.0.1",
    )
    env.update(settings)
    return ShopProcess(PROJECT_ROOT, env, folder / "server.log")


def merged(stats) -> dict[str, float]:
    """All events of a load run together: events/s and latency percentiles."""
    values = sorted(v for per_event in stats.latencies.values() for v in per_event)
    return {
        "events_per_second": len(values) / stats.elapsed,
        "p50_ms": 1000 * values[len(values) // 2],
        "p95_ms": 1000 * values[int(len(values) * 0.95)],
        "p99_ms": 1000 * values[int(len(values) * 0.99)],
    }
