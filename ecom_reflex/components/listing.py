"""The pieces of every paged list (storefront, my orders, admin lists): search box, data table, pager."""

from collections.abc import Callable, Sequence

import reflex as rx


def search_box(on_submit, value: rx.Var[str], placeholder: str, size: str = "2", **input_props) -> rx.Component:
    """A search form whose text comes from the URL (`value`) and is sent as `q`."""
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
                size=size,
                **input_props,
            ),
            rx.button("Search", type="submit", size=size),
            width="100%",
        ),
        on_submit=on_submit,
        flex="1",
        min_width="240px",
    )


def data_table(
    headers: Sequence[str], rows: rx.Var[list], render_row: Callable[[rx.Var], rx.Component]
) -> rx.Component:
    """A table of `rows`, one `render_row` each, that scrolls sideways on a narrow screen."""
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(header) for header in headers])),
            rx.table.body(rx.foreach(rows, render_row)),
            width="100%",
            variant="surface",
        ),
        width="100%",
        overflow_x="auto",
    )


def _page_link(label: str, url: rx.Var[str], enabled: rx.Var[bool]) -> rx.Component:
    return rx.cond(
        enabled,
        rx.link(rx.button(label, variant="soft"), href=url),
        rx.button(label, variant="soft", disabled=True),
    )


def pager(
    page: rx.Var[int],
    pages: rx.Var[int],
    previous_url: rx.Var[str],
    next_url: rx.Var[str],
    labels: tuple[str, str] = ("Previous", "Next"),
) -> rx.Component:
    """Previous / "Page 2 of 5" / Next, shown only when there is more than one page."""
    return rx.cond(
        pages > 1,
        rx.hstack(
            _page_link(labels[0], previous_url, page > 1),
            rx.text(f"Page {page} of {pages}", size="2", data_testid="page-indicator"),
            _page_link(labels[1], next_url, page < pages),
            justify="center",
            align="center",
            spacing="4",
            width="100%",
            margin_top="1em",
        ),
    )
