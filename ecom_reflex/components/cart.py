"""Cart widgets shared by the cart page and the checkout: what stops a line, or the cart, from being ordered."""

import reflex as rx

from ecom_reflex.services.cart import CartLine


def line_problem(line: rx.Var[CartLine]) -> rx.Component:
    """Why this line cannot be ordered as it is (no longer sold, sold out, too few left) and what to do."""
    return rx.cond(
        line.problem != "",
        rx.text(line.problem, size="2", color=rx.color("red", 11), weight="medium", data_testid="line-unavailable"),
    )


def checkout_blocker(message: rx.Var[str]) -> rx.Component:
    """Why checking out is disabled, next to the disabled button."""
    return rx.cond(
        message != "",
        rx.text(message, size="2", color=rx.color("red", 11), role="status", data_testid="checkout-blocked"),
    )
