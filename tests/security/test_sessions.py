"""Attacks on sessions: what a tab still holds on the server after its user logged out."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from bench.journeys import LOGIN
from bench.loadgen import SESSION, router_data
from e2e.helpers import query
from ecom_reflex.settings import PROJECT_ROOT
from tests.security.conftest import Client, in_own_loop, register

ADMIN = f"{SESSION}.ecom_reflex___state___admin____admin_state"
ADMIN_USERS = f"{ADMIN}.ecom_reflex___state___admin____admin_users_state"


class RecordingClient(Client):
    """Keeps every update the server sent, as a browser's memory would."""

    def __init__(self, url: str, address: str, token: str | None = None):
        super().__init__(url, address)
        self.token = token or self.token
        self.received: list[str] = []

    async def _received(self, update: dict) -> None:
        self.received.append(json.dumps(update))
        await super()._received(update)


async def _admin_views_users_then_leaves(url: str, username: str, password: str, then_as: tuple | None) -> str:
    tab = RecordingClient(url, "198.18.77.1")
    await tab.connect("/login")
    form = {"username": username, "password": password}
    await tab.send("login", LOGIN, "log_in", {"form_data": form}, router_data("/login"),
                   until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_")))  # fmt: skip
    users = await tab.send("users", ADMIN_USERS, "load_users", route=router_data("/admin/users"),
                           until=lambda d: "user_rows_rx_state_" in d.get(ADMIN_USERS, {}))  # fmt: skip
    assert users[ADMIN_USERS]["user_rows_rx_state_"], "the admin saw the user list"
    if then_as is None:
        await tab.send("logout", SESSION, "logout", route=router_data("/admin/users"),
                       until=lambda d: d.get(SESSION, {}).get("username_rx_state_") == "")  # fmt: skip
    else:  # someone else logs in on the same tab, without logging the admin out
        form = {"username": then_as[0], "password": then_as[1]}
        await tab.send("login", LOGIN, "log_in", {"form_data": form}, router_data("/login"),
                       until=lambda d: d.get(SESSION, {}).get("username_rx_state_") == then_as[0])  # fmt: skip
    await tab.close()
    return tab.token


async def _reconnect(url: str, token: str) -> list[str]:
    tab = RecordingClient(url, "198.18.77.1", token=token)
    await tab.connect("/admin/users")  # the same tab (its token) comes back, as after a reload
    await tab.close()
    return tab.received


@pytest.mark.parametrize("then", ["log_out", "someone_else_logs_in"])
def test_the_tab_gets_nothing_of_the_previous_user_back(shop_server, then):
    then_as = None
    if then == "someone_else_logs_in":
        then_as = (f"next_{uuid.uuid4().hex[:8]}", "Next-person-pass-1")
        register(shop_server.url, "198.18.77.2", *then_as)
    admin, password = shop_server.admin_username, shop_server.admin_password
    token = in_own_loop(_admin_views_users_then_leaves(shop_server.url, admin, password, then_as))
    received = "\n".join(in_own_loop(_reconnect(shop_server.url, token)))
    emails = [email for (email,) in query(shop_server.db_file, "SELECT email FROM users")]
    emails = [email for email in emails if not then_as or not email.startswith(then_as[0])]
    assert emails and not [email for email in emails if email in received]
    assert f'"username_rx_state_": "{shop_server.admin_username}"' not in received


async def _log_in_and_read_token(url: str, username: str, password: str) -> str:
    tab = RecordingClient(url, "198.18.77.3")
    await tab.connect("/login")
    form = {"username": username, "password": password}
    delta = await tab.send("login", LOGIN, "log_in", {"form_data": form}, router_data("/login"),
                           until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_")))  # fmt: skip
    await tab.send(
        "cart", f"{SESSION}.ecom_reflex___state___cart____cart_state", "load_cart", route=router_data("/cart")
    )  # fmt: skip  (one more event: the state is written again)
    await tab.close()
    return delta[SESSION]["auth_token_rx_state_"]


def test_the_state_store_keeps_no_session_token_and_is_private(shop_server):
    token = in_own_loop(_log_in_and_read_token(shop_server.url, shop_server.admin_username, shop_server.admin_password))
    assert len(token) > 30
    states = PROJECT_ROOT / ".states"
    deadline = time.time() + 15
    while not (written := [path for path in states.glob("*") if path.stat().st_mtime > time.time() - 60]):
        assert time.time() < deadline, "the shop writes the tab's state files here"
        time.sleep(0.5)
    time.sleep(2)  # every substate of the tab written
    assert not [path for path in states.glob("*") if token.encode() in path.read_bytes()]
    assert not states.stat().st_mode & 0o077, "the folder is the shop's user's only"
    assert not [path for path in written if path.stat().st_mode & 0o077], "so are the files"
