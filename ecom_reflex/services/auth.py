"""Accounts and sessions: registration, login, session tokens (throttling: services/throttling.py).

Tokens are random (32 bytes) and live only in the browser; the database keeps
their SHA-256 and an expiry. Unknown users and wrong passwords get the same
answer after the same bcrypt work.

bcrypt takes a quarter of a second on purpose, so it never runs inside a write
transaction (that would hold the write lock for everyone meanwhile). Registration
and login therefore come in steps the caller runs apart: reads, then the hash
(no transaction), then one short write transaction:

    check_registration (read) -> hash_password -> create_account (write)
    begin_login (read) -> check_password -> finish_login (write)

`register` and `authenticate` chain the steps in one session, for scripts and tests.
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select
from zxcvbn import zxcvbn

from ecom_reflex.models import AuthSession, PasswordReset, User, utcnow
from ecom_reflex.services import mail
from ecom_reflex.services.errors import FieldErrors
from ecom_reflex.services.passwords import MAX_PASSWORD_BYTES, hash_password, verify_password

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,32}")
MIN_PASSWORD_LENGTH = 10
# zxcvbn's score (0-4) a new password needs: 3 is "safely unguessable: moderate protection
# from an offline slow-hash scenario", which is what a leaked bcrypt table would face.
MIN_PASSWORD_SCORE = 3
# zxcvbn's time grows with the length; what it looks at is bounded (bcrypt stops at 72 bytes).
STRENGTH_CHECKED_CHARACTERS = 72
SESSION_LIFETIME = timedelta(days=7)
TOKEN_BYTES = 32

INVALID_CREDENTIALS = "Wrong username or password."


class LoginStatus(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"  # unknown user or wrong password
    DISABLED = "disabled"  # the right password for a disabled account


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
    if problem := password_problem(password, username, email):
        errors["password"] = problem
    if password != confirm:
        errors["confirm"] = "The passwords do not match."
    return username, email, errors


def password_problem(password: str, username: str, email: str) -> str:
    """What is wrong with a new password, in words for the shopper; "" when it will do."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
        return f"Use at most {MAX_PASSWORD_BYTES} bytes."
    if any(ord(character) < 32 or ord(character) == 127 for character in password):
        return "Use letters, digits, spaces and symbols only (no control characters)."
    if not password.strip():
        return "A password cannot be only spaces."
    personal = {text.casefold() for text in (username, email, email.split("@")[0]) if text}
    if password.strip().casefold() in personal:
        return "Do not use your username or e-mail address as your password."
    estimate = zxcvbn(password[:STRENGTH_CHECKED_CHARACTERS], user_inputs=[*personal, "reflex", "shop"])
    if estimate["score"] < MIN_PASSWORD_SCORE:
        feedback = estimate["feedback"]
        advice = [feedback["warning"], *feedback["suggestions"]] if feedback["warning"] else feedback["suggestions"]
        return " ".join(["This password is too easy to guess.", *[text for text in advice if text]])
    return ""


def check_registration(session: Session, username: str, email: str, password: str, confirm: str) -> tuple[str, str]:
    """Normalised (username, email) of a registration that may go ahead, or FieldErrors. Reads only."""
    username, email, errors = validate_registration(username, email, password, confirm)
    if (
        "username" not in errors
        and session.exec(select(User.id).where(func.lower(User.username) == username.lower())).first()
    ):
        errors["username"] = "This username is taken."
    # No word on the e-mail: an address another account uses registers like any other (create_account).
    if errors:
        raise FieldErrors(errors)
    return username, email


def create_account(session: Session, username: str, email: str, password_hash: str) -> User:
    """Insert a checked registration (see check_registration) and its first address link, alike whether
    another account has confirmed the address or not (services/email_verification.py: then no link
    goes out, and that account's owner is told). FieldErrors if someone took the name meanwhile."""
    from ecom_reflex.services import email_verification

    user = User(username=username, email=email, password_hash=password_hash)
    try:
        with session.begin_nested():
            session.add(user)
    except IntegrityError:
        # Someone registered the same name between our check and the insert.
        raise FieldErrors({"username": "This username is taken."}) from None
    email_verification.first_link(session, user)
    return user


def register(session: Session, username: str, email: str, password: str, confirm: str) -> User:
    """All steps in one session (scripts, tests): the web app runs them apart, see the module docstring."""
    username, email = check_registration(session, username, email, password, confirm)
    return create_account(session, username, email, hash_password(password))


def account_key(username: str) -> str:
    """What a login names: the username as typed, trimmed and lower-cased (known or not)."""
    return username.strip().lower()[:64]


@dataclass(frozen=True)
class LoginAttempt:
    """What begin_login read: enough to check the password without a session, and to finish."""

    key: str
    user_id: int | None = None
    password_hash: str = ""


def begin_login(session: Session, username: str) -> LoginAttempt:
    """The user's id and hash (none for an unknown user). Reads only."""
    key = account_key(username)
    row = session.exec(select(User.id, User.password_hash).where(func.lower(User.username) == key)).first()
    return LoginAttempt(key=key, user_id=row[0] if row else None, password_hash=row[1] if row else "")


def check_password(attempt: LoginAttempt, password: str) -> bool:
    """bcrypt, with no session: an unknown user costs the same as a wrong password."""
    return verify_password(password, attempt.password_hash or _dummy_hash())


def finish_login(session: Session, attempt: LoginAttempt, password_ok: bool) -> LoginResult:
    """Who logged in, read afresh (an admin may have disabled the account meanwhile)."""
    user = session.get(User, attempt.user_id) if attempt.user_id is not None else None
    if user is None or not password_ok:
        return LoginResult(LoginStatus.FAILURE, message=INVALID_CREDENTIALS)
    if not user.is_active:
        return LoginResult(LoginStatus.DISABLED, message="This account is disabled.")
    return LoginResult(LoginStatus.SUCCESS, user=user)


def authenticate(session: Session, username: str, password: str) -> LoginResult:
    """All login steps in one session (scripts, tests); throttling is the caller's (state/auth.py)."""
    attempt = begin_login(session, username)
    return finish_login(session, attempt, check_password(attempt, password))


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
    return user_for_token_hash(session, hash_token(token) if token else "", now)


def user_for_token_hash(session: Session, token_hash: str, now: datetime | None = None) -> User | None:
    """The active user of the session whose token has this hash, or None."""
    if not token_hash:
        return None
    now = now or utcnow()
    row = session.exec(
        select(User, AuthSession.expires_at)
        .join(AuthSession, AuthSession.user_id == User.id)
        .where(AuthSession.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    user, expires_at = row
    if _as_utc(expires_at) <= now or not user.is_active:
        return None
    return user


def end_session(session: Session, token: str) -> None:
    end_session_by_hash(session, hash_token(token) if token else "")


def end_session_by_hash(session: Session, token_hash: str) -> None:
    if token_hash:
        session.exec(delete(AuthSession).where(AuthSession.token_hash == token_hash))


def end_all_sessions(session: Session, user_id: int) -> None:
    session.exec(delete(AuthSession).where(AuthSession.user_id == user_id))


def change_password(session: Session, user: User, password_hash: str) -> None:
    """The one way a password changes (reset link, operator): every session of the account and every
    reset link end, and the owner gets an e-mail saying so, all in the caller's write transaction."""
    user.password_hash = password_hash
    session.add(user)
    session.exec(delete(PasswordReset).where(PasswordReset.user_id == user.id))
    end_all_sessions(session, user.id)
    mail.queue_password_changed(session, user)
