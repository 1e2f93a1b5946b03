"""Fixtures for the payment service: an app over a temp ledger and flag file, a fake clock, an HTTP client.

The app runs in-process behind httpx's ASGITransport (no lifespan there, so the fixture closes it).
Time is a FakeClock the test moves forward, so expiry is tested without waiting.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from payment_gateway.app import close_app, create_app
from payment_gateway.faults import DEFAULTS
from payment_gateway.settings import GatewaySettings

API_KEY = "test-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
GOOD_CARD = {"number": "4242 4242 4242 4242", "exp_month": 12, "exp_year": 2099, "cvc": "123", "name": "Ada Lovelace"}
# Quick flag-file polling in tests: an edit shows within a tenth of a second or so.
FLAG_POLL_MS = 50


class FakeClock:
    """A clock the test moves by hand (unix seconds)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def write_flags(path: Path, **values: int | bool) -> None:
    """A flagd flag file with every payment flag, each set to `values` (default off)."""
    flags = {}
    for name, default in DEFAULTS.items():
        value = values.get(name, default)
        flags[name] = {"state": "ENABLED", "variants": {"on": value, "off": default}, "defaultVariant": "on"}
    # Written whole, then renamed, so the watcher never reads half a file.
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"flags": flags}))
    tmp.replace(path)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def flag_file(tmp_path: Path) -> Path:
    path = tmp_path / "flags.json"
    write_flags(path)
    return path


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def settings(tmp_path: Path, flag_file: Path) -> GatewaySettings:
    return GatewaySettings(
        _env_file=None,
        payment_api_key=API_KEY,
        payment_ledger=tmp_path / "payments.db",
        fault_flags_file=flag_file,
        payment_log_file="",
    )


@pytest.fixture
def make_app(settings: GatewaySettings, clock: FakeClock) -> Iterator[Callable[..., Any]]:
    """Build apps over the test's ledger (several share one file in the cross-process tests); all closed after."""
    apps = []

    def make(**kwargs: Any):
        app = create_app(settings, clock=clock, flag_poll_ms=FLAG_POLL_MS, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        close_app(app)


@pytest.fixture
def app(make_app):
    return make_app()


def client_for(app, **headers: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://gateway", headers={**AUTH, **headers}, timeout=30
    )


@pytest.fixture
async def client(app) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


def gateway_of(app):
    return app.state.gateway


async def create(
    http: httpx.AsyncClient, key: str, *, amount: int = 1000, card: dict | None = None, **fields: Any
) -> httpx.Response:
    """POST /v1/payment_intents (confirmed at once when a card is given)."""
    body: dict[str, Any] = {"amount": amount, "currency": "eur", "reference": "order-1", **fields}
    if card is not None:
        body |= {"confirm": True, "card": card}
    return await http.post("/v1/payment_intents", json=body, headers={"Idempotency-Key": key})


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    """Poll `predicate` until it holds, failing after a deadline (flag-file edits take a moment)."""
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s}s")
        await asyncio.sleep(0.02)
