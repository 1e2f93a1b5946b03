"""The attacks drive the running shop of e2e.fixtures; browser fixtures as in e2e/."""

from __future__ import annotations

import asyncio
import random
from concurrent.futures import ThreadPoolExecutor

from bench.journeys import LOGIN, JourneyShopper
from bench.loadgen import AUTH_FORM, REGISTER, SESSION, Stats, router_data
from e2e.browser import base_url, browser_context_args, browser_type_launch_args

__all__ = ["base_url", "browser_context_args", "browser_type_launch_args"]


def in_own_loop(coroutine):
    """Playwright's sync API keeps an event loop running in a test's thread: asyncio runs in another."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


class Client(JourneyShopper):
    """One websocket client speaking the protocol as a script would, from `address`
    (the e2e server trusts loopback's X-Forwarded-For, as it would a proxy's)."""

    def __init__(self, url: str, address: str):
        super().__init__(url, Stats(), random.Random())
        self.address = address


class RecordingClient(Client):
    """Keeps every update the server sent (deltas and frontend events), as a browser's memory would."""

    def __init__(self, url: str, address: str, token: str | None = None):
        super().__init__(url, address)
        self.token = token or self.token
        self.received: list[dict] = []

    async def _received(self, update: dict) -> None:
        self.received.append(update)
        await super()._received(update)


async def _submit(url: str, address: str, path: str, state: str, handler: str, form: dict) -> dict:
    client = Client(url, address)
    await client.connect(path)
    try:
        return await client.send(
            handler,
            state,
            handler,
            {"form_data": form},
            router_data(path),
            until=lambda d: (
                bool(d.get(SESSION, {}).get("username_rx_state_"))
                or bool(d.get(AUTH_FORM, {}).get("form_error_rx_state_"))
                or bool(d.get(AUTH_FORM, {}).get("errors_rx_state_"))
            ),
        )
    finally:
        await client.close()


def register(url: str, address: str, username: str, password: str) -> dict:
    """The answer to one registration: the merged delta (SESSION username, or the form's errors)."""
    form = {"username": username, "email": f"{username}@example.com", "password": password, "confirm": password}
    return in_own_loop(_submit(url, address, "/register", REGISTER, "register", form))


def log_in(url: str, address: str, username: str, password: str) -> dict:
    return in_own_loop(_submit(url, address, "/login", LOGIN, "log_in", {"username": username, "password": password}))


def logged_in_as(delta: dict) -> str:
    return delta.get(SESSION, {}).get("username_rx_state_", "")


def form_error(delta: dict) -> str:
    """The message above a login or registration form."""
    return delta.get(AUTH_FORM, {}).get("form_error_rx_state_", "")


def field_errors(delta: dict) -> dict[str, str]:
    return delta.get(AUTH_FORM, {}).get("errors_rx_state_", {})
