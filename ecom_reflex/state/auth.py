"""Log in, register: forms, field errors, and the guest cart merged into the account."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import reflex as rx

from ecom_reflex.db import session_scope
from ecom_reflex.observability import business
from ecom_reflex.observability.instrumentation import bind_user
from ecom_reflex.services import auth, cart
from ecom_reflex.services.auth import LoginStatus
from ecom_reflex.services.errors import FieldErrors
from ecom_reflex.state.cart import CartState, parse_guest_cart
from ecom_reflex.state.session import safe_next_path


@dataclass
class _Outcome:
    token: str = ""
    message: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


# bcrypt takes a quarter of a second on purpose; these run in a worker thread so
# the server keeps answering other clients meanwhile.
def _login(username: str, password: str, guest_lines: dict[int, int]) -> _Outcome:
    with session_scope(write=True) as session:
        result = auth.authenticate(session, username, password)
        if result.status is LoginStatus.SUCCESS:
            user_id = result.user.id
            token = auth.start_session(session, result.user)
            notices = cart.merge_guest_cart(session, guest_lines, user_id)
    # Counted once the transaction has committed.
    if result.status is LoginStatus.LOCKED:
        business.login_locked(username)
    elif result.status is LoginStatus.FAILURE:
        business.login_failed(username)
    else:
        bind_user(user_id)
        business.login_succeeded(username, user_id)
        return _Outcome(token=token, notices=notices)
    return _Outcome(message=result.message)


def _register(form: dict[str, str], guest_lines: dict[int, int]) -> _Outcome:
    with session_scope(write=True) as session:
        try:
            user = auth.register(
                session,
                form.get("username", ""),
                form.get("email", ""),
                form.get("password", ""),
                form.get("confirm", ""),
            )
        except FieldErrors as error:
            return _Outcome(errors=error.errors)
        session.flush()
        user_id, username = user.id, user.username
        token = auth.start_session(session, user)
        notices = cart.merge_guest_cart(session, guest_lines, user_id)
    bind_user(user_id)
    business.registered(username, user_id)
    return _Outcome(token=token, notices=notices)


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

    def _finish(self, outcome: _Outcome, welcome: str):
        self.auth_token = outcome.token
        self.guest_cart = "{}"
        self._load_cart()
        events = [rx.redirect(self.next_path), rx.toast.success(welcome)]
        events += [rx.toast.warning(notice) for notice in outcome.notices]
        return events


class LoginState(AuthFormState):
    @rx.event
    async def log_in(self, form_data: dict):
        if self.submitting:
            return
        username = str(form_data.get("username", "")).strip()
        password = str(form_data.get("password", ""))
        self.errors = {
            name: "Required." for name, value in (("username", username), ("password", password)) if not value
        }
        self.form_error = ""
        if self.errors:
            return
        self.submitting = True
        yield
        try:
            outcome = await asyncio.to_thread(_login, username, password, parse_guest_cart(self.guest_cart))
        finally:
            self.submitting = False
        if not outcome.token:
            self.form_error = outcome.message
            return
        for event in self._finish(outcome, f"Welcome back, {username}."):
            yield event


class RegisterState(AuthFormState):
    @rx.event
    async def register(self, form_data: dict):
        if self.submitting:
            return
        self.errors, self.form_error = {}, ""
        self.submitting = True
        yield
        form = {name: str(form_data.get(name, "")) for name in ("username", "email", "password", "confirm")}
        try:
            outcome = await asyncio.to_thread(_register, form, parse_guest_cart(self.guest_cart))
        finally:
            self.submitting = False
        if not outcome.token:
            self.errors = outcome.errors
            return
        for event in self._finish(outcome, f"Welcome, {form['username'].strip()}! Your account is ready."):
            yield event
