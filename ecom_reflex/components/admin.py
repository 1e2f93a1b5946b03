"""The admin frame (section navigation, the 403 page for everyone else) and the frame of an admin list."""

from collections.abc import Callable, Sequence

import reflex as rx

from ecom_reflex.components.layout import centered_message, loading, page_shell
from ecom_reflex.components.listing import data_table, pager
from ecom_reflex.state.admin import AdminListing, AdminState

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


def admin_toolbar(*children: rx.Component) -> rx.Component:
    """Above an admin list: its search box, filters and actions, wrapping on a narrow screen."""
    return rx.flex(*children, spacing="3", wrap="wrap", width="100%", align="center")


def filter_select(label: str, all_label: str, options: list, value: rx.Var[str], on_change) -> rx.Component:
    """A filter of an admin list: `all_label` (the URL leaves it out) or one of `options` (select items)."""
    return rx.select.root(
        rx.select.trigger(aria_label=label),
        rx.select.content(rx.select.item(all_label, value="all"), *options),
        value=rx.cond(value == "", "all", value),
        on_change=on_change,
    )


def admin_list(
    state: type[AdminListing],
    noun: str,
    headers: Sequence[str],
    rows: rx.Var[list],
    render_row: Callable[[rx.Var], rx.Component],
) -> rx.Component:
    """An admin list under its toolbar: how many match, the table (or "No ... match."), the pager."""
    return rx.fragment(
        rx.text(f"{state.total} {noun}", size="2", color=rx.color("gray", 10)),
        rx.cond(
            state.total == 0,
            rx.text(f"No {noun} match.", data_testid="empty-state"),
            data_table(headers, rows, render_row),
        ),
        pager(state.page, state.pages, state.previous_url, state.next_url),
    )
