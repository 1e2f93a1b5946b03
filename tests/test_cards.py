"""services/cards.read_card: the card form checked at the edge, before any payment attempt, and never echoed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ecom_reflex.services import cards
from ecom_reflex.services.errors import FieldErrors

# A fixed "now" (mid-June 2031): expiry checks do not depend on the day the tests run.
NOW = datetime(2031, 6, 15, 12, 0, tzinfo=UTC)
GOOD = {"card_name": "Ada Lovelace", "card_number": "4242424242424242", "card_expiry": "12/34", "card_cvc": "123"}
NUMBER_ERROR = "Enter the card number as printed on the card (12 to 19 digits)."
EXPIRY_ERROR = "Enter the expiry as MM/YY, e.g. 04/29."
CVC_ERROR = "Enter the 3 or 4 digits of the security code on the card."
MONTH_ERROR = "Enter the expiry as MM/YY, e.g. 04/29: the month is 01 to 12."


def errors_of(**fields: str) -> dict[str, str]:
    with pytest.raises(FieldErrors) as refused:
        cards.read_card({**GOOD, **fields}, now=NOW)
    return refused.value.errors


def test_a_good_card_is_read_as_typed():
    card = cards.read_card(GOOD, now=NOW)
    assert (card.number, card.exp_month, card.exp_year, card.cvc, card.name) == (
        "4242424242424242", 12, 2034, "123", "Ada Lovelace"
    )  # fmt: skip


def test_the_number_and_cvc_never_show_in_a_cards_repr():
    card = cards.read_card({**GOOD, "card_cvc": "9876"}, now=NOW)
    assert "4242" not in repr(card) and "9876" not in repr(card) and "Ada" not in repr(card)
    assert "4242" not in str(card)


@pytest.mark.parametrize(
    "typed",
    ["4242 4242 4242 4242", "4242-4242-4242-4242", " 4242 4242-4242 4242 ", "4242  4242  4242  4242"],
)
def test_spaces_and_dashes_in_the_number_are_how_it_is_printed(typed):
    assert cards.read_card({**GOOD, "card_number": typed}, now=NOW).number == "4242424242424242"


@pytest.mark.parametrize(
    "number",
    [
        "4000000000000002",  # Stripe's test cards: valid numbers, whatever the service then says
        "4000000000009995",
        "4000000000000069",
        "4000000000000127",
        "4000000000000119",
        "5555555555554444",  # Mastercard
        "378282246310005",  # American Express: 15 digits
        "6011111111111117",  # Discover
        "424242424242",  # 12 digits (Luhn-valid): the shortest a card has
        "4242424242424242428",  # 19 digits (Luhn-valid): the longest
    ],
)
def test_any_luhn_valid_number_of_12_to_19_digits_is_accepted(number):
    assert cards.read_card({**GOOD, "card_number": number}, now=NOW).number == number


@pytest.mark.parametrize(
    "number",
    [
        "4242424242424241",  # one digit wrong: the Luhn check fails
        "4242424242424243",
        "4242424242422424",  # two digits swapped
        "1234567890123456",
        "42424242424",  # 11 digits
        "42424242424242424242",  # 20 digits
        "4242 4242 4242 424x",
        "4242.4242.4242.4242",  # separators other than a space or a dash
        "4242/4242/4242/4242",
        "4242\t4242\t4242\t4242",
        "+4242424242424242",
        "-4242424242424242-4",
        "４２４２４２４２４２４２４２４２",  # full-width digits: str.isdigit says yes, a card says no
        "４２４２ ４２４２ ４２４２ ４２４２",
        "424242424242424²",  # a superscript two: a "digit" to Python, int() refuses it
        "٤٢٤٢٤٢٤٢٤٢٤٢٤٢٤٢",  # Arabic-Indic digits
        "4" * 100_000,  # over-long input: judged, not cut into something valid
        "4242424242424242" * 100,
    ],
)
def test_a_number_that_is_not_a_card_number_is_refused(number):
    assert errors_of(card_number=number) == {"card_number": NUMBER_ERROR}


@pytest.mark.parametrize("number", ["", "   ", " - - "])
def test_the_number_is_required(number):
    assert errors_of(card_number=number) == {"card_number": "Card number is required."}


@pytest.mark.parametrize(
    ("typed", "month", "year"),
    [
        ("12/34", 12, 2034),
        ("12/2034", 12, 2034),
        ("1/34", 1, 2034),
        ("01/34", 1, 2034),
        (" 04 / 2032 ", 4, 2032),
        ("06/31", 6, 2031),  # this month: still good until its end
        ("6/2031", 6, 2031),
        ("12/61", 12, 2061),  # 30 years ahead: the farthest accepted
    ],
)
def test_the_expiry_as_mm_yy_or_mm_yyyy(typed, month, year):
    card = cards.read_card({**GOOD, "card_expiry": typed}, now=NOW)
    assert (card.exp_month, card.exp_year) == (month, year)


@pytest.mark.parametrize("typed", ["05/31", "5/2031", "12/30", "01/2000", "12/99"])
def test_a_past_expiry_is_refused(typed):
    # "12/99" is 2099, beyond any card's life: refused as a typo, like a past date would be.
    expected = EXPIRY_ERROR if typed == "12/99" else "This card has expired: use another card."
    assert errors_of(card_expiry=typed) == {"card_expiry": expected}


@pytest.mark.parametrize("typed", ["00/34", "13/34", "99/2034"])
def test_a_month_out_of_range_is_refused(typed):
    assert errors_of(card_expiry=typed) == {"card_expiry": MONTH_ERROR}


@pytest.mark.parametrize(
    "typed",
    [
        "", "1234", "12-34", "12/3", "12/345", "12/20345", "123/34", "12/34/56", "ab/cd", "12/", "/34",
        "１２/３４",  # full-width digits
        "12/3４",
        "12\u2003/34",  # an em space: white space to a regex, not what a form accepts
        "²/34",
        "12/62",  # more than 30 years ahead
        "12/34" + "4" * 10_000,
    ],
)  # fmt: skip
def test_an_expiry_that_is_not_mm_yy_is_refused(typed):
    assert errors_of(card_expiry=typed) == {"card_expiry": EXPIRY_ERROR}


@pytest.mark.parametrize("cvc", ["123", "0000", "999", " 456 "])
def test_a_cvc_of_3_or_4_digits(cvc):
    assert cards.read_card({**GOOD, "card_cvc": cvc}, now=NOW).cvc == cvc.strip()


@pytest.mark.parametrize(
    "cvc", ["", "1", "12", "12345", "12a", "1 23", "１２３", "12³", "٣٤٥", "-123", "12.3", "1" * 10_000]
)
def test_a_cvc_that_is_not_3_or_4_digits_is_refused(cvc):
    assert errors_of(card_cvc=cvc) == {"card_cvc": CVC_ERROR}


def test_the_name_is_required_folded_and_bounded():
    assert errors_of(card_name="") == {"card_name": "Name on card is required."}
    assert errors_of(card_name=" \t\n ") == {"card_name": "Name on card is required."}
    assert errors_of(card_name="A" * 121) == {"card_name": "Name on card must be at most 120 characters."}
    assert cards.read_card({**GOOD, "card_name": "  Ada \t  King  "}, now=NOW).name == "Ada King"
    assert cards.read_card({**GOOD, "card_name": "A" * 120}, now=NOW).name == "A" * 120


def test_every_field_is_judged_and_the_errors_come_in_the_forms_order():
    found = errors_of(card_cvc="1", card_expiry="13/34", card_number="1234", card_name="")
    assert list(found) == ["card_name", "card_number", "card_expiry", "card_cvc"] == list(cards.CARD_FIELDS)
    # Nothing typed at all (or a form without the fields): each one says so.
    with pytest.raises(FieldErrors) as refused:
        cards.read_card({}, now=NOW)
    assert set(refused.value.errors) == set(cards.CARD_FIELDS)


@pytest.mark.parametrize(
    "number",
    ["4242424242424241", "4242 4242 4242 424", "4000-0000-0000-0003", "４２４２" * 4, "4242424242424242" * 3],
)
def test_no_error_message_contains_the_number(number):
    with pytest.raises(FieldErrors) as refused:
        cards.read_card({**GOOD, "card_number": number, "card_cvc": "98", "card_expiry": "13/99"}, now=NOW)
    said = str(refused.value) + repr(refused.value.errors) + repr(refused.value.args)
    digits = "".join(ch for ch in number if ch.isdigit())
    for secret in (number, digits, number.replace(" ", ""), digits[-4:], digits[:6]):
        assert secret not in said
    assert "98" not in said, "nor the CVC"


def test_when_not_given_now_is_the_current_time():
    # Last century is past and 2099 is more than 30 years ahead, whatever today is; next year is good.
    with pytest.raises(FieldErrors) as refused:
        cards.read_card({**GOOD, "card_expiry": "01/1999"})
    assert refused.value.errors == {"card_expiry": "This card has expired: use another card."}
    with pytest.raises(FieldErrors) as refused:
        cards.read_card({**GOOD, "card_expiry": "12/2099"})
    assert refused.value.errors == {"card_expiry": EXPIRY_ERROR}
    next_year = datetime.now(UTC).year + 1
    assert cards.read_card({**GOOD, "card_expiry": f"12/{next_year}"}).exp_year == next_year
