"""The admin frame (section navigation, the 403 page for everyone else) and the frame of an admin list."""

from collections.abc import Callable, Sequence

import reflex as rx
from reflex.event import EventSpec

from ecom_reflex.components.layout import MUTED, centered_message, count_of, loading, page_shell, page_title
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
        heading="h1",
    )


def _section_link(label: str, href: str, current: str) -> rx.Component:
    if label == current:
        # Where the admin is: marked for screen readers (aria-current) and by sight.
        return rx.link(label, href=href, weight="bold", underline="always", aria_current="page")
    return rx.link(label, href=href, weight="medium")


def admin_shell(section: str, title: str | rx.Var[str], *children: rx.Component) -> rx.Component:
    """An admin page: the section navigation (`section` marked as current), the page's h1 `title`."""
    nav = rx.el.nav(
        rx.hstack(
            *[_section_link(label, href, section) for label, href in SECTIONS],
            spacing="5",
            wrap="wrap",
            padding_bottom="0.75em",
            border_bottom=f"1px solid {rx.color('gray', 5)}",
            width="100%",
        ),
        aria_label="Admin",
        width="100%",
    )
    return page_shell(
        rx.match(
            AdminState.access,
            (
                "granted",
                rx.vstack(nav, page_title(title, data_testid="admin-title"), *children, spacing="4", width="100%"),
            ),
            ("denied", forbidden()),
            loading(),
        )
    )


def confirmed_button(
    label: str | rx.Var[str],
    question: str | rx.Var[str],
    consequence: str | rx.Var[str],
    confirm: str | rx.Var[str],
    on_confirm: EventSpec,
    *,
    danger: bool | rx.Var[bool] = True,
    disabled: bool | rx.Var[bool] = False,
    test_id: str | rx.Var[str] = "",
    **button_props,
) -> rx.Component:
    """A destructive or privilege-changing action: the button opens a dialog that names what will happen;
    only its confirm button (named for the action, never just "OK") runs `on_confirm`."""
    scheme = rx.cond(danger, "red", "indigo")
    return rx.alert_dialog.root(
        rx.alert_dialog.trigger(
            rx.button(label, color_scheme=scheme, disabled=disabled, data_testid=test_id, **button_props)
        ),
        rx.alert_dialog.content(
            rx.alert_dialog.title(question),
            rx.alert_dialog.description(consequence),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Keep it as it is", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(rx.button(confirm, color_scheme=scheme, on_click=on_confirm)),
                spacing="3",
                justify="end",
                margin_top="1em",
                wrap="wrap",
            ),
            max_width="480px",
        ),
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
        rx.text(count_of(state.total, noun), size="2", color=MUTED),
        rx.cond(
            state.total == 0,
            rx.text(f"No {noun} match.", data_testid="empty-state"),
            data_table(headers, rows, render_row),
        ),
        pager(state.page, state.pages, state.previous_url, state.next_url),
    )
