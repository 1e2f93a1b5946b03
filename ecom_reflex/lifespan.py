"""Each worker's lifespan: observability up before the first event, the low-stock gauge kept fresh, spans flushed.

Here and not in observability/, because it reads the database: observability only
receives values (the settings, the engine, the count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from ecom_reflex.db import get_engine, session_scope
from ecom_reflex.observability import metrics
from ecom_reflex.observability.instrumentation import start_observability, stop_observability
from ecom_reflex.offload import run_db
from ecom_reflex.services.analytics import low_stock_count
from ecom_reflex.settings import get_settings

logger = logging.getLogger("ecom_reflex")


def _count_low_stock() -> int:
    with session_scope() as session:
        return low_stock_count(session)


async def _refresh_low_stock(interval_s: float) -> None:
    while True:
        try:
            metrics.set_low_stock_products(await run_db(_count_low_stock))
        except Exception:  # a database hiccup must not end the task
            logger.warning("could not refresh ecommerce_low_stock_products", exc_info=True)
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """Per worker process: logging, tracing and metrics up before the first event; spans flushed at the end."""
    settings = get_settings()
    if not settings.observability:
        logger.warning("observability is off (OBSERVABILITY=false)")
        yield
        return
    provider = start_observability(settings, get_engine())
    refresher = asyncio.create_task(_refresh_low_stock(settings.low_stock_refresh_seconds), name="low-stock")
    logger.info("shop started", extra={"version": metrics.__version__})
    try:
        yield
    finally:
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
        stop_observability(provider)
