"""A shopper's own orders: the list and one order with its history."""

from __future__ import annotations

import reflex as rx

from ecom_reflex.db import session_scope
from ecom_reflex.offload import in_db_thread
from ecom_reflex.services import orders
from ecom_reflex.services.errors import NotFound
from ecom_reflex.services.orders import OrderDetail, OrderSummary
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.inputs import parse_id, parse_page
from ecom_reflex.state.session import login_url, path_argument


class OrdersState(CartState):
    orders: list[OrderSummary] = []
    orders_page: int = 1
    orders_pages: int = 1
    orders_total: int = 0
    orders_loaded: bool = False
    order: OrderDetail | None = None
    order_missing: bool = False

    @rx.var
    def just_placed(self) -> bool:
        return self.router.url.query_parameters.get("placed") == "1"

    @rx.event
    @in_db_thread
    def load_orders(self):
        page = parse_page(self.router.url.query_parameters.get("page"))
        with session_scope() as session:
            user = self._current_user(session)
            if user is None:
                return rx.redirect(login_url("/orders"))
            result = orders.list_orders_for_user(session, user.id, page)
        self.orders = result.items
        self.orders_page, self.orders_pages, self.orders_total = result.page, result.pages, result.total
        self.orders_loaded = True

    @rx.event
    @in_db_thread
    def load_order(self):
        raw_id = path_argument(self.router.url.path, "orders")
        order_id = parse_id(raw_id)
        with session_scope() as session:
            user = self._current_user(session)
            if user is None:
                return rx.redirect(login_url(f"/orders/{raw_id}"))
            try:
                self.order = orders.order_detail(session, order_id, user_id=user.id) if order_id else None
            except NotFound:
                self.order = None
        self.order_missing = self.order is None
