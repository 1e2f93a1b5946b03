"""Throttling: every limit is taken before the work it limits, so a parallel burst gets no more through
than the limit (in memory, and in Redis with one worker or several); guessing is slowed, and nobody
gets a lockout button."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable

import pytest

from ecom_reflex.services import throttling
from tests.conftest import reset_caches

ATTACKER, OWNER, ELSEWHERE = "203.0.113.9", "198.51.100.20", "192.0.2.33"
BURST = 40


@pytest.fixture(autouse=True)
def small_limits(monkeypatch):
    monkeypatch.setenv("LOGIN_ATTEMPTS_PER_ADDRESS", "8 per 15 minutes")
    monkeypatch.setenv("LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS", "3 per 15 minutes")
    monkeypatch.setenv("LOGIN_ATTEMPTS_PER_ACCOUNT", "5 per 15 minutes")
    monkeypatch.setenv("REGISTRATIONS_PER_ADDRESS", "2 per minute; 3 per hour")
    monkeypatch.setenv("PASSWORD_RESETS_PER_ADDRESS", "3 per minute")
    monkeypatch.setenv("PASSWORD_RESET_EMAILS_PER_RECIPIENT", "2 per hour")
    reset_caches()


def attempt(address: str, account: str, times: int = 1) -> None:
    """Login attempts that are let through (their password would then be checked, and be wrong)."""
    for _ in range(times):
        assert throttling.take_login_attempt(address, account) is None


def test_an_address_that_guesses_one_account_is_stopped_and_the_owner_is_not():
    attempt(ATTACKER, "alice", 3)
    refusal = throttling.take_login_attempt(ATTACKER, "alice")
    assert refusal is not None and refusal.reason == "account_and_address"
    assert refusal.message == "Too many failed logins for this account. Try again in 15 minutes."
    assert throttling.take_login_attempt(OWNER, "alice") is None
    assert throttling.take_login_attempt(ATTACKER, "bob") is None  # other accounts from there: not yet


def test_an_account_tried_from_everywhere_stays_open_to_an_address_with_no_recent_attempt():
    for n in range(5):
        attempt(f"10.0.0.{n}", "alice")
    refusal = throttling.take_login_attempt("10.0.0.0", "alice")  # tried from here before
    assert refusal.reason == "account" and refusal.message.startswith("Too many login attempts for this account")
    assert throttling.take_login_attempt("10.0.0.99", "alice") is None  # a fresh address: one try
    assert throttling.take_login_attempt(OWNER, "alice") is None
    assert throttling.take_login_attempt("10.0.0.99", "alice").reason == "account"
    # An address that tried another account recently is not fresh either.
    attempt(ELSEWHERE, "bob")
    assert throttling.take_login_attempt(ELSEWHERE, "alice").reason == "account"


def test_one_address_trying_many_accounts_is_stopped_for_every_account():
    for n in range(8):
        attempt(ATTACKER, f"user{n}")
    refusal = throttling.take_login_attempt(ATTACKER, "someone-new")
    assert refusal.reason == "address"
    assert refusal.message == "Too many login attempts from your network. Try again in 15 minutes."
    assert throttling.take_login_attempt(ELSEWHERE, "someone-new") is None


def test_a_refused_attempt_uses_up_nothing_further_down_the_list():
    attempt(ATTACKER, "alice", 3)
    for _ in range(4):  # refused for (address, account): the account's own count is left alone
        assert throttling.take_login_attempt(ATTACKER, "alice").reason == "account_and_address"
    # The account's 4th and 5th attempts: let through although the second is not from a fresh address,
    # so the account had room (the refused ones would have made them its 8th and 9th).
    attempt(OWNER, "alice", 2)
    attempt(ELSEWHERE, "bob")
    assert throttling.take_login_attempt(ELSEWHERE, "alice").reason == "account"  # now it is full
    assert throttling.take_login_attempt("10.9.9.9", "alice") is None  # ...but for a fresh address


def test_unknown_and_known_usernames_count_alike_and_a_success_clears_the_address_count():
    attempt(OWNER, "ghost", 3)
    assert throttling.take_login_attempt(OWNER, "ghost").reason == "account_and_address"
    attempt(OWNER, "alice", 2)
    throttling.login_succeeded(OWNER, "alice")
    attempt(OWNER, "alice", 2)  # would be the 4th and 5th attempt without the success
    assert throttling.take_login_attempt(ELSEWHERE, "carol") is None


def test_the_owners_login_starts_the_accounts_count_again_but_never_the_addresss():
    attempt(ELSEWHERE, "alice")
    for n in range(4):  # the account's 2nd to 5th attempts: its limit is used up
        attempt(f"10.1.0.{n}", "alice")
    assert throttling.take_login_attempt(ELSEWHERE, "alice").reason == "account"
    throttling.login_succeeded("10.9.9.9", "alice")  # the owner, with the right password
    assert throttling.take_login_attempt(ELSEWHERE, "alice") is None
    # An address's own count is what stops one client guessing many accounts: a success of its own
    # account gives it nothing back.
    attempt(ATTACKER, "mallory", 2)
    throttling.login_succeeded(ATTACKER, "mallory")
    for n in range(8 - 2):
        attempt(ATTACKER, f"user{n}")
    assert throttling.take_login_attempt(ATTACKER, "someone-new").reason == "address"


def test_registrations_are_counted_per_address_refused_or_not():
    for _ in range(2):
        assert throttling.take_registration(ATTACKER) is None
    refusal = throttling.take_registration(ATTACKER)
    assert refusal.reason == "registrations"
    assert refusal.message == "Too many new accounts from your network. Try again in 1 minute."
    assert throttling.take_registration(ELSEWHERE) is None


def test_reset_requests_are_limited_per_address_and_reset_emails_per_recipient():
    for _ in range(3):
        assert throttling.take_reset_request(ATTACKER) is None
    refusal = throttling.take_reset_request(ATTACKER)
    assert refusal.reason == "reset_address"
    assert refusal.message == "Too many reset requests from your network. Try again in 1 minute."
    assert throttling.take_reset_request(OWNER) is None
    # E-mails, whoever asked: two to one recipient, then none for the rest of the hour.
    assert [throttling.take_reset_email("alice@example.com") for _ in range(3)] == [True, True, False]
    assert throttling.take_reset_email("bob@example.com") is True


def test_workers_share_their_counters_through_redis(redis_server, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    reset_caches()
    attempt(ATTACKER, "alice", 3)
    throttling.forget()  # another worker: a storage of its own, the same Redis
    assert throttling.take_login_attempt(ATTACKER, "alice").reason == "account_and_address"


# --- bursts: N attempts at the same moment ---------------------------------------------------


def _in_threads(calls: list[Callable[[], object]], barrier) -> list:
    results: list = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait(30)
        results[index] = calls[index]()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return results


def burst(calls: list[Callable[[], object]], workers: int) -> list:
    """Every call at the same moment, a thread each, spread over `workers` processes (each a worker
    with a storage of its own, as the shop's workers are); the results in the calls' order."""
    if workers == 1:
        return _in_threads(calls, threading.Barrier(len(calls)))
    context = multiprocessing.get_context("fork")
    barrier, answers = context.Barrier(len(calls)), context.Queue()

    def worker(indexes: list[int]) -> None:
        throttling.forget()  # nothing of the parent's storage (nor its Redis connections)
        answers.put(list(zip(indexes, _in_threads([calls[index] for index in indexes], barrier), strict=True)))

    processes = [context.Process(target=worker, args=(list(range(w, len(calls), workers)),)) for w in range(workers)]
    for process in processes:
        process.start()
    results: list = [None] * len(calls)
    for _ in processes:
        for index, result in answers.get(timeout=60):
            results[index] = result
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    return results


@pytest.fixture(params=["memory, 1 worker", "redis, 1 worker", "redis, 2 workers"])
def storage(request, monkeypatch) -> int:
    """How many workers a burst is spread over."""
    if request.param.startswith("redis"):
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_server").url)
        reset_caches()
    return 2 if "2 workers" in request.param else 1


def let_through(answers: list) -> int:
    return sum(answer is None or answer is True for answer in answers)


def test_a_burst_of_guesses_at_one_account_from_one_address_gets_the_limit_checked(storage):
    answers = burst([lambda: throttling.take_login_attempt(ATTACKER, "alice")] * BURST, storage)
    assert let_through(answers) == 3
    # The rest were refused for this account, or, past 8 attempts, for the address itself.
    assert {answer.reason for answer in answers if answer is not None} <= {"account_and_address", "address"}


def test_a_burst_at_many_accounts_from_one_address_gets_the_address_limit_checked(storage):
    calls = [lambda n=n: throttling.take_login_attempt(ATTACKER, f"user{n}") for n in range(BURST)]
    answers = burst(calls, storage)
    assert let_through(answers) == 8
    assert {answer.reason for answer in answers if answer is not None} == {"address"}


def test_a_burst_at_one_account_from_addresses_seen_before_gets_the_account_limit_checked(storage):
    addresses = [f"10.1.0.{n}" for n in range(BURST)]
    for address in addresses:  # each tried some other account a moment ago: none is fresh
        attempt(address, "warm-up")
    answers = burst([lambda a=a: throttling.take_login_attempt(a, "alice") for a in addresses], storage)
    assert let_through(answers) == 5
    assert {answer.reason for answer in answers if answer is not None} == {"account"}


def test_a_burst_at_a_guessed_account_from_one_fresh_address_gets_at_most_one_past_the_account_limit(storage):
    for n in range(5):
        attempt(f"10.2.0.{n}", "alice")  # the account's limit is used up
    answers = burst([lambda: throttling.take_login_attempt("10.3.0.1", "alice")] * BURST, storage)
    # Fresh is "nothing from this address before this attempt": of a burst, at most the first is.
    assert let_through(answers) <= 1


def test_a_burst_of_registrations_from_one_address_gets_the_limit_through(storage):
    answers = burst([lambda: throttling.take_registration(ATTACKER)] * BURST, storage)
    assert let_through(answers) == 2


def test_a_burst_of_reset_requests_and_of_reset_emails_gets_the_limits_through(storage):
    requests = burst([lambda: throttling.take_reset_request(ATTACKER)] * BURST, storage)
    assert let_through(requests) == 3
    emails = burst([lambda: throttling.take_reset_email("alice@example.com")] * BURST, storage)
    assert let_through(emails) == 2


# --- settings and the client address ----------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("LOGIN_ATTEMPTS_PER_ADDRESS", "often"),
        ("REGISTRATIONS_PER_ADDRESS", "5 per fortnight"),
        ("PASSWORD_RESET_EMAILS_PER_RECIPIENT", "3"),
    ],
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
