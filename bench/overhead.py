"""Observability overhead: the same load with metrics, JSON logs and tracing (exporting to a
local OTLP/HTTP receiver) on, and with all of it off (OBSERVABILITY=false), in one run.

Targets: throughput ratio (on / off) at least 0.95, p95 ratio at most 1.10.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from bench.common import merged, shop
from bench.loadgen import run as load
from e2e.otlp_receiver import start_receiver
from ecom_reflex.settings import PROJECT_ROOT

SHOPPERS = 10
SECONDS = 25


def _measure(**settings: str) -> dict[str, float]:
    server = shop(**settings)
    try:
        server.setup()
        server.start()
        asyncio.run(load(server.url, 2, 3, checkout_share=0.2, pause_s=0.0, live=False))  # warm-up
        stats = asyncio.run(load(server.url, SHOPPERS, SECONDS, checkout_share=0.2, pause_s=0.0, live=False))
        return merged(stats)
    finally:
        server.stop()


def _db_span_cost() -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.db_spans"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def run() -> dict:
    db_spans = _db_span_cost()
    receiver = start_receiver()
    try:
        off = _measure(OBSERVABILITY="false", LOG_FILE="")
        on = _measure(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint)
        spans = len(receiver.snapshot())
    finally:
        receiver.stop()
    return {
        "shoppers": SHOPPERS,
        "seconds": SECONDS,
        "spans_received": spans,
        "rows": {"off": off, "on": on},
        "throughput_ratio": on["events_per_second"] / off["events_per_second"],
        "p95_ratio": on["p95_ms"] / off["p95_ms"],
        "targets": {"throughput_ratio_min": 0.95, "p95_ratio_max": 1.10},
        "db_spans": db_spans,
    }
