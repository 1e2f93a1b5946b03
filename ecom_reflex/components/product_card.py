"""A product tile in a listing."""

import reflex as rx

from ecom_reflex.services.catalog import ProductSummary

LOW_STOCK = 5


def stock_badge(stock: rx.Var[int]) -> rx.Component:
    return rx.cond(
        stock <= 0,
        rx.badge("Out of stock", color_scheme="red"),
        rx.cond(stock < LOW_STOCK, rx.badge(f"Only {stock} left", color_scheme="orange"), rx.fragment()),
    )


def product_card(product: rx.Var[ProductSummary]) -> rx.Component:
    return rx.card(
        rx.inset(
            rx.image(
                src=product.image,
                alt=product.name,
                width="100%",
                aspect_ratio="1",
                object_fit="cover",
                loading="lazy",
            ),
            side="top",
            pb="current",
        ),
        rx.vstack(
            rx.text(product.category_name, size="1", color=rx.color("gray", 10), text_transform="uppercase"),
            rx.heading(product.name, size="3", data_testid="product-name"),
            rx.hstack(
                rx.text(product.price, weight="bold", size="4", data_testid="product-price"),
                rx.spacer(),
                stock_badge(product.stock),
                width="100%",
                align="center",
            ),
            spacing="1",
            width="100%",
        ),
        data_testid="product-card",
    )
