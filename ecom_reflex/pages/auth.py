"""Log in, register, and a forgotten password (ask for a link; the link's page)."""

import reflex as rx

from ecom_reflex.components.layout import MUTED, form_error, form_field, page_shell, page_title
from ecom_reflex.services.auth import MIN_PASSWORD_LENGTH
from ecom_reflex.services.password_reset import INVALID_LINK, RESET_LIFETIME
from ecom_reflex.state.auth import LoginState, RegisterState
from ecom_reflex.state.password_reset import ForgotPasswordState, ResetPasswordState

RESET_MINUTES = int(RESET_LIFETIME.total_seconds() // 60)
PASSWORD_ADVICE = (
    f"At least {MIN_PASSWORD_LENGTH} characters. A few uncommon words are easy to remember and hard to guess."
)


def _checkout_notice(next_path: rx.Var[str]) -> rx.Component:
    """Why a guest on the way to the checkout is asked to log in, and that nothing is lost."""
    return rx.cond(
        next_path == "/checkout",
        rx.callout.root(
            rx.callout.icon(rx.icon("shopping-cart")),
            rx.callout.text(
                "Log in or create an account to check out: your orders are kept in your account, where you can"
                " follow them. Your cart comes with you, and you go straight back to the checkout."
            ),
            width="100%",
            data_testid="checkout-notice",
        ),
    )


def _form_card(title: str, *children: rx.Component) -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(page_title(title, size="6"), *children, spacing="4", width="100%"),
            width="100%",
            max_width="420px",
            size="3",
        ),
        padding_y="2em",
    )


def login_page() -> rx.Component:
    return page_shell(
        _form_card(
            "Log in",
            _checkout_notice(LoginState.next_path),
            form_error(LoginState.form_error),
            rx.form(
                rx.vstack(
                    form_field("Username", "username", LoginState.errors, auto_complete="username", max_length=64),
                    form_field(
                        "Password", "password", LoginState.errors, type="password", auto_complete="current-password"
                    ),
                    rx.link("Forgot password?", href="/forgot-password", size="2", data_testid="forgot-password"),
                    rx.button("Log in", type="submit", size="3", width="100%", loading=LoginState.submitting),
                    spacing="3",
                ),
                on_submit=LoginState.log_in,
            ),
            rx.text(
                "New here? ",
                rx.link("Create an account", href="/register?next=" + LoginState.next_path, underline="always"),
                size="2",
            ),
        )
    )


def register_page() -> rx.Component:
    errors = RegisterState.errors
    return page_shell(
        _form_card(
            "Create an account",
            _checkout_notice(RegisterState.next_path),
            form_error(RegisterState.form_error),
            rx.form(
                rx.vstack(
                    form_field("Username", "username", errors, auto_complete="username", max_length=32),
                    rx.text("3-32 letters, digits, '_', '.' or '-'.", size="1", color=MUTED),
                    form_field("E-mail", "email", errors, type="email", auto_complete="email", max_length=254),
                    form_field("Password", "password", errors, type="password", auto_complete="new-password"),
                    rx.text(PASSWORD_ADVICE, size="1", color=MUTED),
                    form_field("Confirm password", "confirm", errors, type="password", auto_complete="new-password"),
                    rx.button(
                        "Create account", type="submit", size="3", width="100%", loading=RegisterState.submitting
                    ),
                    spacing="3",
                ),
                on_submit=RegisterState.register,
                no_validate=True,  # the server validates and says what is wrong, next to each field
            ),
            rx.text(
                "Already have an account? ",
                rx.link("Log in", href="/login?next=" + RegisterState.next_path, underline="always"),
                size="2",
            ),
        )
    )


def forgot_password_page() -> rx.Component:
    state = ForgotPasswordState
    return page_shell(
        _form_card(
            "Forgot your password?",
            rx.cond(
                state.sent_to != "",
                rx.vstack(
                    rx.callout.root(
                        rx.callout.icon(rx.icon("mail-check")),
                        rx.callout.text(
                            "If an account uses ",
                            rx.text.strong(state.sent_to),
                            f", we have sent it a link to choose a new password. The link works once, for"
                            f" {RESET_MINUTES} minutes. No e-mail within a few minutes? Check your spam folder,"
                            " or ask again with the address you registered with.",
                        ),
                        color_scheme="green",
                        width="100%",
                        role="status",
                        data_testid="reset-link-sent",
                    ),
                    rx.link("Back to log in", href="/login", size="2"),
                    spacing="3",
                    width="100%",
                ),
                rx.fragment(
                    rx.text(
                        "Enter the e-mail address of your account. We will send you a link to choose a new password.",
                        size="2",
                    ),
                    form_error(state.form_error),
                    rx.form(
                        rx.vstack(
                            form_field(
                                "E-mail", "email", state.errors, type="email", auto_complete="email", max_length=254
                            ),
                            rx.button(
                                "Send me a link", type="submit", size="3", width="100%", loading=state.submitting
                            ),
                            spacing="3",
                        ),
                        on_submit=state.request_link,
                        no_validate=True,
                    ),
                    rx.text("Remembered it? ", rx.link("Log in", href="/login", underline="always"), size="2"),
                ),
            ),
        )
    )


def reset_password_page() -> rx.Component:
    state = ResetPasswordState
    return page_shell(
        _form_card(
            "Choose a new password",
            rx.match(
                state.link,
                (
                    "valid",
                    rx.fragment(
                        rx.text("For the account ", rx.text.strong(state.account_name), ".", size="2"),
                        rx.form(
                            rx.vstack(
                                form_field(
                                    "New password",
                                    "password",
                                    state.errors,
                                    type="password",
                                    auto_complete="new-password",
                                ),
                                rx.text(PASSWORD_ADVICE, size="1", color=MUTED),
                                form_field(
                                    "Confirm new password",
                                    "confirm",
                                    state.errors,
                                    type="password",
                                    auto_complete="new-password",
                                ),
                                rx.text(
                                    "Every device logged in to this account will be logged out.", size="1", color=MUTED
                                ),
                                rx.button(
                                    "Set new password", type="submit", size="3", width="100%", loading=state.submitting
                                ),
                                spacing="3",
                            ),
                            on_submit=state.set_new_password,
                            no_validate=True,
                        ),
                    ),
                ),
                (
                    "invalid",
                    rx.vstack(
                        form_error(rx.Var.create(INVALID_LINK), testid="reset-link-invalid"),
                        rx.link(rx.button("Send me a new link", size="3"), href="/forgot-password"),
                        spacing="3",
                        width="100%",
                    ),
                ),
                rx.hstack(
                    rx.spinner(), rx.text("Checking your link…", color=MUTED), role="status", data_testid="loading"
                ),
            ),
        )
    )
