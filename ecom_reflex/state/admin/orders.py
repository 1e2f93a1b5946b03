"""State of /admin/orders (every order: filter, search) and /admin/orders/<id> (its status workflow)."""

from __future__ import annotations

import reflex as rx

from ecom_reflex import payments
from ecom_reflex.db import session_scope, transaction
from ecom_reflex.models import OrderStatus
from ecom_reflex.observability import business
from ecom_reflex.offload import run_db
from ecom_reflex.services import orders
from ecom_reflex.services.errors import NotFound, ServiceError
from ecom_reflex.services.orders import AdminOrderRow, OrderDetail
from ecom_reflex.state.admin import AdminListing, AdminState, admin_only, admin_url
from ecom_reflex.state.inputs import clean_text, form_fields, parse_id
from ecom_reflex.state.session import path_argument

ORDER_STATUSES = [status.value for status in OrderStatus]


class AdminOrdersState(AdminListing, AdminState):
    order_rows: list[AdminOrderRow] = []
    order_status_filter: str = ""
    order_search: str = ""

    @rx.event
    @admin_only
    def load_orders(self):
        status = self._query_param("status")
        self.order_status_filter = status if status in ORDER_STATUSES else ""
        self.order_search = self._query_param("q")
        self.order_rows = self._load_page(orders.list_orders, status=self.order_status_filter, search=self.order_search)

    def _listing_url(self, page: int = 1) -> str:
        return admin_url("/admin/orders", status=self.order_status_filter, q=self.order_search, page=page)

    @rx.event
    @admin_only
    def search_orders(self, form_data: dict):
        self.order_search = form_fields(form_data, {"q": 100})["q"]
        return rx.redirect(self._listing_url())

    @rx.event
    @admin_only
    def filter_status(self, status: str):
        self.order_status_filter = status if status in ORDER_STATUSES else ""
        return rx.redirect(self._listing_url())


class AdminOrderState(AdminState):
    admin_order: OrderDetail | None = None
    admin_order_missing: bool = False
    next_statuses: list[str] = []

    def _load(self, order_id: int) -> None:
        with session_scope() as session:
            try:
                self.admin_order = orders.order_detail(session, order_id)
            except NotFound:
                self.admin_order, self.admin_order_missing, self.next_statuses = None, True, []
                return
        self.admin_order_missing = False
        self.next_statuses = orders.allowed_next_statuses(self.admin_order.status)

    @rx.event
    @admin_only
    def load_order(self):
        self._load(parse_id(path_argument(self.router.url.path.removeprefix("/admin"), "orders")) or 0)

    @rx.event
    @admin_only
    async def change_status(self, to_status: str):
        if self.admin_order is None:
            return rx.toast.error("We could not find that order.")
        # The status this page shows: a change made since (another tab, another admin) is not overwritten.
        order_id, seen = self.admin_order.id, self.admin_order.status
        target = clean_text(to_status, 20)
        admin_id = self._admin_id
        try:
            status = await run_db(
                lambda: transaction(
                    lambda session: orders.change_status(session, order_id, target, admin_id, seen).status,
                    write=True,
                )
            )
            business.admin_change(admin_id, "order.status", order_id=order_id, to_status=status)
        except ServiceError as error:
            await run_db(self._load, order_id)
            return rx.toast.error(str(error))
        if status == OrderStatus.REFUND_PENDING:
            # The money goes back before the stock does; a refund that fails stays pending and is retried.
            refunded = await payments.refund(order_id)
            await run_db(self._load, order_id)
            if not refunded:
                return rx.toast.warning(
                    f"Order #{self.admin_order.number} is cancelled, but its refund did not go through yet: it is"
                    " refund pending and is retried until the payment service confirms it."
                )
            return rx.toast.success(f"Order #{self.admin_order.number} is cancelled and refunded.")
        await run_db(self._load, order_id)
        return rx.toast.success(f"Order #{self.admin_order.number} is now {status.replace('_', ' ')}.")
