"""Admin states. Every event handler here is wrapped by `admin_only`, the one guard.

Any websocket client can send any event with any arguments, so the guard runs
on the server before a handler reads or changes anything: it resolves the
caller's session afresh and refuses unless the user is an active admin. The
guard and a plain handler run together in a database thread, off the event loop.
tests/test_admin_security.py calls every handler of every AdminState subclass
as a shopper and as nobody, so a handler added without the guard fails there.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from urllib.parse import urlencode

import reflex as rx

from ecom_reflex.db import session_scope, transaction
from ecom_reflex.models import OrderStatus
from ecom_reflex.money import format_cents
from ecom_reflex.observability import business
from ecom_reflex.offload import in_db_thread, run_db
from ecom_reflex.services import analytics, images, orders, products, users
from ecom_reflex.services.errors import FieldErrors, NotFound, ServiceError
from ecom_reflex.services.orders import AdminOrderRow, OrderDetail
from ecom_reflex.services.products import AdminProductRow, CategoryOption
from ecom_reflex.services.users import UserRow
from ecom_reflex.settings import ASSETS_DIR, get_settings
from ecom_reflex.state.inputs import clean_text, form_fields, parse_id, parse_int, parse_page
from ecom_reflex.state.session import SessionState, path_argument

DENIED = "Admins only."


def admin_only(handler: Callable) -> Callable:
    """Run `handler` only for an active admin; anyone else gets a refusal and nothing happens."""
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def guarded_async(self: AdminState, *args, **kwargs):
            if not await run_db(self._caller_is_admin):
                return rx.toast.error(DENIED)
            return await handler(self, *args, **kwargs)

        guarded_async.admin_guarded = True
        return guarded_async

    @functools.wraps(handler)
    def guarded(self: AdminState, *args, **kwargs):
        if not self._caller_is_admin():
            return rx.toast.error(DENIED)
        return handler(self, *args, **kwargs)

    guarded = in_db_thread(guarded)
    guarded.admin_guarded = True
    return guarded


def _url(path: str, **params) -> str:
    query = urlencode({key: value for key, value in params.items() if value not in ("", None, 0, 1)})
    return f"{path}?{query}" if query else path


class AdminState(SessionState):
    # "checking" until the first guarded event answers, then "granted" or "denied".
    access: str = "checking"
    # The admin's user id as the guard found it for the current event (server-side only).
    _admin_id: int = 0

    def _caller_is_admin(self) -> bool:
        with session_scope() as session:
            user = self._current_user(session)
            allowed = user is not None and user.is_admin and user.is_active
        self._admin_id = user.id if allowed else 0
        self.access = "granted" if allowed else "denied"
        return allowed

    def _query_param(self, name: str, max_length: int = 100) -> str:
        return clean_text(self.router.url.query_parameters.get(name, ""), max_length)


class AdminProductsState(AdminState):
    product_rows: list[AdminProductRow] = []
    product_query: str = ""
    product_category: str = ""
    product_page: int = 1
    product_pages: int = 1
    product_total: int = 0
    category_options: list[CategoryOption] = []

    @rx.event
    @admin_only
    def load_products(self):
        self._load_products()

    def _load_products(self) -> None:
        self.product_query = self._query_param("q")
        self.product_category = self._query_param("category")
        with session_scope() as session:
            self.category_options = products.category_options(session)
            result = products.list_products(
                session,
                query=self.product_query,
                category_id=parse_id(self.product_category),
                page=parse_page(self._query_param("page")),
            )
        self.product_rows = result.items
        self.product_page, self.product_pages, self.product_total = result.page, result.pages, result.total

    def _listing(self, page: int = 1) -> str:
        return _url("/admin/products", q=self.product_query, category=self.product_category, page=page)

    @rx.var
    def previous_url(self) -> str:
        return self._listing(self.product_page - 1)

    @rx.var
    def next_url(self) -> str:
        return self._listing(self.product_page + 1)

    @rx.event
    @admin_only
    def search_products(self, form_data: dict):
        self.product_query = form_fields(form_data, {"q": 100})["q"]
        return rx.redirect(self._listing())

    @rx.event
    @admin_only
    def filter_category(self, category_id: str):
        self.product_category = "" if category_id == "all" else str(parse_id(category_id) or "")
        return rx.redirect(self._listing())

    @rx.event
    @admin_only
    def set_product_active(self, product_id: int, active: bool):
        target, on_sale = parse_id(product_id), active is True
        try:
            if target is None:
                raise NotFound("no such product")
            name = transaction(lambda session: products.set_active(session, target, on_sale).name, write=True)
        except NotFound:
            return rx.toast.error("We could not find that product.")
        business.admin_change(self._admin_id, "product.set_active", product_id=target, active=on_sale)
        self._load_products()
        return rx.toast.success(f"{name} is {'back on sale' if on_sale else 'hidden from the shop'}.")

    @rx.event
    @admin_only
    def delete_product(self, product_id: int):
        target = parse_id(product_id)
        if target is None:
            return rx.toast.error("We could not find that product.")
        try:
            name = transaction(lambda session: products.delete(session, target), write=True)
        except ServiceError as error:
            return rx.toast.error(str(error))
        business.admin_change(self._admin_id, "product.delete", product_id=target, product_name=name)
        self._load_products()
        return rx.toast.success(f"{name} was deleted.")


# Field: the most characters read. Generous on purpose: products.validate_product_form judges
# the length (after folding white space) and says so; this only bounds the work.
PRODUCT_FIELDS = {"name": 1_000, "description": 20_000, "price": 64, "stock": 64, "category_id": 64}


class AdminProductFormState(AdminState):
    editing_id: int = 0
    values: dict[str, str] = {}
    image: str = ""
    errors: dict[str, str] = {}
    form_categories: list[CategoryOption] = []
    form_missing: bool = False
    uploading: bool = False

    @rx.event
    @admin_only
    def load_form(self):
        """on_load of /admin/products/new and /admin/products/<id>."""
        raw_id = path_argument(self.router.url.path.removeprefix("/admin"), "products")
        self.errors, self.form_missing, self.uploading = {}, False, False
        with session_scope() as session:
            self.form_categories = products.category_options(session)
            if raw_id in ("", "new"):
                self.editing_id, self.image = 0, ""
                self.values = {"name": "", "description": "", "price": "", "stock": "0", "category_id": ""}
                return
            try:
                product = products.get(session, parse_id(raw_id) or 0)
            except NotFound:
                self.form_missing = True
                return
        self.editing_id, self.image = product.id, product.image
        self.values = {
            "name": product.name,
            "description": product.description,
            "price": f"{product.price_cents // 100}.{product.price_cents % 100:02d}",
            "stock": str(product.stock),
            "category_id": str(product.category_id),
        }

    @rx.event
    @admin_only
    async def upload_image(self, files: list[rx.UploadFile]):
        if not files:
            return rx.toast.error("Choose an image first.")
        # One byte past the limit is enough to know it is too big.
        data = await files[0].read(images.MAX_IMAGE_BYTES + 1)
        try:
            self.image = images.store_image(data, get_settings().upload_dir)
            business.admin_change(self._admin_id, "image.upload", image=self.image, size_bytes=len(data))
        except ServiceError as error:
            self.errors = {**self.errors, "image": str(error)}
            return rx.toast.error(str(error))
        self.errors = {key: value for key, value in self.errors.items() if key != "image"}
        return rx.toast.success("Image uploaded. Save the product to keep it.")

    @rx.event
    @admin_only
    def remove_image(self):
        self.image = ""

    @rx.event
    @admin_only
    def save_product(self, form_data: dict):
        form = form_fields(form_data, PRODUCT_FIELDS, multiline=frozenset({"description"}))
        self.values = dict(form)
        form["image"] = self.image

        def save(session) -> tuple[products.ProductInput, str, int]:
            category_ids = {option.id for option in products.category_options(session)}
            data = products.validate_product_form(form, category_ids, get_settings().upload_dir, ASSETS_DIR)
            saved = (
                products.update(session, self.editing_id, data) if self.editing_id else products.create(session, data)
            )
            return data, saved.name, saved.id

        try:
            data, name, product_id = transaction(save, write=True)
        except FieldErrors as error:
            self.errors = error.errors
            return
        except NotFound as error:
            return rx.toast.error(str(error))
        business.admin_change(
            self._admin_id,
            "product.update" if self.editing_id else "product.create",
            product_id=product_id,
            product_name=name,
            price_cents=data.price_cents,
            stock=data.stock,
            category_id=data.category_id,
            image=data.image,
        )
        self.errors = {}
        verb = "saved" if self.editing_id else "created"
        return [rx.redirect(_url("/admin/products", q=name)), rx.toast.success(f"{name} was {verb} (#{product_id}).")]


class AdminUsersState(AdminState):
    user_rows: list[UserRow] = []
    user_query: str = ""
    user_page: int = 1
    user_pages: int = 1
    user_total: int = 0

    @rx.event
    @admin_only
    def load_users(self):
        self._load_users()

    def _load_users(self) -> None:
        self.user_query = self._query_param("q")
        with session_scope() as session:
            result = users.list_users(session, query=self.user_query, page=parse_page(self._query_param("page")))
        self.user_rows = result.items
        self.user_page, self.user_pages, self.user_total = result.page, result.pages, result.total

    @rx.var
    def previous_url(self) -> str:
        return _url("/admin/users", q=self.user_query, page=self.user_page - 1)

    @rx.var
    def next_url(self) -> str:
        return _url("/admin/users", q=self.user_query, page=self.user_page + 1)

    @rx.event
    @admin_only
    def search_users(self, form_data: dict):
        return rx.redirect(_url("/admin/users", q=form_fields(form_data, {"q": 100})["q"]))

    def _change(self, change: Callable, user_id: int, flag: bool, done: str):
        target, flag = parse_id(user_id), flag is True
        if target is None:
            return rx.toast.error("We could not find that user.")
        try:
            username = transaction(lambda session: change(session, self._admin_id, target, flag).username, write=True)
        except ServiceError as error:
            return rx.toast.error(str(error))
        business.admin_change(self._admin_id, f"user.{change.__name__}", target_user_id=target, value=flag)
        self._load_users()
        return rx.toast.success(done.format(username=username))

    @rx.event
    @admin_only
    def set_user_active(self, user_id: int, active: bool):
        done = "{username} is enabled." if active else "{username} is disabled and logged out everywhere."
        return self._change(users.set_active, user_id, active, done)

    @rx.event
    @admin_only
    def set_user_admin(self, user_id: int, admin: bool):
        done = "{username} is now an admin." if admin else "{username} is no longer an admin."
        return self._change(users.set_admin, user_id, admin, done)


ORDER_STATUSES = [status.value for status in OrderStatus]


class AdminOrdersState(AdminState):
    order_rows: list[AdminOrderRow] = []
    order_status_filter: str = ""
    order_search: str = ""
    order_page: int = 1
    order_pages: int = 1
    order_total: int = 0

    @rx.event
    @admin_only
    def load_orders(self):
        status = self._query_param("status")
        self.order_status_filter = status if status in ORDER_STATUSES else ""
        self.order_search = self._query_param("q")
        with session_scope() as session:
            result = orders.list_orders(
                session,
                status=self.order_status_filter,
                search=self.order_search,
                page=parse_page(self._query_param("page")),
            )
        self.order_rows = result.items
        self.order_page, self.order_pages, self.order_total = result.page, result.pages, result.total

    @rx.var
    def previous_url(self) -> str:
        return _url("/admin/orders", status=self.order_status_filter, q=self.order_search, page=self.order_page - 1)

    @rx.var
    def next_url(self) -> str:
        return _url("/admin/orders", status=self.order_status_filter, q=self.order_search, page=self.order_page + 1)

    @rx.event
    @admin_only
    def search_orders(self, form_data: dict):
        query = form_fields(form_data, {"q": 100})["q"]
        return rx.redirect(_url("/admin/orders", status=self.order_status_filter, q=query))

    @rx.event
    @admin_only
    def filter_status(self, status: str):
        status = status if status in ORDER_STATUSES else ""
        return rx.redirect(_url("/admin/orders", status=status, q=self.order_search))


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
    def change_status(self, to_status: str):
        if self.admin_order is None:
            return rx.toast.error("We could not find that order.")
        order_id = self.admin_order.id
        try:
            status = transaction(
                lambda session: (
                    orders.change_status(session, order_id, clean_text(to_status, 20), self._admin_id).status
                ),
                write=True,
            )
            business.admin_change(self._admin_id, "order.status", order_id=order_id, to_status=status)
        except ServiceError as error:
            self._load(order_id)
            return rx.toast.error(str(error))
        self._load(order_id)
        return rx.toast.success(f"Order #{self.admin_order.number} is now {status}.")


STATUS_CHART_COLORS = {
    "pending": "#f59e0b",
    "paid": "#3b82f6",
    "shipped": "#8b5cf6",
    "delivered": "#10b981",
    "cancelled": "#9ca3af",
}
EXPORTS = {"products": analytics.products_csv, "orders": analytics.orders_csv, "users": analytics.users_csv}


class AdminAnalyticsState(AdminState):
    period: int = 30
    revenue: str = "$0.00"
    order_count: int = 0
    average_order: str = "$0.00"
    customers: int = 0
    new_registrations: int = 0
    daily_chart: list[dict[str, str | float | int]] = []
    top_chart: list[dict[str, str | float | int]] = []
    status_chart: list[dict[str, str | int]] = []
    # Every order placed in the period, cancelled ones too.
    period_orders: int = 0
    low_stock_rows: list[analytics.LowStockProduct] = []

    @rx.event
    @admin_only
    def load_dashboard(self):
        days = parse_int(self._query_param("days")) or self.period
        self.period = days if days in analytics.PERIODS else 30
        with session_scope() as session:
            kpis = analytics.kpis(session, self.period)
            daily = analytics.daily(session, self.period)
            top = analytics.top_products(session, self.period)
            statuses = analytics.orders_by_status(session, self.period)
            self.low_stock_rows = analytics.low_stock(session)
        self.revenue = format_cents(kpis.revenue_cents)
        self.order_count = kpis.order_count
        self.average_order = format_cents(kpis.average_order_cents)
        self.customers = kpis.customers
        self.new_registrations = kpis.new_registrations
        self.daily_chart = [{"day": d.day[5:], "revenue": d.revenue_cents / 100, "orders": d.orders} for d in daily]
        self.top_chart = [{"name": p.name, "revenue": p.revenue_cents / 100, "quantity": p.quantity} for p in top]
        self.status_chart = [
            {"status": status, "orders": count, "fill": STATUS_CHART_COLORS[status]}
            for status, count in statuses.items()
            if count
        ]
        self.period_orders = sum(statuses.values())

    @rx.event
    @admin_only
    def set_period(self, days: str | list[str]):
        value = parse_int(days[0] if isinstance(days, list) and days else days)
        return rx.redirect(_url("/admin", days=value if value in analytics.PERIODS else 30))

    @rx.event
    @admin_only
    def export_csv(self, kind: str):
        export = EXPORTS.get(str(kind))
        if export is None:
            return rx.toast.error("Unknown export.")
        with session_scope() as session:
            data = export(session)
        return rx.download(data=data, filename=f"{kind}.csv", mime_type="text/csv")
