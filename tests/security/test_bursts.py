"""Limits that hold when a client attacks in parallel: every throttle takes its slot before the work
it limits (services/throttling.py), so a burst of attempts sent at the same moment from one address
gets no more through than the limit.

Before, the count was tested, then bcrypt ran, then the failure was counted: 150 wrong passwords sent
at once for one account were all checked (the limit is 5), and 30 registrations sent at once all made
accounts (the limit is 5 a minute). Here each burst is that many websocket tabs, connected first, then
sending together. The same bursts against PostgreSQL, Redis and 2 workers: e2e/test_scale_path.py.
"""

from __future__ import annotations

import asyncio
import uuid

from bench.journeys import LOGIN
from bench.loadgen import AUTH_FORM, REGISTER, SESSION, router_data
from e2e.helpers import query
from tests.security.conftest import Client, field_errors, form_error, in_own_loop, log_in, logged_in_as, register

PASSWORD = "Owner-knows-this-1"
WRONG = "Wrong username or password."


def fresh_address() -> str:
    return f"198.18.{uuid.uuid4().int % 256}.{uuid.uuid4().int % 254 + 1}"


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def _answered(delta: dict) -> bool:
    return (
        bool(delta.get(SESSION, {}).get("username_rx_state_"))
        or bool(delta.get(AUTH_FORM, {}).get("form_error_rx_state_"))
        or bool(delta.get(AUTH_FORM, {}).get("errors_rx_state_"))
    )


async def _together(url: str, address: str, path: str, state: str, handler: str, forms: list[dict]) -> list[dict]:
    """One tab per form, all from `address`: connected first, then every form sent at the same moment."""
    tabs = [Client(url, address) for _ in forms]
    try:
        await asyncio.gather(*(tab.connect(path) for tab in tabs))
        return await asyncio.gather(
            *(tab.send(handler, state, handler, {"form_data": form}, router_data(path), until=_answered)
              for tab, form in zip(tabs, forms, strict=True))
        )  # fmt: skip
    finally:
        await asyncio.gather(*(tab.close() for tab in tabs))


def login_burst(url: str, address: str, logins: list[tuple[str, str]]) -> list[dict]:
    forms = [{"username": username, "password": password} for username, password in logins]
    return in_own_loop(_together(url, address, "/login", LOGIN, "log_in", forms))


def registration_burst(url: str, address: str, names: list[str]) -> list[dict]:
    forms = [{"username": name, "email": f"{name}@example.com", "password": PASSWORD, "confirm": PASSWORD}
             for name in names]  # fmt: skip
    return in_own_loop(_together(url, address, "/register", REGISTER, "register", forms))


def test_150_guesses_at_one_account_sent_at_once_get_5_passwords_checked(shop_server):
    victim = new_name("burst")
    assert logged_in_as(register(shop_server.url, fresh_address(), victim, PASSWORD)) == victim
    answers = [form_error(answer) for answer in login_burst(shop_server.url, fresh_address(),
                                                            [(victim, f"guess-{n}") for n in range(150)])]  # fmt: skip
    assert len(answers) == 150 and all(answers), "every tab was answered"
    # LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS (5): five were checked, whatever the timing.
    assert answers.count(WRONG) == 5, answers
    refused = [answer for answer in answers if answer != WRONG]
    assert all(answer.startswith(("Too many failed logins for this account", "Too many login attempts from your"))
               for answer in refused), refused  # fmt: skip
    # The owner, from an address of their own, is not locked out by it.
    assert logged_in_as(log_in(shop_server.url, fresh_address(), victim, PASSWORD)) == victim


def test_a_burst_at_many_accounts_from_one_address_gets_30_passwords_checked(shop_server):
    logins = [(new_name("nobody"), "a-guess") for _ in range(60)]
    answers = [form_error(answer) for answer in login_burst(shop_server.url, fresh_address(), logins)]
    # LOGIN_ATTEMPTS_PER_ADDRESS (30 per 15 minutes), unknown usernames counting like real ones.
    assert answers.count(WRONG) == 30, answers
    assert {answer for answer in answers if answer != WRONG} == {
        "Too many login attempts from your network. Try again in 15 minutes."
    }


def test_30_registrations_sent_at_once_from_one_address_make_5_accounts(shop_server):
    names = [new_name("rush") for _ in range(30)]
    answers = registration_burst(shop_server.url, fresh_address(), names)
    created = [name for name, answer in zip(names, answers, strict=True) if logged_in_as(answer) == name]
    assert len(created) == 5, [form_error(answer) or field_errors(answer) for answer in answers]
    assert all(form_error(answer).startswith("Too many new accounts from your network") for answer in answers
               if not logged_in_as(answer))  # fmt: skip
    placeholders = ",".join("?" * len(names))
    assert query(shop_server.db_file, f"SELECT count(*) FROM users WHERE username IN ({placeholders})", *names) == [
        (5,)
    ]


def test_refused_registrations_count_against_the_address_too(shop_server):
    prober = fresh_address()
    # Five refused (a weak password): each still took its slot...
    for _ in range(5):
        answer = register(shop_server.url, prober, new_name("probe"), "password")
        assert "password" in field_errors(answer)
    # ...so a sixth from there is refused before anything is checked, good or not.
    name = new_name("probe")
    answer = register(shop_server.url, prober, name, PASSWORD)
    assert form_error(answer).startswith("Too many new accounts from your network. Try again in")
    assert field_errors(answer) == {}
    assert query(shop_server.db_file, "SELECT count(*) FROM users WHERE username = ?", name) == [(0,)]
