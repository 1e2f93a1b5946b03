"""The account page (the e-mail address: confirmed or not, a new link, another address) and the page
a confirmation link opens."""

import reflex as rx

from ecom_reflex.components.layout import MUTED, form_error, form_field, loading, page_shell, page_title
from ecom_reflex.services.email_verification import VERIFY_HOURS
from ecom_reflex.state.account import AccountState, VerifyEmailState


def _address_status() -> rx.Component:
    state = AccountState
    return rx.vstack(
        rx.hstack(
            rx.text("E-mail address", weight="medium"),
            rx.cond(
                state.email_verified,
                rx.badge("Confirmed", color_scheme="green", data_testid="email-status"),
                rx.badge("Not confirmed", color_scheme="amber", data_testid="email-status"),
            ),
            align="center",
            spacing="3",
        ),
        rx.text(state.email, data_testid="account-email"),
        rx.cond(
            state.email_verified,
            rx.text("Order e-mails come to this address.", size="2", color=MUTED),
            rx.vstack(
                rx.text(
                    rx.cond(
                        state.mailed_to != "",
                        "Until you open the link we sent to this address, order e-mails go to " + state.mailed_to + ".",
                        "We send order e-mails only to a confirmed address: open the link we sent to this address"
                        f" (it works for {VERIFY_HOURS} hours). Your orders are always on My orders.",
                    ),
                    size="2",
                    color=MUTED,
                    data_testid="email-not-confirmed",
                ),
                rx.button(
                    "Send the link again",
                    variant="soft",
                    on_click=AccountState.send_link_again,
                    loading=state.busy,
                    data_testid="send-link-again",
                ),
                spacing="2",
                align="start",
            ),
        ),
        spacing="2",
        width="100%",
    )


def _change_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            form_field(
                "New e-mail address",
                "email",
                AccountState.errors,
                type="email",
                auto_complete="email",
                max_length=254,
                key=AccountState.change_form_key,
            ),
            rx.text(
                "We send a link to the new address. Until it is opened, your account keeps its confirmed address.",
                size="1",
                color=MUTED,
            ),
            rx.button("Change e-mail address", type="submit", variant="outline", loading=AccountState.busy),
            spacing="3",
            align="start",
            width="100%",
        ),
        on_submit=AccountState.change_email,
        no_validate=True,  # the server validates and says what is wrong, next to the field
        width="100%",
    )


def account_page() -> rx.Component:
    state = AccountState
    return page_shell(
        page_title("Your account", margin_bottom="1em"),
        rx.cond(
            state.account_loaded,
            rx.card(
                rx.vstack(
                    rx.text("Username: ", rx.text.strong(state.username), data_testid="account-username"),
                    rx.separator(size="4"),
                    _address_status(),
                    rx.cond(
                        state.notice != "",
                        rx.callout.root(
                            rx.callout.icon(rx.icon("mail-check")),
                            rx.callout.text(state.notice),
                            color_scheme="green",
                            width="100%",
                            role="status",
                            data_testid="account-notice",
                        ),
                    ),
                    form_error(state.form_error),
                    rx.separator(size="4"),
                    _change_form(),
                    spacing="4",
                    width="100%",
                ),
                width="100%",
                max_width="560px",
                size="3",
            ),
            loading(),
        ),
    )


def verify_email_page() -> rx.Component:
    state = VerifyEmailState
    return page_shell(
        rx.center(
            rx.card(
                rx.vstack(
                    page_title("Confirm your e-mail address", size="6"),
                    rx.match(
                        state.link,
                        (
                            "verified",
                            rx.vstack(
                                rx.callout.root(
                                    rx.callout.icon(rx.icon("badge-check")),
                                    rx.callout.text(
                                        "Your address ",
                                        rx.text.strong(state.verified_email),
                                        " is verified: order e-mails come to it from now on.",
                                    ),
                                    color_scheme="green",
                                    width="100%",
                                    role="status",
                                    data_testid="email-verified",
                                ),
                                rx.link("Continue shopping", href="/", size="2"),
                                spacing="3",
                                width="100%",
                            ),
                        ),
                        (
                            "invalid",
                            rx.vstack(
                                form_error(state.link_error, testid="verify-link-invalid"),
                                rx.text("Log in and ask for a new link on your account page.", size="2", color=MUTED),
                                rx.link(rx.button("Go to your account", size="3"), href="/account"),
                                spacing="3",
                                width="100%",
                            ),
                        ),
                        rx.hstack(
                            rx.spinner(),
                            rx.text("Checking your link…", color=MUTED),
                            role="status",
                            data_testid="loading",
                        ),
                    ),
                    spacing="4",
                    width="100%",
                ),
                width="100%",
                max_width="480px",
                size="3",
            ),
            padding_y="2em",
        )
    )
