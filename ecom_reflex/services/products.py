"""Product management for admins: list (inactive too), create, edit, (de)activate, delete."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlalchemy import update as sa_update
from sqlmodel import Session, select

from ecom_reflex.models import CartItem, Category, OrderItem, Product
from ecom_reflex.money import format_cents
from ecom_reflex.services.catalog import categories_changed, product_text_match
from ecom_reflex.services.errors import ChangedSinceSeen, FieldErrors, NotFound, ServiceError
from ecom_reflex.services.images import is_known_image
from ecom_reflex.services.listing import clamp_page, search_text
from ecom_reflex.services.numbers import parse_id, parse_int
from ecom_reflex.services.text import readable_text

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


# Dollars, then at most two decimals after a point: "12", "12.5", "12.50". Nothing is guessed:
# "12,50" (a decimal comma?), "1,250.00" (a separator?), "12.505", "-1", "1e3", "$12" are refused.
_AMOUNT = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,2})?")
PRICE_FORMAT_ERROR = "Enter the price in dollars and cents with a point, like 12.50 (no commas, signs or symbols)."


def parse_price_cents(raw: str) -> int | None:
    """Cents for a price written as `_AMOUNT`, None for anything else."""
    text = raw.strip()
    if not _AMOUNT.fullmatch(text):
        return None
    dollars, _, cents = text.partition(".")
    return int(dollars) * 100 + int(cents.ljust(2, "0") if cents else 0)


def validate_product_form(
    form: dict[str, str], category_ids: set[int], upload_dir: Path, assets_dir: Path
) -> ProductInput:
    errors = {}
    # What shoppers read: no invisible characters (services/text.py); the description keeps its lines.
    name = " ".join(readable_text(str(form.get("name", ""))).split())
    if not 1 <= len(name) <= 200:
        errors["name"] = "Name must be 1 to 200 characters."
    description = readable_text(str(form.get("description", "")), multiline=True).strip()
    if len(description) > 5000:
        errors["description"] = "Description must be at most 5,000 characters."
    price_cents = parse_price_cents(str(form.get("price", "")))
    if price_cents is None:
        errors["price"] = PRICE_FORMAT_ERROR
    elif price_cents > MAX_PRICE_CENTS:
        errors["price"] = f"Price must be at most {format_cents(MAX_PRICE_CENTS)}."
    stock = parse_int(str(form.get("stock", "")))  # "²" is not a number (str.isdigit says it is)
    if stock is None or not 0 <= stock <= MAX_STOCK:
        errors["stock"] = "Stock must be a whole number from 0 to 1,000,000."
    category_id = parse_id(str(form.get("category_id", ""))) or 0
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


@dataclass(frozen=True)
class SeenProduct:
    """What the admin's form was opened with."""

    version: int
    stock: int


@dataclass(frozen=True)
class SavedProduct:
    product: Product
    # The stock just before this save: it differs from SeenProduct.stock when sales (or
    # cancellations) moved it while the form was open.
    stock_before: int


CHANGED_SINCE_OPENED = (
    "This product changed since you opened it (saved in another tab or by another admin). "
    "Reload to see it; your changes are still in the form."
)


def update(session: Session, product_id: int, data: ProductInput, seen: SeenProduct) -> SavedProduct:
    """Save the admin's form without overwriting what changed since it was opened.

    The form's fields are saved only over the version the form was opened with, else
    ChangedSinceSeen. Stock moves by the difference the admin typed (opened at 6, typed 10:
    +4), so sales made meanwhile are kept; a difference that would take it below 0 is refused.
    One conditional UPDATE, so two saves racing on PostgreSQL cannot both pass the check.
    """
    product = get(session, product_id)
    stock_before = product.stock
    difference = data.stock - seen.stock
    saved = session.execute(
        sa_update(Product)
        .where(Product.id == product_id, Product.version == seen.version, Product.stock + difference >= 0)
        .values(
            name=data.name,
            description=data.description,
            price_cents=data.price_cents,
            category_id=data.category_id,
            image=data.image,
            stock=Product.stock + difference,
            version=Product.version + 1,
        ),
        execution_options={"synchronize_session": False},
    ).rowcount
    session.refresh(product)
    if not saved:
        if product.version != seen.version:
            raise ChangedSinceSeen(CHANGED_SINCE_OPENED)
        now = f"Only {product.stock} in stock now (it was {seen.stock} when you opened the form)"
        raise FieldErrors({"stock": f"{now}: it cannot go down by {-difference}."})
    categories_changed(session)
    return SavedProduct(product=product, stock_before=stock_before)


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
    """Delete a product nobody ever ordered and nobody has in a cart; returns its name. Others can
    only be deactivated: an order keeps its lines, and a cart says its line is no longer sold."""
    product = get(session, product_id)
    if was_ordered(session, product_id):
        raise ServiceError(f"{product.name} has been ordered, so it cannot be deleted. Deactivate it instead.")
    in_carts = session.exec(select(func.count(CartItem.id)).where(CartItem.product_id == product_id)).one()
    if in_carts:
        whose = "a shopper's cart" if in_carts == 1 else f"{in_carts} shoppers' carts"
        raise ServiceError(
            f"{product.name} is in {whose}, so it cannot be deleted. Deactivate it instead: "
            "their carts will say it is no longer sold."
        )
    session.delete(product)
    session.flush()
    categories_changed(session)
    return product.name
