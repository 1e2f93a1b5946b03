"""Product management for admins: list (inactive too), create, edit, (de)activate, delete."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import func
from sqlmodel import Session, select

from ecom_reflex.models import Category, OrderItem, Product
from ecom_reflex.money import format_cents
from ecom_reflex.services.catalog import categories_changed, product_text_match
from ecom_reflex.services.errors import FieldErrors, NotFound, ServiceError
from ecom_reflex.services.images import is_known_image
from ecom_reflex.services.listing import clamp_page, search_text

ADMIN_PER_PAGE = 20
MAX_PRICE_CENTS = 100_000_000  # 1,000,000.00
MAX_STOCK = 1_000_000


@dataclass(frozen=True)
class ProductInput:
    name: str
    description: str
    price_cents: int
    stock: int
    category_id: int
    image: str


@dataclass(frozen=True)
class AdminProductRow:
    id: int
    name: str
    category_name: str
    price: str
    stock: int
    is_active: bool
    image: str


@dataclass(frozen=True)
class AdminProductPage:
    items: list[AdminProductRow]
    total: int
    page: int
    pages: int


@dataclass(frozen=True)
class CategoryOption:
    id: int
    name: str


def parse_price_cents(raw: str) -> int | None:
    """'12', '12.5', '1,299.99' -> cents; None when it is not an amount with at most 2 decimals."""
    text = raw.strip().replace(",", "").removeprefix("$")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def validate_product_form(
    form: dict[str, str], category_ids: set[int], upload_dir: Path, assets_dir: Path
) -> ProductInput:
    errors = {}
    name = " ".join(str(form.get("name", "")).split())
    if not 1 <= len(name) <= 200:
        errors["name"] = "Name must be 1 to 200 characters."
    description = str(form.get("description", "")).strip()
    if len(description) > 5000:
        errors["description"] = "Description must be at most 5,000 characters."
    price_cents = parse_price_cents(str(form.get("price", "")))
    if price_cents is None or not 0 <= price_cents <= MAX_PRICE_CENTS:
        errors["price"] = "Price must be an amount from 0 to 1,000,000.00."
    stock_text = str(form.get("stock", "")).strip()
    stock = int(stock_text) if stock_text.isdigit() else -1
    if not 0 <= stock <= MAX_STOCK:
        errors["stock"] = "Stock must be a whole number from 0 to 1,000,000."
    category_text = str(form.get("category_id", "")).strip()
    category_id = int(category_text) if category_text.isdigit() else 0
    if category_id not in category_ids:
        errors["category_id"] = "Choose a category."
    image = str(form.get("image", "")).strip()
    if not is_known_image(image, upload_dir, assets_dir):
        errors["image"] = "Upload the image again."
    if errors:
        raise FieldErrors(errors)
    return ProductInput(
        name=name,
        description=description,
        price_cents=price_cents,
        stock=stock,
        category_id=category_id,
        image=image,
    )


def category_options(session: Session) -> list[CategoryOption]:
    return [CategoryOption(id=c.id, name=c.name) for c in session.exec(select(Category).order_by(Category.name))]


def list_admin_products(
    session: Session, *, query: str = "", category_id: int | None = None, page: int = 1
) -> AdminProductPage:
    conditions = []
    if query := search_text(query):
        conditions.append(product_text_match(session, query))
    if category_id:
        conditions.append(Product.category_id == category_id)
    total = session.exec(select(func.count(Product.id)).where(*conditions)).one()
    page, pages = clamp_page(total, page, ADMIN_PER_PAGE)
    rows = session.exec(
        select(Product, Category.name)
        .join(Category, Category.id == Product.category_id)
        .where(*conditions)
        .order_by(Product.name, Product.id)
        .offset((page - 1) * ADMIN_PER_PAGE)
        .limit(ADMIN_PER_PAGE)
    ).all()
    items = [
        AdminProductRow(
            id=product.id,
            name=product.name,
            category_name=category_name,
            price=format_cents(product.price_cents),
            stock=product.stock,
            is_active=product.is_active,
            image=product.image,
        )
        for product, category_name in rows
    ]
    return AdminProductPage(items=items, total=total, page=page, pages=pages)


def get(session: Session, product_id: int) -> Product:
    product = session.get(Product, product_id)
    if product is None:
        raise NotFound("We could not find that product.")
    return product


def create(session: Session, data: ProductInput) -> Product:
    product = Product(**data.__dict__)
    session.add(product)
    session.flush()
    categories_changed(session)
    return product


def update(session: Session, product_id: int, data: ProductInput) -> Product:
    product = get(session, product_id)
    for field, value in data.__dict__.items():
        setattr(product, field, value)
    session.add(product)
    session.flush()
    categories_changed(session)
    return product


def set_active(session: Session, product_id: int, active: bool) -> Product:
    product = get(session, product_id)
    product.is_active = active
    session.add(product)
    session.flush()
    categories_changed(session)
    return product


def was_ordered(session: Session, product_id: int) -> bool:
    return session.exec(select(OrderItem.id).where(OrderItem.product_id == product_id).limit(1)).first() is not None


def delete(session: Session, product_id: int) -> str:
    """Delete a product nobody ever ordered; returns its name. Ordered ones can only be deactivated."""
    product = get(session, product_id)
    if was_ordered(session, product_id):
        raise ServiceError(f"{product.name} has been ordered, so it cannot be deleted. Deactivate it instead.")
    session.delete(product)
    session.flush()
    categories_changed(session)
    return product.name
