"""Admin: all orders (filter, search) and one order with its status workflow."""

import reflex as rx

from ecom_reflex.components.admin import admin_list, admin_shell, admin_toolbar, confirmed_button, filter_select
from ecom_reflex.components.layout import MUTED, detail_or_missing, local_time, not_found
from ecom_reflex.components.listing import search_box
from ecom_reflex.components.orders import (
    PAYMENT_WORDS,
    STATUS_WORDS,
    order_lines_table,
    order_row,
    payment_card,
    shipping_and_history,
    status_badge,
    words,
)
from ecom_reflex.services.orders import AdminOrderRow
from ecom_reflex.state.admin.orders import ORDER_STATUSES, AdminOrdersState, AdminOrderState


def _payment_cell(order: rx.Var[AdminOrderRow]) -> rx.Component:
    return rx.vstack(
        rx.text(words(order.payment_status, PAYMENT_WORDS), size="2", data_testid="admin-payment-status"),
        rx.cond(order.card != "", rx.text(order.card, size="1", color=MUTED)),
        rx.cond(order.payment_reference != "", rx.code(order.payment_reference, size="1")),
        spacing="0",
    )


def _row(order: rx.Var[AdminOrderRow]) -> rx.Component:
    return order_row(order, "/admin/orders/", "admin-order-row", order.customer, _payment_cell(order))


def orders_page() -> rx.Component:
    state = AdminOrdersState
    return admin_shell(
        "Orders",
        "Orders",
        admin_toolbar(
            search_box(state.search_orders, state.order_search, "Order number, customer name or e-mail…"),
            filter_select(
                "Status",
                "All statuses",
                [rx.select.item(STATUS_WORDS[status].capitalize(), value=status) for status in ORDER_STATUSES],
                state.order_status_filter,
                state.filter_status,
            ),
        ),
        admin_list(
            state,
            "orders",
            ("Order", "Customer", "Payment", "Placed", "Items", "Total", "Status"),
            state.order_rows,
            _row,
        ),
    )


# What each step is called on its button.
MOVE_LABELS = {"shipped": "Mark as shipped", "delivered": "Mark as delivered"}


def _move_button(order: rx.Var, status: rx.Var[str]) -> rx.Component:
    """The next steps in workflow order; a cancel (always last) is red and asks first."""
    return rx.cond(
        status == "cancelled",
        confirmed_button(
            "Cancel order",
            "Cancel order #" + order.number + "?",
            rx.cond(
                order.payment_status == "captured",
                "Its payment of " + order.total + " is refunded through the payment service first; once the refund"
                " went through, its items go back in stock. A cancelled order cannot be reopened.",
                "Its held items go back in stock and the shopper sees the order as cancelled. A cancelled order"
                " cannot be reopened.",
            ),
            "Cancel order #" + order.number,
            AdminOrderState.change_status(status),
            variant="outline",
            test_id="move-to-" + status,
        ),
        rx.button(
            rx.match(status, *MOVE_LABELS.items(), status),
            on_click=AdminOrderState.change_status(status),
            data_testid="move-to-" + status,
        ),
    )


def _detail() -> rx.Component:
    order = AdminOrderState.admin_order
    return rx.vstack(
        rx.hstack(
            status_badge(order.status),
            rx.text("by ", order.customer, " · placed ", local_time(order.created_at), color=MUTED),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.cond(
            AdminOrderState.next_statuses.length() > 0,
            rx.hstack(
                rx.text("Move to:", size="2"),
                rx.foreach(AdminOrderState.next_statuses, lambda status: _move_button(order, status)),
                align="center",
                spacing="2",
            ),
            rx.text("This order is final: its status can no longer change.", size="2"),
        ),
        order_lines_table(order),
        rx.text("Total ", rx.text.strong(order.total), size="4"),
        payment_card(order, shopper=False),
        shipping_and_history(order),
        rx.link("← All orders", href="/admin/orders"),
        spacing="4",
        width="100%",
    )


def order_page() -> rx.Component:
    order = AdminOrderState.admin_order
    return admin_shell(
        "Orders",
        rx.cond(order, "Order #" + order.number, "Order"),
        detail_or_missing(
            AdminOrderState.admin_order_missing,
            AdminOrderState.admin_order,
            _detail(),
            not_found(
                "Order not found", "There is no order with this number.", ("All orders", "/admin/orders"), heading="h2"
            ),
        ),
    )
