"""What the storefront listing shows: one page of products and the category filter."""

from __future__ import annotations

import reflex as rx

from ecom_reflex.db import session_scope
from ecom_reflex.services import catalog
from ecom_reflex.services.catalog import CategoryInfo, ProductSummary


def _positive_int(raw: str | None, default: int = 1) -> int:
    try:
        return max(1, int(raw or default))
    except ValueError:
        return default


class CatalogState(rx.State):
    products: list[ProductSummary] = []
    categories: list[CategoryInfo] = []
    category: str = ""
    page: int = 1
    pages: int = 1
    total: int = 0
    loaded: bool = False

    @rx.var
    def category_title(self) -> str:
        for info in self.categories:
            if info.slug == self.category:
                return info.name
        return "All products" if not self.category else "Unknown category"

    @rx.event
    def load_listing(self):
        """on_load: read category and page from the URL so any listing can be linked."""
        params = self.router.url.query_parameters
        self.category = params.get("category", "").strip().lower()
        with session_scope() as session:
            self.categories = catalog.list_categories(session)
            result = catalog.list_products(
                session, category_slug=self.category or None, page=_positive_int(params.get("page"))
            )
        self.products = result.items
        self.page, self.pages, self.total = result.page, result.pages, result.total
        self.loaded = True
