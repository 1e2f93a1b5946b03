"""Stock taken and given back: the two moves every hold, sale, expiry and cancel is made of.

Taking is one conditional UPDATE per line that cannot go below zero; any shortage raises
OutOfStock and the caller's transaction rolls back, so a checkout that cannot be filled changes
nothing. Lines are taken in product id order by every caller, so two takers never deadlock
(PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update
from sqlmodel import Session, select

from ecom_reflex.models import OrderItem, Product
from ecom_reflex.services.errors import ServiceError


class OutOfStock(ServiceError):
    def __init__(self, shortages: list[tuple[str, int]]):
        self.shortages = shortages
        parts = [f"{name}: {'none' if left == 0 else f'only {left}'} left" for name, left in shortages]
        super().__init__("Not enough stock, nothing was ordered. " + "; ".join(parts) + ".")


def take(session: Session, lines: Iterable[tuple[int, int]]) -> None:
    """Take (product id, quantity) for every line, or nothing at all (OutOfStock, the caller rolls back)."""
    shortages = []
    for product_id, quantity in sorted(lines):
        taken = session.exec(
            update(Product)
            .where(Product.id == product_id, Product.is_active, Product.stock >= quantity)
            .values(stock=Product.stock - quantity)
        ).rowcount
        if not taken:
            product = session.get(Product, product_id)
            session.refresh(product)
            shortages.append((product.name, product.stock if product.is_active else 0))
    if shortages:
        raise OutOfStock(shortages)


def order_lines(session: Session, order_id: int) -> list[tuple[int, int]]:
    """(product id, quantity) of each line of an order."""
    return [
        (product_id, quantity)
        for product_id, quantity in session.exec(
            select(OrderItem.product_id, OrderItem.quantity)
            .where(OrderItem.order_id == order_id)
            .order_by(OrderItem.product_id)
        ).all()
    ]


def give_back(session: Session, order_id: int) -> None:
    """Every unit of an order back on the shelf (an expiry, a decline, a cancel, a refund)."""
    for product_id, quantity in order_lines(session, order_id):
        session.exec(update(Product).where(Product.id == product_id).values(stock=Product.stock + quantity))
