"""Catalogue at scale: listing, filtering, searching and paging 100,000 products.

Times the service calls a listing event makes (server-side, no network), on a fresh
SQLite file, against a baseline of 1,000 products measured in the same run, and shows
the query plans. The category bar's counts are cached for
catalog.CATEGORY_COUNTS_SECONDS, so listings mostly skip them; "category bar recount"
times what a listing pays when they have expired.
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert, text

SCALE = 100_000
BASELINE = 1_000
RUNS = 40
CATEGORIES = 20
WORDS = ("lamp", "chair", "desk", "mug", "book", "shirt", "kettle", "camera", "yoga", "speaker", "pen", "bag")


def _seed(count: int) -> None:
    from ecom_reflex.db import get_engine
    from ecom_reflex.models import Category, Product, utcnow

    rng = random.Random(42)
    engine = get_engine()
    with engine.begin() as connection:
        connection.execute(
            insert(Category),
            [{"name": f"Category {i}", "slug": f"category-{i}", "description": ""} for i in range(CATEGORIES)],
        )
        ids = [row[0] for row in connection.execute(text("SELECT id FROM categories ORDER BY id"))]
        now = utcnow()
        rows = [
            {
                "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS)} {n}",
                "description": f"A {rng.choice(WORDS)} for every {rng.choice(WORDS)}.",
                "price_cents": rng.randint(100, 100_000),
                "stock": rng.randint(0, 100),
                "image": "",
                "category_id": rng.choice(ids),
                "is_active": rng.random() > 0.05,
                "created_at": now,
            }
            for n in range(count)
        ]
        for start in range(0, count, 10_000):
            connection.execute(insert(Product), rows[start : start + 10_000])


CASES = {
    "first page": {},
    "category, page 5": {"category_slug": "category-3", "page": 5},
    "search": {"query": "lamp"},
    "search + category": {"query": "mug", "category_slug": "category-7"},
    "price ascending, page 100": {"sort": "price_asc", "page": 100},
}


RECOUNT = "category bar recount"


def _time_cases() -> dict[str, dict[str, float]]:
    from ecom_reflex.db import session_scope
    from ecom_reflex.services import catalog

    def listing(kwargs: dict) -> None:
        with session_scope() as session:
            catalog.list_storefront_products(session, **kwargs)
            catalog.list_categories(session)

    def recount() -> None:
        catalog.forget_category_counts()
        with session_scope() as session:
            catalog.list_categories(session)

    events = {name: (lambda kwargs=kwargs: listing(kwargs)) for name, kwargs in CASES.items()}
    results = {}
    for name, event in {**events, RECOUNT: recount}.items():
        samples = []
        for _ in range(RUNS):
            start = time.perf_counter()
            event()
            samples.append(time.perf_counter() - start)
        samples.sort()
        results[name] = {
            "p50_ms": 1000 * statistics.median(samples),
            "p95_ms": 1000 * samples[int(len(samples) * 0.95) - 1],
        }
    return results


def _plans() -> dict[str, list[str]]:
    """SQLite's plans for the statements list_storefront_products runs, captured as they execute."""
    from sqlalchemy import event

    from ecom_reflex.db import get_engine, session_scope
    from ecom_reflex.services import catalog

    cases = {
        "category filter": {"category_slug": "category-4"},
        "price sort": {"sort": "price_asc", "page": 100},
        "search": {"query": "lamp"},
    }
    engine, plans, statements = get_engine(), {}, []

    def capture(_conn, _cursor, statement, parameters, *_args):
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    for name, kwargs in cases.items():
        statements.clear()
        event.listen(engine, "before_cursor_execute", capture)
        try:
            with session_scope() as session:
                catalog.list_storefront_products(session, **kwargs)
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        with engine.connect() as connection:
            plans[name] = [
                row[-1]
                for statement, parameters in statements
                for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
            ]
    return plans


def _measure(count: int) -> tuple[dict, dict]:
    from ecom_reflex import db, settings
    from ecom_reflex.cli import migrate

    folder = Path(tempfile.mkdtemp(prefix="bench-catalogue-"))
    os.environ["DB_URL"] = f"sqlite:///{folder / 'shop.db'}"
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    migrate(settings.get_settings())
    _seed(count)
    timings = _time_cases()
    plans = _plans()
    db.get_engine().dispose()
    return timings, plans


def run() -> dict:
    baseline, _ = _measure(BASELINE)
    scaled, plans = _measure(SCALE)
    return {
        "products": SCALE,
        "baseline_products": BASELINE,
        "runs_per_case": RUNS,
        "cases": {
            name: {
                **scaled[name],
                "baseline_p95_ms": baseline[name]["p95_ms"],
                "p95_ratio": scaled[name]["p95_ms"] / baseline[name]["p95_ms"],
            }
            for name in [*CASES, RECOUNT]
        },
        "query_plans": plans,
        "target_p95_ms": 50,
    }
