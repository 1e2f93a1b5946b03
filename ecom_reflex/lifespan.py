"""Each worker's lifespan: fault flags and observability up before the first event, the e-mail sender
(mailer.py) and the payment reconciler (payments.py) running, the low-stock and fault-flag gauges
kept fresh, spans flushed.

Here and not in observability/, because it reads the database: observability only
receives values (the settings, the engine, the count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from reflex.state import State

from ecom_reflex import faults, mailer, payments
from ecom_reflex.db import get_engine, session_scope
from ecom_reflex.observability import metrics
from ecom_reflex.observability.instrumentation import start_observability, stop_observability
from ecom_reflex.offload import run_db
from ecom_reflex.services import mail
from ecom_reflex.services.analytics import low_stock_count
from ecom_reflex.settings import get_settings

logger = logging.getLogger("ecom_reflex")
# How often ecommerce_fault_flag is brought up to date with the flag file.
FAULT_FLAGS_REFRESH_SECONDS = 2.0


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


async def _refresh_fault_flags() -> None:
    while True:
        metrics.set_fault_flags(faults.current())
        await asyncio.sleep(FAULT_FLAGS_REFRESH_SECONDS)


def _event_labels() -> list[str]:
    """Every event handler of the shop's states, as reflex_event_duration_seconds names them."""
    labels, pending = [], [State]
    while pending:
        state_class = pending.pop()
        pending.extend(state_class.get_substates())
        if state_class.__module__.startswith("ecom_reflex."):
            labels += [f"{state_class.__name__}.{name}" for name in state_class.event_handlers]
    return labels


@contextlib.asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    """Per worker process: logging, tracing and metrics up before the first event; spans flushed at the end."""
    settings = get_settings()
    await asyncio.to_thread(faults.start, str(settings.fault_flags_file))
    if not settings.observability:
        logger.warning("observability is off (OBSERVABILITY=false)")
        async with mailer.running(settings), payments.running(settings):
            yield
        return
    provider = start_observability(settings, get_engine(), faults.span_export_blackholed)
    metrics.initialise_events(_event_labels())
    metrics.initialise_emails(mail.KINDS)
    refreshers = [
        asyncio.create_task(_refresh_low_stock(settings.low_stock_refresh_seconds), name="low-stock"),
        asyncio.create_task(_refresh_fault_flags(), name="fault-flags"),
    ]
    logger.info("shop started", extra={"version": metrics.__version__})
    try:
        async with mailer.running(settings), payments.running(settings):
            yield
    finally:
        for refresher in refreshers:
            refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refresher
        stop_observability(provider)
