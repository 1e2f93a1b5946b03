"""Ids from outside (a URL, the admin's search box, an event) are parsed within bounds by one helper
(services/numbers.py): a huge or non-ASCII number names nothing; it is never an error."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecom_reflex.services import catalog, orders
from ecom_reflex.services.numbers import MAX_ID, parse_id, parse_int
from ecom_reflex.state import inputs
from tests.factories import make_product, make_user

# Digits to Python's str.isdigit() (and some to int()), never to the shop.
UNICODE_DIGITS = ["²", "¹", "٣", "١٢", "１２", "߂", "৩", "𝟙"]
HUGE = ["9223372036854775808", "99999999999999999999", "9" * 23, "1" + "0" * 400]


@pytest.mark.parametrize("raw", [*UNICODE_DIGITS, *HUGE, "", " ", "+", "-", "1_000", "0x10", "1e3", "٣4", "4²"])
def test_only_ascii_digits_within_64_bits_are_ids(raw):
    assert parse_id(raw) is None
    assert parse_int(raw) is None


def test_the_largest_id_a_column_holds_is_the_last_one():
    assert parse_id(str(MAX_ID)) == MAX_ID
    assert parse_id(str(MAX_ID + 1)) is None
    assert parse_id("000042") == 42, "an order number as the shop prints it"


def test_the_states_read_ids_through_the_same_helper():
    assert inputs.parse_id is parse_id and inputs.parse_int is parse_int


@given(st.one_of(st.text(max_size=40), st.integers(), st.floats(), st.none(), st.booleans(), st.binary(max_size=8)))
def test_anything_parses_to_a_bounded_number_or_none_and_never_raises(raw):
    value = parse_int(raw)
    assert value is None or (isinstance(value, int) and -MAX_ID <= value <= MAX_ID)
    if isinstance(raw, str) and value is not None:
        digits = raw.strip().removeprefix("-").removeprefix("+")
        assert digits.isascii() and digits.isdigit() and int(raw) == value


@pytest.fixture
def on_sale(session):
    return make_product(session, "Lamp", stock=3)


@pytest.mark.parametrize("key", [*UNICODE_DIGITS, *HUGE, "-1", "0", "lamp", "\x00", "1\x00"])
def test_a_product_page_for_a_hostile_key_does_not_exist(session, on_sale, key):
    assert catalog.storefront_page_exists(session, "product", key) is False


def test_a_product_page_exists_for_its_id_only(session, on_sale):
    assert catalog.storefront_page_exists(session, "product", str(on_sale.id)) is True
    assert catalog.storefront_page_exists(session, "product", str(on_sale.id + 1000)) is False
    # int() reads Arabic-Indic digits ("٣" is 3): the product's id written in them is not its page.
    arabic_indic = str(on_sale.id).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    assert int(arabic_indic) == on_sale.id
    assert catalog.storefront_page_exists(session, "product", arabic_indic) is False


@pytest.mark.parametrize("search", [*UNICODE_DIGITS, *HUGE, "#" + "9" * 23, "#²"])
def test_the_admin_order_search_finds_nothing_for_a_number_out_of_bounds(session, search):
    buyer = make_user(session, "buyer")
    assert buyer.id is not None
    page = orders.list_orders(session, search=search)
    assert page.items == [] and page.total == 0
