"""Where the server's CPU goes under load, by part: a py-spy profile of a running shop.

py-spy samples every busy thread of the shop's processes (the event loop, the thread pool
sync handlers and bcrypt run in, the span export thread) from outside, without changing
the shop. Each sample is put in the first part below that any frame of its stack belongs
to, so the parts add up to 100% of the sampled CPU. The payment service (payment_gateway/, a
child process of `cli serve`) is sampled too and is a part of its own, whatever its frames.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.loadgen import run as load
from testkit.servers import ShopProcess

RATE_HZ = 200
# (part, pattern over "function (file:line)" frames), first match wins.
PARTS = (
    ("password hashing (bcrypt)", r"/bcrypt/|services/passwords\.py"),
    ("observability: span export thread", r"opentelemetry/sdk/_shared_internal|opentelemetry/exporter/"),
    ("observability: SQL statement spans", r"opentelemetry/instrumentation/sqlalchemy/"),
    ("observability: Prometheus metrics", r"/prometheus_client/"),
    ("observability: JSON logs", r"/pythonjsonlogger/|/logging/(__init__|handlers)\.py"),
    # Our middleware wraps every request, so its own frame says nothing; its callees do.
    ("observability: the shop's own hooks", r"^(?!observe_requests\.<locals>\.observed ).*ecom_reflex/observability/"),
    ("observability: other spans (SDK)", r"/opentelemetry/"),
    ("database (SQLAlchemy, driver)", r"/sqlalchemy/|/sqlmodel/|/sqlite3/|/psycopg/"),
    ("everything else (Reflex, socket.io, state, handlers)", r""),
)
OBSERVABILITY = "observability"
PAYMENT_SERVICE = "payment service (its own process)"


def _py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    return str(found) if found.exists() else shutil.which("py-spy")


def parts(raw: str) -> dict[str, float]:
    """Percent of samples per part, from py-spy's raw (collapsed stack) output."""
    counts: Counter[str] = Counter()
    patterns = [(name, re.compile(pattern)) for name, pattern in PARTS]
    for line in raw.splitlines():
        stack, _, samples = line.rstrip().rpartition(" ")
        if not stack or not samples.isdigit():
            continue
        process, *frames = stack.split(";")  # the first is the process
        if "payment_gateway" in process:
            name = PAYMENT_SERVICE
        else:
            name = next(name for name, pattern in patterns if any(pattern.search(frame) for frame in frames))
        counts[name] += int(samples)
    total = sum(counts.values()) or 1
    result = {name: 100 * counts[name] / total for name, _ in PARTS}
    if counts[PAYMENT_SERVICE]:
        result[PAYMENT_SERVICE] = 100 * counts[PAYMENT_SERVICE] / total
    result[f"{OBSERVABILITY} (all of it)"] = sum(v for k, v in result.items() if k.startswith(OBSERVABILITY))
    return result


def profile(server: ShopProcess, shoppers: int, seconds: int, checkout_share: float = 0.2) -> dict:
    """Profile `server` while `shoppers` load it for `seconds`; {"parts": ...} or {"skipped": why}."""
    py_spy = _py_spy()
    if py_spy is None:
        return {"skipped": "py-spy is not installed (make test-deps installs it)"}
    output = Path(tempfile.mkdtemp(prefix="bench-profile-")) / "raw.txt"
    command = [py_spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--full-filenames",
               "--nonblocking", "--rate", str(RATE_HZ), "--duration", str(seconds), "--format", "raw",
               "--output", str(output)]  # fmt: skip
    spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    asyncio.run(load(server.url, shoppers, seconds, checkout_share=checkout_share, pause_s=0.0, live=False))
    _, errors = spy.communicate(timeout=60)
    if spy.returncode != 0 or not output.exists():
        # e.g. no ptrace permission in a locked-down container
        return {"skipped": f"py-spy failed: {errors.strip().splitlines()[-1] if errors.strip() else spy.returncode}"}
    return {"seconds": seconds, "rate_hz": RATE_HZ, "parts": parts(output.read_text())}
