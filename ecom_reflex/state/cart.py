"""The cart: a guest's in the browser's local storage, a user's in the database."""

from __future__ import annotations

import json
import logging

import reflex as rx
from reflex.components.sonner.toast import ToastAction
from sqlmodel import Session

from ecom_reflex.db import session_scope, transaction
from ecom_reflex.observability import business
from ecom_reflex.offload import in_db_thread
from ecom_reflex.services import cart
from ecom_reflex.services.cart import MAX_LINES, MAX_QUANTITY, CartLine, CartStore, GuestCart, UserCart
from ecom_reflex.services.errors import ServiceError
from ecom_reflex.state.inputs import form_fields, parse_count, parse_id
from ecom_reflex.state.session import SessionState

# The add-to-cart toast's button: the cart, one click away from wherever the product was added.
VIEW_CART = ToastAction(label="View cart", on_click=rx.redirect("/cart"))

logger = logging.getLogger("ecom_reflex.inputs")


def parse_guest_cart(raw: str) -> tuple[dict[int, int], int]:
    """The guest cart from local storage, and how many lines beyond MAX_LINES were refused.

    Whatever a client stored there: malformed lines are dropped, never trusted, and at
    most MAX_LINES are kept, so a cart of 10,000 lines costs no more than one of 50.
    """
    try:
        data = json.loads(raw or "{}") if isinstance(raw, str) else {}
    except (ValueError, RecursionError):
        return {}, 0
    if not isinstance(data, dict):
        return {}, 0
    lines: dict[int, int] = {}
    refused = 0
    for key, value in data.items():
        product_id, quantity = parse_id(key), parse_count(value, 1, MAX_QUANTITY)
        if product_id is None or quantity is None:
            continue
        if len(lines) < MAX_LINES:
            lines[product_id] = quantity
        else:
            refused += 1
    return lines, refused


def too_many_lines_notice(refused: int) -> str:
    return f"A cart holds at most {MAX_LINES} different products: {refused} more from your saved cart were left out."


class CartState(SessionState):
    guest_cart: str = rx.LocalStorage("{}", name="shop_guest_cart", sync=True)
    lines: list[CartLine] = []
    item_count: int = 0
    total: str = "$0.00"
    can_check_out: bool = False
    # Why Check out is disabled, in words ("" when it is not).
    checkout_blocker: str = ""
    # What the page shows of the cart, hashed (services/cart.fingerprint): checkout sends it back.
    cart_fingerprint: str = ""
    cart_loaded: bool = False
    # Bumped on every refresh: quantity inputs are keyed by it, so a refused or
    # capped entry is replaced by the stored quantity.
    cart_revision: int = 0
    # The line the last Remove took away (product id, quantity), for its Undo; server-side only.
    _removed_line: tuple[int, int] | None = None

    def _guest_lines(self) -> tuple[dict[int, int], str]:
        """The guest cart's lines, and a notice (logged too) when lines beyond MAX_LINES were left out."""
        lines, refused = parse_guest_cart(self.guest_cart)
        if not refused:
            return lines, ""
        logger.warning("guest cart cut to %d lines", MAX_LINES, extra={"refused_lines": refused})
        return lines, too_many_lines_notice(refused)

    def _store(self, session: Session) -> tuple[CartStore, str]:
        """The caller's cart, and a notice when a guest cart had to be cut down."""
        user = self._current_user(session)
        if user is not None:
            return UserCart(user.id), ""
        lines, notice = self._guest_lines()
        return GuestCart(lines), notice

    def _refresh(self, session: Session, store: CartStore) -> str:
        """Show the cart as it is now; a notice when products in a guest's cart no longer exist
        (a user's cart lines go with the product)."""
        current = cart.view(session, store)
        notice = ""
        if current.gone and isinstance(store, GuestCart):
            for product_id in current.gone:
                store.set_quantity(session, product_id, 0)
            notice = cart.gone_notice(len(current.gone))
        if isinstance(store, GuestCart):
            self.guest_cart = json.dumps({str(k): v for k, v in sorted(store.lines.items())})
        self.lines = current.lines
        self.item_count = current.item_count
        self.total = current.total
        self.can_check_out = current.can_check_out
        self.checkout_blocker = current.checkout_blocker
        self.cart_fingerprint = current.fingerprint
        self.cart_loaded = True
        self.cart_revision += 1
        return notice

    def _load_cart(self) -> str:
        """Load the caller and the cart; a notice when a stored guest cart had to be cut down or lost lines."""
        with session_scope() as session:
            store, cut_notice = self._store(session)
            gone_notice = self._refresh(session, store)
        return " ".join(notice for notice in (cut_notice, gone_notice) if notice)

    @rx.event
    @in_db_thread
    def load_cart(self):
        """on_load of every page: who is logged in, and the cart badge."""
        if notice := self._load_cart():
            return rx.toast.warning(notice)

    def _change(self, change):
        """Apply `change(session, store)` to the caller's cart and show the result; a ServiceError is shown."""

        def work(session: Session):
            store, _notice = self._store(session)
            try:
                outcome = change(session, store)
            except ServiceError as error:
                outcome = error  # rules are checked before anything changes: nothing to undo
            self._refresh(session, store)
            return outcome

        # A user's cart is rows: queue for the write lock up front. A guest's is in the browser.
        return transaction(work, write=bool(self._signed_in_token_hash()))

    def _add(self, product_id: int, quantity: int):
        outcome = self._change(lambda session, store: cart.add_item(session, store, product_id, quantity))
        if isinstance(outcome, ServiceError):
            return rx.toast.error(str(outcome))
        business.cart_addition(product_id, quantity)
        if outcome.message:
            return rx.toast.warning(outcome.message)
        return rx.toast.success(f"Added {outcome.product_name} to your cart.", action=VIEW_CART)

    # Arguments arrive from the browser as whatever a client sends: parse, never trust.
    @rx.event
    @in_db_thread
    def add_to_cart(self, product_id: int):
        product = parse_id(product_id)
        if product is None:
            return rx.toast.error("This product is no longer available.")
        return self._add(product, 1)

    @rx.event
    @in_db_thread
    def set_line_quantity(self, product_id: int, raw_quantity: str):
        return self._set_line_quantity(product_id, raw_quantity)

    @rx.event
    @in_db_thread
    def submit_line_quantity(self, form_data: dict):
        """Enter in a line's quantity box: the same as leaving it."""
        fields = form_fields(form_data, {"product": 20, "quantity": 20})
        return self._set_line_quantity(fields["product"], fields["quantity"])

    def _set_line_quantity(self, product_id: object, raw_quantity: object):
        product, quantity = parse_id(product_id), parse_count(raw_quantity, 1, MAX_QUANTITY)
        if product is None:
            outcome = ServiceError("This product is not in your cart.")
            self._load_cart()
        elif quantity is None:
            outcome = ServiceError(f"Enter a whole number from 1 to {MAX_QUANTITY}.")
            self._load_cart()
        else:
            outcome = self._change(lambda session, store: cart.set_quantity(session, store, product, quantity))
        message = str(outcome) if isinstance(outcome, ServiceError) else outcome.message
        if message:
            return rx.toast.warning(message)

    @rx.event
    @in_db_thread
    def remove_line(self, product_id: int):
        product = parse_id(product_id)
        line = next((line for line in self.lines if line.product_id == product), None)
        if line is None:
            self._load_cart()
            return
        self._change(lambda session, store: cart.remove_item(session, store, line.product_id))
        self._removed_line = (line.product_id, line.quantity)
        return rx.toast(
            f"Removed {line.name}.", action=ToastAction(label="Undo", on_click=CartState.undo_remove), duration=6000
        )

    @rx.event
    @in_db_thread
    def undo_remove(self):
        """Puts back the line the last Remove took away (as much as is still in stock); only once."""
        removed, self._removed_line = self._removed_line, None
        if removed is None:
            return
        product_id, quantity = removed
        outcome = self._change(lambda session, store: cart.add_item(session, store, product_id, quantity))
        if isinstance(outcome, ServiceError):
            return rx.toast.error(str(outcome))
        if outcome.message:
            return rx.toast.warning(outcome.message)
