"""Throttling of logins and registrations, so guessing is slow and nobody gets a lockout button.

Counters live in the `limits` library's storage: in memory with one worker, in Redis when
REDIS_URL is set, so every worker counts together. Moving windows; the rates are settings.

A login is refused before its password is checked when, within the window:
- its client address failed too often, whatever the account (one client guessing many);
- its address failed too often for this account (one client guessing one account);
- the account failed too often from anywhere, and this address failed recently too. The
  owner, from an address with no recent failure, still gets in with the right password;
  a spread-out attacker gets one guess per fresh address.
An unknown username counts exactly like a known one. A success clears its address's count
for that account. Registrations are counted per address; password-reset requests per address
and per e-mail address typed.

Each call is a round trip to Redis when Redis is used: callers run it in a database thread.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from ecom_reflex.settings import get_settings


@dataclass(frozen=True)
class Refusal:
    reason: str  # what was exceeded: address, account_and_address, account, registrations
    message: str


# functools.cache does not stop two threads of a fresh worker from both building the storage:
# each would count its own share of the first burst. The lock makes the first build the only one.
_building = threading.Lock()


def _limiter() -> MovingWindowRateLimiter:
    with _building:
        return _built_limiter()


@functools.cache
def _built_limiter() -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(storage_from_string(get_settings().redis_url or "memory://"))


@functools.cache
def _rates(setting: str) -> tuple[RateLimitItem, ...]:
    return tuple(parse_many(getattr(get_settings(), setting)))


def _exceeded(setting: str, *key: str) -> float | None:
    """Seconds until `key` may go on, when a rate of `setting` is used up; else None."""
    waits = [
        _limiter().get_window_stats(rate, setting, *key).reset_time - time.time()
        for rate in _rates(setting)
        if not _limiter().test(rate, setting, *key)
    ]
    return max(waits) if waits else None


def _failed_recently(address: str) -> bool:
    rates = _rates("login_failures_per_address")
    return any(_limiter().get_window_stats(rate, "login_failures_per_address", address).remaining < rate.amount
               for rate in rates)  # fmt: skip


def _wait(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def login_refusal(address: str, account: str) -> Refusal | None:
    """Why a login from `address` for `account` (a lower-cased username) must not be tried now, or None."""
    if (wait := _exceeded("login_failures_per_address", address)) is not None:
        return Refusal("address", f"Too many failed logins from your network. Try again in {_wait(wait)}.")
    if (wait := _exceeded("login_failures_per_account_and_address", address, account)) is not None:
        return Refusal("account_and_address", f"Too many failed logins for this account. Try again in {_wait(wait)}.")
    if (wait := _exceeded("login_failures_per_account", account)) is not None and _failed_recently(address):
        return Refusal("account", f"Too many failed logins for this account. Try again in {_wait(wait)}.")
    return None


def login_failed(address: str, account: str) -> None:
    for setting, key in (
        ("login_failures_per_address", (address,)),
        ("login_failures_per_account_and_address", (address, account)),
        ("login_failures_per_account", (account,)),
    ):
        for rate in _rates(setting):
            _limiter().hit(rate, setting, *key)


def login_succeeded(address: str, account: str) -> None:
    for rate in _rates("login_failures_per_account_and_address"):
        _limiter().clear(rate, "login_failures_per_account_and_address", address, account)


def registration_refusal(address: str) -> Refusal | None:
    """A Refusal when `address` has made as many accounts as it may for now."""
    if (wait := _exceeded("registrations_per_address", address)) is not None:
        return Refusal("registrations", f"Too many new accounts from your network. Try again in {_wait(wait)}.")
    return None


def registered(address: str) -> None:
    for rate in _rates("registrations_per_address"):
        _limiter().hit(rate, "registrations_per_address", address)


def password_reset_refusal(address: str, email: str) -> Refusal | None:
    """A Refusal when `address`, or anyone for `email`, has asked for reset links as often as it may.
    Counted by the address typed, known or not, so a refusal says nothing about accounts."""
    if (wait := _exceeded("password_resets_per_address", address)) is not None:
        return Refusal("reset_address", f"Too many reset requests from your network. Try again in {_wait(wait)}.")
    if (wait := _exceeded("password_resets_per_account", email)) is not None:
        return Refusal("reset_account", f"Too many reset requests for this address. Try again in {_wait(wait)}.")
    return None


def password_reset_requested(address: str, email: str) -> None:
    for setting, key in (("password_resets_per_address", address), ("password_resets_per_account", email)):
        for rate in _rates(setting):
            _limiter().hit(rate, setting, key)


def payment_refusal(address: str, account: str) -> Refusal | None:
    """Takes a payment attempt's slot from `address` and from `account`, atomically (`hit` counts and
    answers in one step), before the call: a burst of parallel attempts gets no more through than the
    limit. A Refusal when either is used up (card testing tries many cards through one form)."""
    for setting, key, reason, who in (
        ("payment_attempts_per_address", address, "payment_address", "from your network"),
        ("payment_attempts_per_account", account, "payment_account", "for this account"),
    ):
        for rate in _rates(setting):
            if not _limiter().hit(rate, setting, key):
                wait = _limiter().get_window_stats(rate, setting, key).reset_time - time.time()
                return Refusal(reason, f"Too many payment attempts {who}. Try again in {_wait(wait)}.")
    return None


def forget() -> None:
    """Drop the storage and rates (tests): the next call builds them afresh from the settings."""
    with _building:
        _built_limiter.cache_clear()
    _rates.cache_clear()
