"""The shop's e-mails: rendered from templates (ecom_reflex/templates/email, Jinja2) and queued in
the outbox (services/outbox.py) in the caller's transaction, so an e-mail exists exactly when the
change that causes it commits. ecom_reflex/mailer.py sends them.

Each kind has a plain-text and an HTML template; every link starts with the PUBLIC_URL setting.
The password-reset and address-confirmation links are the secrets an e-mail carries: `redact` takes
them out wherever an e-mail's text is kept or logged once it no longer needs sending.

Whom each goes to (README "E-mail"): order e-mails to the account's confirmed address only
(`verified_email`), never to the contact address typed at checkout (that one is for the courier),
and not at all while the account has none; a confirmation link to the address it confirms; account
e-mails (reset, password changed) to the account's address, the confirmed one when it has one; and
"someone tried to register with your address" to the account that confirmed it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime

import jinja2
from sqlmodel import Session, select

from ecom_reflex import SHOP_NAME
from ecom_reflex.models import Order, OutboxEmail, User, utcnow
from ecom_reflex.money import format_cents
from ecom_reflex.observability.tracing import current_traceparent
from ecom_reflex.services import addresses
from ecom_reflex.settings import get_settings

SUBJECTS = {
    "order_placed": "Your order #{number} at {shop}",
    "order_shipped": "Order #{number} is on its way",
    "order_refunded": "Order #{number} has been cancelled and refunded",
    "password_reset": "Reset your password at {shop}",
    "password_changed": "Your password at {shop} was changed",
    "verify_email": "Confirm your e-mail address at {shop}",
    "email_in_use": "Someone tried to use your e-mail address at {shop}",
}
KINDS = tuple(SUBJECTS)
# The links' tokens, in the text and the HTML alike (services/password_reset.reset_path,
# services/email_verification.verify_path).
_RESET_TOKEN = re.compile(r"(/(?:reset-password|verify-email)#token=)[A-Za-z0-9_-]+")
REDACTED = "(redacted)"


@functools.cache
def _templates() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("ecom_reflex", "templates/email"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def render(kind: str, **context) -> RenderedEmail:
    """The e-mail of `kind` for `context`; the shop's name and URL are added."""
    context = {"shop_name": SHOP_NAME, "shop_url": get_settings().shop_url, **context}
    subject = SUBJECTS[kind].format(shop=SHOP_NAME, number=context.get("number", ""))
    context["subject"] = subject
    return RenderedEmail(
        subject=subject,
        text=_templates().get_template(f"{kind}.txt").render(context),
        html=_templates().get_template(f"{kind}.html").render(context),
    )


def redact(text: str) -> str:
    """`text` without the secret of a reset or confirmation link."""
    return _RESET_TOKEN.sub(rf"\g<1>{REDACTED}", text)


def link(path: str) -> str:
    return get_settings().shop_url + path


def _queue(session: Session, kind: str, recipient: str, email: RenderedEmail, **owner: int | None) -> OutboxEmail:
    row = OutboxEmail(
        kind=kind,
        recipient=recipient,
        subject=email.subject,
        text_body=email.text,
        html_body=email.html,
        traceparent=current_traceparent(),
        **owner,
    )
    session.add(row)
    return row


def _when(moment: datetime) -> str:
    return moment.strftime("%d %B %Y, %H:%M UTC").lstrip("0")


def _order_context(order: Order) -> dict:
    from ecom_reflex.services.orders import card_label, order_number

    return {
        "order": order,
        "number": order_number(order.id),
        "total": format_cents(order.total_cents),
        "card": card_label(order),
        "payment_reference": order.payment_reference,
        "address": addresses.order_address_lines(order),
        "order_url": link(f"/orders/{order.id}"),
    }


def _order_recipient(session: Session, order: Order) -> str | None:
    """The account's confirmed address, or None: order e-mails go nowhere else (the contact e-mail
    typed at checkout is printed on the order for the courier, never mailed)."""
    user = session.get(User, order.user_id)
    return user.verified_email if user is not None and user.is_active else None


def account_recipient(session: Session, user: User) -> str | None:
    """Where e-mails about the account itself go: its confirmed address; else the address it gives,
    unless another account has confirmed that one (a claim that can never be confirmed gets nothing)."""
    if user.verified_email:
        return user.verified_email
    holder = session.exec(select(User.id).where(User.verified_email == user.email)).first()
    return user.email if holder is None else None


def queue_order_placed(session: Session, order: Order, lines: list[tuple[str, int, int]]) -> OutboxEmail | None:
    """`lines`: (product name, unit price in cents, quantity), as ordered; None without a confirmed address."""
    if (recipient := _order_recipient(session, order)) is None:
        return None
    shown = [
        {"name": name, "quantity": quantity, "unit_price": format_cents(cents),
         "line_total": format_cents(cents * quantity)}
        for name, cents, quantity in lines
    ]  # fmt: skip
    email = render("order_placed", lines=shown, placed_at=_when(order.created_at), **_order_context(order))
    return _queue(session, "order_placed", recipient, email, order_id=order.id, user_id=order.user_id)


def queue_order_status(session: Session, order: Order, kind: str) -> OutboxEmail | None:
    """order_shipped or order_refunded (a paid order cancelled, its money back); None without a confirmed address."""
    if (recipient := _order_recipient(session, order)) is None:
        return None
    email = render(kind, **_order_context(order))
    return _queue(session, kind, recipient, email, order_id=order.id, user_id=order.user_id)


def queue_order_refunded(session: Session, order: Order) -> OutboxEmail | None:
    return queue_order_status(session, order, "order_refunded")


def queue_password_reset(session: Session, user: User) -> OutboxEmail | None:
    """Queued without a body: the sender writes it out with a new link as it sends (services/password_reset.py
    make_link, with_link), so the link's secret is never stored."""
    if (recipient := account_recipient(session, user)) is None:
        return None
    subject = SUBJECTS["password_reset"].format(shop=SHOP_NAME, number="")
    return _queue(session, "password_reset", recipient, RenderedEmail(subject, "", ""), user_id=user.id)


def queue_password_changed(session: Session, user: User) -> OutboxEmail | None:
    if (recipient := account_recipient(session, user)) is None:
        return None
    email = render(
        "password_changed", username=user.username, changed_at=_when(utcnow()), forgot_url=link("/forgot-password")
    )
    return _queue(session, "password_changed", recipient, email, user_id=user.id)


def queue_verify_email(session: Session, user: User, address: str) -> OutboxEmail:
    """The link that confirms `address` for the account. Queued without a body: the sender writes it out
    with a new link as it sends (services/email_verification.py make_link, with_link), so the link's
    secret is never stored."""
    subject = SUBJECTS["verify_email"].format(shop=SHOP_NAME, number="")
    return _queue(session, "verify_email", address, RenderedEmail(subject, "", ""), user_id=user.id)


def queue_email_in_use(session: Session, owner: User) -> OutboxEmail:
    """To the account that confirmed an address someone just gave for another account (registering, or a change)."""
    email = render("email_in_use", username=owner.username, forgot_url=link("/forgot-password"))
    return _queue(session, "email_in_use", owner.verified_email, email, user_id=owner.id)
