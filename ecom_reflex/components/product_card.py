"""A product tile in a listing, and the stock badge shared with the product page."""

import reflex as rx

from ecom_reflex.components.layout import MUTED
from ecom_reflex.services.catalog import LOW_STOCK_THRESHOLD, ProductSummary
from ecom_reflex.state.cart import CartState

PLACEHOLDER_IMAGE = "/placeholder.svg"


def image_src(image: rx.Var[str]) -> rx.Var[str]:
    """A product's image, or the placeholder for products saved without one."""
    return rx.cond(image != "", image, PLACEHOLDER_IMAGE)


def stock_badge(stock: rx.Var[int]) -> rx.Component:
    return rx.cond(
        stock <= 0,
        rx.badge("Out of stock", high_contrast=True, color_scheme="red", data_testid="stock-status"),
        rx.cond(
            stock < LOW_STOCK_THRESHOLD,
            rx.badge(f"Only {stock} left", high_contrast=True, color_scheme="orange", data_testid="stock-status"),
            rx.badge("In stock", high_contrast=True, color_scheme="green", variant="soft", data_testid="stock-status"),
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
            rx.text(product.category_name, size="1", color=MUTED, text_transform="uppercase"),
            rx.link(
                rx.heading(product.name, as_="h2", size="3", data_testid="product-name"),
                href=href,
                color=rx.color("gray", 12),
                underline="none",
            ),
            # Wraps under the price in a narrow (two-column phone) card.
            rx.flex(
                rx.text(product.price, weight="bold", size="4", data_testid="product-price"),
                stock_badge(product.stock),
                justify="between",
                align="center",
                wrap="wrap",
                gap="1",
                width="100%",
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
