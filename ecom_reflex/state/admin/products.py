"""State of /admin/products (the product list) and /admin/products/<id> (the product form)."""

from __future__ import annotations

import reflex as rx

from ecom_reflex.db import session_scope, transaction
from ecom_reflex.money import plain_amount
from ecom_reflex.observability import business
from ecom_reflex.services import images, products
from ecom_reflex.services.errors import ChangedSinceSeen, FieldErrors, NotFound, ServiceError
from ecom_reflex.services.products import AdminProductRow, CategoryOption
from ecom_reflex.settings import ASSETS_DIR, get_settings
from ecom_reflex.state.admin import AdminListing, AdminState, admin_only, admin_url
from ecom_reflex.state.inputs import form_fields, parse_id
from ecom_reflex.state.session import path_argument

NOT_FOUND = "We could not find that product."


class AdminProductsState(AdminListing, AdminState):
    product_rows: list[AdminProductRow] = []
    product_query: str = ""
    product_category: str = ""
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
        self.product_rows = self._load_page(
            products.list_admin_products, query=self.product_query, category_id=parse_id(self.product_category)
        )

    def _listing_url(self, page: int = 1) -> str:
        return admin_url("/admin/products", q=self.product_query, category=self.product_category, page=page)

    @rx.event
    @admin_only
    def search_products(self, form_data: dict):
        self.product_query = form_fields(form_data, {"q": 100})["q"]
        return rx.redirect(self._listing_url())

    @rx.event
    @admin_only
    def filter_category(self, category_id: str):
        self.product_category = "" if category_id == "all" else str(parse_id(category_id) or "")
        return rx.redirect(self._listing_url())

    @rx.event
    @admin_only
    def set_product_active(self, product_id: int, active: bool):
        target, on_sale = parse_id(product_id), active is True
        try:
            if target is None:
                raise NotFound("no such product")
            name = transaction(lambda session: products.set_active(session, target, on_sale).name, write=True)
        except NotFound:
            return rx.toast.error(NOT_FOUND)
        business.admin_change(self._admin_id, "product.set_active", product_id=target, active=on_sale)
        self._load_products()
        return rx.toast.success(f"{name} is {'back on sale' if on_sale else 'hidden from the shop'}.")

    @rx.event
    @admin_only
    def delete_product(self, product_id: int):
        target = parse_id(product_id)
        if target is None:
            return rx.toast.error(NOT_FOUND)
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
    form_error: str = ""
    # What the form was opened with: a save applies over it, never over what changed since.
    _seen_version: int = 0
    _seen_stock: int = 0
    form_categories: list[CategoryOption] = []
    form_missing: bool = False
    uploading: bool = False
    # How far the image being uploaded is (0-100), -1 when none is.
    upload_percent: int = -1

    @rx.event
    @admin_only
    def load_form(self):
        """on_load of /admin/products/new and /admin/products/<id>."""
        raw_id = path_argument(self.router.url.path.removeprefix("/admin"), "products")
        self.errors, self.form_error, self.form_missing, self.uploading = {}, "", False, False
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
        self._seen_version, self._seen_stock = product.version, product.stock
        self.values = {
            "name": product.name,
            "description": product.description,
            "price": plain_amount(product.price_cents),
            "stock": str(product.stock),
            "category_id": str(product.category_id),
        }

    @rx.event
    @admin_only
    def upload_progress(self, progress: dict):
        """The browser's report of the upload under way (a fraction from 0 to 1)."""
        fraction = progress.get("progress") if isinstance(progress, dict) else None
        if isinstance(fraction, int | float) and 0 <= fraction <= 1:
            self.upload_percent = round(fraction * 100)

    @rx.event
    @admin_only
    async def upload_image(self, files: list[rx.UploadFile]):
        """Runs as soon as an image is dropped or chosen: one step, no button."""
        self.upload_percent = -1
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

        seen = products.SeenProduct(version=self._seen_version, stock=self._seen_stock)

        def save(session) -> tuple[products.ProductInput, str, int, int | None]:
            category_ids = {option.id for option in products.category_options(session)}
            data = products.validate_product_form(form, category_ids, get_settings().upload_dir, ASSETS_DIR)
            if not self.editing_id:
                created = products.create(session, data)
                return data, created.name, created.id, None
            saved = products.update(session, self.editing_id, data, seen)
            return data, saved.product.name, saved.product.id, saved.stock_before

        try:
            data, name, product_id, stock_before = transaction(save, write=True)
        except FieldErrors as error:
            self.errors, self.form_error = error.errors, ""
            return
        except ChangedSinceSeen as error:
            self.errors, self.form_error = {}, str(error)
            return rx.toast.error("Not saved: the product changed since you opened it.")
        except NotFound as error:
            return rx.toast.error(str(error))
        business.admin_change(
            self._admin_id,
            "product.update" if self.editing_id else "product.create",
            product_id=product_id,
            product_name=name,
            price_cents=data.price_cents,
            stock=data.stock if stock_before is None else stock_before + data.stock - seen.stock,
            category_id=data.category_id,
            image=data.image,
        )
        self.errors, self.form_error = {}, ""
        verb = "saved" if self.editing_id else "created"
        message = f"{name} was {verb} (#{product_id})."
        if stock_before is not None and stock_before != seen.stock and data.stock != seen.stock:
            # Sales (or cancellations) moved the stock while the form was open: the admin's change applies on top.
            stock = stock_before + data.stock - seen.stock
            message += (
                f" Stock is {stock}: it went from {seen.stock} to {stock_before} while you edited,"
                f" and your change of {data.stock - seen.stock:+d} applies on top."
            )
        return [rx.redirect(admin_url("/admin/products", q=name)), rx.toast.success(message)]
