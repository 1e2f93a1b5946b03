"""Where the observability time goes, part one: the cost of a span per SQL statement.

The server-side database work of one listing event (page, count, category bar), timed
with and without the shop's statement spans (observability.tracing.trace_statements) on
the same engine, in one process. Run by bench/overhead.py in a subprocess of its own.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path

RUNS = 300


def _median_ms() -> float:
    from ecom_reflex.db import session_scope
    from ecom_reflex.services import catalog

    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        with session_scope() as session:
            catalog.list_storefront_products(session)
            catalog.list_categories(session)
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="bench-dbspans-"))
    os.environ["DB_URL"] = f"sqlite:///{folder / 'shop.db'}"
    os.environ["ADMIN_PASSWORD"] = "bench-admin-password"
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    from ecom_reflex import settings
    from ecom_reflex.cli import setup
    from ecom_reflex.db import get_engine
    from ecom_reflex.observability.tracing import trace_statements

    class DiscardingExporter(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    setup(settings.get_settings())
    plain = _median_ms()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(DiscardingExporter()))
    trace_statements(get_engine(), provider)
    traced = _median_ms()
    print(json.dumps({"listing_db_ms": plain, "listing_db_ms_with_spans": traced, "ratio": traced / plain}))


if __name__ == "__main__":
    main()
