"""Forgotten passwords: a single-use link, valid for 30 minutes, e-mailed to the account's address.

The token is random (32 bytes) and travels only in the e-mail and the link; the database keeps its
SHA-256. A link stops working when it is used, when a newer one is asked for, when the password
changes any other way, and after RESET_LIFETIME. The link carries the token after a `#`, so the
browser never sends it in a request line that a proxy or server might log.

Asking gives the same answer whether or not an account has the address (the caller's job), and
costs the same: one short write transaction either way. Throttling is the caller's
(services/throttling.py).
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlmodel import Session, select

from ecom_reflex.models import PasswordReset, User, utcnow
from ecom_reflex.services import auth, mail
from ecom_reflex.services.errors import ServiceError

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


def request_reset(session: Session, email: str, now: datetime | None = None) -> bool:
    """E-mail a reset link to the active account with `email` (lower-cased), if there is one: the
    link row and its e-mail in the caller's write transaction. Whether one was sent, for the log."""
    now = now or utcnow()
    user = session.exec(select(User).where(User.email == email.strip().lower(), User.is_active)).first()
    if user is None:
        return False
    # A newer link replaces every older one.
    session.exec(delete(PasswordReset).where(PasswordReset.user_id == user.id))
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        PasswordReset(
            user_id=user.id, token_hash=auth.hash_token(token), created_at=now, expires_at=now + RESET_LIFETIME
        )
    )
    mail.queue_password_reset(session, user, reset_path(token), int(RESET_LIFETIME.total_seconds() // 60))
    return True


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
