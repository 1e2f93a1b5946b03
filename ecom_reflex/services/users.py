"""User accounts: the admin account that setup ensures, and user management for admins."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import delete, func
from sqlmodel import Session, select

from ecom_reflex.models import AuthSession, User
from ecom_reflex.services.auth import change_password
from ecom_reflex.services.errors import NotFound, ServiceError
from ecom_reflex.services.listing import clamp_page, search_text, text_match
from ecom_reflex.services.passwords import hash_password, verify_password


def get_by_username(session: Session, username: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.username) == username.lower())).first()


def account_for_address(session: Session, email: str) -> User | None:
    """The active account an e-mail address leads to (a password reset): the one that confirmed it;
    when none has, the oldest that gives it. Addresses are not unique (services/email_verification.py)."""
    email = email.strip().lower()
    confirmed = session.exec(select(User).where(User.verified_email == email, User.is_active)).first()
    if confirmed is not None:
        return confirmed
    return session.exec(select(User).where(User.email == email, User.is_active).order_by(User.id)).first()


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
        email = email.lower()
        # The operator's ADMIN_EMAIL is taken as confirmed (README "E-mail"), unless an account confirmed it first.
        held = session.exec(select(User.id).where(User.verified_email == email)).first() is not None
        user = User(
            username=username,
            email=email,
            verified_email=None if held else email,
            password_hash=hash_password(password or generated),
            is_admin=True,
            is_active=True,
        )
        session.add(user)
        session.flush()
        return AdminAccount(username=username, created=True, generated_password=generated)

    reset = password is not None and not verify_password(password, user.password_hash)
    if reset:
        change_password(session, user, hash_password(password))
    user.is_admin = True
    user.is_active = True
    session.add(user)
    return AdminAccount(username=user.username, created=False, password_reset=reset)


ADMIN_USERS_PER_PAGE = 20


@dataclass(frozen=True)
class UserRow:
    id: int
    username: str
    email: str
    is_admin: bool
    is_active: bool
    created_at: str


@dataclass(frozen=True)
class UserPage:
    items: list[UserRow]
    total: int
    page: int
    pages: int


def list_users(session: Session, *, query: str = "", page: int = 1) -> UserPage:
    conditions = []
    if query := search_text(query):
        conditions.append(text_match(query, User.username, User.email))
    total = session.exec(select(func.count(User.id)).where(*conditions)).one()
    page, pages = clamp_page(total, page, ADMIN_USERS_PER_PAGE)
    users = session.exec(
        select(User)
        .where(*conditions)
        .order_by(func.lower(User.username))
        .offset((page - 1) * ADMIN_USERS_PER_PAGE)
        .limit(ADMIN_USERS_PER_PAGE)
    ).all()
    items = [
        UserRow(
            id=user.id,
            username=user.username,
            email=user.email,
            is_admin=user.is_admin,
            is_active=user.is_active,
            created_at=user.created_at.strftime("%Y-%m-%d"),
        )
        for user in users
    ]
    return UserPage(items=items, total=total, page=page, pages=pages)


def _target(session: Session, actor_id: int, user_id: int, action: str) -> User:
    if user_id == actor_id:
        raise ServiceError(f"You cannot {action} your own account.")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("We could not find that user.")
    return user


def _ensure_not_last_admin(session: Session, user: User) -> None:
    if not (user.is_admin and user.is_active):
        return
    others = session.exec(select(func.count(User.id)).where(User.is_admin, User.is_active, User.id != user.id)).one()
    if others == 0:
        raise ServiceError("The last active admin cannot be removed.")


def set_active(session: Session, actor_id: int, user_id: int, active: bool) -> User:
    """Enable or disable an account; disabling ends all its sessions at once."""
    user = _target(session, actor_id, user_id, "enable or disable")
    if not active:
        _ensure_not_last_admin(session, user)
        session.exec(delete(AuthSession).where(AuthSession.user_id == user.id))
    user.is_active = active
    session.add(user)
    session.flush()
    return user


def set_admin(session: Session, actor_id: int, user_id: int, admin: bool) -> User:
    user = _target(session, actor_id, user_id, "change the admin rights of")
    if not admin:
        _ensure_not_last_admin(session, user)
    user.is_admin = admin
    session.add(user)
    session.flush()
    return user
