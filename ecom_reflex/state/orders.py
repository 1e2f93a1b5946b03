"""A shopper's own orders: the list and one order with its history."""

from __future__ import annotations

import asyncio
import time

import reflex as rx

from ecom_reflex.db import session_scope
from ecom_reflex.offload import in_db_thread, run_db
from ecom_reflex.services import orders
from ecom_reflex.services.errors import NotFound
from ecom_reflex.services.orders import OrderDetail, OrderSummary
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.inputs import parse_id, parse_page
from ecom_reflex.state.session import login_url, path_argument

# How long, and how often, an order page looks again at a payment being confirmed.
WATCH_SECONDS = 300
WATCH_INTERVAL_SECONDS = 2.0


class OrdersState(CartState):
    orders: list[OrderSummary] = []
    orders_page: int = 1
    orders_pages: int = 1
    orders_total: int = 0
    orders_loaded: bool = False
    order: OrderDetail | None = None
    order_missing: bool = False
    # One watcher per tab at a time (watch_payment).
    _watching: bool = False

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
        if self.order is not None and self.order.confirming:
            return OrdersState.watch_payment
        return None

    @rx.event(background=True)
    async def watch_payment(self):
        """While the shown order's payment is being confirmed: look again every few seconds (bounded), so the
        page shows the outcome as soon as the reconciler has learnt it."""
        async with self:
            order_id = self.order.id if self.order is not None else None
            if order_id is None or self._watching:
                return
            self._watching = True
        try:
            deadline = time.monotonic() + WATCH_SECONDS
            while time.monotonic() < deadline:
                await asyncio.sleep(WATCH_INTERVAL_SECONDS)
                async with self:
                    if self.order is None or self.order.id != order_id:
                        return  # the tab moved on to another page
                    detail = await run_db(self._reload_order, order_id)
                    if detail is not None:
                        self.order = detail
                    if detail is None or not detail.confirming:
                        return
        finally:
            async with self:
                self._watching = False

    def _reload_order(self, order_id: int) -> OrderDetail | None:
        with session_scope() as session:
            user = self._current_user(session)
            if user is None:
                return None
            try:
                return orders.order_detail(session, order_id, user_id=user.id)
            except NotFound:
                return None
