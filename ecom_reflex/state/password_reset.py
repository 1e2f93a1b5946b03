"""Forgot password (ask for a link by e-mail) and reset password (the link's page: a new password).

Both are public: any client may send these events with any payload, as often as it likes. Inputs
are bounded before any work; asking takes a slot of the client address's limit first; the token is
checked before bcrypt runs, so only a valid link costs a hash.

The answer to asking is the same, after the same work, whether an account has the address or not:
the slot, then the answer. Whether there is an account, whether its address has had its reset
e-mails for the hour (a cap on e-mails sent, not on requests asked), and queueing the e-mail are
decided after the answer, in a task of the worker's own (`_ask_in_background`): neither the answer
nor its time, nor when the event ends, depends on them.
"""

from __future__ import annotations

import asyncio
import logging

import reflex as rx
from email_validator import EmailNotValidError, validate_email
from sqlmodel import Session

from ecom_reflex.db import transaction
from ecom_reflex.models import User
from ecom_reflex.observability import business
from ecom_reflex.offload import run_db, run_hashing
from ecom_reflex.services import auth, password_reset, throttling
from ecom_reflex.services.errors import ServiceError
from ecom_reflex.services.passwords import hash_password
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.inputs import form_fields, password_field
from ecom_reflex.state.session import client_address

# More than an address may be, so validation judges it (and says so) instead of a cut-off copy.
MAX_EMAIL_INPUT = 1_024
# A fragment longer than any token of ours is not read at all.
MAX_FRAGMENT = 128

logger = logging.getLogger("ecom_reflex.password_reset")
# The asks still deciding in the background: held here so that none is collected before it ends.
_asking: set[asyncio.Task] = set()


def _ask(email: str) -> str:
    """What became of a reset request for `email`, decided in a database thread after the answer:
    queued, no_account (none, or none that can be mailed) or capped (its reset e-mails for now were sent)."""
    if transaction(lambda session: password_reset.account_for_email(session, email)) is None:
        return "no_account"
    # The recipient's slot before the e-mail is queued: a burst of requests gets no more e-mails than the cap.
    if not throttling.take_reset_email(email):
        return "capped"
    queued = transaction(lambda session: password_reset.queue_reset_email(session, email), write=True)
    return "queued" if queued else "no_account"


async def _decide(email: str) -> None:
    try:
        business.password_reset_decided(await run_db(_ask, email))
    except Exception:  # nobody is waiting for it: say so in the log (never the address)
        logger.warning("a password-reset request could not be decided", exc_info=True)


def _ask_in_background(email: str) -> None:
    task = asyncio.get_running_loop().create_task(_decide(email), name="password-reset-request")
    _asking.add(task)
    task.add_done_callback(_asking.discard)


class ForgotPasswordState(CartState):
    errors: dict[str, str] = {}
    form_error: str = ""
    submitting: bool = False
    # The address the link went to (as typed): the page then says what to do next.
    sent_to: str = ""

    @rx.event
    def open_forgot(self):
        """on_load of /forgot-password."""
        self.errors, self.form_error, self.submitting, self.sent_to = {}, "", False, ""

    @rx.event
    async def request_link(self, form_data: dict):
        if self.submitting:
            return
        typed = form_fields(form_data, {"email": MAX_EMAIL_INPUT})["email"]
        self.errors, self.form_error = {}, ""
        try:
            email = validate_email(typed, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            self.errors = {"email": "Enter the e-mail address of your account, such as ada@example.com."}
            return
        self.submitting = True
        yield
        try:
            refusal = await run_db(throttling.take_reset_request, client_address(self.router))
        finally:
            self.submitting = False
        if refusal is not None:
            business.password_reset_throttled(refusal.reason)
            self.form_error = refusal.message
            return
        # The same answer at once, account or not: the rest is decided after it (see the module docstring).
        _ask_in_background(email)
        business.password_reset_requested()
        self.sent_to = email


class ResetPasswordState(CartState):
    # checking -> valid (the form) or invalid (the link is spent: ask again).
    link: str = "checking"
    account_name: str = ""
    errors: dict[str, str] = {}
    submitting: bool = False
    # The link's token: kept on the server for this tab, never sent back to the browser.
    _token: str = ""

    @rx.event
    async def open_reset(self):
        """on_load of /reset-password#token=...: the token comes in the page's fragment."""
        self.errors, self.submitting = {}, False
        fragment = str(self.router.url.fragment or "")[:MAX_FRAGMENT]
        self._token = password_reset.token_from_fragment(fragment)
        try:
            user = await run_db(lambda: transaction(lambda s: password_reset.account_for_token(s, self._token)))
        except ServiceError:
            self.account_name = ""
            self._spent()
            return
        self.link, self.account_name = "valid", user.username

    @rx.event
    async def set_new_password(self, form_data: dict):
        if self.submitting or self.link != "valid":
            return
        password, confirm = password_field(form_data, "password"), password_field(form_data, "confirm")
        token = self._token
        self.errors = {}
        try:
            user: User = await run_db(lambda: transaction(lambda s: password_reset.account_for_token(s, token)))
        except ServiceError:
            self._spent()
            return
        errors = {}
        if problem := auth.password_problem(password, user.username, user.email):
            errors["password"] = problem
        if password != confirm:
            errors["confirm"] = "The passwords do not match."
        if errors:
            self.errors = errors
            return
        self.submitting = True
        yield
        try:
            password_hash = await run_hashing(hash_password, password)

            def finish(session: Session) -> int:
                return password_reset.finish_reset(session, token, password_hash).id

            user_id = await run_db(lambda: transaction(finish, write=True))
        except ServiceError:
            self._spent()
            return
        finally:
            self.submitting = False
        business.password_reset_completed(user_id)
        self._token = ""
        if self.logged_in and self.username == self.account_name:
            # Every session of the account has ended, this tab's too: nothing of it stays here.
            await self._forget_the_previous_user()
        yield rx.redirect("/login")
        yield rx.toast.success("Your password has been changed. Log in with your new password.")

    def _spent(self) -> None:
        """The link was used, replaced or expired meanwhile: the page says so and offers a new one."""
        self.link, self._token = "invalid", ""
        business.password_reset_link_refused()
