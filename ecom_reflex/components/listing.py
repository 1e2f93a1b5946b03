"""The pieces of every paged list (storefront, my orders, admin lists): search box, data table, pager."""

import json
from collections.abc import Callable, Sequence

import reflex as rx
from reflex.utils.imports import ImportVar
from reflex.vars import VarData

from ecom_reflex.components.layout import MUTED


def browser_location() -> rx.Var[str]:
    """The path, query and fragment the browser shows now, updated in the browser as soon as a link
    is followed (React Router's location); compare with state/session.location_of(an event's URL)."""
    return rx.Var(
        "(browserLocation.pathname + browserLocation.search + browserLocation.hash)",
        _var_data=VarData(
            hooks={"const browserLocation = useLocation()": None},
            imports={"react-router": [ImportVar(tag="useLocation")]},
        ),
    ).to(str)


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


# Below Radix's "sm" breakpoint a table becomes a stack of cards: one per row, each cell on its own
# line under its column's name, so no column (and no action) is off-screen on a phone.
STACKED_BELOW = "767px"


def _stacked_style(headers: Sequence[str]) -> dict:
    cells = "& tbody td, & tbody th"
    labels = {
        f"& tbody :is(td, th):nth-child({index})::before": {"content": json.dumps(header)}
        for index, header in enumerate(headers, start=1)
    }
    return {
        f"@media (max-width: {STACKED_BELOW})": {
            # Radix's table sits in a scroll area (a flex viewport around a display: table wrapper).
            "& .rt-ScrollAreaRoot, & .rt-ScrollAreaViewport, & .rt-ScrollAreaViewport > div, & table, & tbody, & tr": {
                "display": "block", "width": "100%", "height": "auto"},
            # Visually hidden, still read: each cell says its column instead.
            "& thead": {"position": "absolute", "width": "1px", "height": "1px", "overflow": "hidden",
                        "clip": "rect(0 0 0 0)", "white-space": "nowrap"},
            "& tbody tr": {"border-bottom": f"1px solid {rx.color('gray', 5)}", "padding": "0.5em 0"},
            cells: {"display": "grid", "grid-template-columns": "7.5em 1fr", "gap": "0.75em", "align-items": "center",
                    "justify-items": "start", "box-shadow": "none", "padding": "0.35em 0.75em"},
            "& tbody :is(td, th)::before": {"color": MUTED, "font-size": "0.85em"},
            **labels,
        }
    }  # fmt: skip


def data_table(
    headers: Sequence[str], rows: rx.Var[list], render_row: Callable[[rx.Var], rx.Component]
) -> rx.Component:
    """A table of `rows`, one `render_row` each; a stack of cards on a narrow screen."""
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(header) for header in headers])),
            rx.table.body(rx.foreach(rows, render_row)),
            width="100%",
            variant="surface",
        ),
        width="100%",
        style=_stacked_style(headers),
        data_testid="data-table",
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
