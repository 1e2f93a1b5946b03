"""One product: image, description, price, stock and a quantity to add."""

import reflex as rx

from ecom_reflex.components.layout import MUTED, breadcrumbs, detail_or_missing, not_found, page_shell, page_title
from ecom_reflex.components.product_card import image_src, stock_badge
from ecom_reflex.state.catalog import ProductState


def quantity_selector() -> rx.Component:
    return rx.hstack(
        rx.icon_button(
            rx.icon("minus", size=16),
            variant="soft",
            on_click=ProductState.step_quantity(-1),
            disabled=ProductState.quantity <= 1,
            aria_label="Fewer",
        ),
        rx.text(ProductState.quantity, size="4", min_width="2em", text_align="center", data_testid="quantity"),
        rx.icon_button(
            rx.icon("plus", size=16),
            variant="soft",
            on_click=ProductState.step_quantity(1),
            disabled=ProductState.quantity >= ProductState.max_quantity,
            aria_label="More",
        ),
        align="center",
        spacing="3",
    )


def _product() -> rx.Component:
    product = ProductState.product
    return rx.box(
        breadcrumbs(("Shop", "/"), (product.category_name, "/category/" + product.category_slug), current=product.name),
        rx.grid(
            rx.image(
                src=image_src(product.image), alt=product.name, width="100%", border_radius="12px", aspect_ratio="1"
            ),
            rx.vstack(
                page_title(product.name, size="8", data_testid="product-title"),
                rx.text(product.price, size="7", weight="bold", data_testid="product-price"),
                stock_badge(product.stock),
                rx.text(product.description, size="4", color=MUTED),
                rx.cond(
                    product.stock > 0,
                    rx.hstack(
                        quantity_selector(),
                        rx.button(
                            rx.icon("shopping-cart", size=18),
                            "Add to cart",
                            size="3",
                            on_click=ProductState.add_selected,
                            data_testid="add-to-cart",
                        ),
                        spacing="5",
                        align="center",
                        wrap="wrap",
                    ),
                    rx.text("This product is out of stock. Check back soon.", color=rx.color("red", 11)),
                ),
                spacing="4",
                align="start",
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="7",
            width="100%",
        ),
        width="100%",
    )


def product_page() -> rx.Component:
    return page_shell(
        detail_or_missing(
            ProductState.not_found,
            ProductState.product,
            _product(),
            not_found(
                "Product not found", "This product does not exist or is no longer sold.", ("Back to the shop", "/")
            ),
        )
    )
