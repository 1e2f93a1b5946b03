"""What the server benchmarks share: a shop started as `make run` starts it, on a temporary database."""

from __future__ import annotations

import multiprocessing
from collections import Counter

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


def _receive(connection) -> None:
    from e2e.otlp_receiver import start_receiver

    receiver = start_receiver()
    connection.send(receiver.endpoint)
    connection.recv()  # until told to stop
    connection.send(dict(Counter(str(span.resource.get("service.name")) for span in receiver.snapshot())))
    receiver.stop()


class ReceiverProcess:
    """A real OTLP/HTTP receiver (e2e/otlp_receiver.py) in a process of its own, as a collector would
    be: decoding spans never competes with the load generator's GIL or counts as the shop's CPU."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._here, there = context.Pipe()
        self._process = context.Process(target=_receive, args=(there,), daemon=True)
        self._process.start()
        self.endpoint: str = self._here.recv()

    def stop(self) -> dict[str, int]:
        """Stops it: the spans it received, by resource service.name."""
        self._here.send("stop")
        received = self._here.recv()
        self._process.join(10)
        return received
