"""The storefront listing: search, category filter, sort, a page of products, pagination."""

import reflex as rx

from ecom_reflex.components.layout import MUTED, centered_message, count_of, not_found, page_shell, page_title
from ecom_reflex.components.listing import browser_location, pager, search_box
from ecom_reflex.components.product_card import product_card
from ecom_reflex.services.catalog import SORT_LABELS
from ecom_reflex.state.catalog import CatalogState, listing_requested

# Two columns from the narrowest phones on (390 px), compact cards.
GRID_COLUMNS = rx.breakpoints(initial="2", md="3", lg="4")


def _category_chip(label: rx.Var[str] | str, slug: rx.Var[str] | str) -> rx.Component:
    selected = CatalogState.category == slug
    return rx.link(
        rx.badge(label, size="3", radius="full", variant=rx.cond(selected, "solid", "soft"), cursor="pointer"),
        href=rx.cond(slug == "", "/", "/category/" + slug) + CatalogState.filter_query_string,
        underline="none",
        data_testid="category-filter",
    )


def category_filter() -> rx.Component:
    return rx.flex(
        _category_chip("All", ""),
        rx.foreach(CatalogState.categories, lambda c: _category_chip(c.name, c.slug)),
        wrap="wrap",
        spacing="2",
        as_="nav",
        aria_label="Categories",
    )


def search_and_sort() -> rx.Component:
    return rx.flex(
        search_box(
            [listing_requested.set_value(True), CatalogState.search],
            CatalogState.query,
            "Search products…",
            size="3",
            data_testid="search-input",
        ),
        rx.select.root(
            rx.select.trigger(aria_label="Sort", data_testid="sort"),
            rx.select.content(*[rx.select.item(label, value=label) for label in SORT_LABELS.values()]),
            value=CatalogState.sort_label,
            on_change=[listing_requested.set_value(True), CatalogState.change_sort],
            size="3",
        ),
        spacing="3",
        wrap="wrap",
        width="100%",
    )


def pagination() -> rx.Component:
    state = CatalogState
    return pager(state.page, state.pages, state.previous_page_url, state.next_page_url)


def listing_busy() -> rx.Var[bool]:
    """A new listing is on its way: the browser is already at a URL the products shown are not for
    (a category, page or Back), or a search or sort was asked for. Known in the browser at once."""
    return listing_requested.value | (CatalogState.loaded & (browser_location() != CatalogState.loaded_for))


def _loading_grid() -> rx.Component:
    return rx.grid(
        rx.foreach(rx.Var.range(8), lambda _: rx.skeleton(height="320px", width="100%")),
        columns=GRID_COLUMNS,
        spacing="4",
        width="100%",
    )


def _empty_state() -> rx.Component:
    searching_in_category = (CatalogState.query != "") & (CatalogState.category != "")
    return centered_message(
        "package-open",
        "No products found",
        rx.cond(
            searching_in_category,
            "Nothing in " + CatalogState.category_title + " matches your search. It may be in another category.",
            rx.cond(
                CatalogState.query != "",
                "Nothing matches your search. Check the spelling or try fewer words.",
                "Try another category, or see everything we sell.",
            ),
        ),
        rx.cond(
            searching_in_category,
            # The search text stays: the same search, in every category.
            rx.link(
                rx.button("Search all products"), href=CatalogState.everywhere_url, data_testid="search-everywhere"
            ),
            rx.link(rx.button("Show all products"), href="/"),
        ),
        "empty-state",
    )


def _result_count() -> rx.Component:
    """ "12 products", "3 products for "lamp"", "1 product for "lamp" in Books · Search everywhere"."""
    return rx.text(
        count_of(CatalogState.match_count, "products"),
        rx.cond(CatalogState.query != "", ' for "' + CatalogState.query + '"', ""),
        rx.cond(
            (CatalogState.query != "") & (CatalogState.category != ""),
            rx.fragment(
                " in " + CatalogState.category_title + " · ",
                rx.link("Search everywhere", href=CatalogState.everywhere_url, data_testid="search-everywhere"),
            ),
        ),
        color=MUTED,
        data_testid="result-count",
    )


def _listing_status() -> rx.Component:
    """The count, or "Loading products…" while a new listing is on its way; read out as it changes."""
    return rx.box(
        rx.cond(
            listing_busy(),
            rx.hstack(
                rx.spinner(size="2"),
                rx.text("Loading products…", color=MUTED),
                align="center",
                data_testid="listing-loading",
            ),
            rx.cond(CatalogState.loaded, _result_count()),
        ),
        role="status",
    )


def product_grid() -> rx.Component:
    busy = listing_busy()
    return rx.grid(
        rx.foreach(CatalogState.products, product_card),
        columns=GRID_COLUMNS,
        spacing="4",
        width="100%",
        # The old products stay, dimmed, until the new ones replace them: nothing jumps.
        opacity=rx.cond(busy, "0.45", "1"),
        transition="opacity 0.15s",
        aria_busy=busy,
        data_testid="product-grid",
    )


def _listing() -> rx.Component:
    return rx.fragment(
        rx.vstack(
            rx.hstack(
                page_title(CatalogState.category_title, data_testid="listing-title"),
                rx.spacer(),
                _listing_status(),
                align="baseline",
                width="100%",
                wrap="wrap",
            ),
            search_and_sort(),
            category_filter(),
            spacing="4",
            margin_bottom="1.5em",
            width="100%",
        ),
        rx.cond(
            CatalogState.loaded,
            rx.cond(CatalogState.match_count > 0, product_grid(), _empty_state()),
            _loading_grid(),
        ),
        pagination(),
    )


def index() -> rx.Component:
    return page_shell(
        rx.cond(
            CatalogState.category_missing,
            not_found(
                "Category not found",
                "There is no such category in the shop. Everything we sell is one click away.",
                ("See all products", "/"),
            ),
            _listing(),
        )
    )
