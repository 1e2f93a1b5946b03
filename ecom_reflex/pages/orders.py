"""My orders, and one order with its status history (also the confirmation page)."""

import reflex as rx

from ecom_reflex.components.layout import centered_message, loading, page_shell
from ecom_reflex.services.orders import OrderDetail, OrderLine, OrderSummary, StatusStep
from ecom_reflex.state.orders import OrdersState

STATUS_COLORS = {"pending": "amber", "paid": "blue", "shipped": "violet", "delivered": "green", "cancelled": "gray"}


def status_badge(status: rx.Var[str]) -> rx.Component:
    return rx.badge(
        status,
        color_scheme=rx.match(status, *STATUS_COLORS.items(), "gray"),
        size="2",
        data_testid="order-status",
    )


def _order_row(order: rx.Var[OrderSummary]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link("#" + order.number, href="/orders/" + order.id.to_string(), weight="bold")),
        rx.table.cell(order.created_at),
        rx.table.cell(order.item_count),
        rx.table.cell(order.total),
        rx.table.cell(status_badge(order.status)),
        data_testid="order-row",
    )


def orders_page() -> rx.Component:
    return page_shell(
        rx.heading("My orders", size="7", margin_bottom="1em"),
        rx.cond(
            ~OrdersState.orders_loaded,
            loading(),
            rx.cond(
                OrdersState.orders_total == 0,
                centered_message(
                    "package",
                    "No orders yet",
                    "Your orders will appear here.",
                    rx.link(rx.button("Start shopping"), href="/"),
                    "no-orders",
                ),
                rx.vstack(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                *[
                                    rx.table.column_header_cell(h)
                                    for h in ("Order", "Placed", "Items", "Total", "Status")
                                ]
                            )
                        ),
                        rx.table.body(rx.foreach(OrdersState.orders, _order_row)),
                        width="100%",
                        variant="surface",
                    ),
                    rx.cond(
                        OrdersState.orders_pages > 1,
                        rx.hstack(
                            rx.link(
                                "Newer",
                                href="/orders?page=" + (OrdersState.orders_page - 1).to_string(),
                                visibility=rx.cond(OrdersState.orders_page > 1, "visible", "hidden"),
                            ),
                            rx.text(f"Page {OrdersState.orders_page} of {OrdersState.orders_pages}", size="2"),
                            rx.link(
                                "Older",
                                href="/orders?page=" + (OrdersState.orders_page + 1).to_string(),
                                visibility=rx.cond(
                                    OrdersState.orders_page < OrdersState.orders_pages, "visible", "hidden"
                                ),
                            ),
                            spacing="5",
                            justify="center",
                            width="100%",
                        ),
                    ),
                    width="100%",
                    overflow_x="auto",
                ),
            ),
        ),
    )


def line_row(line: rx.Var[OrderLine]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link(line.name, href="/product/" + line.product_id.to_string())),
        rx.table.cell(line.unit_price),
        rx.table.cell(line.quantity),
        rx.table.cell(line.line_total),
    )


def history_step(step: rx.Var[StatusStep]) -> rx.Component:
    return rx.hstack(
        rx.icon("circle-check", size=16, color=rx.color("green", 9)),
        rx.text(
            rx.cond(step.from_status == "", "Placed", step.from_status + " → " + step.to_status),
            weight="medium",
            size="2",
        ),
        rx.text(step.at, size="2", color=rx.color("gray", 10)),
        rx.cond(step.by != "", rx.text("by ", step.by, size="2", color=rx.color("gray", 10))),
        spacing="2",
        align="center",
        data_testid="history-step",
    )


def order_lines_table(order: rx.Var[OrderDetail]) -> rx.Component:
    """The lines of an order (shopper's and admin's order pages)."""
    return rx.table.root(
        rx.table.header(
            rx.table.row(*[rx.table.column_header_cell(h) for h in ("Product", "Price", "Quantity", "Total")])
        ),
        rx.table.body(rx.foreach(order.lines, line_row)),
        width="100%",
        variant="surface",
    )


def shipping_and_history(order: rx.Var[OrderDetail]) -> rx.Component:
    """Where an order goes and how its status changed (shopper's and admin's order pages)."""
    return rx.grid(
        rx.card(
            rx.heading("Shipping to", size="3", margin_bottom="0.5em"),
            rx.foreach(order.shipping_lines, lambda line: rx.text(line, size="2")),
        ),
        rx.card(
            rx.heading("Status history", size="3", margin_bottom="0.5em"),
            rx.vstack(rx.foreach(order.history, history_step), spacing="2"),
        ),
        columns=rx.breakpoints(initial="1", md="2"),
        spacing="4",
        width="100%",
    )


def _order_detail() -> rx.Component:
    order = OrdersState.order
    return rx.vstack(
        rx.cond(
            OrdersState.just_placed,
            rx.callout(
                "Thank you! Your order #" + order.number + " has been placed.",
                icon="circle-check",
                color_scheme="green",
                size="3",
                width="100%",
                data_testid="order-confirmation",
            ),
        ),
        rx.hstack(
            rx.heading("Order #", order.number, size="7", data_testid="order-number"),
            status_badge(order.status),
            align="center",
            spacing="4",
        ),
        rx.text("Placed ", order.created_at, color=rx.color("gray", 10)),
        order_lines_table(order),
        rx.hstack(
            rx.spacer(),
            rx.text("Total", size="4"),
            rx.text(order.total, size="5", weight="bold", data_testid="order-total"),
            width="100%",
            align="center",
            spacing="3",
        ),
        shipping_and_history(order),
        rx.link("← All my orders", href="/orders"),
        spacing="4",
        width="100%",
    )


def order_page() -> rx.Component:
    return page_shell(
        rx.cond(
            OrdersState.order_missing,
            centered_message(
                "search-x",
                "Order not found",
                "We could not find that order in your account.",
                rx.link(rx.button("My orders"), href="/orders"),
                "not-found",
            ),
            rx.cond(OrdersState.order, _order_detail(), loading()),
        )
    )
