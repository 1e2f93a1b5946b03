"""Card rules as pure functions: Luhn, brands, expiry, and the test-card table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from payment_gateway import cards

NOW = datetime(2030, 6, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("number", "brand"),
    [("4242424242424242", "visa"), ("5105105105105100", "mastercard"), ("2221000000000009", "mastercard"),
     ("2720990000000007", "mastercard"), ("378282246310005", "amex"), ("371449635398431", "amex"),
     ("6011111111111117", "discover"), ("6500000000000002", "discover"), ("3056930009020004", "unknown"),
     ("2720999999999996", "mastercard"), ("2721000000000004", "unknown")],
)  # fmt: skip
def test_brand_by_prefix(number, brand):
    assert cards.brand(number) == brand


@pytest.mark.parametrize("number", [card.number for card in cards.TEST_CARDS])
def test_every_test_number_passes_luhn(number):
    assert cards.valid_number(number) == number


@pytest.mark.parametrize(
    "number", ["4242424242424241", "4242 4242 424", "42424242424242424242", "", "4242_4242_4242_4242", "4" * 41]
)
def test_invalid_numbers(number):
    assert cards.valid_number(number) is None


def test_spaces_and_dashes_are_separators():
    assert cards.valid_number("4242 4242-4242 4242") == "4242424242424242"


@pytest.mark.parametrize(
    ("month", "year", "code"),
    [(6, 2030, None), (12, 2130, None), (5, 2030, "invalid_expiry_month"), (13, 2031, "invalid_expiry_month"),
     (1, 2029, "invalid_expiry_year"), (1, 2131, "invalid_expiry_year")],
)  # fmt: skip
def test_expiry(month, year, code):
    decline = cards.check_expiry(month, year, NOW)
    assert (decline.code if decline else None) == code


def test_charge_keeps_only_a_summary():
    outcome = cards.charge(cards.Card("4000 0000 0000 9995", 1, 2031, "123"), NOW.timestamp())
    assert outcome.summary == cards.CardSummary("visa", "9995", 1, 2031)
    assert outcome.decline.decline_code == "insufficient_funds"
    assert "0000" not in repr(cards.Card("4000 0000 0000 9995", 1, 2031, "123"))


def test_decline_codes_are_a_bounded_list():
    assert set(cards.DECLINE_CODES) == {
        "generic_decline", "insufficient_funds", "expired_card", "incorrect_cvc", "processing_error",
        "incorrect_number", "invalid_expiry_month", "invalid_expiry_year", "invalid_cvc",
    }  # fmt: skip


def test_the_readme_lists_every_test_card():
    from payment_gateway.settings import PROJECT_ROOT

    readme = (PROJECT_ROOT / "payment_gateway" / "README.md").read_text()
    for card in cards.TEST_CARDS:
        spaced = " ".join(card.number[i : i + 4] for i in range(0, 16, 4))
        code = card.decline.code if card.decline else ""
        decline_code = card.decline.decline_code if card.decline else ""
        outcome = "declined" if card.decline else "approved"
        row = f"| {spaced} | {outcome} | {code} | {decline_code} |"
        assert " ".join(row.split()) in [" ".join(line.split()) for line in readme.splitlines()], card
