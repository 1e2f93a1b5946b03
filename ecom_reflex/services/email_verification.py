"""Confirming an account's e-mail address: a single-use link, valid for 48 hours, mailed to the address.

An account gives an address (`User.email`, typed at registration or when changed); a link proves
it (`User.verified_email`), and only a proved address gets order e-mails (services/mail.py). A
changed address waits for its own link while the confirmed one keeps getting mail.

Nothing here tells anyone whether another account has an address. Registering with, or changing
to, an address another account has confirmed goes exactly like any other: the account keeps the
address as a claim, a link row is made and the pacing counts it, and the answer is the same. Only
no link is mailed (the claim can never be confirmed: `verified_email` is unique); instead the
account that confirmed the address is told someone tried (`email_in_use`, at most one a day).

The token is random (32 bytes) and travels only in the e-mail and the link, after a `#` (the
browser never sends it in a request line a proxy or server might log); the database keeps its
SHA-256. As with password resets (services/password_reset.py) the e-mail is queued without its
link, and the sender makes the token as it writes the e-mail out (`make_link`, `with_link`, called
from ecom_reflex/mailer.py): the token is never written anywhere, in no table, log or WAL page. A
link stops working when used, when a newer one is asked for, when the account's address changes,
and VERIFY_LIFETIME after it was asked for. Links are paced per account before any is made (a
conditional UPDATE, atomic on SQLite and PostgreSQL alike): one a minute,
EMAIL_LINKS_PER_ACCOUNT_PER_DAY a day.
"""

from __future__ import annotations

import dataclasses
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import delete, func, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from ecom_reflex.models import EmailVerification, OutboxEmail, User, utcnow
from ecom_reflex.services import mail
from ecom_reflex.services.auth import hash_token
from ecom_reflex.services.errors import FieldErrors, NotFound, ServiceError
from ecom_reflex.services.outbox import ClaimedEmail, MootEmail
from ecom_reflex.settings import get_settings

VERIFY_LIFETIME = timedelta(hours=48)
VERIFY_HOURS = int(VERIFY_LIFETIME.total_seconds() // 3600)
# The least time between two links of one account.
LINK_INTERVAL = timedelta(minutes=1)
# A confirmed address's owner hears of others trying it at most this often.
IN_USE_NOTICE_INTERVAL = timedelta(days=1)
# Links are kept this long (the daily count reads them), then deleted as the account gets a new one.
KEPT = timedelta(days=7)
TOKEN_BYTES = 32
# token_urlsafe(32) is 43 characters; anything else is not one of ours.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")

INVALID_LINK = "This link has expired, was replaced by a newer one, or has already been used."
ADDRESS_TAKEN = "This address has meanwhile been confirmed for another account: give your account another one."
TOO_SOON = "We sent you a link less than a minute ago. Wait a minute before asking for another."
TOO_MANY = "No more links for this account today. Use the last one we sent, or try again tomorrow."


class InvalidVerifyLink(ServiceError):
    def __init__(self, message: str = INVALID_LINK) -> None:
        super().__init__(message)


class LinkRefused(ServiceError):
    """The account's links are used up for now (one a minute, a few a day)."""


@dataclass(frozen=True)
class AddressStatus:
    """What the account page shows of the account's addresses."""

    email: str
    verified: bool
    # The confirmed address order e-mails go to meanwhile ("" when none).
    mailed_to: str


def verify_path(token: str) -> str:
    return f"/verify-email#token={token}"


def token_from_fragment(fragment: str) -> str:
    """The token of a link's fragment ("token=..."), or "" when it holds none of ours."""
    token = fragment.removeprefix("token=") if fragment.startswith("token=") else ""
    return token if TOKEN_PATTERN.fullmatch(token) else ""


def normalised_address(typed: str) -> str:
    """The address as stored (normalised, lower-cased); FieldErrors for the "email" field otherwise."""
    try:
        return validate_email(typed.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise FieldErrors({"email": "Enter a valid e-mail address, such as ada@example.com."}) from None


def status(user: User) -> AddressStatus:
    return AddressStatus(email=user.email, verified=user.email_verified, mailed_to=user.verified_email or "")


def _holder(session: Session, address: str, user_id: int) -> User | None:
    """Another account that has confirmed `address`."""
    return session.exec(select(User).where(User.verified_email == address, User.id != user_id)).first()


def _take_slot(session: Session, user_id: int, now: datetime) -> None:
    """The account's next link, taken before it is made: LinkRefused when it may have none now.
    The conditional UPDATE takes the minute's slot and locks the row, so the daily count after it
    is the only one running for the account (a parallel burst gets one link)."""
    free = or_(User.email_link_sent_at.is_(None), User.email_link_sent_at <= now - LINK_INTERVAL)
    taken = session.execute(
        update(User).where(User.id == user_id, free).values(email_link_sent_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not taken:
        raise LinkRefused(TOO_SOON)
    today = session.exec(
        select(func.count(EmailVerification.id)).where(
            EmailVerification.user_id == user_id, EmailVerification.created_at > now - timedelta(days=1)
        )
    ).one()
    if today >= get_settings().email_links_per_account_per_day:
        raise LinkRefused(TOO_MANY)


def _issue(session: Session, user: User, now: datetime, notice: bool) -> bool:
    """A new link for the account's address, in the caller's write transaction: older links stop
    working, and the e-mail is queued (the sender makes its token), unless another account has
    confirmed the address: then the link is never sent, and that account's owner is told someone
    tried (when `notice`, at most once a day). Whether a link was queued."""
    session.execute(
        update(EmailVerification)
        .where(EmailVerification.user_id == user.id, EmailVerification.used_at.is_(None))
        .values(expires_at=now),
        execution_options={"synchronize_session": False},
    )
    session.execute(
        delete(EmailVerification).where(EmailVerification.user_id == user.id, EmailVerification.created_at < now - KEPT)
    )
    session.add(EmailVerification(user_id=user.id, email=user.email, created_at=now, expires_at=now + VERIFY_LIFETIME))
    holder = _holder(session, user.email, user.id)
    if holder is None:
        mail.queue_verify_email(session, user, user.email)
        return True
    if notice and not _told_recently(session, holder, now):
        mail.queue_email_in_use(session, holder)
    return False


def make_link(session: Session, outbox_id: int, now: datetime | None = None) -> tuple[str, str]:
    """As the sender writes out the confirmation e-mail `outbox_id`, in its write transaction: a new
    token for the account's newest link to that address (an earlier try's token stops working).
    (username, token): the token goes only into the e-mail being built; the database keeps its hash.
    MootEmail when the e-mail is no longer needed: the account is gone or disabled, or gives another
    address now, or the link was replaced or has expired."""
    now = now or utcnow()
    queued = session.exec(select(OutboxEmail.user_id, OutboxEmail.recipient).where(OutboxEmail.id == outbox_id)).first()
    user = session.get(User, queued[0]) if queued is not None and queued[0] is not None else None
    if user is None or not user.is_active or user.email != queued[1]:
        raise MootEmail("the account of this confirmation e-mail is gone, disabled or gives another address now")
    link = session.exec(
        select(EmailVerification)
        .where(
            EmailVerification.user_id == user.id,
            EmailVerification.email == user.email,
            EmailVerification.used_at.is_(None),
            EmailVerification.expires_at > now,
        )
        .order_by(EmailVerification.id.desc())
    ).first()
    if link is None:
        raise MootEmail("the link of this confirmation e-mail was replaced or has expired")
    token = secrets.token_urlsafe(TOKEN_BYTES)
    link.token_hash = hash_token(token)
    session.add(link)
    return user.username, token


def with_link(email: ClaimedEmail, username: str, token: str) -> ClaimedEmail:
    """The claimed confirmation e-mail, written out with its link (in memory only: see the module docstring)."""
    rendered = mail.render(
        "verify_email", username=username, verify_url=mail.link(verify_path(token)), hours=VERIFY_HOURS
    )
    return dataclasses.replace(email, subject=rendered.subject, text_body=rendered.text, html_body=rendered.html)


def _told_recently(session: Session, holder: User, now: datetime) -> bool:
    return (
        session.exec(
            select(OutboxEmail.id).where(
                OutboxEmail.recipient == holder.verified_email,
                OutboxEmail.kind == "email_in_use",
                OutboxEmail.created_at > now - IN_USE_NOTICE_INTERVAL,
            )
        ).first()
        is not None
    )


def first_link(session: Session, user: User, now: datetime | None = None) -> bool:
    """At registration (a new account's first link: its slot is free), in the registration's transaction."""
    now = now or utcnow()
    user.email_link_sent_at = now
    session.add(user)
    session.flush()
    return _issue(session, user, now, notice=True)


def _active_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotFound("We could not find your account.")
    return user


def send_again(session: Session, user_id: int, now: datetime | None = None) -> str:
    """A new link for the account's unconfirmed address (asked on the account page); the address it
    went to. LinkRefused when the account's links are used up for now."""
    now = now or utcnow()
    user = _active_user(session, user_id)
    if user.email_verified:
        raise ServiceError("Your address is already confirmed.")
    _take_slot(session, user.id, now)
    _issue(session, user, now, notice=True)
    return user.email


def change_address(session: Session, user_id: int, typed: str, now: datetime | None = None) -> AddressStatus:
    """The account gives another address: a link goes to it, and order e-mails keep going to the
    confirmed address until it is opened. Back to the confirmed address: nothing to confirm."""
    now = now or utcnow()
    address = normalised_address(typed)
    user = _active_user(session, user_id)
    if address == user.email:
        raise FieldErrors({"email": "This is already your account's address."})
    if address == user.verified_email:
        user.email = address
        session.execute(
            update(EmailVerification)
            .where(EmailVerification.user_id == user.id, EmailVerification.used_at.is_(None))
            .values(expires_at=now),
            execution_options={"synchronize_session": False},
        )
    else:
        _take_slot(session, user.id, now)
        user.email = address
        session.add(user)
        session.flush()
        _issue(session, user, now, notice=True)
    session.add(user)
    return status(user)


def _usable(token: str, now: datetime):
    return (
        EmailVerification.token_hash == hash_token(token),
        EmailVerification.used_at.is_(None),
        EmailVerification.expires_at > now,
    )


def verify(session: Session, token: str, now: datetime | None = None) -> User:
    """Open a link (once: a conditional UPDATE, so two tabs cannot both): the account's address is
    confirmed, in the caller's write transaction. InvalidVerifyLink for a link that is not (or no
    longer) good, or whose address another account confirmed meanwhile."""
    now = now or utcnow()
    if not TOKEN_PATTERN.fullmatch(token or ""):
        raise InvalidVerifyLink()
    row = session.exec(
        select(EmailVerification, User).join(User, User.id == EmailVerification.user_id).where(*_usable(token, now))
    ).first()
    if row is None:
        raise InvalidVerifyLink()
    link, user = row
    if not user.is_active or link.email != user.email:
        raise InvalidVerifyLink()
    if _holder(session, link.email, user.id) is not None:
        raise InvalidVerifyLink(ADDRESS_TAKEN)
    used = session.execute(
        update(EmailVerification).where(*_usable(token, now)).values(used_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if not used:
        raise InvalidVerifyLink()
    try:
        with session.begin_nested():
            user.verified_email = link.email
            session.add(user)
    except IntegrityError:  # another account confirmed it between our look and this write
        raise InvalidVerifyLink(ADDRESS_TAKEN) from None
    return user
