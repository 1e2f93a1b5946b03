"""A product tile in a listing, and the stock badge shared with the product page."""

import reflex as rx

from ecom_reflex.services.catalog import LOW_STOCK_THRESHOLD, ProductSummary
from ecom_reflex.state.cart import CartState

PLACEHOLDER_IMAGE = "/placeholder.svg"


def image_src(image: rx.Var[str]) -> rx.Var[str]:
    """A product's image, or the placeholder for products saved without one."""
    return rx.cond(image != "", image, PLACEHOLDER_IMAGE)


def stock_badge(stock: rx.Var[int]) -> rx.Component:
    return rx.cond(
        stock <= 0,
        rx.badge("Out of stock", color_scheme="red", data_testid="stock-status"),
        rx.cond(
            stock < LOW_STOCK_THRESHOLD,
            rx.badge(f"Only {stock} left", color_scheme="orange", data_testid="stock-status"),
            rx.badge("In stock", color_scheme="green", variant="soft", data_testid="stock-status"),
        ),
    )


def product_card(product: rx.Var[ProductSummary]) -> rx.Component:
    href = "/product/" + product.id.to_string()
    return rx.card(
        rx.link(
            rx.inset(
                rx.image(
                    src=image_src(product.image), alt=product.name, width="100%", aspect_ratio="1", object_fit="cover"
                ),
                side="top",
                pb="current",
            ),
            href=href,
        ),
        rx.vstack(
            rx.text(product.category_name, size="1", color=rx.color("gray", 10), text_transform="uppercase"),
            rx.link(
                rx.heading(product.name, size="3", data_testid="product-name"),
                href=href,
                color=rx.color("gray", 12),
                underline="none",
            ),
            rx.hstack(
                rx.text(product.price, weight="bold", size="4", data_testid="product-price"),
                rx.spacer(),
                stock_badge(product.stock),
                width="100%",
                align="center",
            ),
            rx.button(
                rx.icon("shopping-cart", size=16),
                "Add to cart",
                width="100%",
                variant="soft",
                disabled=product.stock <= 0,
                on_click=CartState.add_to_cart(product.id),
                data_testid="add-to-cart",
            ),
            spacing="2",
            width="100%",
        ),
        data_testid="product-card",
    )
