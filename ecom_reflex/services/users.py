"""User accounts: look-ups and the admin account that setup ensures."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, select

from ecom_reflex.models import User
from ecom_reflex.services.passwords import hash_password, verify_password


def get_by_username(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.username) == username.lower())).first()


@dataclass(frozen=True)
class AdminAccount:
    username: str
    created: bool
    # Set only when this call generated the password: the one chance to show it.
    generated_password: str | None = None
    password_reset: bool = False


def ensure_admin(session: Session, username: str, email: str, password: str | None) -> AdminAccount:
    """Make sure an active admin named `username` exists.

    A new account gets `password`, or a generated one returned once. An existing
    account keeps its password unless `password` is given and differs: the
    environment is then the source of truth (how an operator resets it).
    """
    user = get_by_username(session, username)
    if user is None:
        generated = None if password else secrets.token_urlsafe(18)
        user = User(
            username=username,
            email=email.lower(),
            password_hash=hash_password(password or generated),
            is_admin=True,
            is_active=True,
        )
        session.add(user)
        session.flush()
        return AdminAccount(username=username, created=True, generated_password=generated)

    reset = password is not None and not verify_password(password, user.password_hash)
    if reset:
        user.password_hash = hash_password(password)
    user.is_admin = True
    user.is_active = True
    session.add(user)
    return AdminAccount(username=user.username, created=False, password_reset=reset)
