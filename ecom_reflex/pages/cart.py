"""The cart: lines with quantities, totals, and the way to checkout."""

import reflex as rx

from ecom_reflex.components.cart import checkout_blocker, line_problem
from ecom_reflex.components.layout import MUTED, empty_cart, page_shell, page_title, when_loaded
from ecom_reflex.components.product_card import image_src
from ecom_reflex.services.cart import MAX_QUANTITY, CartLine
from ecom_reflex.state.cart import CartState

# At least 44 px to tap on a phone (WCAG 2.5.5); the desktop keeps the compact size.
TOUCH = rx.breakpoints(initial="44px", sm="auto")


def _quantity_input(line: rx.Var[CartLine]) -> rx.Component:
    most = rx.cond(line.stock < MAX_QUANTITY, line.stock, MAX_QUANTITY)
    return rx.hstack(
        rx.icon_button(
            rx.icon("minus", size=14),
            size="1",
            variant="soft",
            disabled=line.quantity <= 1,
            on_click=CartState.set_line_quantity(line.product_id, (line.quantity - 1).to_string()),
            aria_label="Fewer",
            min_width=TOUCH,
            min_height=TOUCH,
        ),
        # A form of its own: Enter applies the quantity, as leaving the box does.
        rx.form(
            rx.el.input(type="hidden", name="product", value=line.product_id.to_string()),
            rx.input(
                name="quantity",
                default_value=line.quantity.to_string(),
                # Re-created on every cart refresh, so a refused value is replaced by the stored one.
                key=line.product_id.to_string() + "-" + CartState.cart_revision.to_string(),
                type="number",
                min=1,
                max=MAX_QUANTITY,
                width="4.5em",
                min_height=TOUCH,
                on_blur=lambda value: CartState.set_line_quantity(line.product_id, value),
                aria_label="Quantity",
                data_testid="line-quantity",
            ),
            on_submit=CartState.submit_line_quantity,
            reset_on_submit=False,
        ),
        rx.icon_button(
            rx.icon("plus", size=14),
            size="1",
            variant="soft",
            # No more than is in stock (or than a line may hold).
            disabled=line.quantity >= most,
            on_click=CartState.set_line_quantity(line.product_id, (line.quantity + 1).to_string()),
            aria_label="More",
            min_width=TOUCH,
            min_height=TOUCH,
        ),
        align="center",
        spacing="2",
    )


def _line(line: rx.Var[CartLine]) -> rx.Component:
    return rx.card(
        rx.flex(
            rx.image(src=image_src(line.image), alt=line.name, width="88px", height="88px", border_radius="8px"),
            rx.vstack(
                rx.cond(
                    line.on_sale,
                    rx.link(line.name, href="/product/" + line.product_id.to_string(), weight="bold", size="3"),
                    rx.text(line.name, weight="bold", size="3"),  # no page to link to any more
                ),
                rx.text(line.unit_price, " each", size="2", color=MUTED),
                line_problem(line),
                spacing="1",
                flex="1",
                min_width="160px",
            ),
            _quantity_input(line),
            rx.text(line.line_total, weight="bold", min_width="6em", text_align="right", data_testid="line-total"),
            rx.icon_button(
                rx.icon("trash-2", size=16),
                variant="ghost",
                color_scheme="red",
                on_click=CartState.remove_line(line.product_id),
                aria_label="Remove",
                min_width=TOUCH,
                min_height=TOUCH,
                data_testid="remove-line",
            ),
            align="center",
            spacing="4",
            wrap="wrap",
        ),
        width="100%",
        data_testid="cart-line",
    )


def cart_page() -> rx.Component:
    return page_shell(
        page_title("Your cart", margin_bottom="1em"),
        when_loaded(
            CartState.cart_loaded,
            CartState.lines.length() == 0,
            empty_cart("Find something you like and add it here."),
            rx.vstack(
                rx.foreach(CartState.lines, _line),
                rx.hstack(
                    rx.link("Continue shopping", href="/"),
                    rx.spacer(),
                    rx.text("Total", size="4"),
                    rx.text(CartState.total, size="6", weight="bold", data_testid="cart-total"),
                    align="center",
                    width="100%",
                    spacing="4",
                    padding_top="1em",
                ),
                rx.hstack(
                    checkout_blocker(CartState.checkout_blocker),
                    rx.spacer(),
                    rx.link(
                        rx.button("Check out", size="3", disabled=~CartState.can_check_out),
                        href=rx.cond(CartState.can_check_out, "/checkout", "/cart"),
                        data_testid="checkout-link",
                    ),
                    align="center",
                    width="100%",
                ),
                spacing="3",
                width="100%",
            ),
        ),
    )
