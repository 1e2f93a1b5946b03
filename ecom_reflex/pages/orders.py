"""My orders, and one order with its status history (also the confirmation page)."""

import reflex as rx

from ecom_reflex.components.layout import (
    MUTED,
    centered_message,
    detail_or_missing,
    local_time,
    not_found,
    page_shell,
    page_title,
    when_loaded,
)
from ecom_reflex.components.listing import data_table, pager
from ecom_reflex.components.orders import (
    order_lines_table,
    order_row,
    payment_card,
    shipping_and_history,
    status_badge,
)
from ecom_reflex.state.orders import OrdersState


def orders_page() -> rx.Component:
    state = OrdersState
    return page_shell(
        page_title("My orders", margin_bottom="1em"),
        when_loaded(
            state.orders_loaded,
            state.orders_total == 0,
            centered_message(
                "package", "No orders yet", "Your orders will appear here.", ("Start shopping", "/"), "no-orders"
            ),
            rx.vstack(
                data_table(
                    ("Order", "Placed", "Items", "Total", "Status"),
                    state.orders,
                    lambda order: order_row(order, "/orders/", "order-row"),
                ),
                pager(
                    state.orders_page,
                    state.orders_pages,
                    "/orders?page=" + (state.orders_page - 1).to_string(),
                    "/orders?page=" + (state.orders_page + 1).to_string(),
                    labels=("Newer", "Older"),
                ),
                width="100%",
            ),
        ),
    )


def _order_detail() -> rx.Component:
    order = OrdersState.order
    return rx.vstack(
        rx.cond(
            OrdersState.just_placed & (order.status == "paid"),
            rx.callout(
                "Thank you! Your order #" + order.number + " has been placed and paid.",
                icon="circle-check",
                color_scheme="green",
                size="3",
                width="100%",
                data_testid="order-confirmation",
            ),
        ),
        rx.hstack(
            page_title("Order #", order.number, data_testid="order-number"),
            status_badge(order.status),
            align="center",
            spacing="4",
        ),
        rx.text("Placed ", local_time(order.created_at), color=MUTED),
        order_lines_table(order),
        rx.hstack(
            rx.spacer(),
            rx.text("Total", size="4"),
            rx.text(order.total, size="5", weight="bold", data_testid="order-total"),
            width="100%",
            align="center",
            spacing="3",
        ),
        payment_card(order, shopper=True),
        shipping_and_history(order),
        rx.link("← All my orders", href="/orders"),
        spacing="4",
        width="100%",
    )


def order_page() -> rx.Component:
    return page_shell(
        detail_or_missing(
            OrdersState.order_missing,
            OrdersState.order,
            _order_detail(),
            not_found("Order not found", "We could not find that order in your account.", ("My orders", "/orders")),
        )
    )
