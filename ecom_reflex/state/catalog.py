"""The storefront listing (category, search, sort, page, all in the URL) and the product page."""

from __future__ import annotations

from urllib.parse import urlencode

import reflex as rx
from reflex.experimental import ClientStateVar

from ecom_reflex.db import session_scope
from ecom_reflex.offload import in_db_thread
from ecom_reflex.services import catalog
from ecom_reflex.services.cart import MAX_QUANTITY
from ecom_reflex.services.catalog import SORT_LABELS, SORTS, CategoryInfo, ProductDetail, ProductSummary
from ecom_reflex.services.errors import NotFound
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.inputs import clean_text, form_fields, parse_id, parse_page
from ecom_reflex.state.session import location_of, path_argument

MAX_SLUG_LENGTH = 80

# A search or sort asked for and not yet answered: set in the browser the moment it is asked, so
# the listing says it is loading before the round trip (a link's new URL already says so on its
# own, see pages/home.py); put back by the backend once the new listing is in.
listing_requested = ClientStateVar.create("listing_requested", default=False)


def listing_url(category: str = "", query: str = "", sort: str = "newest", page: int = 1) -> str:
    """The canonical URL of a listing; defaults are left out so links stay short."""
    params = {"q": query, "sort": sort if sort != "newest" else "", "page": page if page > 1 else ""}
    encoded = urlencode({key: value for key, value in params.items() if value})
    path = f"/category/{category}" if category else "/"
    return f"{path}?{encoded}" if encoded else path


class CatalogState(CartState):
    products: list[ProductSummary] = []
    categories: list[CategoryInfo] = []
    category: str = ""
    query: str = ""
    sort: str = "newest"
    page: int = 1
    pages: int = 1
    match_count: int = 0
    loaded: bool = False
    # The browser's path and query the products shown are for (the page compares it with its URL).
    loaded_for: str = ""

    @rx.var
    def category_title(self) -> str:
        for info in self.categories:
            if info.slug == self.category:
                return info.name
        return "All products" if not self.category else "Unknown category"

    @rx.var
    def category_missing(self) -> bool:
        """The URL names a category the shop does not have."""
        return self.loaded and bool(self.category) and all(info.slug != self.category for info in self.categories)

    @rx.var
    def sort_label(self) -> str:
        return SORT_LABELS.get(self.sort, SORT_LABELS["newest"])

    @rx.var
    def filter_query_string(self) -> str:
        """The search and sort of this listing, for the category links: switching category keeps them."""
        return listing_url("", self.query, self.sort).removeprefix("/")

    @rx.var
    def everywhere_url(self) -> str:
        """This search in every category."""
        return listing_url("", self.query, self.sort)

    @rx.var
    def previous_page_url(self) -> str:
        return listing_url(self.category, self.query, self.sort, self.page - 1)

    @rx.var
    def next_page_url(self) -> str:
        return listing_url(self.category, self.query, self.sort, self.page + 1)

    @rx.event
    @in_db_thread
    def load_listing(self):
        """on_load of / and /category/[slug]: everything shown comes from the URL."""
        params = self.router.url.query_parameters
        slug = path_argument(self.router.url.path, "category") or params.get("category", "")
        self.category = clean_text(slug, MAX_SLUG_LENGTH).lower()
        self.query = clean_text(params.get("q", ""), catalog.MAX_QUERY_LENGTH)
        self.sort = params.get("sort", "newest") if params.get("sort") in SORTS else "newest"
        with session_scope() as session:
            self.categories = catalog.list_categories(session)
            result = catalog.list_storefront_products(
                session,
                category_slug=self.category or None,
                query=self.query,
                sort=self.sort,
                page=parse_page(params.get("page")),
            )
        self.products = result.items
        self.page, self.pages, self.match_count = result.page, result.pages, result.total
        self.loaded = True
        self.loaded_for = location_of(self.router.url)
        return listing_requested.push(False)

    def _go_to(self, url: str):
        """Open the listing at `url`; the same listing again needs no load, only the request cleared."""
        if url == listing_url(self.category, self.query, self.sort, self.page):
            return listing_requested.push(False)
        return rx.redirect(url)

    @rx.event
    def search(self, form_data: dict):
        query = form_fields(form_data, {"q": catalog.MAX_QUERY_LENGTH})["q"]
        return self._go_to(listing_url(self.category, query, self.sort))

    @rx.event
    def change_sort(self, label: str):
        sort = next((key for key, text in SORT_LABELS.items() if text == label), "newest")
        return self._go_to(listing_url(self.category, self.query, sort))


class ProductState(CartState):
    product: ProductDetail | None = None
    not_found: bool = False
    quantity: int = 1

    @rx.var
    def max_quantity(self) -> int:
        return min(self.product.stock, MAX_QUANTITY) if self.product else 0

    @rx.var
    def head_name(self) -> str:
        """What the browser tab names: the product once it has arrived (empty until then)."""
        if self.product:
            return self.product.name
        return "Product not found" if self.not_found else ""

    @rx.var
    def head_summary(self) -> str:
        """The page's meta description: the start of the product's own, at most 155 characters."""
        if not self.product:
            return ""
        text = " ".join(self.product.description.split())
        return text if len(text) <= 155 else text[:154].rsplit(" ", 1)[0] + "…"

    @rx.event
    @in_db_thread
    def load_product(self):
        """on_load of /product/[product_id]."""
        self.quantity = 1
        product_id = parse_id(path_argument(self.router.url.path, "product"))
        with session_scope() as session:
            try:
                self.product = catalog.get_product(session, product_id) if product_id else None
            except NotFound:
                self.product = None
        self.not_found = self.product is None

    @rx.event
    def step_quantity(self, delta: int):
        step = 1 if delta == 1 else -1
        self.quantity = max(1, min(self.max_quantity or 1, self.quantity + step))

    @rx.event
    @in_db_thread
    def add_selected(self):
        if self.product is None:
            return rx.toast.error("This product is no longer available.")
        result = self._add(self.product.id, self.quantity)
        self.quantity = 1
        return result
