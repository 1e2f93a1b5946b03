"""Log in, register: forms, field errors, and the guest cart merged into the account.

Each runs in three steps so that nobody waits on anybody else: a read in a database
thread, bcrypt in a hashing thread with no transaction open, then one short write
transaction (the account or the login's outcome, the session, the merged cart).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import reflex as rx
from sqlmodel import Session

from ecom_reflex.db import transaction
from ecom_reflex.models import User
from ecom_reflex.observability import business
from ecom_reflex.observability.instrumentation import bind_user
from ecom_reflex.offload import run_db, run_hashing
from ecom_reflex.services import auth, cart, throttling
from ecom_reflex.services.auth import LoginAttempt, LoginStatus
from ecom_reflex.services.errors import FieldErrors
from ecom_reflex.services.passwords import hash_password
from ecom_reflex.services.throttling import Refusal
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.inputs import form_fields, password_field
from ecom_reflex.state.session import client_address, safe_next_path

# The most characters read: more than validate_registration accepts, so it judges and says so.
REGISTRATION_FIELDS = {"username": 256, "email": 1_024}


@dataclass
class _Outcome:
    token: str = ""
    user_id: int | None = None
    message: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    status: LoginStatus | None = None
    # A new account's address, as stored: the welcome says a link went to it.
    email: str = ""


def _start(session: Session, user_id: int, guest_lines: dict[int, int]) -> tuple[str, list[str]]:
    """The new session's token and the merge's notices (inside the caller's write transaction)."""
    token = auth.start_session(session, session.get(User, user_id))
    return token, cart.merge_guest_cart(session, guest_lines, user_id)


async def _login(username: str, password: str, guest_lines: dict[int, int], address: str) -> _Outcome:
    account = auth.account_key(username)

    def begin() -> LoginAttempt | Refusal:
        # The attempt's slots first (services/throttling.py): a burst gets no more passwords checked than the limits.
        return throttling.take_login_attempt(address, account) or transaction(
            lambda session: auth.begin_login(session, username)
        )

    attempt = await run_db(begin)
    if isinstance(attempt, Refusal):
        business.login_throttled(username, attempt.reason)
        return _Outcome(message=attempt.message)
    password_ok = await run_hashing(auth.check_password, attempt, password)

    def finish(session: Session) -> _Outcome:
        result = auth.finish_login(session, attempt, password_ok)
        if result.status is not LoginStatus.SUCCESS:
            return _Outcome(message=result.message, status=result.status)
        token, notices = _start(session, result.user.id, guest_lines)
        return _Outcome(token=token, user_id=result.user.id, notices=notices)

    outcome = await run_db(lambda: transaction(finish, write=True))
    # Counted once the transaction has committed; the attempt itself was counted before the check.
    if outcome.token:
        await run_db(throttling.login_succeeded, address, account)
        bind_user(outcome.user_id)
        business.login_succeeded(username, outcome.user_id)
    else:
        business.login_failed(username)
    return outcome


async def _register(
    form: dict[str, str], password: str, confirm: str, guest_lines: dict[int, int], address: str
) -> _Outcome:
    def check() -> tuple[str, str] | Refusal:
        # The attempt's slot first (services/throttling.py), so a refused registration counts too.
        return throttling.take_registration(address) or transaction(
            lambda session: auth.check_registration(session, form["username"], form["email"], password, confirm)
        )

    try:
        checked = await run_db(check)
    except FieldErrors as error:
        return _Outcome(errors=error.errors)
    if isinstance(checked, Refusal):
        business.registration_throttled(checked.reason)
        return _Outcome(message=checked.message)
    username, email = checked
    password_hash = await run_hashing(hash_password, password)

    def create(session: Session) -> _Outcome:
        user = auth.create_account(session, username, email, password_hash)
        session.flush()
        token, notices = _start(session, user.id, guest_lines)
        return _Outcome(token=token, user_id=user.id, notices=notices, email=email)

    try:
        outcome = await run_db(lambda: transaction(create, write=True))
    except FieldErrors as error:
        return _Outcome(errors=error.errors)
    bind_user(outcome.user_id)
    business.registered(username, outcome.user_id)
    return outcome


class AuthFormState(CartState):
    errors: dict[str, str] = {}
    form_error: str = ""
    submitting: bool = False

    @rx.var
    def next_path(self) -> str:
        return safe_next_path(self.router.url.query_parameters.get("next"))

    @rx.event
    def open_form(self):
        """on_load of /login and /register; a logged-in visitor goes on to where they were headed."""
        self.errors, self.form_error, self.submitting = {}, "", False
        if self.logged_in:
            return rx.redirect(self.next_path)

    async def _finish(self, outcome: _Outcome, welcome: str, notice: str):
        if self._tab_had_a_user():  # someone else's tab: nothing of theirs stays (a fresh tab has nothing)
            await self._forget_the_previous_user()
        self.auth_token = outcome.token
        self.guest_cart = "{}"
        await run_db(self._load_cart)
        events = [rx.redirect(self.next_path), rx.toast.success(welcome)]
        events += [rx.toast.warning(text) for text in [notice, *outcome.notices] if text]
        return events


class LoginState(AuthFormState):
    @rx.event
    async def log_in(self, form_data: dict):
        if self.submitting:
            return
        username = form_fields(form_data, {"username": 64})["username"]
        password = password_field(form_data, "password")
        self.errors = {
            name: "Required." for name, value in (("username", username), ("password", password)) if not value
        }
        self.form_error = ""
        if self.errors:
            return
        self.submitting = True
        yield
        guest_lines, notice = self._guest_lines()
        try:
            outcome = await _login(username, password, guest_lines, client_address(self.router))
        finally:
            self.submitting = False
        if not outcome.token:
            self.form_error = outcome.message
            return
        for event in await self._finish(outcome, f"Welcome back, {username}.", notice):
            yield event


class RegisterState(AuthFormState):
    @rx.event
    async def register(self, form_data: dict):
        if self.submitting:
            return
        self.errors, self.form_error = {}, ""
        self.submitting = True
        yield
        form = form_fields(form_data, REGISTRATION_FIELDS)
        password, confirm = password_field(form_data, "password"), password_field(form_data, "confirm")
        guest_lines, notice = self._guest_lines()
        try:
            outcome = await _register(form, password, confirm, guest_lines, client_address(self.router))
        finally:
            self.submitting = False
        if not outcome.token:
            self.errors, self.form_error = outcome.errors, outcome.message
            return
        # The same whether or not another account has confirmed the address (nothing enumerates accounts).
        welcome = f"Welcome, {form['username']}! We sent a link to {outcome.email} to confirm your e-mail address."
        for event in await self._finish(outcome, welcome, notice):
            yield event
