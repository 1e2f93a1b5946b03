"""Carts: the rules for adding and changing lines, for guests and for users alike.

A guest's cart is a {product_id: quantity} dict the caller keeps (the browser);
a user's cart is rows in cart_items. Both go through the same rules via CartStore.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import delete, insert, update
from sqlmodel import Session, select

from ecom_reflex.models import CartItem, Product
from ecom_reflex.money import format_cents
from ecom_reflex.services.errors import ServiceError

MAX_QUANTITY = 99
# Different products in one cart: keeps a cart (and the state showing it) bounded.
MAX_LINES = 50
# More notices than this about one cart are summed up in one: a shopper reads a few toasts, not fifty.
MAX_NOTICES = 3


class CartStore(Protocol):
    def quantities(self, session: Session) -> dict[int, int]: ...

    def set_quantity(self, session: Session, product_id: int, quantity: int) -> None:
        """Store `quantity` for the product; 0 removes the line."""


@dataclass
class GuestCart:
    lines: dict[int, int]

    def quantities(self, session: Session) -> dict[int, int]:
        return dict(self.lines)

    def set_quantity(self, session: Session, product_id: int, quantity: int) -> None:
        if quantity > 0:
            self.lines[product_id] = quantity
        else:
            self.lines.pop(product_id, None)


@dataclass(frozen=True)
class UserCart:
    user_id: int

    def quantities(self, session: Session) -> dict[int, int]:
        rows = session.exec(select(CartItem.product_id, CartItem.quantity).where(CartItem.user_id == self.user_id))
        return dict(rows.all())

    def set_quantity(self, session: Session, product_id: int, quantity: int) -> None:
        item = session.exec(
            select(CartItem).where(CartItem.user_id == self.user_id, CartItem.product_id == product_id)
        ).first()
        if quantity <= 0:
            if item is not None:
                session.delete(item)
        elif item is None:
            session.add(CartItem(user_id=self.user_id, product_id=product_id, quantity=quantity))
        else:
            item.quantity = quantity
            session.add(item)
        session.flush()


@dataclass(frozen=True)
class CartChange:
    product_name: str
    quantity: int
    # Non-empty when the request could not be met in full (capped by stock or by the limit).
    message: str = ""


@dataclass(frozen=True)
class CartLine:
    product_id: int
    name: str
    image: str
    unit_price_cents: int
    unit_price: str
    quantity: int
    line_total: str
    stock: int
    # Why the line cannot be ordered as it is, and what to do ("" when it can).
    problem: str = ""
    # False when the product is no longer sold: there is no page to link to.
    on_sale: bool = True


CANNOT_CHECK_OUT = "Some lines can't be ordered as they are: remove them or lower their quantity to check out."


@dataclass(frozen=True)
class CartView:
    lines: list[CartLine]
    item_count: int
    total_cents: int
    total: str
    # Products in the cart that no longer exist at all (deleted): the caller drops them and says so.
    gone: tuple[int, ...] = ()

    @property
    def can_check_out(self) -> bool:
        return bool(self.lines) and not any(line.problem for line in self.lines)

    @property
    def checkout_blocker(self) -> str:
        """Why the cart cannot be checked out ("" when it can, or when it is empty)."""
        return CANNOT_CHECK_OUT if self.lines and not self.can_check_out else ""

    @property
    def fingerprint(self) -> str:
        return fingerprint((line.product_id, line.quantity, line.unit_price_cents) for line in self.lines)


def fingerprint(lines: Iterable[tuple[int, int, int]]) -> str:
    """What a shopper was shown of a cart, as a short hash of every line's (product, quantity, unit
    price in cents): a checkout places the order only if the cart still hashes to what the page showed."""
    text = ";".join(f"{product}:{quantity}:{cents}" for product, quantity, cents in sorted(lines))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _sellable(product: Product | None) -> Product:
    """`product`, if it can go into a cart; otherwise a ServiceError saying why not."""
    if product is None or not product.is_active:
        raise ServiceError("This product is no longer available.")
    if product.stock <= 0:
        raise ServiceError(f"{product.name} is out of stock.")
    return product


def _sellable_product(session: Session, product_id: int) -> Product:
    return _sellable(session.get(Product, product_id))


def _check_room(lines: Collection[int], product_id: int) -> None:
    """A ServiceError when `product_id` would be one line too many."""
    if product_id not in lines and len(lines) >= MAX_LINES:
        raise ServiceError(f"Your cart already holds {MAX_LINES} different products. Check out or remove some first.")


def _capped(product: Product, wanted: int) -> CartChange:
    if wanted > product.stock and product.stock < MAX_QUANTITY:
        noun = "is" if product.stock == 1 else "are"
        return CartChange(product.name, product.stock, f"Only {product.stock} of {product.name} {noun} in stock.")
    if wanted > MAX_QUANTITY:
        return CartChange(product.name, MAX_QUANTITY, f"At most {MAX_QUANTITY} of one product per order.")
    return CartChange(product.name, wanted)


def add_item(session: Session, store: CartStore, product_id: int, quantity: int = 1) -> CartChange:
    if quantity < 1:
        raise ServiceError(f"Quantity must be between 1 and {MAX_QUANTITY}.")
    product = _sellable_product(session, product_id)
    current = store.quantities(session)
    _check_room(current, product_id)
    change = _capped(product, current.get(product_id, 0) + quantity)
    store.set_quantity(session, product_id, change.quantity)
    return change


def set_quantity(session: Session, store: CartStore, product_id: int, quantity: int) -> CartChange:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise ServiceError(f"Quantity must be between 1 and {MAX_QUANTITY}.")
    if product_id not in store.quantities(session):
        raise ServiceError("This product is not in your cart.")
    product = _sellable_product(session, product_id)
    change = _capped(product, quantity)
    store.set_quantity(session, product_id, change.quantity)
    return change


def remove_item(session: Session, store: CartStore, product_id: int) -> None:
    store.set_quantity(session, product_id, 0)


def clear(session: Session, user_id: int) -> None:
    session.exec(delete(CartItem).where(CartItem.user_id == user_id))


def gone_notice(count: int) -> str:
    if count == 1:
        return "A product in your cart is no longer sold and was removed."
    return f"{count} products in your cart are no longer sold and were removed."


def line_problem(product: Product, quantity: int) -> str:
    """What stops a line of `quantity` of `product` from being ordered, said as what to do ("" if nothing)."""
    if not product.is_active:
        return "No longer sold: remove it to check out."
    if product.stock <= 0:
        return "Sold out: remove it to check out."
    if product.stock < quantity:
        return f"Only {product.stock} left: lower the quantity to check out."
    return ""


def view(session: Session, store: CartStore) -> CartView:
    """The cart with current names, prices and stock; each line says what stops it from being ordered."""
    quantities = store.quantities(session)
    products = (
        session.exec(select(Product).where(Product.id.in_(quantities)).order_by(Product.name)).all()
        if quantities
        else []
    )
    lines = []
    for product in products:
        quantity = quantities[product.id]
        problem = line_problem(product, quantity)
        lines.append(
            CartLine(
                product_id=product.id,
                name=product.name,
                image=product.image,
                unit_price_cents=product.price_cents,
                unit_price=format_cents(product.price_cents),
                quantity=quantity,
                line_total=format_cents(product.price_cents * quantity),
                stock=product.stock,
                problem=problem,
                on_sale=product.is_active,
            )
        )
    total = sum(line.unit_price_cents * line.quantity for line in lines)
    found = {product.id for product in products}
    return CartView(
        lines=lines,
        item_count=sum(line.quantity for line in lines),
        total_cents=total,
        total=format_cents(total),
        gone=tuple(product_id for product_id in quantities if product_id not in found),
    )


def merge_guest_cart(session: Session, guest_lines: dict[int, int], user_id: int) -> list[str]:
    """Add a guest's lines to the user's cart (quantities add, capped by stock); returns notices.

    Bounded whatever the guest cart holds: at most MAX_LINES lines are looked at, with one
    query for their products, one for the cart, one INSERT and one UPDATE (each of them
    for every line at once), and at most MAX_NOTICES notices come back (the rest summed
    up in one).
    """
    wanted = dict(list(guest_lines.items())[:MAX_LINES])
    if not wanted:
        return []
    rows = session.exec(
        select(CartItem.id, CartItem.product_id, CartItem.quantity).where(CartItem.user_id == user_id)
    ).all()
    stored = {product_id: (item_id, quantity) for item_id, product_id, quantity in rows}
    quantities = {product_id: quantity for product_id, (_, quantity) in stored.items()}
    products = {product.id: product for product in session.exec(select(Product).where(Product.id.in_(wanted))).all()}
    notices: list[str] = []
    for product_id, quantity in wanted.items():
        # The same rules as add_item, over rows loaded once for every line.
        try:
            product = _sellable(products.get(product_id))
            _check_room(quantities, product_id)
        except ServiceError as error:
            notices.append(str(error))
            continue
        change = _capped(product, quantities.get(product_id, 0) + max(1, min(quantity, MAX_QUANTITY)))
        if change.message:
            notices.append(change.message)
        quantities[product_id] = change.quantity
    added = [
        {"user_id": user_id, "product_id": product_id, "quantity": quantity}
        for product_id, quantity in quantities.items()
        if product_id not in stored
    ]
    changed = [
        {"id": stored[product_id][0], "quantity": quantity}
        for product_id, quantity in quantities.items()
        if product_id in stored and quantity != stored[product_id][1]
    ]
    if added:
        session.execute(insert(CartItem), added)
    if changed:
        session.execute(update(CartItem), changed)
    if len(notices) > MAX_NOTICES:
        notices = [f"{len(notices)} products from your cart could not be added as they were (sold out or gone)."]
    return notices
