"""The account page (its e-mail address: confirmed or not, a new link, another address) and the page
a confirmation link opens.

Public events like every other: the account page acts only for the caller's own account, a new
link is paced per account before it is made (services/email_verification.py), and the link's page
reads its token from the URL's fragment, checks it before any work and counts a refused one
without logging it (anyone can open it with made-up links as often as they like).
"""

from __future__ import annotations

import reflex as rx
from sqlmodel import Session

from ecom_reflex.db import session_scope, transaction
from ecom_reflex.observability import business
from ecom_reflex.offload import in_db_thread, run_db
from ecom_reflex.services import email_verification
from ecom_reflex.services.email_verification import AddressStatus
from ecom_reflex.services.errors import FieldErrors, ServiceError
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.inputs import form_fields
from ecom_reflex.state.session import login_url

# More than an address may be, so validation judges it (and says so) instead of a cut-off copy.
MAX_EMAIL_INPUT = 1_024
# A fragment longer than any token of ours is not read at all.
MAX_FRAGMENT = 128
NOT_LOGGED_IN = "Your session has ended. Log in again."


class AccountState(CartState):
    # The address the account gives, whether a link confirmed it, and the confirmed address order
    # e-mails go to ("" when none; it differs from `email` while a new address waits for its link).
    email: str = ""
    email_verified: bool = False
    mailed_to: str = ""
    account_loaded: bool = False
    errors: dict[str, str] = {}
    form_error: str = ""
    # What was just done ("We sent a link to ...").
    notice: str = ""
    busy: bool = False
    # Changes after a change of address, so the form is drawn anew (empty).
    change_form_key: int = 0

    @rx.event
    @in_db_thread
    def load_account(self):
        """on_load of /account."""
        self.errors, self.form_error, self.notice, self.busy = {}, "", "", False
        with session_scope() as session:
            user = self._current_user(session)
            if user is None:
                return rx.redirect(login_url("/account"))
            self._show_address(email_verification.status(user))
        return None

    def _show_address(self, address: AddressStatus) -> None:
        self.email, self.email_verified, self.mailed_to = address.email, address.verified, address.mailed_to
        self.account_loaded = True

    @rx.event
    async def send_link_again(self):
        if self.busy:
            return
        self.errors, self.form_error, self.notice = {}, "", ""
        self.busy = True
        yield

        def send(session: Session) -> str | None:
            user = self._current_user(session)
            return None if user is None else email_verification.send_again(session, user.id)

        try:
            sent_to = await run_db(lambda: transaction(send, write=True))
        except ServiceError as error:
            self.form_error = str(error)
            return
        finally:
            self.busy = False
        if sent_to is None:
            self.form_error = NOT_LOGGED_IN
            return
        business.email_link_requested("again")
        self.notice = f"We sent a new link to {sent_to}. It works once, for {email_verification.VERIFY_HOURS} hours."

    @rx.event
    async def change_email(self, form_data: dict):
        if self.busy:
            return
        typed = form_fields(form_data, {"email": MAX_EMAIL_INPUT})["email"]
        self.errors, self.form_error, self.notice = {}, "", ""
        if not typed:
            self.errors = {"email": "Enter your new e-mail address."}
            return
        self.busy = True
        yield

        def change(session: Session) -> AddressStatus | None:
            user = self._current_user(session)
            return None if user is None else email_verification.change_address(session, user.id, typed)

        try:
            address = await run_db(lambda: transaction(change, write=True))
        except FieldErrors as error:
            self.errors = error.errors
            return
        except ServiceError as error:
            self.form_error = str(error)
            return
        finally:
            self.busy = False
        if address is None:
            self.form_error = NOT_LOGGED_IN
            return
        self._show_address(address)
        self.change_form_key += 1
        if address.verified:
            self.notice = f"Your address is {address.email} again."
            return
        business.email_link_requested("change")
        self.notice = (
            f"We sent a link to {address.email}. Until you open it, order e-mails keep going to"
            f" {address.mailed_to}." if address.mailed_to else f"We sent a link to {address.email}."
        )  # fmt: skip


class VerifyEmailState(CartState):
    # checking -> verified, or invalid (with the reason).
    link: str = "checking"
    verified_email: str = ""
    link_error: str = ""

    @rx.event
    async def open_link(self):
        """on_load of /verify-email#token=...: the token comes in the page's fragment."""
        self.link, self.verified_email, self.link_error = "checking", "", ""
        fragment = str(self.router.url.fragment or "")[:MAX_FRAGMENT]
        token = email_verification.token_from_fragment(fragment)
        if not token:
            self._refused(email_verification.INVALID_LINK)
            return
        try:
            user = await run_db(lambda: transaction(lambda s: email_verification.verify(s, token), write=True))
        except ServiceError as error:
            self._refused(str(error))
            return
        business.email_verified(user.id)
        self.link, self.verified_email = "verified", user.verified_email or ""

    def _refused(self, message: str) -> None:
        self.link, self.link_error = "invalid", message
        business.email_link_refused()
