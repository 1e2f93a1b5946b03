"""Login and registration throttling: guessing is slowed, and nobody gets a lockout button."""

from __future__ import annotations

import pytest

from ecom_reflex.services import throttling
from tests.conftest import reset_caches

ATTACKER, OWNER, ELSEWHERE = "203.0.113.9", "198.51.100.20", "192.0.2.33"


@pytest.fixture(autouse=True)
def small_limits(monkeypatch):
    monkeypatch.setenv("LOGIN_FAILURES_PER_ADDRESS", "8 per 15 minutes")
    monkeypatch.setenv("LOGIN_FAILURES_PER_ACCOUNT_AND_ADDRESS", "3 per 15 minutes")
    monkeypatch.setenv("LOGIN_FAILURES_PER_ACCOUNT", "5 per 15 minutes")
    monkeypatch.setenv("REGISTRATIONS_PER_ADDRESS", "2 per minute; 3 per hour")
    reset_caches()


def fail(address: str, account: str, times: int = 1) -> None:
    for _ in range(times):
        assert throttling.login_refusal(address, account) is None
        throttling.login_failed(address, account)


def test_an_address_that_guesses_one_account_is_stopped_and_the_owner_is_not():
    fail(ATTACKER, "alice", 3)
    refusal = throttling.login_refusal(ATTACKER, "alice")
    assert refusal is not None and refusal.reason == "account_and_address"
    assert "Try again in 15 minutes" in refusal.message
    assert throttling.login_refusal(OWNER, "alice") is None
    assert throttling.login_refusal(ATTACKER, "bob") is None  # other accounts from there: not yet


def test_an_account_guessed_from_everywhere_stays_open_to_an_address_that_has_not_failed():
    for n in range(5):
        fail(f"10.0.0.{n}", "alice")
    assert throttling.login_refusal("10.0.0.0", "alice").reason == "account"  # guessed from here before
    assert throttling.login_refusal("10.0.0.99", "alice") is None  # a fresh address: one try
    assert throttling.login_refusal(OWNER, "alice") is None
    fail("10.0.0.99", "alice")
    assert throttling.login_refusal("10.0.0.99", "alice").reason == "account"


def test_one_address_guessing_many_accounts_is_stopped_for_every_account():
    for n in range(8):
        fail(ATTACKER, f"user{n}")
    refusal = throttling.login_refusal(ATTACKER, "someone-new")
    assert refusal is not None and refusal.reason == "address"
    assert throttling.login_refusal(ELSEWHERE, "someone-new") is None


def test_unknown_and_known_usernames_count_alike_and_a_success_clears_the_address_count():
    fail(OWNER, "ghost", 3)
    assert throttling.login_refusal(OWNER, "ghost") is not None
    fail(OWNER, "alice", 2)
    throttling.login_succeeded(OWNER, "alice")
    fail(OWNER, "alice", 2)  # would be the 4th and 5th failure without the success
    assert throttling.login_refusal(OWNER, "alice") is None


def test_registrations_are_counted_per_address():
    for _ in range(2):
        assert throttling.registration_refusal(ATTACKER) is None
        throttling.registered(ATTACKER)
    refusal = throttling.registration_refusal(ATTACKER)
    assert refusal is not None and "Too many new accounts" in refusal.message
    assert throttling.registration_refusal(ELSEWHERE) is None


def test_workers_share_their_counters_through_redis(redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    reset_caches()
    fail(ATTACKER, "alice", 3)
    throttling.forget()  # another worker: a storage of its own, the same Redis
    assert throttling.login_refusal(ATTACKER, "alice").reason == "account_and_address"


@pytest.mark.parametrize(
    ("setting", "value"),
    [("LOGIN_FAILURES_PER_ADDRESS", "often"), ("REGISTRATIONS_PER_ADDRESS", "5 per fortnight")],
)
def test_a_rate_that_is_not_a_rate_stops_start_up(monkeypatch, setting, value):
    from ecom_reflex.settings import SettingsError, get_settings

    monkeypatch.setenv(setting, value)
    reset_caches()
    with pytest.raises(SettingsError, match=setting):
        get_settings()


def _router(peer: str, forwarded: str | None = None):
    from types import SimpleNamespace

    headers = {"x-forwarded-for": forwarded} if forwarded is not None else {}
    return SimpleNamespace(session=SimpleNamespace(client_ip=peer), headers=SimpleNamespace(raw_headers=headers))


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        ("", "198.51.100.7", "1.2.3.4", "198.51.100.7"),  # no proxy trusted: the header is the client's say-so
        ("10.0.0.0/8", "198.51.100.7", "1.2.3.4", "198.51.100.7"),  # not from a trusted proxy
        ("10.0.0.0/8", "10.1.1.1", "1.2.3.4", "1.2.3.4"),
        # A client that writes its own X-Forwarded-For gets its real address: the proxy's entry is last.
        ("10.0.0.0/8", "10.1.1.1", "6.6.6.6, 1.2.3.4", "1.2.3.4"),
        # Two trusted hops.
        ("10.0.0.0/8, 192.168.0.0/16", "10.1.1.1", "1.2.3.4, 192.168.5.5", "1.2.3.4"),
        ("10.0.0.0/8", "10.1.1.1", "not-an-address", "10.1.1.1"),
        ("10.0.0.0/8", "10.1.1.1", None, "10.1.1.1"),
    ],
)
def test_the_client_address_believes_only_trusted_proxies(monkeypatch, trusted, peer, forwarded, client):
    from ecom_reflex.state.session import client_address

    monkeypatch.setenv("TRUSTED_PROXIES", trusted)
    reset_caches()
    assert client_address(_router(peer, forwarded)) == client


def test_reset_requests_are_limited_per_address_and_per_email_known_or_not(monkeypatch):
    monkeypatch.setenv("PASSWORD_RESETS_PER_ADDRESS", "3 per minute")
    monkeypatch.setenv("PASSWORD_RESETS_PER_ACCOUNT", "2 per 15 minutes")
    reset_caches()
    # One e-mail address asked for from several places: stopped after two, whoever asks.
    for address in (ATTACKER, ELSEWHERE):
        assert throttling.password_reset_refusal(address, "alice@example.com") is None
        throttling.password_reset_requested(address, "alice@example.com")
    refusal = throttling.password_reset_refusal(OWNER, "alice@example.com")
    assert refusal.reason == "reset_account" and "Try again in 15 minutes" in refusal.message
    # One address asking for many e-mail addresses: stopped after three.
    for n in range(2):
        throttling.password_reset_requested(ATTACKER, f"user{n}@example.com")
    assert throttling.password_reset_refusal(ATTACKER, "someone-else@example.com").reason == "reset_address"
    assert throttling.password_reset_refusal(OWNER, "bob@example.com") is None
