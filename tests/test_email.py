"""E-mail: written in the transaction of its cause (the outbox), claimed safely, sent through a real
SMTP server (aiosmtpd, testkit/smtp.py) with retries, and nothing of the reset link's secret kept."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from ecom_reflex import mailer
from ecom_reflex.db import session_scope, transaction
from ecom_reflex.models import EmailStatus, OutboxEmail, utcnow
from ecom_reflex.services import order_payments, orders, outbox, password_reset
from ecom_reflex.services.mail import REDACTED
from ecom_reflex.services.orders import OutOfStock, ShippingAddress
from ecom_reflex.services.payment_client import Charge, ChargeOutcome
from ecom_reflex.settings import get_settings
from testkit.smtp import SmtpSink, html_of, text_of
from tests.factories import HOLD, VISA_4242, decline, make_product, make_user, pay
from tests.test_orders import fill_cart, place

ADDRESS = ShippingAddress(
    "Ada Lovelace", "12 Analytical St", "", "London", "N1 9GU", "United Kingdom", email="ada@example.com"
)


@pytest.fixture(autouse=True)
def public_url(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://shop.example.com")
    get_settings.cache_clear()


@pytest.fixture
def smtp():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


def outbox_rows(kind: str | None = None) -> list[OutboxEmail]:
    with session_scope() as session:
        query = select(OutboxEmail).order_by(OutboxEmail.id)
        return list(session.exec(query.where(OutboxEmail.kind == kind) if kind else query).all())


def send_due(settings=None) -> int:
    settings = settings or get_settings()
    return asyncio.run(mailer.deliver_due(mailer.transport_for(settings), settings))


def test_a_paid_order_queues_its_order_placed_email_with_the_card_in_the_payments_transaction(session):
    user = make_user(session)
    lamp = make_product(session, "Desk Lamp", price_cents=2499, stock=5)
    mug = make_product(session, "Mug", price_cents=800, stock=5)
    fill_cart(session, user, (lamp, 2), (mug, 1))
    order = place(user.id, address=ADDRESS)
    # Placed is not paid: nobody is told of an order until its money is in.
    assert outbox_rows() == []

    attempt = transaction(lambda s: order_payments.start_attempt(s, order.id, user.id, HOLD), write=True)
    approved = Charge(ChargeOutcome.APPROVED, reference="pi_3Mail", card=VISA_4242)

    def record(scoped: Session):
        return order_payments.record_charge(scoped, order.id, attempt.number, approved, actor_id=user.id)

    assert transaction(record, write=True).order.status == "paid"

    # To the account's confirmed address: the contact e-mail typed at checkout (ada@) is for the courier.
    (email,) = outbox_rows()
    assert (email.kind, email.recipient, email.status, email.order_id) == ("order_placed", "shopper@example.com",
                                                                           "queued", order.id)  # fmt: skip
    assert email.subject == f"Your order #{order.id:06d} at Reflex Shop"
    for text in (email.text_body, email.html_body):
        assert "Desk Lamp" in text and "$24.99" in text and "$49.98" in text and "Mug" in text
        assert "$57.98" in text  # the total: what was paid
        assert "Visa •••• 4242" in text  # and with which card
        assert "12 Analytical St" in text and "N1 9GU London" in text
        assert f"https://shop.example.com/orders/{order.id}" in text
    # The same answer recorded again (a reconciler, a second worker) is not a second e-mail;
    # nor is the same checkout submitted again.
    assert transaction(record, write=True).order.status == "paid"
    place(user.id, address=ADDRESS)
    assert len(outbox_rows()) == 1


@pytest.mark.parametrize("end", ["declined", "expired", "released", "cancelled"])
def test_an_order_nobody_paid_for_sends_nothing(session, end):
    user = make_user(session)
    admin = make_user(session, "boss", is_admin=True)
    widget = make_product(session, stock=5)
    fill_cart(session, user, (widget, 1))
    order = place(user.id, address=ADDRESS)
    if end == "declined":
        assert decline(order.id, user.id).status == "payment_failed"
    elif end == "expired":
        later = utcnow() + timedelta(hours=1)
        assert transaction(lambda s: order_payments.expire_overdue(s, now=later), write=True) == [order.id]
    elif end == "released":  # a second checkout of the account ends the first hold
        fill_cart(session, user, (widget, 1))
        place(user.id, key="key-2", address=ADDRESS)
    else:
        with session_scope(write=True) as scoped:
            orders.change_status(scoped, order.id, "cancelled", admin.id)
    assert outbox_rows() == []


def test_a_checkout_that_rolls_back_queues_nothing(session):
    user = make_user(session)
    scarce = make_product(session, "Scarce", stock=1)
    fill_cart(session, user, (scarce, 1))
    scarce.stock = 0
    session.add(scarce)
    session.commit()
    with pytest.raises(OutOfStock):
        place(user.id, address=ADDRESS)
    assert outbox_rows() == []


def test_shipping_and_refunding_tell_the_customer_and_other_moves_do_not(session):
    user = make_user(session)
    fill_cart(session, user, (make_product(session, stock=5), 1))
    order = place(user.id, address=ADDRESS)
    admin = make_user(session, "boss", is_admin=True)

    def move(order_id: int, to_status: str) -> None:
        with session_scope(write=True) as scoped:
            orders.change_status(scoped, order_id, to_status, admin.id)

    pay(order.id, user.id)
    assert [row.kind for row in outbox_rows()] == ["order_placed"]
    move(order.id, "shipped")
    (shipped,) = outbox_rows("order_shipped")
    assert shipped.subject == f"Order #{order.id:06d} is on its way"
    assert f"https://shop.example.com/orders/{order.id}" in shipped.text_body
    move(order.id, "delivered")
    assert [row.kind for row in outbox_rows()] == ["order_placed", "order_shipped"]

    user2 = make_user(session, "second")
    fill_cart(session, user2, (make_product(session, "Other", stock=5), 1))
    second = place(user2.id, key="key-2", address=ADDRESS)
    pay(second.id, user2.id)
    move(second.id, "cancelled")
    # Cancelled, not yet refunded: the customer hears when the money is back, not before.
    assert outbox_rows("order_refunded") == []
    assert transaction(lambda s: order_payments.record_refund(s, second.id), write=True)
    (refunded,) = outbox_rows("order_refunded")
    assert refunded.order_id == second.id and refunded.recipient == "second@example.com"
    assert refunded.subject == f"Order #{second.id:06d} has been cancelled and refunded"
    for text in (refunded.text_body, refunded.html_body):
        assert "refunded" in text and "$10.00" in text and "Visa •••• 4242" in text
    assert outbox_rows("order_cancelled") == []
    # Reported twice, refunded once: one e-mail.
    assert not transaction(lambda s: order_payments.record_refund(s, second.id), write=True)
    assert len(outbox_rows("order_refunded")) == 1


def _reset_token(email) -> str:
    """The token of a reset e-mail's link (made as it was sent: see tests/test_password_reset.py)."""
    return email.split("/reset-password#token=")[1].split()[0]


def _queue(session: Session, count: int, kind: str = "password_changed") -> None:
    for number in range(count):
        session.add(OutboxEmail(kind=kind, recipient=f"r{number}@example.com", subject=f"Message {number}",
                                text_body="text", html_body="<p>html</p>"))  # fmt: skip
    session.commit()


def test_claims_never_overlap_and_a_dead_senders_rows_come_back_after_the_lease(session):
    _queue(session, 5)
    first = transaction(lambda s: outbox.claim(s, 3), write=True)
    second = transaction(lambda s: outbox.claim(s, 3), write=True)
    assert [e.id for e in first] == [1, 2, 3] and [e.id for e in second] == [4, 5]
    assert transaction(lambda s: outbox.claim(s, 3), write=True) == []
    # The first sender dies: after the lease its rows are due again, a second attempt.
    later = utcnow() + outbox.CLAIM_LEASE + timedelta(seconds=1)
    again = transaction(lambda s: outbox.claim(s, 10, now=later), write=True)
    assert sorted(e.id for e in again) == [1, 2, 3, 4, 5] and {e.attempt for e in again} == {2}
    # Its late "sent" does not count: the claim is someone else's now.
    assert transaction(lambda s: outbox.mark_sent(s, first[0]), write=True) is False
    assert transaction(lambda s: outbox.mark_sent(s, again[0]), write=True) is True


def test_a_failed_send_backs_off_exponentially_and_is_given_up_after_the_last_try(session):
    _queue(session, 1)
    waits = []
    for attempt in range(1, 4):
        now = utcnow() + timedelta(days=attempt)
        (email,) = transaction(lambda s, now=now: outbox.claim(s, 1, now=now), write=True)
        assert email.attempt == attempt
        status = transaction(lambda s, e=email, now=now: outbox.mark_failed(s, e, "refused", 3, 10, now=now),
                             write=True)  # fmt: skip
        row = outbox_rows()[0]
        if attempt < 3:
            assert status is EmailStatus.QUEUED and row.status == "queued"
            waits.append((row.next_attempt_at.replace(tzinfo=None) - now.replace(tzinfo=None)).total_seconds())
        else:
            assert status is EmailStatus.FAILED and row.status == "failed" and row.last_error == "refused"
    assert 8 <= waits[0] <= 10 and 16 <= waits[1] <= 20
    assert outbox.retry_wait(30, 30) <= outbox.MAX_RETRY_WAIT


def test_the_sender_delivers_text_and_html_through_smtp_and_forgets_the_reset_secret(session, smtp, monkeypatch):
    monkeypatch.setenv("SMTP_URL", smtp.url)
    monkeypatch.setenv("MAIL_FROM", "Reflex Shop <shop@shop.example.com>")
    get_settings.cache_clear()
    make_user(session)
    with session_scope(write=True) as scoped:
        assert password_reset.queue_reset_email(scoped, "shopper@example.com")

    assert send_due() == 1
    (message,) = smtp.wait_for(to="shopper@example.com", kind="password_reset")
    token = _reset_token(text_of(message))
    assert message["Subject"] == "Reset your password at Reflex Shop"
    assert message["From"] == "Reflex Shop <shop@shop.example.com>"
    assert message["Message-ID"] == "<outbox-1@shop.example.com>"
    link = f"https://shop.example.com/reset-password#token={token}"
    assert link in text_of(message) and link in html_of(message)
    (row,) = outbox_rows()
    assert row.status == "sent" and row.sent_at is not None and row.attempts == 1
    # Sent: the secret is gone from the database.
    assert token not in row.text_body and token not in row.html_body and REDACTED in row.text_body
    assert send_due() == 0 and len(smtp.messages()) == 1


def test_with_the_smtp_server_down_rows_wait_and_all_leave_once_it_is_back(session, monkeypatch):
    down = SmtpSink()  # not started: the port refuses
    monkeypatch.setenv("SMTP_URL", down.url)
    monkeypatch.setenv("EMAIL_RETRY_SECONDS", "0.05")
    get_settings.cache_clear()
    _queue(session, 3)
    send_due()
    rows = outbox_rows()
    assert {row.status for row in rows} == {"queued"} and {row.attempts for row in rows} == {1}
    assert all("ConnectionRefused" in row.last_error or "connect" in row.last_error.lower() for row in rows)
    backlog = transaction(outbox.backlog)
    assert backlog.depth == 3 and backlog.oldest_age_seconds >= 0

    down.start()
    try:
        time.sleep(0.1)  # past the first back-off
        send_due()
        assert len(down.wait_for(count=3)) == 3
        assert {row.status for row in outbox_rows()} == {"sent"}
        assert transaction(outbox.backlog).depth == 0
    finally:
        down.stop()


def test_without_smtp_url_each_email_is_written_to_the_log_without_the_secret(session, caplog, monkeypatch):
    make_user(session)
    with session_scope(write=True) as scoped:
        password_reset.queue_reset_email(scoped, "shopper@example.com")
    made = []
    make_link = password_reset.make_link
    monkeypatch.setattr(password_reset, "make_link", lambda *args: made.append(make_link(*args)) or made[-1])
    with caplog.at_level("INFO"):
        assert send_due() == 1
    ((_, token),) = made
    logged = [record for record in caplog.records if record.name == "ecom_reflex.mailer"]
    assert logged and logged[0].subject == "Reset your password at Reflex Shop"
    everything = " ".join(str(record.__dict__) for record in caplog.records)
    assert token not in everything and "shopper@example.com" not in everything
    assert "s***@example.com" in everything
    assert outbox_rows()[0].status == "sent"


def _send_until_empty(start, sent) -> None:
    """A worker process's sender (DB_URL, SMTP_URL from the environment): from `start`, until nothing is due."""
    start.wait(60)
    idle, count = 0, 0
    while idle < 3:
        claimed = send_due()
        count += claimed
        idle = idle + 1 if claimed == 0 else 0
    sent.put(count)


def test_two_workers_on_postgresql_never_send_the_same_email(postgres_database, monkeypatch):
    import multiprocessing

    smtp = SmtpSink(delay_s=0.005).start()
    monkeypatch.setenv("SMTP_URL", smtp.url)
    get_settings.cache_clear()
    with session_scope() as session:
        _queue(session, 300)
    spawn = multiprocessing.get_context("spawn")
    start, sent = spawn.Event(), spawn.Queue()
    workers = [spawn.Process(target=_send_until_empty, args=(start, sent)) for _ in range(2)]
    try:
        for worker in workers:
            worker.start()
        start.set()
        for worker in workers:
            worker.join(120)
            assert worker.exitcode == 0
        counts = [sent.get(timeout=5) for _ in workers]
        # Both were sending at the same time, and between them sent each e-mail once.
        assert all(count > 0 for count in counts) and sum(counts) == 300, counts
        received = smtp.wait_for(count=300)
        assert len(received) == 300
        assert len({message["Message-ID"] for message in received}) == 300
        rows = outbox_rows()
        assert {row.status for row in rows} == {"sent"} and {row.attempts for row in rows} == {1}
    finally:
        smtp.stop()


def test_a_claim_skips_the_rows_another_open_claim_holds(session, migrated):
    import threading

    _queue(session, 6)
    holding, release = threading.Event(), threading.Event()
    first: list = []

    def claim_and_hold() -> None:
        with session_scope(write=True) as scoped:
            first.extend(outbox.claim(scoped, 3))
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=claim_and_hold)
    holder.start()
    try:
        assert holding.wait(30)
        second: list = []
        claimer = threading.Thread(target=lambda: second.extend(transaction(lambda s: outbox.claim(s, 3), write=True)))
        claimer.start()
        claimer.join(5)
        if migrated == "postgresql":
            # SKIP LOCKED: the other claim's rows are passed over at once, not waited for.
            assert not claimer.is_alive(), "the second claim waited for the first"
        release.set()
        claimer.join(30)
    finally:
        release.set()
        holder.join(30)
    assert [e.id for e in first] == [1, 2, 3] and [e.id for e in second] == [4, 5, 6]


def test_an_idle_sender_reads_and_never_takes_the_write_lock(session):
    from ecom_reflex.observability import metrics

    def write_transactions() -> float:
        samples = metrics.DB_WRITE_TRANSACTION.collect()[0].samples
        return sum(sample.value for sample in samples if sample.name.endswith("_count"))

    before = write_transactions()
    assert send_due() == 0 and send_due() == 0
    assert write_transactions() == before
    _queue(session, 1)
    assert send_due() == 1
    assert write_transactions() > before


def test_what_a_shopper_typed_is_text_in_the_html_email_never_markup(session):
    user = make_user(session)
    fill_cart(session, user, (make_product(session, 'Lamp "Deluxe" <b>', stock=5), 1))
    hostile = ShippingAddress('<img src=x onerror="alert(1)">', "1 <a href='http://evil'>St</a>", "", "London",
                              "N1 9GU", "United Kingdom", email="ada@example.com")  # fmt: skip
    pay(place(user.id, address=hostile).id, user.id)
    (email,) = outbox_rows()
    assert "<img" not in email.html_body and "<a href='http://evil'>" not in email.html_body
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in email.html_body
    assert "Lamp &#34;Deluxe&#34; &lt;b&gt;" in email.html_body
    # The plain text says it as typed; the subject holds nothing the shopper typed.
    assert '<img src=x onerror="alert(1)">' in email.text_body
    assert email.subject == f"Your order #{email.order_id:06d} at Reflex Shop"


def test_an_email_that_cannot_even_be_built_is_tried_then_given_up_never_left_claimed(session, smtp, monkeypatch):
    monkeypatch.setenv("SMTP_URL", smtp.url)
    monkeypatch.setenv("EMAIL_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("EMAIL_RETRY_SECONDS", "0.01")
    get_settings.cache_clear()
    session.add(OutboxEmail(kind="password_changed", recipient="broken\r\nBcc: everyone@example.com",
                            subject="s", text_body="t", html_body="h"))  # fmt: skip
    session.commit()
    send_due()
    assert outbox_rows()[0].status == "queued"
    time.sleep(0.05)
    send_due()
    (row,) = outbox_rows()
    assert row.status == "failed" and row.attempts == 2 and row.last_error
    assert smtp.messages() == []
