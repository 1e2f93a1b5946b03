"""Checkout: shipping address and the order summary."""

import reflex as rx

from ecom_reflex.components.cart import checkout_blocker, line_problem
from ecom_reflex.components.layout import (
    MUTED,
    empty_cart,
    error_summary,
    form_error,
    form_field,
    local_time,
    page_shell,
    page_title,
    section_title,
    select_field,
    when_loaded,
)
from ecom_reflex.components.orders import order_lines_table
from ecom_reflex.services import addresses
from ecom_reflex.services.cards import CARD_FIELDS
from ecom_reflex.services.cart import CartLine
from ecom_reflex.services.orders import SHIPPING_FIELDS
from ecom_reflex.state.checkout import ERROR_SUMMARY_ID, CheckoutState

CARD_LABELS = {name: label for name, (label, _length) in CARD_FIELDS.items()}


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


def _card_fields(errors) -> rx.Component:
    """The card: drawn anew (empty) after a declined one. Its number and CVC are never kept anywhere."""
    return rx.vstack(
        section_title("Payment"),
        rx.text(
            "Test mode: pay with 4242 4242 4242 4242, any future expiry and any 3-digit CVC (README lists"
            " the cards that decline).",
            size="2",
            color_scheme="gray",
        ),
        form_field("Name on card", "card_name", errors, auto_complete="cc-name", max_length=120),
        form_field(
            "Card number",
            "card_number",
            errors,
            auto_complete="cc-number",
            input_mode="numeric",
            max_length=23,
            placeholder="1234 1234 1234 1234",
        ),
        rx.grid(
            form_field(
                "Expiry (MM/YY)", "card_expiry", errors, auto_complete="cc-exp", max_length=7, placeholder="MM/YY"
            ),
            form_field(
                "Security code (CVC)", "card_cvc", errors, auto_complete="cc-csc", input_mode="numeric", max_length=4
            ),
            columns="2",
            spacing="3",
            width="100%",
        ),
        key=CheckoutState.card_form_key,
        spacing="3",
        width="100%",
    )


def _pay_button(label) -> rx.Component:
    return rx.button(
        label,
        type="submit",
        size="3",
        width="100%",
        loading=CheckoutState.placing,
        data_testid="place-order",
    )


def _pay_order_view() -> rx.Component:
    """An order placed, waiting for money (after a declined card, or from "Pay now"): its summary and a card form."""
    order = CheckoutState.pay_order
    errors = CheckoutState.errors
    return rx.grid(
        rx.form(
            rx.vstack(
                error_summary(errors, CARD_LABELS, ERROR_SUMMARY_ID),
                form_error(CheckoutState.form_error, testid="checkout-error"),
                rx.text(
                    "Order #",
                    order.number,
                    " is waiting for its payment: pay with another card. The address stays as you gave it.",
                    size="2",
                ),
                rx.cond(
                    order.payment_due_at != "",
                    rx.text(
                        "Its items are kept for you until ",
                        local_time(order.payment_due_at),
                        ".",
                        size="2",
                        color_scheme="gray",
                    ),
                ),
                _card_fields(errors),
                _pay_button("Pay " + order.total),
                spacing="3",
                width="100%",
            ),
            on_submit=CheckoutState.pay_order_again,
            no_validate=True,
            width="100%",
        ),
        rx.card(
            rx.vstack(
                section_title("Order #", order.number),
                order_lines_table(order),
                rx.hstack(
                    rx.text("Total", weight="bold"),
                    rx.spacer(),
                    rx.text(order.total, weight="bold", size="5", data_testid="checkout-total"),
                    width="100%",
                ),
                rx.text("Shipping to", weight="bold", size="2"),
                rx.foreach(order.shipping_lines, lambda line: rx.text(line, size="2")),
                spacing="3",
                width="100%",
            ),
            width="100%",
        ),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="6",
        width="100%",
    )


def _shipping_form() -> rx.Component:
    errors = CheckoutState.errors
    labels = {name: label for name, (label, _required, _length) in SHIPPING_FIELDS.items()} | CARD_LABELS
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
            rx.text(
                rx.cond(
                    CheckoutState.mailed_to != "",
                    "For the courier. Order e-mails go to your account's confirmed address, "
                    + CheckoutState.mailed_to
                    + ".",
                    "For the courier. We send order e-mails only to a confirmed address: confirm yours on your"
                    " account page.",
                ),
                size="1",
                color=MUTED,
                data_testid="order-emails-to",
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
            _card_fields(errors),
            form_error(CheckoutState.form_error, testid="checkout-error"),
            checkout_blocker(CheckoutState.checkout_blocker),
            rx.button(
                "Place order and pay " + CheckoutState.total,
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
        rx.cond(
            CheckoutState.pay_order,
            _pay_order_view(),
            _cart_checkout(),
        ),
    )


def _cart_checkout() -> rx.Component:
    return rx.fragment(
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
