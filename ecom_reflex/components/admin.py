"""The admin frame: section navigation and the 403 page for everyone else."""

import reflex as rx

from ecom_reflex.components.layout import centered_message, loading, page_shell
from ecom_reflex.state.admin import AdminState

SECTIONS = [
    ("Dashboard", "/admin"),
    ("Products", "/admin/products"),
    ("Orders", "/admin/orders"),
    ("Users", "/admin/users"),
]


def forbidden() -> rx.Component:
    return centered_message(
        "shield-x",
        "403 · Admins only",
        "This page is for shop administrators. Log in with an admin account to see it.",
        rx.hstack(
            rx.link(rx.button("Log in", variant="soft"), href="/login"),
            rx.link(rx.button("Back to the shop"), href="/"),
            spacing="3",
        ),
        "forbidden",
    )


def admin_shell(title: str, *children: rx.Component) -> rx.Component:
    nav = rx.hstack(
        *[rx.link(label, href=href, weight="medium") for label, href in SECTIONS],
        spacing="5",
        wrap="wrap",
        padding_bottom="0.75em",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        width="100%",
        as_="nav",
        aria_label="Admin",
    )
    return page_shell(
        rx.match(
            AdminState.access,
            ("granted", rx.vstack(nav, rx.heading(title, size="7"), *children, spacing="4", width="100%")),
            ("denied", forbidden()),
            loading(),
        )
    )


def pager(page: rx.Var[int], pages: rx.Var[int], previous_url: rx.Var[str], next_url: rx.Var[str]) -> rx.Component:
    return rx.cond(
        pages > 1,
        rx.hstack(
            rx.link("Previous", href=previous_url, visibility=rx.cond(page > 1, "visible", "hidden")),
            rx.text(f"Page {page} of {pages}", size="2"),
            rx.link("Next", href=next_url, visibility=rx.cond(page < pages, "visible", "hidden")),
            spacing="5",
            justify="center",
            width="100%",
        ),
    )


def search_box(on_submit, value: rx.Var[str], placeholder: str) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.input(
                rx.input.slot(rx.icon("search", size=16)),
                name="q",
                default_value=value,
                key=value,
                placeholder=placeholder,
                type="search",
                max_length=100,
                width="100%",
            ),
            rx.button("Search", type="submit"),
            width="100%",
        ),
        on_submit=on_submit,
        flex="1",
        min_width="240px",
    )
