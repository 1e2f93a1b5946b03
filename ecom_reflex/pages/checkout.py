"""Checkout: shipping address and the order summary."""

import reflex as rx

from ecom_reflex.components.cart import checkout_blocker, line_problem
from ecom_reflex.components.layout import (
    empty_cart,
    error_summary,
    form_error,
    form_field,
    page_shell,
    page_title,
    section_title,
    select_field,
    when_loaded,
)
from ecom_reflex.services import addresses
from ecom_reflex.services.cart import CartLine
from ecom_reflex.services.orders import SHIPPING_FIELDS
from ecom_reflex.state.checkout import ERROR_SUMMARY_ID, CheckoutState


def _summary_line(line: rx.Var[CartLine]) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.text(line.quantity, " × ", line.name, size="2", flex="1"),
            rx.text(line.line_total, size="2", weight="medium"),
            width="100%",
        ),
        line_problem(line),
        spacing="1",
        width="100%",
        data_testid="checkout-line",
    )


def _summary() -> rx.Component:
    return rx.card(
        rx.vstack(
            section_title("Order summary"),
            rx.foreach(CheckoutState.lines, _summary_line),
            rx.separator(),
            rx.hstack(
                rx.text("Total", weight="bold"),
                rx.spacer(),
                rx.text(CheckoutState.total, weight="bold", size="5", data_testid="checkout-total"),
                width="100%",
            ),
            rx.link("Edit cart", href="/cart", size="2"),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _region_field(errors) -> rx.Component:
    """A list where the country has one its carriers need (US states, ...), free text elsewhere."""
    return rx.cond(
        CheckoutState.region_choices.length() > 0,
        select_field(
            CheckoutState.region_label,
            "region",
            errors,
            CheckoutState.region_choices,
            "Choose…",
            auto_complete="address-level1",
            # Re-created for each country, so it never keeps a region of the one before.
            key=CheckoutState.country,
        ),
        form_field(
            "State, province or region (optional)",
            "region",
            errors,
            auto_complete="address-level1",
            max_length=100,
            key=CheckoutState.country,
        ),
    )


def _shipping_form() -> rx.Component:
    errors = CheckoutState.errors
    labels = {name: label for name, (label, _required, _length) in SHIPPING_FIELDS.items()}
    return rx.form(
        rx.vstack(
            error_summary(errors, labels, ERROR_SUMMARY_ID),
            section_title("Contact"),
            form_field(
                "E-mail",
                "email",
                errors,
                type="email",
                auto_complete="email",
                max_length=254,
                default_value=CheckoutState.account_email,
                # Re-created once the account's address has arrived, so it shows prefilled.
                key=CheckoutState.account_email,
            ),
            form_field("Phone (optional)", "phone", errors, type="tel", auto_complete="tel", max_length=32),
            section_title("Shipping address"),
            # The cart as this page shows it: the order is placed only at these prices and quantities.
            rx.el.input(type="hidden", name="shown", value=CheckoutState.cart_fingerprint),
            form_field("Full name", "name", errors, auto_complete="name", max_length=120),
            form_field("Address", "line1", errors, auto_complete="address-line1", max_length=200),
            form_field("Address line 2 (optional)", "line2", errors, auto_complete="address-line2", max_length=200),
            select_field(
                "Country",
                "country",
                errors,
                # The same for everyone: written into the page, not sent with each tab's state.
                addresses.countries(),
                "Choose a country…",
                auto_complete="country",
                on_change=CheckoutState.choose_country,
            ),
            _region_field(errors),
            rx.grid(
                form_field("Postal code", "postal_code", errors, auto_complete="postal-code", max_length=20),
                form_field("City", "city", errors, auto_complete="address-level2", max_length=100),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            form_error(CheckoutState.form_error, testid="checkout-error"),
            checkout_blocker(CheckoutState.checkout_blocker),
            rx.button(
                "Place order",
                type="submit",
                size="3",
                width="100%",
                loading=CheckoutState.placing,
                disabled=~CheckoutState.can_check_out,
                data_testid="place-order",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=CheckoutState.place_order,
        no_validate=True,  # the server validates and says what is wrong, next to each field
        width="100%",
    )


def checkout_page() -> rx.Component:
    return page_shell(
        page_title("Checkout", margin_bottom="1em"),
        when_loaded(
            CheckoutState.cart_loaded & CheckoutState.logged_in,
            CheckoutState.lines.length() == 0,
            empty_cart("Add something to your cart before checking out."),
            rx.grid(
                _shipping_form(),
                _summary(),
                columns=rx.breakpoints(initial="1", md="2"),
                spacing="6",
                width="100%",
            ),
        ),
    )
