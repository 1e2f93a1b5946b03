"""Text people read is what it looks like (services/text.py): no controls, no format characters.

The function is checked over any text Hypothesis makes, then where it is used: every free-text
field a person reads is cleaned before it is stored (shipping address, product, card name), and
what a list is searched for.
"""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ecom_reflex.services import cards, orders, products
from ecom_reflex.services.errors import FieldErrors
from ecom_reflex.services.listing import search_text
from ecom_reflex.services.text import readable_text
from ecom_reflex.settings import ASSETS_DIR
from ecom_reflex.state.inputs import clean_text

# Every format character this Python knows (bidi controls, zero-width characters, BOM, tags, ...).
FORMAT_CHARACTERS = "".join(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf")
C1_CONTROLS = "".join(chr(c) for c in range(0x80, 0xA0))
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
# Text made mostly of the characters that matter here, among ordinary letters of several scripts and emoji.
HOSTILE = st.text(
    st.one_of(
        st.sampled_from(FORMAT_CHARACTERS + C1_CONTROLS + "".join(map(chr, range(32))) + "\x7f\u2028\u2029"),
        st.sampled_from("aZ 9-éßΩЖא٣中ﾃ👨👩🏽\ufe0f\u0301"),
        st.characters(),  # anything at all, lone surrogates included
    ),
    max_size=60,
)


def unreadable(text: str) -> list[str]:
    """The code points of `text` no stored text may hold (C0 and C1 are category Cc)."""
    return [f"U+{ord(c):04X}" for c in text if c != "\n" and unicodedata.category(c) in ("Cc", "Cf", "Cs")]


@given(HOSTILE, st.booleans())
@example("\u202egnp.exe", False)
@example("line\r\n\u200b\rnext\x85\u2028end", True)
def test_cleaned_text_holds_no_control_or_format_character_and_cleaning_twice_changes_nothing(text, multiline):
    cleaned = readable_text(text, multiline=multiline)
    assert unreadable(cleaned) == []
    if not multiline:
        assert "\n" not in cleaned
    assert readable_text(cleaned, multiline=multiline) == cleaned
    cleaned.encode("utf-8")  # storable: no lone surrogate left


@given(st.text(st.characters(exclude_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), max_size=60))
def test_text_without_them_is_left_exactly_as_it_was(text):
    assert readable_text(text) == text == readable_text(text, multiline=True)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("\u202egnp.exe", "gnp.exe"),  # shows as "exe.png" in a right-to-left override
        ("Ad\u200bmin\u2060istrator\ufeff", "Administrator"),
        ("Zoë \u2067بيروت\u2069", "Zoë بيروت"),  # an isolate goes, the Arabic stays
        ("Mu\xadller", "Muller"),  # soft hyphen
        ("caf\x85e\x9b[31m", "caf e[31m"),  # NEL is a line break; CSI (C1) goes
        ("tab\there", "tab here"),
        ("東京都 千代田区", "東京都 千代田区"),
        ("Δήμητρα Ωραία", "Δήμητρα Ωραία"),
        ("नमस्ते", "नमस्ते"),  # Devanagari's combining signs are marks, not format characters
        ("👍🏽 ❤️", "👍🏽 ❤️"),  # skin tone and variation selector stay
        # The documented loss: a zero-width joiner goes even inside an emoji sequence.
        ("👨\u200d👩\u200d👧", "👨👩👧"),
    ],
)
def test_what_a_person_sees_is_what_is_kept(typed, stored):
    assert readable_text(typed) == stored


def test_a_multiline_field_keeps_its_line_breaks_as_newlines():
    assert readable_text("one\r\ntwo\rthree\u2028four\x85five\u200b\tsix", multiline=True) == (
        "one\ntwo\nthree\nfour\nfive six"
    )
    assert readable_text("one\r\ntwo", multiline=False) == "one two"


SHIPPING = {"email": "ada@example.com", "name": "Ada", "line1": "1 St", "city": "Oslo", "postal_code": "0150",
            "country": "Norway"}  # fmt: skip


def test_every_shipping_field_is_stored_as_it_looks():
    address = orders.validate_shipping(
        {
            **SHIPPING,
            "name": "\u202eAda\u200b Love\u00adlace\x9b",
            "line1": "1\u2066 Main\u2069 St\ufeff",
            "line2": "\u200d",
            "city": "Os\u200blo\x85",
            "region": "Vik\u200ben",
            "postal_code": "01\u200b50",
            "phone": "+47\u200e 22 00 00 00",
            "email": "a\u200bda@example.com",
        }
    )
    assert address.name == "Ada Lovelace" and address.line1 == "1 Main St" and address.line2 == ""
    assert (address.city, address.region, address.postal_code) == ("Oslo", "Viken", "0150")
    assert address.phone == "+47 22 00 00 00" and address.email == "ada@example.com"
    # Only invisible characters: as good as nothing, so a required field says so.
    with pytest.raises(FieldErrors) as error:
        orders.validate_shipping({**SHIPPING, "name": "\u200b\u202e\u2060"})
    assert error.value.errors == {"name": "Full name is required."}


def test_a_product_is_stored_as_it_looks_and_its_description_keeps_its_paragraphs(tmp_path):
    form = {"name": "\u202eLamp\u200b XL", "description": "Bright\u2067\r\n\r\nWarm\x9b\tlight\ufeff", "price": "1",
            "stock": "1", "category_id": "1", "image": "/products/yoga-mat.svg"}  # fmt: skip
    data = products.validate_product_form(form, {1}, tmp_path, ASSETS_DIR)
    assert data.name == "Lamp XL"
    assert data.description == "Bright\n\nWarm light"


def test_the_name_on_a_card_is_sent_as_it_looks():
    typed = {"card_name": "\u202eEve\u200b Tester", "card_number": "4242424242424242", "card_expiry": "12/34",
             "card_cvc": "123"}  # fmt: skip
    card = cards.read_card(typed)
    assert card.name == "Eve Tester"


def test_what_a_list_is_searched_for_and_what_a_form_sends_are_cleaned_alike():
    assert search_text("Key\u200bboard\x00 \u202e mat") == "Keyboard mat"
    assert clean_text("\u202eAda\u200b \x85 Lovelace ") == "Ada   Lovelace"
    assert clean_text("para\u200b 1\r\n\r\npara 2\x9b", 100, multiline=True) == "para 1\n\npara 2"
