"""Order widgets shared by the shopper's and the admin's order pages: status badge, lines, shipping, history."""

import reflex as rx

from ecom_reflex.components.layout import MUTED, local_time, section_title
from ecom_reflex.components.listing import data_table
from ecom_reflex.services.orders import OrderDetail, OrderLine, StatusStep

# The one colour of each order status (a Radix colour scale): badges use it, the dashboard's pie its step 9.
STATUS_COLORS = {"pending": "amber", "paid": "blue", "shipped": "violet", "delivered": "green", "cancelled": "gray"}


def status_color(status: rx.Var[str], step: int | None = None) -> rx.Var:
    """The colour scale of `status` (for color_scheme), or its CSS colour at `step` (for a chart's fill)."""
    pairs = [(name, scale if step is None else rx.color(scale, step)) for name, scale in STATUS_COLORS.items()]
    return rx.match(status, *pairs, "gray" if step is None else rx.color("gray", step))


def status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.badge(status, high_contrast=True, color_scheme=status_color(status), size="2", data_testid="order-status")


def order_row(order: rx.Var, href_prefix: str, test_id: str, *extra_cells: rx.Var | rx.Component) -> rx.Component:
    """One order in a list: its number (a link), `extra_cells`, when it was placed, items, total and status."""
    return rx.table.row(
        rx.table.cell(rx.link("#" + order.number, href=href_prefix + order.id.to_string(), weight="bold")),
        *[rx.table.cell(cell) for cell in extra_cells],
        rx.table.cell(local_time(order.created_at)),
        rx.table.cell(order.item_count),
        rx.table.cell(order.total),
        rx.table.cell(status_badge(order.status)),
        data_testid=test_id,
    )


def _line_row(line: rx.Var[OrderLine]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(line.name, href="/product/" + line.product_id.to_string())),
        rx.table.cell(line.unit_price),
        rx.table.cell(line.quantity),
        rx.table.cell(line.line_total),
    )


def order_lines_table(order: rx.Var[OrderDetail]) -> rx.Component:
    return data_table(("Product", "Price", "Quantity", "Total"), order.lines, _line_row)


def _history_step(step: rx.Var[StatusStep]) -> rx.Component:
    return rx.hstack(
        rx.icon("circle-check", size=16, color=rx.color("green", 9)),
        rx.text(
            rx.cond(step.from_status == "", "Placed", step.from_status + " → " + step.to_status),
            weight="medium",
            size="2",
        ),
        rx.text(local_time(step.at), size="2", color=MUTED),
        rx.cond(step.by != "", rx.text("by ", step.by, size="2", color=MUTED)),
        spacing="2",
        align="center",
        data_testid="history-step",
    )


def shipping_and_history(order: rx.Var[OrderDetail]) -> rx.Component:
    """Where an order goes and how its status changed."""
    return rx.grid(
        rx.card(
            section_title("Shipping to", size="3", margin_bottom="0.5em"),
            rx.foreach(order.shipping_lines, lambda line: rx.text(line, size="2")),
        ),
        rx.card(
            section_title("Status history", size="3", margin_bottom="0.5em"),
            rx.vstack(rx.foreach(order.history, _history_step), spacing="2"),
        ),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="4",
        width="100%",
    )
