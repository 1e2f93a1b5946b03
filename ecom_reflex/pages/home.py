"""The storefront: category filter, a page of products, pagination."""

import reflex as rx

from ecom_reflex.components.layout import page_shell
from ecom_reflex.components.product_card import product_card
from ecom_reflex.state.catalog import CatalogState


def _category_chip(label: rx.Var[str] | str, slug: rx.Var[str] | str) -> rx.Component:
    selected = CatalogState.category == slug
    return rx.link(
        rx.badge(
            label,
            size="3",
            radius="full",
            variant=rx.cond(selected, "solid", "soft"),
            cursor="pointer",
        ),
        href=rx.cond(slug == "", "/", "/?category=" + slug),
        underline="none",
        data_testid="category-filter",
    )


def category_filter() -> rx.Component:
    return rx.flex(
        _category_chip("All", ""),
        rx.foreach(CatalogState.categories, lambda c: _category_chip(c.name, c.slug)),
        wrap="wrap",
        spacing="2",
        margin_bottom="1.5em",
        as_="nav",
        aria_label="Categories",
    )


def _page_link(label: str, page: rx.Var[int], enabled: rx.Var[bool]) -> rx.Component:
    query = rx.cond(CatalogState.category == "", "", "category=" + CatalogState.category + "&")
    return rx.cond(
        enabled,
        rx.link(rx.button(label, variant="soft"), href="/?" + query + "page=" + page.to_string()),
        rx.button(label, variant="soft", disabled=True),
    )


def pagination() -> rx.Component:
    return rx.cond(
        CatalogState.pages > 1,
        rx.hstack(
            _page_link("Previous", CatalogState.page - 1, CatalogState.page > 1),
            rx.text(f"Page {CatalogState.page} of {CatalogState.pages}", size="2", data_testid="page-indicator"),
            _page_link("Next", CatalogState.page + 1, CatalogState.page < CatalogState.pages),
            justify="center",
            align="center",
            spacing="4",
            margin_top="2em",
        ),
    )


def _loading_grid() -> rx.Component:
    return rx.grid(
        rx.foreach(rx.Var.range(8), lambda _: rx.skeleton(height="320px", width="100%")),
        columns=rx.breakpoints(initial="1", xs="2", md="3", lg="4"),
        spacing="4",
        width="100%",
    )


def _empty_state() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("package-open", size=48, color=rx.color("gray", 9)),
            rx.heading("No products here yet", size="4"),
            rx.text("Try another category, or see everything we sell.", color=rx.color("gray", 10)),
            rx.link(rx.button("Show all products"), href="/"),
            align="center",
            spacing="3",
        ),
        padding_y="4em",
        data_testid="empty-state",
    )


def product_grid() -> rx.Component:
    return rx.grid(
        rx.foreach(CatalogState.products, product_card),
        columns=rx.breakpoints(initial="1", xs="2", md="3", lg="4"),
        spacing="4",
        width="100%",
        data_testid="product-grid",
    )


def index() -> rx.Component:
    return page_shell(
        rx.hstack(
            rx.heading(CatalogState.category_title, size="7"),
            rx.spacer(),
            rx.cond(CatalogState.loaded, rx.text(f"{CatalogState.total} products", color=rx.color("gray", 10))),
            align="baseline",
            margin_bottom="1em",
        ),
        category_filter(),
        rx.cond(
            CatalogState.loaded,
            rx.cond(CatalogState.total > 0, product_grid(), _empty_state()),
            _loading_grid(),
        ),
        pagination(),
    )
