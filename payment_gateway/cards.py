"""Card rules: what makes a card valid, its brand, and what each of Stripe's test cards does.

Pure functions over already type-checked values (api.py checks the types). A card number and
CVC exist only in memory for the length of one request: what leaves this module about a card
is `CardSummary` (brand, last 4 digits, expiry), which is all the ledger and logs ever see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from stdnum import luhn

NAME_MAX = 120
# A number longer than this is refused before any digit is looked at (a bounded amount of work).
RAW_NUMBER_MAX = 40
# Expiry years further ahead than this are not real cards.
MAX_YEARS_AHEAD = 100

# ASCII only: "²" or Arabic-Indic digits pass str.isdigit() but are no card digit.
_NUMBER_SEPARATORS = re.compile(r"[ -]")
_DIGITS = re.compile(r"[0-9]{12,19}")
_CVC = re.compile(r"[0-9]{3,4}")


@dataclass(frozen=True)
class Decline:
    """Why a card was refused: Stripe's error code, decline code and message."""

    code: str
    decline_code: str
    message: str

    def as_error(self) -> dict[str, str]:
        """The `last_payment_error` / error body shape."""
        return {"type": "card_error", "code": self.code, "decline_code": self.decline_code, "message": self.message}


@dataclass(frozen=True)
class TestCard:
    """One of Stripe's documented test numbers and what it does here (decline None = approved)."""

    __test__ = False  # not a pytest test class

    number: str
    description: str
    decline: Decline | None


TEST_CARDS: tuple[TestCard, ...] = (
    TestCard("4242424242424242", "approved", None),
    TestCard(
        "4000000000000002", "generic decline", Decline("card_declined", "generic_decline", "Your card was declined.")
    ),
    TestCard(
        "4000000000009995",
        "insufficient funds",
        Decline("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    ),
    TestCard("4000000000000069", "expired card", Decline("expired_card", "expired_card", "Your card has expired.")),
    TestCard(
        "4000000000000127",
        "incorrect CVC",
        Decline("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect."),
    ),
    TestCard(
        "4000000000000119",
        "processing error",
        Decline(
            "processing_error",
            "processing_error",
            "An error occurred while processing your card. Try again in a little bit.",
        ),
    ),
)
_DECLINES_BY_NUMBER = {card.number: card.decline for card in TEST_CARDS if card.decline is not None}

# Refusals of the card itself, before any "bank" is asked (Stripe's codes and messages).
INCORRECT_NUMBER = Decline("incorrect_number", "incorrect_number", "Your card number is incorrect.")
INVALID_EXPIRY_MONTH = Decline(
    "invalid_expiry_month", "invalid_expiry_month", "Your card's expiration month is invalid."
)
EXPIRY_MONTH_PAST = Decline(
    "invalid_expiry_month", "invalid_expiry_month", "Your card's expiration date is in the past."
)
INVALID_EXPIRY_YEAR = Decline("invalid_expiry_year", "invalid_expiry_year", "Your card's expiration year is invalid.")
EXPIRY_YEAR_PAST = Decline("invalid_expiry_year", "invalid_expiry_year", "Your card's expiration year is in the past.")
INVALID_CVC = Decline("invalid_cvc", "invalid_cvc", "Your card's security code is invalid.")

# Every decline_code there can be: the bounded label set of payment_gateway_declines_total.
DECLINE_CODES: tuple[str, ...] = tuple(
    dict.fromkeys(
        [card.decline.decline_code for card in TEST_CARDS if card.decline]
        + ["incorrect_number", "invalid_expiry_month", "invalid_expiry_year", "invalid_cvc"]
    )
)


@dataclass(frozen=True)
class Card:
    """A card as the request gave it (types already checked). Never stored, never logged."""

    number: str
    exp_month: int
    exp_year: int
    cvc: str
    name: str | None = None

    def __repr__(self) -> str:  # a stray repr in a log or traceback must not show the number or CVC
        return f"Card(last4={self.digits[-4:]!r}, exp={self.exp_month}/{self.exp_year})"

    @property
    def digits(self) -> str:
        """The number without spaces and dashes."""
        return _NUMBER_SEPARATORS.sub("", self.number)


@dataclass(frozen=True)
class CardSummary:
    """What may be kept about a card: brand, last four digits, expiry."""

    brand: str
    last4: str
    exp_month: int
    exp_year: int

    def as_dict(self) -> dict[str, str | int]:
        """The intent's `card` object."""
        return {"brand": self.brand, "last4": self.last4, "exp_month": self.exp_month, "exp_year": self.exp_year}


@dataclass(frozen=True)
class CardOutcome:
    """The result of charging a card: approved (decline None) or why not; summary None if the number was invalid."""

    summary: CardSummary | None
    decline: Decline | None

    @property
    def approved(self) -> bool:
        """Whether the charge went through."""
        return self.decline is None


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum every real card number satisfies (catches typos); python-stdnum's, as the shop uses."""
    return luhn.is_valid(digits)


def brand(digits: str) -> str:
    """The card network from the number's prefix (the IIN ranges the networks publish)."""
    if digits.startswith("4"):
        return "visa"
    if digits.startswith(("34", "37")):
        return "amex"
    if digits.startswith(("6011", "65")):
        return "discover"
    if 51 <= int(digits[:2]) <= 55 or 2221 <= int(digits[:4]) <= 2720:
        return "mastercard"
    return "unknown"


def valid_number(number: str) -> str | None:
    """The number's digits when it is a well-formed card number, else None."""
    if len(number) > RAW_NUMBER_MAX:
        return None
    digits = _NUMBER_SEPARATORS.sub("", number)
    if not _DIGITS.fullmatch(digits) or not luhn_valid(digits):
        return None
    return digits


def check_expiry(exp_month: int, exp_year: int, now: datetime) -> Decline | None:
    """Why the expiry is refused, or None: a card is good through the last day of its month."""
    if not 1 <= exp_month <= 12:
        return INVALID_EXPIRY_MONTH
    if exp_year > now.year + MAX_YEARS_AHEAD:
        return INVALID_EXPIRY_YEAR
    if exp_year < now.year:
        return EXPIRY_YEAR_PAST
    if exp_year == now.year and exp_month < now.month:
        return EXPIRY_MONTH_PAST
    return None


def charge(card: Card, now_unix: float) -> CardOutcome:
    """Validate `card` and decide the outcome of charging it (the test table, else approved)."""
    digits = valid_number(card.number)
    if digits is None:
        return CardOutcome(None, INCORRECT_NUMBER)
    summary = CardSummary(brand(digits), digits[-4:], card.exp_month, card.exp_year)
    if decline := check_expiry(card.exp_month, card.exp_year, datetime.fromtimestamp(now_unix, UTC)):
        return CardOutcome(summary, decline)
    if not _CVC.fullmatch(card.cvc):
        return CardOutcome(summary, INVALID_CVC)
    return CardOutcome(summary, _DECLINES_BY_NUMBER.get(digits))
