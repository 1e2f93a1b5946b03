"""Anonymous connections cost bounded storage, and a tab that outlives its state loses nothing.

Attack: open connections by the hundred and leave (before: 10 state files, 5.4 KB, on disk
per connection, kept an hour). With one worker the shop keeps tabs' states in memory only,
forgets a tab nobody is logged in on ANONYMOUS_STATE_IDLE_SECONDS after its last event and a
signed-in one STATE_IDLE_SECONDS after. These tests run a shop of their own (a copy of the
app with its own build) that forgets within seconds.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from bench.journeys import LOGIN
from bench.loadgen import CART, SESSION, router_data
from e2e.fixtures import ARTIFACTS
from e2e.helpers import cart_count, from_own_address, register, unique_name
from ecom_reflex.settings import PROJECT_ROOT
from testkit.servers import ShopProcess, copy_of_the_app, sqlite_shop
from tests.security.conftest import Client, RecordingClient, in_own_loop
from tests.security.conftest import register as ws_register

ANONYMOUS_IDLE_SECONDS = 5
SIGNED_IN_IDLE_SECONDS = 12
# Past a lifetime: the store looks for forgotten tabs every second at these settings.
MARGIN_SECONDS = 4
PASSWORD = "Forgetful-shop-pass-3"
ANONYMOUS_CONNECTIONS = 300
RELOAD = "window.location.reload()"


@pytest.fixture(scope="module")
def forgetful_shop():
    workdir = Path(tempfile.mkdtemp(prefix="shop-forgetful-"))
    shop = sqlite_shop(
        copy_of_the_app(PROJECT_ROOT, workdir),
        STATE_IDLE_SECONDS=str(SIGNED_IN_IDLE_SECONDS),
        ANONYMOUS_STATE_IDLE_SECONDS=str(ANONYMOUS_IDLE_SECONDS),
        # Where Reflex would write state files if it wrote any.
        REFLEX_STATES_WORKDIR=str(workdir / "states"),
    )
    try:
        shop.setup()
        shop.start()
        yield shop
    finally:
        shop.stop()
        shutil.copy(shop.log_path, ARTIFACTS / "forgetful-server.log")
        shutil.rmtree(workdir, ignore_errors=True)


def _states_dir(shop: ShopProcess) -> Path:
    return Path(shop.env["REFLEX_STATES_WORKDIR"])


def _files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


async def _come_and_go(url: str, count: int) -> None:
    limit = asyncio.Semaphore(20)

    async def one(number: int) -> None:
        async with limit:
            tab = Client(url, f"198.18.90.{number % 250 + 1}")
            await tab.connect("/")
            await tab.close()

    await asyncio.gather(*(one(number) for number in range(count)))


def test_anonymous_connections_write_nothing_to_disk(forgetful_shop: ShopProcess):
    app_files_before = {path for path in forgetful_shop.root.rglob("*.pkl")}
    in_own_loop(_come_and_go(forgetful_shop.url, ANONYMOUS_CONNECTIONS))
    time.sleep(2)  # Reflex's disk store wrote a second after the last event
    assert _files_under(_states_dir(forgetful_shop)) == []
    assert {path for path in forgetful_shop.root.rglob("*.pkl")} == app_files_before


async def _answer_after(url: str, address: str, idle_s: float, login: tuple[str, str] | None = None) -> str:
    """Everything a tab (logged in as `login`, or anonymous) gets in answer to its cart event
    after staying connected but idle for `idle_s`."""
    tab = RecordingClient(url, address)
    await tab.connect("/")
    if login:
        form = {"username": login[0], "password": login[1]}
        await tab.send("login", LOGIN, "log_in", {"form_data": form}, router_data("/login"),
                       until=lambda delta: bool(delta.get(SESSION, {}).get("username_rx_state_")))  # fmt: skip
    await asyncio.sleep(idle_s)
    tab.received.clear()
    try:
        await tab.send("cart", CART, "load_cart", route=router_data("/"), until=lambda delta: True)
        await asyncio.sleep(0.5)
    finally:
        await tab.close()
    return repr(tab.received)


def _served(answer: str) -> bool:
    return RELOAD not in answer and "cart_loaded_rx_state_" in answer


def _told_to_reload(answer: str) -> bool:
    return RELOAD in answer and "cart_loaded_rx_state_" not in answer


def test_an_idle_anonymous_tab_is_forgotten_long_before_a_signed_in_one(forgetful_shop: ShopProcess):
    username = unique_name("kept")
    ws_register(forgetful_shop.url, "198.18.91.9", username, PASSWORD)
    url, login = forgetful_shop.url, (username, PASSWORD)
    short, long = ANONYMOUS_IDLE_SECONDS + MARGIN_SECONDS, SIGNED_IN_IDLE_SECONDS + MARGIN_SECONDS

    async def tabs():
        return await asyncio.gather(
            _answer_after(url, "198.18.91.1", 0),
            _answer_after(url, "198.18.91.2", short),
            _answer_after(url, "198.18.91.3", short, login),
            _answer_after(url, "198.18.91.4", long, login),
        )

    active, anonymous_idle, signed_in_idle, signed_in_long_idle = in_own_loop(tabs())
    assert _served(active), "a tab in use has its state"
    assert _told_to_reload(anonymous_idle), "idle past ANONYMOUS_STATE_IDLE_SECONDS: forgotten, nothing run"
    assert _served(signed_in_idle), "a signed-in tab is kept longer"
    assert _told_to_reload(signed_in_long_idle), "idle past STATE_IDLE_SECONDS: forgotten too"


def test_a_tab_that_outlived_its_state_reloads_and_loses_nothing(browser: Browser, forgetful_shop: ShopProcess):
    context = browser.new_context(base_url=forgetful_shop.url, viewport={"width": 1280, "height": 900},
                                  **from_own_address())  # fmt: skip
    page = context.new_page()
    add = page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart")
    # A guest's cart lives in the browser: a blank state in place of the forgotten one must not
    # write an empty cart over it.
    page.goto("/?q=yoga")
    add.click()
    expect(cart_count(page)).to_have_text("1")
    time.sleep(ANONYMOUS_IDLE_SECONDS + MARGIN_SECONDS)
    with page.expect_event("load"):  # the click finds no state on the server: the page reloads
        add.click()
    expect(cart_count(page)).to_have_text("1")
    add.click()  # and the shopper clicks again
    expect(cart_count(page)).to_have_text("2")

    # Logged in, the shopper stays logged in with the cart they had.
    username = unique_name("idle")
    register(page, username)
    expect(cart_count(page)).to_have_text("2")
    time.sleep(SIGNED_IN_IDLE_SECONDS + MARGIN_SECONDS)
    with page.expect_event("load"):  # a link: the cart page's loaders find no state either
        page.get_by_test_id("cart-link").click()
    expect(page).to_have_url(re.compile(r"/cart/?$"))
    expect(page.get_by_test_id("current-user")).to_have_text(username)
    expect(page.get_by_test_id("cart-line")).to_have_count(1)
    expect(cart_count(page)).to_have_text("2")
    context.close()
