"""Each worker's lifespan: fault flags and observability up before the first event, the e-mail sender
(mailer.py) and the payment reconciler (payments.py) running, the low-stock and fault-flag gauges
kept fresh, the event loop's lag measured, spans flushed.

Here and not in observability/, because it reads the database: observability only
receives values (the settings, the engine, the count).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator

from reflex.state import State

from ecom_reflex import faults, mailer, payments
from ecom_reflex.db import get_engine, session_scope
from ecom_reflex.observability import browser_relay, metrics
from ecom_reflex.observability.instrumentation import start_observability, stop_observability
from ecom_reflex.offload import run_db
from ecom_reflex.services import mail
from ecom_reflex.services.analytics import low_stock_count
from ecom_reflex.settings import get_settings

logger = logging.getLogger("ecom_reflex")
# How often ecommerce_fault_flag is brought up to date with the flag file.
FAULT_FLAGS_REFRESH_SECONDS = 2.0
# The loop-lag timer's period, and how many of its ticks reflex_event_loop_lag_max_seconds spans (10 s).
EVENT_LOOP_TICK_SECONDS = 0.5
EVENT_LOOP_MAX_TICKS = 20
# Every this many ticks (5 s), the worker's CPU, memory and open files are sampled (multiprocess mode).
PROCESS_SAMPLE_TICKS = 10


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


async def _watch_event_loop(interval_s: float = EVENT_LOOP_TICK_SECONDS) -> None:
    """Every `interval_s`: how late the loop woke this timer, into reflex_event_loop_lag_seconds. A handler
    that blocks the loop (or a burst of work on it) makes every ready event wait as long as this timer.

    With the eventLoopBlockMs fault flag on, a callback due with the timer blocks the loop that long first.
    """
    loop = asyncio.get_running_loop()
    recent: deque[float] = deque(maxlen=EVENT_LOOP_MAX_TICKS)
    ticks = 0
    while True:
        due = loop.time() + interval_s
        if block_ms := faults.value("eventLoopBlockMs"):
            loop.call_at(due, faults.block_event_loop, block_ms)
        await asyncio.sleep(interval_s)
        lag = max(0.0, loop.time() - due)
        recent.append(lag)
        metrics.observe_event_loop_lag(lag, max(recent))
        ticks += 1
        if ticks % PROCESS_SAMPLE_TICKS == 1:
            try:
                metrics.sample_process()
            except Exception:  # /proc unreadable: the lag is still measured
                logger.warning("could not sample the worker's CPU, memory and open files", exc_info=True)


def _event_labels() -> dict[str, str]:
    """Every event handler of the shop's states, as reflex_event_duration_seconds names it
    (`CartState.add_to_cart`), by the full name a browser gives it
    (`reflex___state____state.ecom_reflex___state___cart____cart_state.add_to_cart`)."""
    labels: dict[str, str] = {}
    pending = [State]
    while pending:
        state_class = pending.pop()
        pending.extend(state_class.get_substates())
        if state_class.__module__.startswith("ecom_reflex."):
            for name in state_class.event_handlers:
                labels[f"{state_class.get_full_name()}.{name}"] = f"{state_class.__name__}.{name}"
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
    event_labels = _event_labels()
    metrics.initialise_events(list(event_labels.values()))
    browser_relay.start(event_labels)
    metrics.initialise_emails(mail.KINDS)
    refreshers = [
        asyncio.create_task(_refresh_low_stock(settings.low_stock_refresh_seconds), name="low-stock"),
        asyncio.create_task(_refresh_fault_flags(), name="fault-flags"),
        asyncio.create_task(_watch_event_loop(), name="event-loop-lag"),
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
