"""The catalogue as shoppers see it: categories and pages of active products."""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from ecom_reflex.models import Category, Product
from ecom_reflex.money import format_cents

PER_PAGE = 12


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
    ).all()
    return [CategoryInfo(name=name, slug=slug, product_count=n) for name, slug, n in rows]


def list_products(
    session: Session, *, category_slug: str | None = None, page: int = 1, per_page: int = PER_PAGE
) -> ProductPage:
    """One page of active products, newest first; a page past the end is clamped to the last."""
    conditions = [Product.is_active]
    if category_slug:
        conditions.append(Category.slug == category_slug)

    total = session.exec(
        select(func.count(Product.id)).join(Category, Product.category_id == Category.id).where(*conditions)
    ).one()
    pages = max(1, math.ceil(total / per_page))
    page = min(max(1, page), pages)

    rows = session.exec(
        select(Product, Category)
        .join(Category, Product.category_id == Category.id)
        .where(*conditions)
        .order_by(Product.created_at.desc(), Product.id.desc())
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
