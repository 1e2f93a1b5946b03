"""Blocking work off the event loop: the only place that hands event-handler work to threads.

One event loop per worker serves every browser connected to it, so a handler that
blocks the loop (a query, a wait for SQLite's write lock, bcrypt) makes every other
shopper wait. Two thread pools per worker take that work instead:

- database work (`run_db`, `@in_db_thread`): `DB_THREADS` threads, each with its own
  connection. A thread waiting for the write lock sleeps and holds up no one else.
- password hashing (`run_hashing`): one thread per core, at the lowest CPU priority, so a
  burst of logins queues among itself instead of taking the cores from page loads, and
  never occupies a database thread or a connection.

Work sent here runs in a copy of the caller's context, copied back when it ends: its
log lines and spans belong to the event that sent it, and a user it bound stays bound.

Each pool's queue is measured (thread_pool_queue_wait_seconds, thread_pool_queue_depth): how long
work waited for a free thread, and how much is waiting now.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from ecom_reflex.observability import metrics
from ecom_reflex.settings import get_settings

P = ParamSpec("P")
T = TypeVar("T")

_UNSET = object()
# Niceness of the hashing threads (Linux lets a thread have its own): the lowest, so page loads
# and every other event come first and hashing takes the CPU they leave.
HASHING_NICENESS = 19
# Hashes running at once per worker: one per core. Measured against 16 (bench/journeys.py,
# alternating runs): 16 let the kernel share the cores fairly among the hashes of 2 workers
# (register/login p95 at 10 shoppers 6.0-6.9x one alone, against 7.1-10x), but with 1 worker
# every nice-19 thread adds CPU weight, and page loads under a login burst were twice as slow
# (browse p50 9-17 ms against 5) with the login ratio worse too (7.4x against 6.3x).
HASHING_THREADS = os.cpu_count() or 1


def _lower_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HASHING_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not allowed: same priority, still bounded
        logging.getLogger("ecom_reflex").debug("hashing threads keep the normal priority")


@functools.cache
def _db_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=get_settings().db_threads, thread_name_prefix="db")


@functools.cache
def _hashing_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=HASHING_THREADS, thread_name_prefix="hashing", initializer=_lower_priority)


async def _run(pool_name: str, pool: ThreadPoolExecutor, fn: Callable[..., T], *args) -> T:
    context = contextvars.copy_context()
    # Whoever takes it first says the work left the queue: the thread starting it, or the caller
    # when the work was cancelled before any thread started it.
    left_queue = threading.Lock()
    submitted = time.perf_counter()

    def started(*work_args):
        if left_queue.acquire(blocking=False):
            metrics.thread_work_dequeued(pool_name, time.perf_counter() - submitted)
        return context.run(fn, *work_args)

    metrics.thread_work_queued(pool_name)
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, functools.partial(started, *args))
    finally:
        if left_queue.acquire(blocking=False):
            metrics.thread_work_dequeued(pool_name, None)
        # What the work bound for the rest of the event (the caller's user id for log lines) comes back.
        for var, value in context.items():
            if var.get(_UNSET) is not value:
                var.set(value)


async def run_db(fn: Callable[..., T], *args) -> T:
    """`fn(*args)` (database work) in a database thread."""
    return await _run("db", _db_pool(), fn, *args)


async def run_hashing(fn: Callable[..., T], *args) -> T:
    """`fn(*args)` (bcrypt) in a hashing thread."""
    return await _run("hashing", _hashing_pool(), fn, *args)


def in_db_thread(handler: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """A plain event handler that touches the database, run whole in a database thread.

    Reflex runs one event of a browser at a time and holds that browser's state until
    the event ends, so the handler may read and set state vars from the thread.
    """

    @functools.wraps(handler)
    async def off_the_loop(*args, **kwargs):
        return await run_db(functools.partial(handler, *args, **kwargs))

    return off_the_loop
