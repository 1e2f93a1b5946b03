"""Order widgets shared by the shopper's and the admin's order pages: status badge, lines, shipping, history."""

import reflex as rx

from ecom_reflex.components.layout import MUTED, local_time, section_title
from ecom_reflex.components.listing import data_table
from ecom_reflex.services.orders import OrderDetail, OrderLine, StatusStep

# The one colour of each order status (a Radix colour scale): badges use it, the dashboard's pie its step 9.
STATUS_COLORS = {
    "awaiting_payment": "amber", "payment_failed": "red", "expired": "gray", "paid": "blue", "shipped": "violet",
    "delivered": "green", "refund_pending": "orange", "cancelled": "gray",
}  # fmt: skip
# What a person reads for each status and payment status (the values are models.OrderStatus/PaymentStatus).
STATUS_WORDS = {status: status.replace("_", " ") for status in STATUS_COLORS}
PAYMENT_WORDS = {
    "none": "not paid yet", "processing": "being confirmed", "unknown": "being confirmed", "declined": "declined",
    "captured": "paid", "refunded": "refunded",
}  # fmt: skip


def words(status: rx.Var[str], table: dict[str, str]) -> rx.Var:
    return rx.match(status, *table.items(), status)


def status_color(status: rx.Var[str], step: int | None = None) -> rx.Var:
    """The colour scale of `status` (for color_scheme), or its CSS colour at `step` (for a chart's fill)."""
    pairs = [(name, scale if step is None else rx.color(scale, step)) for name, scale in STATUS_COLORS.items()]
    return rx.match(status, *pairs, "gray" if step is None else rx.color("gray", step))


def status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.badge(
        words(status, STATUS_WORDS),
        high_contrast=True,
        color_scheme=status_color(status),
        size="2",
        data_testid="order-status",
    )


def payment_card(order: rx.Var[OrderDetail], *, shopper: bool) -> rx.Component:
    """The money of an order: its payment status, card and reference; for the shopper, what to do next."""
    return rx.card(
        section_title("Payment", size="3", margin_bottom="0.5em"),
        rx.vstack(
            rx.hstack(
                rx.text("Payment:", size="2", weight="medium"),
                rx.text(words(order.payment_status, PAYMENT_WORDS), size="2", data_testid="payment-status"),
                spacing="2",
            ),
            rx.cond(order.card != "", rx.text(order.card, size="2", data_testid="payment-card")),
            rx.cond(
                order.payment_reference != "",
                rx.text(
                    "Payment reference ",
                    rx.code(order.payment_reference),
                    size="2",
                    color=MUTED,
                    data_testid="payment-reference",
                ),
            ),
            rx.cond(
                order.confirming,
                rx.callout(
                    "Your payment is being confirmed with the bank. You will not be charged twice; this page shows"
                    " the outcome as soon as it is known."
                    if shopper
                    else "The payment's outcome is not known yet: the reconciler is asking the payment service.",
                    icon="loader",
                    color_scheme="amber",
                    role="status",
                    data_testid="payment-confirming",
                ),
            ),
            rx.cond(
                order.payment_error != "",
                rx.callout(
                    order.payment_error,
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    data_testid="payment-error",
                ),
            ),
            rx.cond(
                order.payment_due_at != "",
                rx.text("Items kept until ", local_time(order.payment_due_at), size="2", color=MUTED),
            ),
            rx.cond(
                order.status == "expired",
                rx.text(
                    "Nobody paid for this order in time, so its items went back on sale. Nothing was charged.", size="2"
                ),
            ),
            rx.cond(
                order.status == "refund_pending",
                rx.text(
                    "Cancelled: the refund is on its way (it is retried until the payment service confirms it).",
                    size="2",
                ),
            ),
            *(
                [
                    rx.cond(
                        order.can_pay,
                        rx.link(
                            rx.button("Pay now", size="3"),
                            href="/checkout?order=" + order.id.to_string(),
                            data_testid="pay-now",
                        ),
                    )
                ]
                if shopper
                else []
            ),
            spacing="2",
            align="start",
        ),
        width="100%",
        data_testid="payment-card-panel",
    )


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
            rx.cond(
                step.from_status == "",
                "Placed",
                words(step.from_status, STATUS_WORDS).to(str) + " → " + words(step.to_status, STATUS_WORDS).to(str),
            ),
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
