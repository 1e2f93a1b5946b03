"""Throttling: every limit is a slot taken before the work it limits, so guessing is slow, floods are
cut off, and nobody gets a lockout button.

Counters live in the `limits` library's storage: in memory with one worker, in Redis when REDIS_URL
is set, so every worker counts together. Moving windows; the rates are settings. A slot is taken with
`hit()`, which counts and answers in one step (a lock in memory, one Lua script in Redis): a burst of
parallel attempts gets no more through than the limit, with one worker or many. Nothing is tested
first and counted after the work: that let a burst all pass the test before any was counted.

A login attempt takes its slots before its password is checked, and is refused when:
- its client address has used up its attempts, whatever the account (one client guessing many);
- its address has used up its attempts for this account (one client guessing one account); a
  success clears this count;
- the account has used up its attempts from anywhere, and this address made another attempt within
  its window. The owner, from an address with no recent attempt, still gets in with the right
  password; an attacker spread over many addresses gets one guess per fresh address. A success
  clears the account's count too (see login_succeeded).
A limit that refuses stops there: the slots further down the list are not taken (an address past its
own limit does not use up the account's). An unknown username counts exactly like a known one.

A registration takes a slot of its address before anything is checked, so refused ones (a name taken,
a weak password) count too. A password-reset request takes a slot of its address; each reset e-mail
takes a slot of its recipient when the sender is about to make its link (services/password_reset.py),
so that cap counts e-mails sent, not requests asked. A payment attempt takes a slot of its address
and of its account before the payment service is called. A browser's export of spans takes a slot of
its address before its body is read.

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
    # What was used up: address, account_and_address, account, registrations, reset_address,
    # payment_address, payment_account.
    reason: str
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


def _take(setting: str, *key: str) -> float | None:
    """Takes a slot of each rate of `setting` for `key`, atomically; None when every one had room,
    else the seconds until the full one has room again (the rates before it keep their slot: the
    attempt was made)."""
    limiter = _limiter()
    for rate in _rates(setting):
        if not limiter.hit(rate, setting, *key):
            return limiter.get_window_stats(rate, setting, *key).reset_time - time.time()
    return None


def _only_one(setting: str, *key: str) -> bool:
    """Whether `key`'s windows hold no slot but the one just taken: nothing came from it before.
    Read after the hit, so of a burst that races here none counts as fresh but (at most) the first."""
    limiter = _limiter()
    return all(limiter.get_window_stats(rate, setting, *key).remaining >= rate.amount - 1 for rate in _rates(setting))


def _wait(seconds: float) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def take_login_attempt(address: str, account: str) -> Refusal | None:
    """Takes the slots of a login from `address` for `account` (a lower-cased username) before its
    password is checked; a Refusal when it must not be tried now."""
    if (wait := _take("login_attempts_per_address", address)) is not None:
        return Refusal("address", f"Too many login attempts from your network. Try again in {_wait(wait)}.")
    fresh = _only_one("login_attempts_per_address", address)
    if (wait := _take("login_attempts_per_account_and_address", address, account)) is not None:
        return Refusal("account_and_address", f"Too many failed logins for this account. Try again in {_wait(wait)}.")
    if (wait := _take("login_attempts_per_account", account)) is not None and not fresh:
        return Refusal("account", f"Too many login attempts for this account. Try again in {_wait(wait)}.")
    return None


def login_succeeded(address: str, account: str) -> None:
    """The right password: the account's attempts, and this address's at it, start again from none.

    Attempts are counted before the password is known, so without this an owner's own logins
    would use up the account's limit (an admin signing in on a few devices would find it refused
    from any address it used before). Only the password's holder can clear it; an attack spread
    over many addresses gets the account's limit again each time its owner logs in. The address's
    own count is never cleared: a success of one's own account must not buy guesses at others."""
    for setting, key in (
        ("login_attempts_per_account_and_address", (address, account)),
        ("login_attempts_per_account", (account,)),
    ):
        for rate in _rates(setting):
            _limiter().clear(rate, setting, *key)


def take_registration(address: str) -> Refusal | None:
    """Takes a registration's slot from `address` before anything is checked (refused ones count
    too); a Refusal when it has made as many attempts as it may for now."""
    if (wait := _take("registrations_per_address", address)) is not None:
        return Refusal("registrations", f"Too many new accounts from your network. Try again in {_wait(wait)}.")
    return None


def take_reset_request(address: str) -> Refusal | None:
    """Takes a password-reset request's slot from `address` (whatever the e-mail typed)."""
    if (wait := _take("password_resets_per_address", address)) is not None:
        return Refusal("reset_address", f"Too many reset requests from your network. Try again in {_wait(wait)}.")
    return None


def take_reset_email(recipient: str) -> bool:
    """Takes a reset e-mail's slot for `recipient`, just before its link is made; False when that
    address has had as many reset e-mails as it may for now (the e-mail is then not sent)."""
    return _take("password_reset_emails_per_recipient", recipient) is None


def payment_refusal(address: str, account: str) -> Refusal | None:
    """Takes a payment attempt's slot from `address` and from `account` before the call: a Refusal
    when either is used up (card testing tries many cards through one form)."""
    for setting, key, reason, who in (
        ("payment_attempts_per_address", address, "payment_address", "from your network"),
        ("payment_attempts_per_account", account, "payment_account", "for this account"),
    ):
        if (wait := _take(setting, key)) is not None:
            return Refusal(reason, f"Too many payment attempts {who}. Try again in {_wait(wait)}.")
    return None


def browser_export_refusal(address: str) -> float | None:
    """Takes a browser span export's slot of `address` (POST /otlp/v1/traces) before the export is read;
    None when it had room, else the seconds until it has again."""
    return _take("browser_exports_per_address", address)


def forget() -> None:
    """Drop the storage and rates (tests): the next call builds them afresh from the settings."""
    with _building:
        _built_limiter.cache_clear()
    _rates.cache_clear()
