"""The e-mail outbox: rows written by services/mail.py in the transaction of their cause, taken
here by the senders (ecom_reflex/mailer.py), one claim at a time, and marked with what became of them.

A claim is safe across workers and processes: due rows are selected FOR UPDATE SKIP LOCKED on
PostgreSQL (a concurrent claimer skips them), and inside a write transaction on SQLite (which
holds the one write lock from its BEGIN). A claimed row is the claimer's until `claimed_until`;
a sender that died mid-send leaves it to be claimed again once that lease is over. That is the
at-least-once window: an e-mail the SMTP server accepted just before its sender died, before
the row was marked sent, is sent again after the lease.

No address gets more than EMAIL_PER_RECIPIENT_PER_HOUR e-mails an hour, of every kind together:
a claim counts what each recipient was sent in the last hour (and what other senders are sending
it now), and an e-mail past the cap is marked CAPPED instead of claimed: never sent, never tried
again. The count and the claim are one step: on SQLite claims hold the write lock; on PostgreSQL
a claim takes a transaction-scoped advisory lock per recipient (pg_try_advisory_xact_lock) and
passes over the rows of a recipient another claim is counting, so two senders never both take
the last slot.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, text, update
from sqlmodel import Session, select

from ecom_reflex.models import EmailStatus, OutboxEmail, utcnow
from ecom_reflex.services.errors import ServiceError
from ecom_reflex.services.mail import redact
from ecom_reflex.settings import get_settings

# How long a claim lasts: far longer than one send may take (the SMTP timeout), so only a
# sender that died loses its rows to another.
CLAIM_LEASE = timedelta(minutes=5)
# The longest wait between two tries of one e-mail.
MAX_RETRY_WAIT = timedelta(hours=1)
MAX_ERROR_LENGTH = 500
# The per-recipient cap's window.
CAP_WINDOW = timedelta(hours=1)


@dataclass(frozen=True)
class ClaimedEmail:
    id: int
    claim_token: str
    kind: str
    recipient: str
    subject: str
    text_body: str
    html_body: str
    traceparent: str
    attempt: int
    # Over its recipient's hourly cap: already marked CAPPED, not to be sent (the sender counts it).
    capped: bool = False


def _due(now: datetime):
    return or_(
        and_(OutboxEmail.status == EmailStatus.QUEUED.value, OutboxEmail.next_attempt_at <= now),
        # A sender died holding it: the lease is over.
        and_(OutboxEmail.status == EmailStatus.SENDING.value, OutboxEmail.claimed_until < now),
    )


def has_due(session: Session, now: datetime | None = None) -> bool:
    """Whether anything is due: a read, so an idle sender never takes SQLite's write lock."""
    return session.exec(select(OutboxEmail.id).where(_due(now or utcnow())).limit(1)).first() is not None


def claim(session: Session, limit: int, now: datetime | None = None, cap: int | None = None) -> list[ClaimedEmail]:
    """Up to `limit` due e-mails, oldest first, now this caller's (in a write transaction). Those past
    their recipient's `cap` an hour (EMAIL_PER_RECIPIENT_PER_HOUR) come back marked `capped`: given up."""
    now = now or utcnow()
    cap = cap if cap is not None else get_settings().email_per_recipient_per_hour
    rows = session.exec(
        select(OutboxEmail).where(_due(now)).order_by(OutboxEmail.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    counting = _lock_recipients(session, {row.recipient for row in rows})
    rows = [row for row in rows if row.recipient in counting]
    received = _received_recently(session, counting, [row.id for row in rows], now)
    token = uuid.uuid4().hex
    claimed = []
    for row in rows:
        row.attempts += 1
        capped = received.get(row.recipient, 0) >= cap
        if capped:
            row.status, row.claim_token, row.claimed_until = EmailStatus.CAPPED.value, None, None
            row.text_body, row.html_body = redact(row.text_body), redact(row.html_body)
            row.last_error = f"not sent: its recipient had {cap} e-mails within the hour (EMAIL_PER_RECIPIENT_PER_HOUR)"
        else:
            row.status, row.claim_token, row.claimed_until = EmailStatus.SENDING.value, token, now + CLAIM_LEASE
            received[row.recipient] = received.get(row.recipient, 0) + 1
        session.add(row)
        claimed.append(
            ClaimedEmail(
                row.id,
                token,
                row.kind,
                row.recipient,
                row.subject,
                row.text_body,
                row.html_body,
                row.traceparent,
                row.attempts,
                capped,
            )
        )
    session.flush()
    return claimed


def _lock_recipients(session: Session, recipients: set[str]) -> set[str]:
    """The recipients this claim may count and send to: all of them on SQLite (the write lock is held);
    on PostgreSQL those whose advisory lock it got, the others being counted by another claim now."""
    if session.get_bind().dialect.name != "postgresql":
        return recipients
    return {
        recipient
        for recipient in sorted(recipients)
        if session.execute(
            text("SELECT pg_try_advisory_xact_lock(hashtextextended(:recipient, 26))"), {"recipient": recipient}
        ).scalar()
    }


def _received_recently(session: Session, recipients: set[str], claiming: list[int], now: datetime) -> dict[str, int]:
    """E-mails each recipient was sent within CAP_WINDOW, and those other senders are sending it now."""
    if not recipients:
        return {}
    counted = session.exec(
        select(OutboxEmail.recipient, func.count(OutboxEmail.id))
        .where(
            OutboxEmail.recipient.in_(recipients),
            OutboxEmail.id.not_in(claiming),
            or_(
                and_(OutboxEmail.status == EmailStatus.SENT.value, OutboxEmail.sent_at >= now - CAP_WINDOW),
                and_(OutboxEmail.status == EmailStatus.SENDING.value, OutboxEmail.claimed_until >= now),
            ),
        )
        .group_by(OutboxEmail.recipient)
    ).all()
    return dict(counted)


def _mine(email: ClaimedEmail):
    return and_(OutboxEmail.id == email.id, OutboxEmail.claim_token == email.claim_token)


def mark_sent(session: Session, email: ClaimedEmail, now: datetime | None = None) -> bool:
    """Sent: kept without the reset link's secret. False when the claim was lost meanwhile."""
    return bool(
        session.execute(
            update(OutboxEmail)
            .where(_mine(email))
            .values(
                status=EmailStatus.SENT.value,
                sent_at=now or utcnow(),
                claim_token=None,
                claimed_until=None,
                text_body=redact(email.text_body),
                html_body=redact(email.html_body),
            ),
            execution_options={"synchronize_session": False},
        ).rowcount
    )


def retry_wait(attempt: int, first: float) -> timedelta:
    """After the `attempt`-th failure: `first` seconds, doubled each time, capped, with jitter."""
    wait = min(first * 2 ** (attempt - 1), MAX_RETRY_WAIT.total_seconds())
    return timedelta(seconds=wait * random.uniform(0.8, 1.0))


class MootEmail(ServiceError):
    """The e-mail is no longer needed (its account is gone, or gives another address now; its link
    was replaced): given up at once, not retried until EMAIL_MAX_ATTEMPTS."""


def mark_failed(
    session: Session, email: ClaimedEmail, error: str, max_attempts: int, first_wait: float, now: datetime | None = None
) -> EmailStatus:
    """The send failed: queued again after a back-off, or FAILED for good after `max_attempts` tries."""
    now = now or utcnow()
    gave_up = email.attempt >= max_attempts
    values = {"claim_token": None, "claimed_until": None, "last_error": error[:MAX_ERROR_LENGTH]}
    if gave_up:
        values.update(status=EmailStatus.FAILED.value, text_body=redact(email.text_body),
                      html_body=redact(email.html_body))  # fmt: skip
    else:
        values.update(status=EmailStatus.QUEUED.value, next_attempt_at=now + retry_wait(email.attempt, first_wait))
    session.execute(
        update(OutboxEmail).where(_mine(email)).values(**values), execution_options={"synchronize_session": False}
    )
    return EmailStatus.FAILED if gave_up else EmailStatus.QUEUED


@dataclass(frozen=True)
class Backlog:
    # E-mails not sent yet and not given up: queued or being sent.
    depth: int
    # Seconds since the oldest of them was queued; 0 when there is none.
    oldest_age_seconds: float


def backlog(session: Session, now: datetime | None = None) -> Backlog:
    now = now or utcnow()
    unsent = OutboxEmail.status.in_([EmailStatus.QUEUED.value, EmailStatus.SENDING.value])
    depth, oldest = session.exec(
        select(func.count(OutboxEmail.id), func.min(OutboxEmail.created_at)).where(unsent)
    ).one()
    if oldest is None:
        return Backlog(depth, 0.0)
    oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=now.tzinfo)
    return Backlog(depth, max(0.0, (now - oldest).total_seconds()))
