"""Saturation, per worker: the event loop's lag (lifespan.py's timer), the database and hashing threads'
queues (offload.py), and the eventLoopBlockMs fault flag that blocks the loop on purpose."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import REGISTRY

from ecom_reflex import faults, lifespan, offload
from ecom_reflex.observability import metrics


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def lags() -> tuple[float, float]:
    return sample("reflex_event_loop_lag_seconds_count"), sample("reflex_event_loop_lag_seconds_sum")


async def _watch_for(seconds: float, interval_s: float, while_watching=None) -> None:
    watcher = asyncio.create_task(lifespan._watch_event_loop(interval_s))
    await asyncio.sleep(interval_s / 2)
    if while_watching:
        while_watching()
    await asyncio.sleep(seconds)
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher


def test_an_idle_loop_has_next_to_no_lag():
    count, total = lags()
    asyncio.run(_watch_for(0.5, 0.05))
    ticks, lag = lags()[0] - count, lags()[1] - total
    assert ticks >= 5
    assert lag / ticks < 0.02, f"mean lag {lag / ticks:.3f} s on an idle loop"
    # Every bucket from a millisecond to seconds: the histogram tells 1 ms from 10 s.
    assert metrics.SATURATION_BUCKETS[0] == 0.001 and metrics.SATURATION_BUCKETS[-1] >= 5


def test_a_blocked_loop_shows_as_lag_of_about_the_block():
    count, total = lags()
    # A handler that blocks the loop for 300 ms while the timer is due.
    asyncio.run(_watch_for(0.3, 0.05, while_watching=lambda: time.sleep(0.3)))
    assert lags()[1] - total >= 0.25 and lags()[0] > count
    assert sample("reflex_event_loop_lag_max_seconds") >= 0.25
    assert sample("reflex_event_loop_lag_seconds_bucket", le="0.1") < lags()[0]


def test_the_event_loop_block_flag_blocks_the_loop_at_each_tick(monkeypatch):
    monkeypatch.setattr(faults, "value", lambda flag: 200 if flag == "eventLoopBlockMs" else faults.DEFAULTS[flag])
    count, total = lags()
    asyncio.run(_watch_for(1.0, 0.1))
    ticks, lag = lags()[0] - count, lags()[1] - total
    assert ticks >= 3
    assert lag / ticks >= 0.18, f"mean lag {lag / ticks:.3f} s with eventLoopBlockMs=200"
    assert faults.DEFAULTS["eventLoopBlockMs"] == 0, "off by default"


def test_the_timer_samples_the_process_in_multiprocess_mode(monkeypatch):
    sampled = []
    monkeypatch.setattr(metrics, "sample_process", lambda: sampled.append(1))
    asyncio.run(_watch_for(0.2, 0.02))
    assert sampled, "the first tick samples CPU, memory and open files"


def test_single_process_mode_exports_cpu_memory_and_open_files():
    names = {s.name for family in REGISTRY.collect() for s in family.samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds"} <= names


@pytest.fixture
def one_thread(monkeypatch):
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-db")
    monkeypatch.setattr(offload, "_db_pool", lambda: pool)
    yield pool
    pool.shutdown(wait=True)


def test_work_waiting_for_a_db_thread_is_counted_in_depth_and_wait(one_thread):
    release = threading.Event()
    waits_before = sample("thread_pool_queue_wait_seconds_count", pool="db")
    slow_before = waits_before - sample("thread_pool_queue_wait_seconds_bucket", pool="db", le="0.1")

    async def scenario():
        busy = asyncio.ensure_future(offload.run_db(release.wait, 5))
        await asyncio.sleep(0.05)
        queued = [asyncio.ensure_future(offload.run_db(lambda: "done")) for _ in range(2)]
        await asyncio.sleep(0.05)
        # The thread holds the first; the other two wait for it.
        assert sample("thread_pool_queue_depth", pool="db") == 2
        await asyncio.sleep(0.2)
        release.set()
        assert await asyncio.gather(*queued) == ["done", "done"]
        await busy

    asyncio.run(scenario())
    assert sample("thread_pool_queue_depth", pool="db") == 0
    assert sample("thread_pool_queue_wait_seconds_count", pool="db") == waits_before + 3
    # The two that queued waited about 0.25 s for the thread.
    slow = sample("thread_pool_queue_wait_seconds_count", pool="db") - sample(
        "thread_pool_queue_wait_seconds_bucket", pool="db", le="0.1"
    )
    assert slow - slow_before == 2


def test_work_cancelled_before_it_started_leaves_the_queue(one_thread):
    release = threading.Event()

    async def scenario():
        busy = asyncio.ensure_future(offload.run_db(release.wait, 5))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(offload.run_db(lambda: "never"))
        await asyncio.sleep(0.05)
        assert sample("thread_pool_queue_depth", pool="db") == 1
        queued.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await queued
        assert sample("thread_pool_queue_depth", pool="db") == 0
        release.set()
        await busy

    asyncio.run(scenario())
    assert sample("thread_pool_queue_depth", pool="db") == 0


def test_hashing_work_is_measured_as_its_own_pool():
    before = sample("thread_pool_queue_wait_seconds_count", pool="hashing")
    assert asyncio.run(offload.run_hashing(lambda: 42)) == 42
    assert sample("thread_pool_queue_wait_seconds_count", pool="hashing") == before + 1
    assert sample("thread_pool_queue_depth", pool="hashing") == 0


def test_each_worker_writes_its_own_process_series_in_multiprocess_mode(tmp_path):
    import os
    import subprocess
    import sys

    from ecom_reflex.settings import PROJECT_ROOT

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    worker = "from ecom_reflex.observability import metrics; metrics.sample_process()"
    for _ in range(2):
        subprocess.run([sys.executable, "-c", worker], cwd=PROJECT_ROOT, env=env, check=True, timeout=60)
    scrape = (
        "from prometheus_client import generate_latest; from ecom_reflex.observability import metrics;"
        " print(generate_latest(metrics._registry()).decode())"
    )
    text = subprocess.run(
        [sys.executable, "-c", scrape], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True, text=True,
        timeout=60,
    ).stdout  # fmt: skip
    for name in metrics.PROCESS_SAMPLES:
        # The two workers' samples (the scraping process's own series is still at 0: it never sampled).
        sampled = [line for line in text.splitlines() if line.startswith(f'{name}{{pid="') and line[-4:] != " 0.0"]
        assert len(sampled) == 2, f"{name}: one series per worker\n{text}"
