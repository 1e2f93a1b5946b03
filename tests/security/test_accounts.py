"""Attacks on accounts: guessing someone's password, registration floods, weak passwords."""

from __future__ import annotations

import uuid

import pytest

from e2e.helpers import query
from tests.security.conftest import field_errors, form_error, log_in, logged_in_as, register

PASSWORD = "Owner-knows-this-1"


def fresh_address() -> str:
    return f"198.18.{uuid.uuid4().int % 256}.{uuid.uuid4().int % 254 + 1}"


def new_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def test_guessing_someones_password_is_stopped_and_the_owner_still_logs_in(shop_server):
    victim = new_name("victim")
    assert logged_in_as(register(shop_server.url, fresh_address(), victim, PASSWORD)) == victim
    attacker = fresh_address()
    answers = [form_error(log_in(shop_server.url, attacker, victim, f"guess-{n}")) for n in range(7)]
    assert answers[:5] == ["Wrong username or password."] * 5
    assert all(answer.startswith("Too many failed logins") for answer in answers[5:])
    # Even the right password is not checked for the guessing address...
    assert logged_in_as(log_in(shop_server.url, attacker, victim, PASSWORD)) == ""
    # ...while the owner, from their own address, is not locked out.
    assert logged_in_as(log_in(shop_server.url, fresh_address(), victim, PASSWORD)) == victim


def test_guessing_from_many_addresses_leaves_the_owner_a_way_in(shop_server):
    victim = new_name("spread")
    register(shop_server.url, fresh_address(), victim, PASSWORD)
    botnet = [fresh_address() for _ in range(21)]
    for address in botnet:
        log_in(shop_server.url, address, victim, "a-wrong-guess")
    # Past the account's limit, an address that failed already gets no further guess...
    assert form_error(log_in(shop_server.url, botnet[0], victim, "another-guess")).startswith("Too many")
    # ...and the owner, from an address with no failure, still gets in.
    assert logged_in_as(log_in(shop_server.url, fresh_address(), victim, PASSWORD)) == victim


def test_the_admin_is_not_locked_out_by_guessers(shop_server):
    attacker = fresh_address()
    for n in range(8):
        log_in(shop_server.url, attacker, shop_server.admin_username, f"admin-guess-{n}")
    admin = log_in(shop_server.url, fresh_address(), shop_server.admin_username, shop_server.admin_password)
    assert logged_in_as(admin) == shop_server.admin_username


def test_a_registration_flood_from_one_client_is_cut_off(shop_server):
    flooder = fresh_address()
    names = [new_name("flood") for _ in range(15)]
    answers = [register(shop_server.url, flooder, name, PASSWORD) for name in names]
    created = [name for name, answer in zip(names, answers, strict=True) if logged_in_as(answer) == name]
    assert len(created) == 5
    assert all(form_error(answer).startswith("Too many new accounts") for answer in answers[5:])
    placeholders = ",".join("?" * len(names))
    stored = query(shop_server.db_file, f"SELECT count(*) FROM users WHERE username IN ({placeholders})", *names)
    assert stored == [(5,)]
    # Someone else is not affected.
    other = new_name("other")
    assert logged_in_as(register(shop_server.url, fresh_address(), other, PASSWORD)) == other


@pytest.mark.parametrize("password", [" " * 12, "password", "aaaaaaaa", "password1234", "{name}", "Summer2024!"])
def test_weak_passwords_are_refused_and_no_account_is_made(shop_server, password):
    name = new_name("weak")
    answer = register(shop_server.url, fresh_address(), name, password.format(name=name))
    assert logged_in_as(answer) == ""
    assert "password" in field_errors(answer)
    assert query(shop_server.db_file, "SELECT count(*) FROM users WHERE username = ?", name) == [(0,)]
