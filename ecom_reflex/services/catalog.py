"""The catalogue as shoppers see it: categories and pages of active products."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from cachetools import TTLCache, cached
from sqlalchemy import ColumnElement, column, event, func, table
from sqlmodel import Session, select

from ecom_reflex import faults
from ecom_reflex.models import Category, Product
from ecom_reflex.money import format_cents
from ecom_reflex.services.errors import NotFound
from ecom_reflex.services.listing import clamp_page, search_text, text_match
from ecom_reflex.services.numbers import parse_id

PER_PAGE = 12
MAX_CATEGORIES = 50  # the category bar shows at most this many
MAX_QUERY_LENGTH = 100
# Fewer than this many in stock: "Only 3 left" in the shop, and a low-stock product for the admins.
LOW_STOCK_THRESHOLD = 5
# The category bar's counts are shared by every listing and cost a pass over the active
# products, so each worker recounts at most this often; its own product edits recount
# at once (see categories_changed), other workers' within this many seconds.
CATEGORY_COUNTS_SECONDS = 30
# The SQLite trigram index (migration 0004) answers substrings of at least 3 characters.
TRIGRAM_MIN_LENGTH = 3
_products_fts = table("products_fts", column("rowid"), column("products_fts"))
# Sort key in the URL -> ORDER BY; the first is the default.
SORTS = {
    "newest": (Product.created_at.desc(), Product.id.desc()),
    "price_asc": (Product.price_cents.asc(), Product.id.asc()),
    "price_desc": (Product.price_cents.desc(), Product.id.desc()),
}
SORT_LABELS = {"newest": "Newest", "price_asc": "Price: low to high", "price_desc": "Price: high to low"}


@dataclass(frozen=True)
class CategoryInfo:
    name: str
    slug: str
    product_count: int


@dataclass(frozen=True)
class ProductSummary:
    id: int
    name: str
    price_cents: int
    price: str
    image: str
    category_name: str
    category_slug: str
    stock: int


@dataclass(frozen=True)
class ProductPage:
    items: list[ProductSummary]
    total: int
    page: int
    pages: int


_category_counts: TTLCache = TTLCache(maxsize=8, ttl=CATEGORY_COUNTS_SECONDS)


def categories_changed(session: Session) -> None:
    """Call in a transaction that adds, deletes, moves or (de)activates products: the
    category bar is recounted once it commits (not before, or a listing in between
    could cache the old counts again)."""
    event.listen(session, "after_commit", lambda _session: _category_counts.clear(), once=True)


def forget_category_counts() -> None:
    _category_counts.clear()


def list_categories(session: Session) -> list[CategoryInfo]:
    """Every category with its number of active products, by name (at most
    CATEGORY_COUNTS_SECONDS old)."""
    return list(_counted_categories(session))  # a list of its own: callers may change theirs


# Keyed by database, so processes that switch databases (tests, benchmarks) never mix them.
@cached(_category_counts, key=lambda session: str(session.get_bind().url), lock=threading.Lock())
def _counted_categories(session: Session) -> tuple[CategoryInfo, ...]:
    count = func.count(Product.id)
    rows = session.exec(
        select(Category.name, Category.slug, count)
        .join(Product, (Product.category_id == Category.id) & Product.is_active, isouter=True)
        .group_by(Category.id)
        .order_by(Category.name)
        .limit(MAX_CATEGORIES)
    ).all()
    return tuple(CategoryInfo(name=name, slug=slug, product_count=n) for name, slug, n in rows)


@dataclass(frozen=True)
class ProductDetail:
    id: int
    name: str
    description: str
    price: str
    image: str
    category_name: str
    category_slug: str
    stock: int


def list_storefront_products(
    session: Session,
    *,
    category_slug: str | None = None,
    query: str = "",
    sort: str = "newest",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> ProductPage:
    """One page of active products matching the filters; a page past the end is clamped to the last.

    `query` matches name or description, ignoring case; an unknown `sort` falls back to newest.
    """
    faults.delay_catalogue()
    conditions = [Product.is_active]
    if category_slug:
        # A subquery rather than a join, so the count reads one index and not categories too.
        category_id = select(Category.id).where(Category.slug == category_slug).scalar_subquery()
        conditions.append(Product.category_id == category_id)
    query = search_text(query, MAX_QUERY_LENGTH)
    if query:
        conditions.append(product_text_match(session, query))

    total = session.exec(select(func.count()).select_from(Product).where(*conditions)).one()
    page, pages = clamp_page(total, page, per_page)

    rows = session.exec(
        select(Product, Category)
        .join(Category, Product.category_id == Category.id)
        .where(*conditions)
        .order_by(*SORTS.get(sort, SORTS["newest"]))
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    items = [
        ProductSummary(
            id=product.id,
            name=product.name,
            price_cents=product.price_cents,
            price=format_cents(product.price_cents),
            image=product.image,
            category_name=category.name,
            category_slug=category.slug,
            stock=product.stock,
        )
        for product, category in rows
    ]
    return ProductPage(items=items, total=total, page=page, pages=pages)


def product_text_match(session: Session, text: str) -> ColumnElement[bool]:
    """The product's name or description contains `text`, ignoring case, found through the
    search index of migration 0004 rather than by reading every product.

    SQLite: the FTS5 trigram table (a quoted phrase, so the text is never FTS syntax);
    shorter texts than a trigram fall back to a scan. PostgreSQL: the same `ILIKE` as
    every other list, which its pg_trgm indexes serve.
    """
    if session.get_bind().dialect.name == "sqlite" and len(text) >= TRIGRAM_MIN_LENGTH:
        phrase = '"' + text.replace('"', '""') + '"'
        return Product.id.in_(select(_products_fts.c.rowid).where(_products_fts.c.products_fts.match(phrase)))
    return text_match(text, Product.name, Product.description)


def storefront_page_exists(session: Session, kind: str, key: str) -> bool:
    """Whether /product/<id> (an active product) or /category/<slug> shows something: else its page
    says "not found" and its HTTP status is 404."""
    if kind == "product":
        product_id = parse_id(key)  # "²", "٣" or 20 digits name nothing: 404, never a 500
        return product_id is not None and bool(
            session.exec(select(Product.id).where(Product.id == product_id, Product.is_active)).first()
        )
    return any(category.slug == key.lower() for category in list_categories(session))


def get_product(session: Session, product_id: int) -> ProductDetail:
    """An active product for its page; NotFound for unknown or inactive ids."""
    row = session.exec(
        select(Product, Category).join(Category, Product.category_id == Category.id).where(Product.id == product_id)
    ).first()
    if row is None or not row[0].is_active:
        raise NotFound("We could not find that product.")
    product, category = row
    return ProductDetail(
        id=product.id,
        name=product.name,
        description=product.description,
        price=format_cents(product.price_cents),
        image=product.image,
        category_name=category.name,
        category_slug=category.slug,
        stock=product.stock,
    )
