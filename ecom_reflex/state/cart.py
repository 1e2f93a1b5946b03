"""The cart: a guest's in the browser's local storage, a user's in the database."""

from __future__ import annotations

import json

import reflex as rx
from sqlmodel import Session

from ecom_reflex.db import session_scope
from ecom_reflex.observability import business
from ecom_reflex.services import cart
from ecom_reflex.services.cart import MAX_QUANTITY, CartLine, CartStore, GuestCart, UserCart
from ecom_reflex.services.errors import ServiceError
from ecom_reflex.state.session import SessionState


def parse_guest_cart(raw: str) -> dict[int, int]:
    """The guest cart from local storage; anything malformed is dropped, never trusted."""
    try:
        data = json.loads(raw or "{}")
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    lines = {}
    for key, value in data.items():
        try:
            product_id, quantity = int(key), int(value)
        except (TypeError, ValueError):
            continue
        if product_id > 0 and 1 <= quantity <= MAX_QUANTITY:
            lines[product_id] = quantity
    return lines


def parse_quantity(raw: object) -> int | None:
    try:
        return int(str(raw).strip())
    except ValueError:
        return None


class CartState(SessionState):
    guest_cart: str = rx.LocalStorage("{}", name="shop_guest_cart", sync=True)
    lines: list[CartLine] = []
    item_count: int = 0
    total: str = "$0.00"
    can_check_out: bool = False
    cart_loaded: bool = False
    # Bumped on every refresh: quantity inputs are keyed by it, so a refused or
    # capped entry is replaced by the stored quantity.
    cart_revision: int = 0

    def _store(self, session: Session) -> CartStore:
        user = self._current_user(session)
        return UserCart(user.id) if user else GuestCart(parse_guest_cart(self.guest_cart))

    def _refresh(self, session: Session, store: CartStore) -> None:
        if isinstance(store, GuestCart):
            self.guest_cart = json.dumps({str(k): v for k, v in sorted(store.lines.items())})
        current = cart.view(session, store)
        self.lines = current.lines
        self.item_count = current.item_count
        self.total = current.total
        self.can_check_out = current.can_check_out
        self.cart_loaded = True
        self.cart_revision += 1

    def _load_cart(self) -> None:
        with session_scope() as session:
            self._refresh(session, self._store(session))

    @rx.event
    def load_cart(self):
        """on_load of every page: who is logged in, and the cart badge."""
        self._load_cart()

    def _add(self, product_id: int, quantity: int):
        with session_scope() as session:
            store = self._store(session)
            try:
                change = cart.add_item(session, store, product_id, quantity)
            except ServiceError as error:
                # Rules are checked before anything changes: nothing to undo.
                return rx.toast.error(str(error))
            self._refresh(session, store)
        business.cart_addition(product_id, quantity)
        if change.message:
            return rx.toast.warning(change.message)
        return rx.toast.success(f"Added {change.product_name} to your cart.")

    # Arguments arrive from the browser as whatever a client sends: parse, never trust.
    @rx.event
    def add_to_cart(self, product_id: int):
        product = parse_quantity(product_id)
        if product is None:
            return rx.toast.error("This product is no longer available.")
        return self._add(product, 1)

    @rx.event
    def set_line_quantity(self, product_id: int, raw_quantity: str):
        product, quantity = parse_quantity(product_id), parse_quantity(raw_quantity)
        with session_scope() as session:
            store = self._store(session)
            message = ""
            if product is None:
                message = "This product is not in your cart."
            elif quantity is None:
                message = "Enter a whole number."
            else:
                try:
                    message = cart.set_quantity(session, store, product, quantity).message
                except ServiceError as error:
                    message = str(error)
            self._refresh(session, store)
        if message:
            return rx.toast.warning(message)

    @rx.event
    def remove_line(self, product_id: int):
        product = parse_quantity(product_id)
        with session_scope() as session:
            store = self._store(session)
            if product is not None:
                cart.remove_item(session, store, product)
            self._refresh(session, store)
