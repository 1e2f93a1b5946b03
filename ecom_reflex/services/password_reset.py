"""Forgotten passwords: a single-use link, valid for 30 minutes, e-mailed to the account's address.

The token is random (32 bytes) and travels only in the e-mail and the link; the database keeps its
SHA-256. It is made by the sender as it builds the e-mail (`make_link`, `with_link`, called from
ecom_reflex/mailer.py): the queued e-mail holds no link, so the token is never written anywhere, in
no table, log or WAL page, sent or given up. A link stops working when it is used, when a newer one
is made, when the password changes any other way, and after RESET_LIFETIME. The link carries the
token after a `#`, so the browser never sends it in a request line that a proxy or server might log.

Asking does the same work whether or not an account has the address: the caller answers at once and
decides in the background (`account_for_email`, then the recipient's reset-e-mail cap in
services/throttling.py, then `queue_reset_email`), so neither the answer nor its time says anything.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, select

from ecom_reflex.models import OutboxEmail, PasswordReset, User, utcnow
from ecom_reflex.services import auth, mail
from ecom_reflex.services.errors import ServiceError
from ecom_reflex.services.outbox import ClaimedEmail, MootEmail

RESET_LIFETIME = timedelta(minutes=30)
TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; anything else is not one of ours.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
INVALID_LINK = "This link has expired or has already been used. Ask for a new one below."


class InvalidResetLink(ServiceError):
    def __init__(self) -> None:
        super().__init__(INVALID_LINK)


def reset_path(token: str) -> str:
    return f"/reset-password#token={token}"


def token_from_fragment(fragment: str) -> str:
    """The token of a reset link's fragment ("token=..."), or "" when it holds none of ours."""
    token = fragment.removeprefix("token=") if fragment.startswith("token=") else ""
    return token if TOKEN_PATTERN.fullmatch(token) else ""


def account_for_email(session: Session, email: str) -> int | None:
    """The id of the active account a reset link for `email` (as typed) would be for, or None. Reads only.
    The account that confirmed the address, when one has; else the first that gives it (a claim on an
    address another account confirmed never gets a link: services/mail.account_recipient)."""
    email = email.strip().lower()
    holder = session.exec(select(User.id, User.is_active).where(User.verified_email == email)).first()
    if holder is not None:
        return holder.id if holder.is_active else None
    return session.exec(select(User.id).where(User.email == email, User.is_active).order_by(User.id)).first()


def queue_reset_email(session: Session, email: str) -> bool:
    """Queue the reset e-mail of the active account with `email`, in the caller's write transaction:
    without its link, which the sender makes (`make_link`). Whether one was queued."""
    user_id = account_for_email(session, email)
    return user_id is not None and mail.queue_password_reset(session, session.get(User, user_id)) is not None


def make_link(session: Session, outbox_id: int, now: datetime | None = None) -> tuple[str, str]:
    """As the sender builds the reset e-mail `outbox_id`, in its write transaction: a new link for the
    account, replacing every older one. (username, token): the token goes only into the e-mail being
    built; the database keeps its hash."""
    now = now or utcnow()
    user_id = session.exec(select(OutboxEmail.user_id).where(OutboxEmail.id == outbox_id)).first()
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        raise MootEmail("the account of this reset e-mail is gone or disabled")
    session.exec(delete(PasswordReset).where(PasswordReset.user_id == user.id))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        PasswordReset(
            user_id=user.id, token_hash=auth.hash_token(token), created_at=now, expires_at=now + RESET_LIFETIME
        )
    )
    return user.username, token


def with_link(email: ClaimedEmail, username: str, token: str) -> ClaimedEmail:
    """The claimed reset e-mail, written out with its link (in memory only: see the module docstring)."""
    minutes = int(RESET_LIFETIME.total_seconds() // 60)
    rendered = mail.render("password_reset", username=username, reset_url=mail.link(reset_path(token)), minutes=minutes)
    return dataclasses.replace(email, subject=rendered.subject, text_body=rendered.text, html_body=rendered.html)


def _usable(token: str, now: datetime):
    return (
        PasswordReset.token_hash == auth.hash_token(token),
        PasswordReset.used_at.is_(None),
        PasswordReset.expires_at > now,
    )


def account_for_token(session: Session, token: str, now: datetime | None = None) -> User:
    """The active account a usable link belongs to; InvalidResetLink otherwise. Reads only."""
    if not TOKEN_PATTERN.fullmatch(token or ""):
        raise InvalidResetLink()
    row = session.exec(
        select(User).join(PasswordReset, PasswordReset.user_id == User.id).where(*_usable(token, now or utcnow()))
    ).first()
    if row is None or not row.is_active:
        raise InvalidResetLink()
    return row


def finish_reset(session: Session, token: str, password_hash: str, now: datetime | None = None) -> User:
    """Use the link (once: a conditional UPDATE, so two submissions cannot both) and set the new
    password, in the caller's write transaction. Every session of the account ends."""
    now = now or utcnow()
    user = account_for_token(session, token, now)
    used = session.execute(
        update(PasswordReset).where(*_usable(token, now)).values(used_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not used:
        raise InvalidResetLink()
    auth.change_password(session, user, password_hash)
    return user
