"""Attacks on sessions: what a tab still holds on the server after its user logged out.

What the state store keeps of a session token: e2e/test_scale_path.py (Redis); with one
worker nothing is written at all (test_state_store.py)."""

from __future__ import annotations

import json
import uuid

import pytest

from bench.journeys import LOGIN
from bench.loadgen import SESSION, router_data
from e2e.helpers import query
from tests.security.conftest import RecordingClient, in_own_loop, register

ADMIN = f"{SESSION}.ecom_reflex___state___admin____admin_state"
ADMIN_USERS = f"{ADMIN}.ecom_reflex___state___admin____admin_users_state"


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
    return [json.dumps(update) for update in tab.received]


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
