"""The catalogue as shoppers see it: categories and pages of active products."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from ecom_reflex.models import Category, Product
from ecom_reflex.money import format_cents
from ecom_reflex.services.errors import NotFound
from ecom_reflex.services.listing import clamp_page, text_match

PER_PAGE = 12
MAX_CATEGORIES = 50  # the category bar shows at most this many
MAX_QUERY_LENGTH = 100
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


def list_categories(session: Session) -> list[CategoryInfo]:
    """Every category with its number of active products, by name."""
    count = func.count(Product.id)
    rows = session.exec(
        select(Category.name, Category.slug, count)
        .join(Product, (Product.category_id == Category.id) & Product.is_active, isouter=True)
        .group_by(Category.id)
        .order_by(Category.name)
        .limit(MAX_CATEGORIES)
    ).all()
    return [CategoryInfo(name=name, slug=slug, product_count=n) for name, slug, n in rows]


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


def list_products(
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
    conditions = [Product.is_active]
    if category_slug:
        conditions.append(Category.slug == category_slug)
    query = query.strip()[:MAX_QUERY_LENGTH]
    if query:
        conditions.append(text_match(query, Product.name, Product.description))

    total = session.exec(
        select(func.count(Product.id)).join(Category, Product.category_id == Category.id).where(*conditions)
    ).one()
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
