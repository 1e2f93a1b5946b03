"""Observability overhead: the same load with metrics, JSON logs and tracing (exporting to a
local OTLP/HTTP receiver) on, and with all of it off (OBSERVABILITY=false), in one run.

Targets: throughput ratio (on / off) at least 0.95, p95 ratio at most 1.10.

The machine is shared and the load generator runs on it too, so one pass of each is mostly
noise (runs of the same configuration differed by 20%). Both servers run side by side and
take turns in ABBA order (off on on off ...), so drift hits both alike; the ratios come
from everything each one served. The server's own CPU time per event (from /proc) is the
steadier number and is reported too, with a py-spy profile of the "on" server saying
where its CPU goes (bench/profile.py). The OTLP receiver runs in its own process, as a
collector would, so decoding spans never competes with the load generator's GIL.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys

from bench.common import ReceiverProcess, merged, shop
from bench.loadgen import Stats
from bench.loadgen import run as load
from bench.profile import profile
from ecom_reflex.settings import PROJECT_ROOT
from testkit.servers import ShopProcess

SHOPPERS = 10
SECONDS_PER_TURN = 12
PAIRS = 4  # each pair is one ABBA half: off,on then on,off
PROFILE_SECONDS = 15


def _turn(server: ShopProcess) -> tuple[Stats, float]:
    before = server.cpu_seconds()[0]
    stats = asyncio.run(load(server.url, SHOPPERS, SECONDS_PER_TURN, checkout_share=0.2, pause_s=0.0, live=False))
    return stats, server.cpu_seconds()[0] - before


def _pooled(turns: list[tuple[Stats, float]]) -> dict[str, float]:
    """Every event of every turn of one server: rate over their summed time, percentiles over all."""
    combined = Stats(started=0.0, finished=sum(stats.elapsed for stats, _ in turns))
    for stats, _ in turns:
        for label, values in stats.latencies.items():
            combined.latencies[label].extend(values)
    row = merged(combined)
    row["server_cpu_ms_per_event"] = 1000 * sum(cpu for _, cpu in turns) / combined.events
    return row


def _db_span_cost() -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.db_spans"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def run() -> dict:
    db_spans = _db_span_cost()
    receiver = ReceiverProcess()
    endpoint = receiver.endpoint
    servers = {
        "off": shop(OBSERVABILITY="false", LOG_FILE=""),
        "on": shop(OTEL_EXPORTER_OTLP_ENDPOINT=endpoint),
    }
    turns: dict[str, list[tuple[Stats, float]]] = {"off": [], "on": []}
    try:
        for server in servers.values():
            server.setup()
            server.start()
            asyncio.run(load(server.url, 2, 3, checkout_share=0.2, pause_s=0.0, live=False))  # warm-up
        for pair in range(PAIRS):
            for name in ("off", "on") if pair % 2 == 0 else ("on", "off"):
                turns[name].append(_turn(servers[name]))
        # After the timed turns: the profiler costs the profiled server a little.
        cpu_profile = profile(servers["on"], SHOPPERS, PROFILE_SECONDS)
    finally:
        for server in servers.values():
            server.stop()
        spans = sum(receiver.stop().values())
    rows = {name: _pooled(name_turns) for name, name_turns in turns.items()}
    turn_ratios = [
        merged(on)["events_per_second"] / merged(off)["events_per_second"]
        for (off, _), (on, _) in zip(turns["off"], turns["on"], strict=True)
    ]
    return {
        "shoppers": SHOPPERS,
        "seconds_per_turn": SECONDS_PER_TURN,
        "turns_each": PAIRS,
        "spans_received": spans,
        "rows": rows,
        "throughput_ratio": rows["on"]["events_per_second"] / rows["off"]["events_per_second"],
        "p95_ratio": rows["on"]["p95_ms"] / rows["off"]["p95_ms"],
        "cpu_per_event_ratio": rows["on"]["server_cpu_ms_per_event"] / rows["off"]["server_cpu_ms_per_event"],
        "throughput_ratio_by_turn": {
            "min": min(turn_ratios),
            "median": statistics.median(turn_ratios),
            "max": max(turn_ratios),
        },
        "targets": {"throughput_ratio_min": 0.95, "p95_ratio_max": 1.10},
        "db_spans": db_spans,
        "profile_on": cpu_profile,
    }
