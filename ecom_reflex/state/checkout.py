"""Checkout: shipping form, one order per attempt, however often it is submitted."""

from __future__ import annotations

import uuid

import reflex as rx
from sqlmodel import Session

from ecom_reflex.db import failure_reason, session_scope, transaction
from ecom_reflex.observability import business
from ecom_reflex.offload import in_db_thread, run_db
from ecom_reflex.services import addresses, orders
from ecom_reflex.services.errors import FieldErrors, ServiceError
from ecom_reflex.services.orders import CartChanged, EmptyCart, OutOfStock
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.inputs import form_fields
from ecom_reflex.state.session import login_url

ERROR_SUMMARY_ID = "checkout-errors"
SHIPPING_LENGTHS = {name: max_length for name, (_label, _required, max_length) in orders.SHIPPING_FIELDS.items()}


class CheckoutState(CartState):
    errors: dict[str, str] = {}
    form_error: str = ""
    placing: bool = False
    # One key per visit to the checkout page: a double click or a retry of the
    # same attempt sends the same key and gets the same order back.
    attempt_key: str = ""
    # The account's e-mail, prefilled in the form.
    account_email: str = ""
    # The country chosen in the form (ISO alpha-2): its regions are the region field's choices.
    country: str = ""

    @rx.var
    def region_choices(self) -> list[str]:
        return list(addresses.regions(self.country))

    @rx.var
    def region_label(self) -> str:
        return addresses.REGION_WORD.get(self.country, "State, province or region (optional)")

    @rx.event
    @in_db_thread
    def open_checkout(self):
        """on_load of /checkout, after CartState.load_cart has loaded the caller and the cart."""
        if not self.logged_in:
            return rx.redirect(login_url("/checkout"))
        self.errors, self.form_error, self.placing = {}, "", False
        self.attempt_key = uuid.uuid4().hex
        with session_scope() as session:
            user = self._current_user(session)
            self.account_email = user.email if user else ""

    @rx.event
    def choose_country(self, code: str):
        """The country select changed: the region field offers that country's regions (or free text)."""
        # Bounded: a country's name or code is short, whatever a client sends.
        self.country = addresses.country_code(code[:80] if isinstance(code, str) else "") or ""

    @rx.event
    async def place_order(self, form_data: dict):
        if self.placing:
            return
        self.errors, self.form_error = {}, ""
        # Read generously: validate_shipping folds white space, then judges the length and says so.
        form = form_fields(form_data, {**{name: 4 * length for name, length in SHIPPING_LENGTHS.items()}, "shown": 64})
        # What the page showed of the cart (a hidden field); a client that sends none is held to
        # what this tab's page was given.
        shown = form["shown"] or self.cart_fingerprint
        if "email" not in (form_data if isinstance(form_data, dict) else {}):
            # A client that sends no e-mail field at all ships with the account's.
            form["email"] = self.account_email
        try:
            address = orders.validate_shipping(form)
        except FieldErrors as error:
            self.errors = error.errors
            business.checkout_failed("validation", ", ".join(sorted(error.errors)))
            # The summary of what to fix, at the top of the form, gets the focus (and is read out).
            return rx.set_focus(ERROR_SUMMARY_ID)
        self.placing = True
        try:
            placed = await run_db(self._place, address, shown)
        except ServiceError as error:
            reason = {OutOfStock: "out_of_stock", EmptyCart: "empty_cart", CartChanged: "cart_changed"}.get(
                type(error), "error"
            )
            business.checkout_failed(reason, str(error))
            self.form_error = str(error)
            await run_db(self._load_cart)
            return
        except Exception as error:
            # Counted as a failed checkout by what really failed; the app's exception handler
            # then logs it with its traceback and tells the shopper.
            business.checkout_failed(failure_reason(error), type(error).__name__)
            raise
        finally:
            self.placing = False
        if placed is None:
            business.checkout_failed("not_logged_in")
            return rx.redirect(login_url("/checkout"))
        order_id, total_cents, item_count, is_new = placed
        if is_new:
            business.order_placed(order_id, total_cents, item_count)
        await run_db(self._load_cart)
        return rx.redirect(f"/orders/{order_id}?placed=1")

    def _place(self, address: orders.ShippingAddress, shown: str) -> tuple[int, int, int, bool] | None:
        """(order id, total cents, items, whether this call created it), or None without a logged-in user."""

        def place(session: Session) -> tuple[int, int, int, bool] | None:
            user = self._current_user(session)
            if user is None:
                return None
            placed = orders.place_order(session, user.id, address, self.attempt_key, shown)
            return placed.order.id, placed.order.total_cents, placed.items, placed.created

        return transaction(place, write=True)
