"""Checkout: shipping form and card, one order per attempt however often it is submitted, then its payment.

The card's number and CVC arrive in the submitted form and go to the payment service
(ecom_reflex/payments.py); they are never put in this state, logged or stored. A declined card
keeps the shopper here with the reason, the order and its address, to pay with another card
(`pay_order`); an outcome nobody knows yet sends them to the order's page, which says the payment
is being confirmed and shows the outcome once the reconciler learns it.
"""

from __future__ import annotations

import uuid

import reflex as rx
from sqlmodel import Session

from ecom_reflex import payments
from ecom_reflex.db import failure_reason, session_scope, transaction
from ecom_reflex.observability import business
from ecom_reflex.offload import in_db_thread, run_db
from ecom_reflex.services import addresses, cards, order_payments, orders, throttling
from ecom_reflex.services.errors import FieldErrors, NotFound, ServiceError
from ecom_reflex.services.order_payments import Attempt, PaymentInFlight
from ecom_reflex.services.orders import CartChanged, EmptyCart, OrderDetail, OutOfStock
from ecom_reflex.services.payment_client import Card, ChargeOutcome
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.inputs import form_fields, parse_id
from ecom_reflex.state.session import client_address, login_url

ERROR_SUMMARY_ID = "checkout-errors"
SHIPPING_LENGTHS = {name: max_length for name, (_label, _required, max_length) in orders.SHIPPING_FIELDS.items()}
# Read generously (4x): the services fold white space, then judge the length and say so.
CARD_LENGTHS = {name: 4 * max_length for name, (_label, max_length) in cards.CARD_FIELDS.items()}
FIELD_ORDER = [*orders.SHIPPING_FIELDS, *cards.CARD_FIELDS]


class CheckoutState(CartState):
    errors: dict[str, str] = {}
    form_error: str = ""
    placing: bool = False
    # One key per visit to the checkout page: a double click or a retry of the
    # same attempt sends the same key and gets the same order back.
    attempt_key: str = ""
    # The account's e-mail, prefilled in the form.
    account_email: str = ""
    # The account's confirmed address, where the order e-mails go ("" when it has none): the contact
    # e-mail typed in the form is for the courier and is never mailed.
    mailed_to: str = ""
    # The country chosen in the form (ISO alpha-2): its regions are the region field's choices.
    country: str = ""
    # The order being paid for (after a declined card, or /checkout?order=<id>): the page shows it and a card form.
    pay_order: OrderDetail | None = None
    # Changes after a declined card, so the card fields are drawn anew (empty).
    card_form_key: int = 0

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
            return rx.redirect(
                login_url(self.router.url.path + (f"?{self.router.url.query}" if self.router.url.query else ""))
            )
        self.errors, self.form_error, self.placing, self.pay_order = {}, "", False, None
        self.attempt_key = uuid.uuid4().hex
        raw_order = self.router.url.query_parameters.get("order")
        with session_scope() as session:
            user = self._current_user(session)
            self.account_email = user.email if user else ""
            self.mailed_to = (user.verified_email or "") if user else ""
            if raw_order is None or user is None:
                return None
            order_id = parse_id(raw_order)
            try:
                detail = orders.order_detail(session, order_id, user_id=user.id) if order_id else None
            except NotFound:
                detail = None
        if detail is None:
            return rx.redirect("/orders")
        if not detail.can_pay:
            # Paid, expired or being confirmed: its page says which.
            return rx.redirect(f"/orders/{detail.id}")
        self.pay_order = detail
        return None

    @rx.event
    def choose_country(self, code: str):
        """The country select changed: the region field offers that country's regions (or free text)."""
        # Bounded: a country's name or code is short, whatever a client sends.
        self.country = addresses.country_code(code[:80] if isinstance(code, str) else "") or ""

    @rx.event
    async def place_order(self, form_data: dict):
        """The checkout form: address and card. Places the order (stock held), then pays for it."""
        if self.placing:
            return
        self.errors, self.form_error = {}, ""
        form = form_fields(
            form_data, {**{name: 4 * length for name, length in SHIPPING_LENGTHS.items()}, **CARD_LENGTHS, "shown": 64}
        )
        # What the page showed of the cart (a hidden field); a client that sends none is held to
        # what this tab's page was given.
        shown = form["shown"] or self.cart_fingerprint
        if "email" not in (form_data if isinstance(form_data, dict) else {}):
            # A client that sends no e-mail field at all ships with the account's.
            form["email"] = self.account_email
        errors: dict[str, str] = {}
        address = card = None
        try:
            address = orders.validate_shipping(form)
        except FieldErrors as error:
            errors |= error.errors
        try:
            card = cards.read_card(form)
        except FieldErrors as error:
            errors |= error.errors
        if errors:
            self.errors = {field: errors[field] for field in FIELD_ORDER if field in errors}
            business.checkout_failed("validation", ", ".join(sorted(errors)))
            # The summary of what to fix, at the top of the form, gets the focus (and is read out).
            yield rx.set_focus(ERROR_SUMMARY_ID)
            return
        self.placing = True
        yield
        try:
            async for step in self._place_and_pay(address, card, shown):
                yield step
        finally:
            self.placing = False

    async def _place_and_pay(self, address: orders.ShippingAddress, card: Card, shown: str):
        try:
            placed = await run_db(self._place, address, shown, client_address(self.router))
        except (ServiceError, _Throttled) as error:
            reason = {
                OutOfStock: "out_of_stock",
                EmptyCart: "empty_cart",
                CartChanged: "cart_changed",
                _Throttled: "throttled",
                PaymentInFlight: "payment_in_flight",
            }.get(type(error), "error")
            business.checkout_failed(reason, str(error))
            self.form_error = str(error)
            await run_db(self._load_cart)
            return
        except Exception as error:
            # Counted as a failed checkout by what really failed; the app's exception handler
            # then logs it with its traceback and tells the shopper.
            business.checkout_failed(failure_reason(error), type(error).__name__)
            raise
        if placed is None:
            business.checkout_failed("not_logged_in")
            yield rx.redirect(login_url("/checkout"))
            return
        user_id, attempt = placed
        await run_db(self._load_cart)
        async for step in self._charge(attempt, card, user_id):
            yield step

    @rx.event
    async def pay_order_again(self, form_data: dict):
        """The card form of the order being paid for (`pay_order`): another card for the same order."""
        if self.placing or self.pay_order is None:
            return
        self.errors, self.form_error = {}, ""
        try:
            card = cards.read_card(form_fields(form_data, CARD_LENGTHS))
        except FieldErrors as error:
            self.errors = error.errors
            yield rx.set_focus(ERROR_SUMMARY_ID)
            return
        order_id = self.pay_order.id
        self.placing = True
        yield
        try:
            try:
                started = await run_db(self._start_again, order_id, client_address(self.router))
            except (ServiceError, _Throttled) as error:
                self.form_error = str(error)
                if isinstance(error, PaymentInFlight):
                    yield rx.redirect(f"/orders/{order_id}")
                else:
                    await run_db(self._reload_pay_order)
                return
            if started is None:
                yield rx.redirect(login_url(f"/checkout?order={order_id}"))
                return
            user_id, attempt = started
            async for step in self._charge(attempt, card, user_id):
                yield step
        finally:
            self.placing = False

    async def _charge(self, attempt: Attempt, card: Card, user_id: int):
        paid = await payments.charge(attempt, card, actor_id=user_id)
        if paid.charge.outcome is ChargeOutcome.APPROVED:
            yield rx.redirect(f"/orders/{attempt.order_id}?placed=1")
            return
        if paid.charge.outcome is ChargeOutcome.UNKNOWN:
            yield rx.redirect(f"/orders/{attempt.order_id}?confirming=1")
            return
        # Declined: the order's stock is back; the shopper stays, with the reason, to try another card.
        self.form_error = paid.charge.message or "Your card was declined."
        self.card_form_key += 1
        self.pay_order = await run_db(self._order_detail, attempt.order_id)

    def _place(self, address: orders.ShippingAddress, shown: str, client: str) -> tuple[int, Attempt] | None:
        """(user id, the order's first payment attempt), or None without a logged-in user. Throttled
        before anything is written; then the order placed and its attempt started in one transaction."""
        user_id = self._user_id()
        if user_id is None:
            return None
        _throttle(client, user_id)

        def place(session: Session) -> tuple[int, Attempt] | None:
            placed = orders.place_order(session, user_id, address, self.attempt_key, shown)
            return user_id, order_payments.start_attempt(session, placed.order.id, user_id, payments.hold())

        return transaction(place, write=True)

    def _start_again(self, order_id: int, client: str) -> tuple[int, Attempt] | None:
        user_id = self._user_id()
        if user_id is None:
            return None
        _throttle(client, user_id)
        return user_id, transaction(
            lambda session: order_payments.start_attempt(session, order_id, user_id, payments.hold()), write=True
        )

    def _user_id(self) -> int | None:
        with session_scope() as session:
            user = self._current_user(session)
            return user.id if user else None

    def _order_detail(self, order_id: int) -> OrderDetail | None:
        user_id = self._user_id()
        if user_id is None:
            return None
        with session_scope() as session:
            try:
                return orders.order_detail(session, order_id, user_id=user_id)
            except NotFound:
                return None

    def _reload_pay_order(self) -> None:
        if self.pay_order is not None:
            self.pay_order = self._order_detail(self.pay_order.id)


class _Throttled(Exception):
    """Too many payment attempts from this address or account (the message says which)."""


def _throttle(client: str, user_id: int) -> None:
    """Takes the attempt's slot before any work (services/throttling.payment_refusal); _Throttled if none is left."""
    if (refusal := throttling.payment_refusal(client, str(user_id))) is not None:
        business.payment_throttled(refusal.reason)
        raise _Throttled(refusal.message)
