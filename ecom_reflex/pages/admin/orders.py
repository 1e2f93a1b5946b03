"""Admin: all orders (filter, search) and one order with its status workflow."""

import reflex as rx

from ecom_reflex.components.admin import admin_shell, pager, search_box
from ecom_reflex.components.layout import centered_message
from ecom_reflex.pages.orders import order_lines_table, shipping_and_history, status_badge
from ecom_reflex.services.orders import AdminOrderRow
from ecom_reflex.state.admin import ORDER_STATUSES, AdminOrdersState, AdminOrderState


def _row(order: rx.Var[AdminOrderRow]) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.link("#" + order.number, href="/admin/orders/" + order.id.to_string(), weight="bold")),
        rx.table.cell(order.customer),
        rx.table.cell(order.created_at),
        rx.table.cell(order.item_count),
        rx.table.cell(order.total),
        rx.table.cell(status_badge(order.status)),
        data_testid="admin-order-row",
    )


def orders_page() -> rx.Component:
    state = AdminOrdersState
    return admin_shell(
        "Orders",
        rx.flex(
            search_box(state.search_orders, state.order_search, "Order number, customer name or e-mail…"),
            rx.select.root(
                rx.select.trigger(aria_label="Status"),
                rx.select.content(
                    rx.select.item("All statuses", value="all"),
                    *[rx.select.item(status.capitalize(), value=status) for status in ORDER_STATUSES],
                ),
                value=rx.cond(state.order_status_filter == "", "all", state.order_status_filter),
                on_change=state.filter_status,
            ),
            spacing="3",
            wrap="wrap",
            width="100%",
        ),
        rx.text(f"{state.order_total} orders", size="2", color=rx.color("gray", 10)),
        rx.cond(
            state.order_total == 0,
            rx.text("No orders match.", data_testid="empty-state"),
            rx.box(
                rx.table.root(
                    rx.table.header(
                        rx.table.row(
                            *[
                                rx.table.column_header_cell(h)
                                for h in ("Order", "Customer", "Placed", "Items", "Total", "Status")
                            ]
                        )
                    ),
                    rx.table.body(rx.foreach(state.order_rows, _row)),
                    width="100%",
                    variant="surface",
                ),
                width="100%",
                overflow_x="auto",
            ),
        ),
        pager(state.order_page, state.order_pages, state.previous_url, state.next_url),
    )


def _detail() -> rx.Component:
    order = AdminOrderState.admin_order
    return rx.vstack(
        rx.hstack(
            rx.heading("#", order.number, size="6", data_testid="order-number"),
            status_badge(order.status),
            rx.text("by ", order.customer, " · placed ", order.created_at, color=rx.color("gray", 10)),
            align="center",
            spacing="3",
            wrap="wrap",
        ),
        rx.cond(
            AdminOrderState.next_statuses.length() > 0,
            rx.hstack(
                rx.text("Move to:", size="2"),
                rx.foreach(
                    AdminOrderState.next_statuses,
                    lambda status: rx.button(
                        status,
                        variant=rx.cond(status == "cancelled", "outline", "solid"),
                        color_scheme=rx.cond(status == "cancelled", "red", "indigo"),
                        on_click=AdminOrderState.change_status(status),
                        data_testid="move-to-" + status,
                    ),
                ),
                align="center",
                spacing="2",
            ),
            rx.text("This order is final: its status can no longer change.", size="2"),
        ),
        order_lines_table(order),
        rx.text("Total ", rx.text.strong(order.total), size="4"),
        shipping_and_history(order),
        rx.link("← All orders", href="/admin/orders"),
        spacing="4",
        width="100%",
    )


def order_page() -> rx.Component:
    return admin_shell(
        "Order",
        rx.cond(
            AdminOrderState.admin_order_missing,
            centered_message(
                "search-x",
                "Order not found",
                "There is no order with this number.",
                rx.link(rx.button("All orders"), href="/admin/orders"),
                "not-found",
            ),
            rx.cond(AdminOrderState.admin_order, _detail()),
        ),
    )
