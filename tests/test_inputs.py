"""Whatever a client sends is bounded before any work: ids, counts, text, forms, guest carts."""

from __future__ import annotations

import json

import pytest

from ecom_reflex.services.cart import MAX_LINES
from ecom_reflex.state.cart import parse_guest_cart
from ecom_reflex.state.inputs import clean_text, form_fields, parse_count, parse_id, parse_page, password_field


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (7, 7), ("7", 7), (" 12 ", 12), (2**63 - 1, 2**63 - 1),
        (2**63, None), (10**30, None), ("9" * 19, None), ("9" * 400, None), ("99999999999999999999", None),
        (0, None), (-3, None), ("-3", None), ("1e3", None), ("3.0", None), (3.0, None), (True, None),
        (None, None), ([], None), ({"id": 1}, None), ("", None), ("١٢", None), ("1\x00", None),
    ],
)  # fmt: skip
def test_an_id_is_a_positive_64_bit_number_or_nothing(raw, expected):
    assert parse_id(raw) == expected


def test_counts_and_pages_stay_in_their_range():
    assert parse_count("5", 1, 99) == 5
    assert parse_count("100", 1, 99) is None
    assert parse_count("0", 1, 99) is None
    assert parse_page("10000000000000000000000") == 1
    assert parse_page("-2") == 1
    assert parse_page("3") == 3


def test_text_loses_control_characters_and_is_cut_to_length():
    assert clean_text("  caf\x00e\x07 \n latte\t ") == "cafe   latte"
    assert clean_text("a" * 10_000, 5) == "aaaaa"
    assert clean_text("para 1\n\npara 2\x00", 100, multiline=True) == "para 1\n\npara 2"
    assert clean_text({"not": "text"}) == ""
    assert clean_text(None) == ""


def test_a_form_is_its_known_fields_whatever_was_sent():
    assert form_fields(["not", "a", "dict"], {"q": 10}) == {"q": ""}
    assert form_fields({"q": "x" * 50, "evil": "y"}, {"q": 10}) == {"q": "x" * 10}
    assert password_field({"password": "  spaced  "}, "password") == "  spaced  "
    assert password_field({"password": 12345678}, "password") == ""
    assert len(password_field({"password": "p" * 100_000}, "password")) == 1024


def test_a_huge_guest_cart_keeps_fifty_lines_and_counts_the_rest():
    raw = json.dumps({str(n): 1 for n in range(1, 10_001)})
    lines, refused = parse_guest_cart(raw)
    assert len(lines) == MAX_LINES and refused == 10_000 - MAX_LINES
    assert list(lines) == list(range(1, MAX_LINES + 1))


@pytest.mark.parametrize(
    "raw",
    ["", "null", "[1,2]", "{", '{"1": "many"}', '{"abc": 1}', '{"1": 0}', '{"1": 1000}', '{"99999999999999999999": 1}',
     "[" * 100_000 + "]" * 100_000],
)  # fmt: skip
def test_malformed_guest_carts_are_dropped_not_trusted(raw):
    assert parse_guest_cart(raw) == ({}, 0)


def _state(cls):
    from reflex.state import State

    root = State(_reflex_internal_init=True)
    return root.get_substate(cls.get_full_name().split("."))


def _run(handler, state, *args):
    import asyncio
    import inspect

    result = handler(state, *args)
    if inspect.isasyncgen(result):

        async def drain():
            async for _ in result:
                pass

        return asyncio.run(drain())
    return asyncio.run(result) if inspect.isawaitable(result) else result


CARD = {"card_name": "Ada Lovelace", "card_number": "4242 4242 4242 4242", "card_expiry": "12/34", "card_cvc": "123"}


def test_an_over_long_field_is_refused_with_a_message_never_stored_cut():
    from ecom_reflex.state.checkout import CheckoutState

    state = _state(CheckoutState)
    form = {"email": "a@example.com", "name": "N" * 150, "line1": "1 Long St", "city": "C", "postal_code": "1000",
            "country": "X" * 70, **CARD}  # fmt: skip
    _run(CheckoutState.event_handlers["place_order"].fn, state, form)
    assert state.errors == {"name": "Full name must be at most 120 characters.",
                            "country": "Country must be at most 60 characters."}  # fmt: skip
    # The card's fields alike: an over-long name is said, not cut; an over-long number is not a number.
    state = _state(CheckoutState)
    form = {
        "email": "a@example.com",
        "name": "N",
        "line1": "1 St",
        "city": "C",
        "postal_code": "1000",
        "country": "Norway",
        **CARD,
        "card_name": "C" * 150,
        "card_number": "4242" * 6,
        "card_cvc": "12345",
    }
    _run(CheckoutState.event_handlers["place_order"].fn, state, form)
    assert state.errors == {
        "card_name": "Name on card must be at most 120 characters.",
        "card_number": "Enter the card number as printed on the card (12 to 19 digits).",
        "card_cvc": "Enter the 3 or 4 digits of the security code on the card.",
    }
    assert not state.placing and "4242" not in repr(state.errors)


@pytest.mark.parametrize("payload", [["not", "a", "form"], {"card_number": "4" * 100_000}, {"card_number": 4242}, {}])
def test_a_card_form_that_is_not_a_card_is_refused_before_any_work(payload):
    from ecom_reflex.state.checkout import CheckoutState

    state = _state(CheckoutState)
    _run(CheckoutState.event_handlers["place_order"].fn, state, payload)
    assert {"card_name", "card_number", "card_expiry", "card_cvc"} <= set(state.errors)
    assert not state.placing and state.form_error == ""
    # Paying again for an order needs one the page showed: without it, nothing is read at all.
    state = _state(CheckoutState)
    _run(CheckoutState.event_handlers["pay_order_again"].fn, state, payload)
    assert state.errors == {} and not state.placing


def test_an_over_long_email_is_refused_not_cut_to_a_valid_one(migrated_sqlite):
    import asyncio

    from ecom_reflex.state import auth as auth_state

    email = "a" * 250 + "@example.com"  # cut to 254 characters it would look valid
    form = form_fields({"username": "longmail", "email": email}, auth_state.REGISTRATION_FIELDS)
    outcome = asyncio.run(auth_state._register(form, "Long-pass-1", "Long-pass-1", {}, "192.0.2.1"))
    assert not outcome.token and "email" in outcome.errors


@pytest.mark.parametrize(
    "payload", [["not", "a", "form"], {"email": "x" * 100_000}, {"email": 42}, {}, {"email": "a@"}]
)
def test_a_reset_request_that_is_not_an_address_is_refused_and_changes_nothing(migrated_sqlite, payload):
    from sqlmodel import select

    from ecom_reflex.db import session_scope
    from ecom_reflex.models import OutboxEmail, PasswordReset
    from ecom_reflex.state.password_reset import ForgotPasswordState

    state = _state(ForgotPasswordState)
    _run(ForgotPasswordState.event_handlers["request_link"].fn, state, payload)
    assert "email" in state.errors and state.sent_to == "" and not state.submitting
    with session_scope() as session:
        assert session.exec(select(OutboxEmail)).all() == [] and session.exec(select(PasswordReset)).all() == []


def test_a_new_password_without_a_valid_link_does_nothing(migrated_sqlite):
    from ecom_reflex.state.password_reset import ResetPasswordState

    state = _state(ResetPasswordState)
    # The page never said the link was valid: no database work, no hashing.
    _run(ResetPasswordState.event_handlers["set_new_password"].fn, state, {"password": "p" * 10_000, "confirm": 1})
    assert state.link == "checking" and state.errors == {} and not state.submitting
    # A client that claims the link is valid (it cannot set `link`, but say it did): refused all the same.
    state.link = "valid"
    _run(ResetPasswordState.event_handlers["set_new_password"].fn, state, {"password": "long enough pass 9"})
    assert state.link == "invalid"
