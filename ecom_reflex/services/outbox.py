"""The e-mail outbox: rows written by services/mail.py in the transaction of their cause, taken
here by the senders (ecom_reflex/mailer.py), one claim at a time, and marked with what became of them.

A claim is safe across workers and processes: due rows are selected FOR UPDATE SKIP LOCKED on
PostgreSQL (a concurrent claimer skips them), and inside a write transaction on SQLite (which
holds the one write lock from its BEGIN). A claimed row is the claimer's until `claimed_until`;
a sender that died mid-send leaves it to be claimed again once that lease is over. That is the
at-least-once window: an e-mail the SMTP server accepted just before its sender died, before
the row was marked sent, is sent again after the lease.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, select

from ecom_reflex.models import EmailStatus, OutboxEmail, utcnow
from ecom_reflex.services.mail import redact

# How long a claim lasts: far longer than one send may take (the SMTP timeout), so only a
# sender that died loses its rows to another.
CLAIM_LEASE = timedelta(minutes=5)
# The longest wait between two tries of one e-mail.
MAX_RETRY_WAIT = timedelta(hours=1)
MAX_ERROR_LENGTH = 500


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


def _due(now: datetime):
    return or_(
        and_(OutboxEmail.status == EmailStatus.QUEUED.value, OutboxEmail.next_attempt_at <= now),
        # A sender died holding it: the lease is over.
        and_(OutboxEmail.status == EmailStatus.SENDING.value, OutboxEmail.claimed_until < now),
    )


def has_due(session: Session, now: datetime | None = None) -> bool:
    """Whether anything is due: a read, so an idle sender never takes SQLite's write lock."""
    return session.exec(select(OutboxEmail.id).where(_due(now or utcnow())).limit(1)).first() is not None


def claim(session: Session, limit: int, now: datetime | None = None) -> list[ClaimedEmail]:
    """Up to `limit` due e-mails, oldest first, now this caller's (in a write transaction)."""
    now = now or utcnow()
    rows = session.exec(
        select(OutboxEmail).where(_due(now)).order_by(OutboxEmail.id).limit(limit).with_for_update(skip_locked=True)
    ).all()
    token = uuid.uuid4().hex
    claimed = []
    for row in rows:
        row.status, row.claim_token, row.claimed_until = EmailStatus.SENDING.value, token, now + CLAIM_LEASE
        row.attempts += 1
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
            )
        )
    session.flush()
    return claimed


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
