"""The shell every page sits in: navbar, responsive content column, footer."""

import reflex as rx

SHOP_NAME = "Reflex Shop"


def navbar() -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.link(
                rx.hstack(rx.icon("shopping-bag", size=24), rx.heading(SHOP_NAME, size="5"), align="center"),
                href="/",
                underline="none",
                color=rx.color("gray", 12),
                data_testid="brand",
            ),
            rx.spacer(),
            rx.link("Shop", href="/", weight="medium"),
            rx.color_mode.button(size="2", variant="ghost"),
            align="center",
            spacing="5",
            max_width="1200px",
            margin_x="auto",
            padding_x=["1em", "1.5em", "2em"],
            padding_y="0.9em",
        ),
        as_="nav",
        position="sticky",
        top="0",
        z_index="10",
        background=rx.color("gray", 1),
        border_bottom=f"1px solid {rx.color('gray', 5)}",
    )


def footer() -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.text(f"© {SHOP_NAME}", size="2", color=rx.color("gray", 10)),
            rx.spacer(),
            rx.text("A demo shop: no real orders are shipped.", size="2", color=rx.color("gray", 10)),
            max_width="1200px",
            margin_x="auto",
            padding_x=["1em", "1.5em", "2em"],
            padding_y="1.5em",
            wrap="wrap",
        ),
        as_="footer",
        border_top=f"1px solid {rx.color('gray', 5)}",
        margin_top="3em",
    )


def page_shell(*children: rx.Component) -> rx.Component:
    return rx.flex(
        navbar(),
        rx.box(
            *children,
            as_="main",
            width="100%",
            max_width="1200px",
            margin_x="auto",
            padding_x=["1em", "1.5em", "2em"],
            padding_top="1.5em",
            flex="1",
        ),
        footer(),
        direction="column",
        min_height="100vh",
    )
