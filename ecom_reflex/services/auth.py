"""Accounts and sessions: registration, login with throttling, session tokens.

Tokens are random (32 bytes) and live only in the browser; the database keeps
their SHA-256 and an expiry. Unknown users and wrong passwords get the same
answer after the same bcrypt work.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ecom_reflex.models import AuthSession, LoginFailure, User, utcnow
from ecom_reflex.services.errors import FieldErrors
from ecom_reflex.services.passwords import MAX_PASSWORD_BYTES, hash_password, verify_password

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,32}")
MIN_PASSWORD_LENGTH = 8
SESSION_LIFETIME = timedelta(days=7)
TOKEN_BYTES = 32
LOCKOUT_THRESHOLD = 5
LOCKOUT_WINDOW = timedelta(minutes=15)

INVALID_CREDENTIALS = "Wrong username or password."


class LoginStatus(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginResult:
    status: LoginStatus
    user: User | None = None
    message: str = ""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@functools.cache
def _dummy_hash() -> str:
    # Checked against when the user does not exist, so both paths cost one bcrypt.
    return hash_password(secrets.token_urlsafe(16))


def _as_utc(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def validate_registration(username: str, email: str, password: str, confirm: str) -> tuple[str, str, dict[str, str]]:
    """Normalised (username, email) and the field errors, if any."""
    errors: dict[str, str] = {}
    username = username.strip()
    if not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = "Use 3-32 letters, digits, '_', '.' or '-'."
    try:
        email = validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        errors["email"] = "Enter a valid e-mail address."
    if len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"Use at least {MIN_PASSWORD_LENGTH} characters."
    elif len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        errors["password"] = f"Use at most {MAX_PASSWORD_BYTES} bytes."
    if password != confirm:
        errors["confirm"] = "The passwords do not match."
    return username, email, errors


def register(session: Session, username: str, email: str, password: str, confirm: str) -> User:
    username, email, errors = validate_registration(username, email, password, confirm)
    if (
        "username" not in errors
        and session.exec(select(User.id).where(func.lower(User.username) == username.lower())).first()
    ):
        errors["username"] = "This username is taken."
    if "email" not in errors and session.exec(select(User.id).where(User.email == email)).first():
        errors["email"] = "An account with this e-mail already exists."
    if errors:
        raise FieldErrors(errors)
    user = User(username=username, email=email, password_hash=hash_password(password))
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        # Someone registered the same name between our check and the insert.
        raise FieldErrors({"username": "This username or e-mail is taken."}) from None
    return user


def _recent_failures(session: Session, key: str, now: datetime) -> list[datetime]:
    return [
        _as_utc(at)
        for at in session.exec(
            select(LoginFailure.attempted_at)
            .where(LoginFailure.username_key == key, LoginFailure.attempted_at > now - LOCKOUT_WINDOW)
            .order_by(LoginFailure.attempted_at.desc())
            .limit(LOCKOUT_THRESHOLD)
        ).all()
    ]


def authenticate(session: Session, username: str, password: str, now: datetime | None = None) -> LoginResult:
    """Check a login. Refused outright while the username is locked out."""
    now = now or utcnow()
    key = username.strip().lower()[:64]
    failures = _recent_failures(session, key, now)
    if len(failures) >= LOCKOUT_THRESHOLD:
        unlock_at = failures[-1] + LOCKOUT_WINDOW
        minutes = max(1, math.ceil((unlock_at - now).total_seconds() / 60))
        return LoginResult(
            LoginStatus.LOCKED,
            message=f"Too many failed logins. Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        )

    user = session.exec(select(User).where(func.lower(User.username) == key)).first()
    valid = verify_password(password, user.password_hash if user else _dummy_hash())
    if user is not None and valid and user.is_active:
        session.exec(delete(LoginFailure).where(LoginFailure.username_key == key))
        return LoginResult(LoginStatus.SUCCESS, user=user)
    if user is not None and valid:
        return LoginResult(LoginStatus.FAILURE, message="This account is disabled.")
    session.add(LoginFailure(username_key=key, attempted_at=now))
    return LoginResult(LoginStatus.FAILURE, message=INVALID_CREDENTIALS)


def start_session(session: Session, user: User, now: datetime | None = None) -> str:
    """A new session for `user`; returns the token, which is stored nowhere on the server."""
    now = now or utcnow()
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        AuthSession(user_id=user.id, token_hash=hash_token(token), created_at=now, expires_at=now + SESSION_LIFETIME)
    )
    # Expired sessions of this user are cleaned as a new one starts.
    session.exec(delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.expires_at <= now))
    return token


def user_for_token(session: Session, token: str, now: datetime | None = None) -> User | None:
    """The active user a token belongs to, or None (unknown, expired, or user disabled)."""
    if not token:
        return None
    now = now or utcnow()
    row = session.exec(
        select(User, AuthSession.expires_at)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(AuthSession.token_hash == hash_token(token))
    ).first()
    if row is None:
        return None
    user, expires_at = row
    if _as_utc(expires_at) <= now or not user.is_active:
        return None
    return user


def end_session(session: Session, token: str) -> None:
    if token:
        session.exec(delete(AuthSession).where(AuthSession.token_hash == hash_token(token)))


def end_all_sessions(session: Session, user_id: int) -> None:
    session.exec(delete(AuthSession).where(AuthSession.user_id == user_id))
