"""The e-mail sender: a background task in every worker that sends what the outbox holds.

In every worker rather than one elected leader: claims are safe across workers and processes
(services/outbox.py), so nothing needs electing or locking, a worker that dies leaves the others
sending, and an idle sender costs one indexed query per EMAIL_POLL_SECONDS.

Each e-mail is sent through SMTP (aiosmtplib, on the event loop: nobody waits on the mail server)
or, with SMTP_URL unset, written to the JSON log with the reset link's secret taken out. Each try
is a span of its own trace, linked to the trace of the request that queued it (the order, the
reset request); its outcome is counted and logged with the address masked. An e-mail past its
recipient's hourly cap (services/outbox.py) is not sent: it is counted and logged as "capped". A
password-reset or address-confirmation e-mail is queued without its link: each try makes a new one as
it builds the message, so the link's secret is never stored (services/password_reset.py,
services/email_verification.py).

Delivery is at least once. A row is marked sent only after the SMTP server accepted it; a worker
that dies between the two leaves the row claimed, and it is sent again when the claim's lease
(CLAIM_LEASE, 5 minutes) is over. The Message-ID is the outbox row's, so a receiver may see the
second copy as the same message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
from opentelemetry.trace import Status, StatusCode

from ecom_reflex.db import transaction
from ecom_reflex.models import EmailStatus
from ecom_reflex.observability import business, metrics
from ecom_reflex.observability.tracing import linked_span
from ecom_reflex.offload import run_db
from ecom_reflex.services import email_verification, outbox, password_reset
from ecom_reflex.services.mail import redact
from ecom_reflex.settings import Settings

logger = logging.getLogger("ecom_reflex.mailer")

# E-mails claimed at once by one sender: a handful, so a slow server holds few rows.
BATCH = 10
SMTP_TIMEOUT_SECONDS = 30


class LogTransport:
    """No SMTP_URL: each e-mail becomes one log line (the shop runs with nothing more)."""

    outcome = "logged"

    async def send(self, email: outbox.ClaimedEmail) -> None:
        logger.info(
            "e-mail written to the log: SMTP_URL is not set",
            extra={
                "kind": email.kind,
                "to": business.masked_address(email.recipient),
                "subject": email.subject,
                "text": redact(email.text_body),
            },
        )


class SmtpTransport:
    """smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps:// (TLS from the start)."""

    outcome = "sent"

    def __init__(self, url: str, mail_from: str):
        parts = urlsplit(url)
        self.hostname = parts.hostname
        self.use_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.mail_from = mail_from
        self.domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"

    def message(self, email: outbox.ClaimedEmail) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.mail_from
        message["To"] = Address(addr_spec=email.recipient)
        message["Subject"] = email.subject
        message["Date"] = formatdate(localtime=False)
        # The row's own id: a second copy after a crash (see the module docstring) is the same message.
        message["Message-ID"] = f"<outbox-{email.id}@{self.domain}>"
        message["X-Shop-Email-Kind"] = email.kind
        message.set_content(email.text_body)
        message.add_alternative(email.html_body, subtype="html")
        return message

    async def send(self, email: outbox.ClaimedEmail) -> None:
        await aiosmtplib.send(
            self.message(email),
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )


def transport_for(settings: Settings) -> LogTransport | SmtpTransport:
    return SmtpTransport(settings.smtp_url, settings.mail_from) if settings.smtp_url else LogTransport()


def _describe(error: BaseException, recipient: str) -> str:
    """The failure in words for the row and the log, without the full address (servers quote it)."""
    text = f"{type(error).__name__}: {error}".replace(recipient, "<recipient>")
    return text[: outbox.MAX_ERROR_LENGTH]


def _with_reset_link(email: outbox.ClaimedEmail) -> outbox.ClaimedEmail:
    """A reset e-mail is queued without its link: a new one is made now, for this try, and lives only in
    the message (services/password_reset.py), never in the database."""
    username, token = transaction(lambda session: password_reset.make_link(session, email.id), write=True)
    return password_reset.with_link(email, username, token)


def _with_verify_link(email: outbox.ClaimedEmail) -> outbox.ClaimedEmail:
    """An address-confirmation e-mail, likewise (services/email_verification.py)."""
    username, token = transaction(lambda session: email_verification.make_link(session, email.id), write=True)
    return email_verification.with_link(email, username, token)


async def deliver(transport: LogTransport | SmtpTransport, email: outbox.ClaimedEmail, settings: Settings) -> None:
    """One try at one claimed e-mail, then the row marked with what became of it."""
    if email.capped:  # over its recipient's hourly cap: the claim gave it up, nothing goes out
        business.email_attempt(email.kind, "capped", email.recipient, email.attempt)
        return
    attributes = {"email.kind": email.kind, "email.attempt": email.attempt, "email.outbox_id": email.id}
    with linked_span("email.send", email.traceparent, **attributes) as span:
        try:
            if email.kind == "password_reset":
                email = await run_db(_with_reset_link, email)
            elif email.kind == "verify_email":
                email = await run_db(_with_verify_link, email)
            await transport.send(email)
        except Exception as error:  # refused, unreachable, or a message that cannot be built: this try failed
            # Marked either way, never left claimed: an e-mail that always fails is given up after
            # EMAIL_MAX_ATTEMPTS instead of coming back after every lease.
            reason = _describe(error, email.recipient)
            span.set_status(Status(StatusCode.ERROR, reason))

            # An e-mail nobody needs any more is given up now; any other failure is tried again.
            tries = 0 if isinstance(error, outbox.MootEmail) else settings.email_max_attempts

            def failed(session) -> EmailStatus:
                return outbox.mark_failed(session, email, reason, tries, settings.email_retry_seconds)

            status = await run_db(lambda: transaction(failed, write=True))
            outcome = "failed" if status is EmailStatus.FAILED else "retry"
            business.email_attempt(email.kind, outcome, email.recipient, email.attempt, reason)
            return
        await run_db(lambda: transaction(lambda session: outbox.mark_sent(session, email), write=True))
        business.email_attempt(email.kind, transport.outcome, email.recipient, email.attempt)


async def deliver_due(transport: LogTransport | SmtpTransport, settings: Settings) -> int:
    """Claim what is due and send it; how many were claimed."""
    if not await run_db(lambda: transaction(outbox.has_due)):
        return 0
    cap = settings.email_per_recipient_per_hour
    claimed = await run_db(lambda: transaction(lambda session: outbox.claim(session, BATCH, cap=cap), write=True))
    for email in claimed:
        await deliver(transport, email, settings)
    return len(claimed)


async def deliver_forever(settings: Settings) -> None:
    """Each worker's sender, until its lifespan ends; a failure (the database away) is logged and retried."""
    transport = transport_for(settings)
    while True:
        claimed = 0
        try:
            # One read when idle: the backlog for the gauges, and only if it holds anything a look for what is due.
            backlog = await run_db(lambda: transaction(outbox.backlog))
            metrics.set_email_backlog(backlog.depth, backlog.oldest_age_seconds)
            if backlog.depth:
                claimed = await deliver_due(transport, settings)
        except Exception:  # the sender must outlive a database hiccup
            logger.warning("the e-mail sender could not reach the outbox; trying again", exc_info=True)
        if claimed < BATCH:
            await asyncio.sleep(settings.email_poll_seconds)


@contextlib.asynccontextmanager
async def running(settings: Settings):
    """The sender for the duration of the block (a worker's lifespan)."""
    task = asyncio.create_task(deliver_forever(settings), name="email-sender")
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
