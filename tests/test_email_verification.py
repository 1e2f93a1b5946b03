"""E-mail goes only to an address that proved it wants it (issue 26, items 2 and 3):

- an account's address is confirmed by a single-use link (kept only as a hash, made by the sender as it
  sends, 48 hours), sent at registration and again when asked for or when the address changes;
- order e-mails go to the confirmed address only: never to the contact e-mail typed at checkout, not at
  all while there is none, and to the old confirmed address until a changed one is confirmed;
- a registration with an address another account confirmed goes ahead like any other, sends no link,
  and tells that account's owner (once a day);
- links are paced per account (one a minute, a few a day), and a burst gets one;
- the outbox sends no address more than EMAIL_PER_RECIPIENT_PER_HOUR e-mails an hour, of all kinds
  together: the rest are marked capped and counted, never sent later;
- the migration confirms the admins' addresses and no one else's.

The same against the running shop, over the websocket and in Chromium: tests/security/test_email_abuse.py
and e2e/test_email_journeys.py."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from alembic import command
from sqlmodel import Session, select

from ecom_reflex.db import get_engine, session_scope, transaction
from ecom_reflex.models import EmailStatus, EmailVerification, OutboxEmail, User, utcnow
from ecom_reflex.observability import metrics
from ecom_reflex.services import auth, email_verification, mail, orders, outbox, users
from ecom_reflex.services.email_verification import InvalidVerifyLink, LinkRefused
from ecom_reflex.services.errors import FieldErrors
from ecom_reflex.services.orders import ShippingAddress
from tests.conftest import reset_caches
from tests.factories import make_product, make_user, pay, send_due
from tests.test_migrations import alembic_config
from tests.test_orders import fill_cart, place

PASSWORD = "Quiet-harbour-9"
# The contact e-mail a shopper types at checkout: for the courier, never mailed.
CONTACT = ShippingAddress("Ada Lovelace", "12 Analytical St", "", "London", "N1 9GU", "United Kingdom",
                          email="someone.else@example.org")  # fmt: skip


@pytest.fixture(autouse=True)
def public_url(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://shop.example.com")
    reset_caches()


def rows(kind: str | None = None, to: str | None = None) -> list[OutboxEmail]:
    with session_scope() as session:
        query = select(OutboxEmail).order_by(OutboxEmail.id)
        query = query.where(OutboxEmail.kind == kind) if kind else query
        return list(session.exec(query.where(OutboxEmail.recipient == to) if to else query).all())


def register(username: str, email: str) -> User:
    with session_scope(write=True) as session:
        return auth.register(session, username, email, PASSWORD, PASSWORD)


def token_of(email: outbox.ClaimedEmail) -> str:
    return email.text_body.split("/verify-email#token=")[1].split()[0]


def verify(token: str, now=None) -> User:
    return transaction(lambda s: email_verification.verify(s, token, now), write=True)


def account(user_id: int) -> User:
    with session_scope() as session:
        return session.get(User, user_id)


def later(minutes: float) -> object:
    return utcnow() + timedelta(minutes=minutes)


def test_a_new_account_gets_a_link_kept_only_as_a_hash_that_confirms_its_address_once(session):
    user = register("Alice", " Alice@Example.com ")
    assert (user.email, user.verified_email, user.email_verified) == ("alice@example.com", None, False)
    # Queued without its link: nothing secret is stored, not even until it is sent.
    (queued,) = rows()
    assert (queued.kind, queued.recipient, queued.text_body, queued.html_body) == (
        "verify_email", "alice@example.com", "", ""
    )  # fmt: skip
    (sent,) = send_due()
    assert sent.subject == "Confirm your e-mail address at Reflex Shop"
    token = token_of(sent)
    assert len(token) == 43 and f"https://shop.example.com/verify-email#token={token}" in sent.html_body
    with session_scope() as scoped:
        (link,) = scoped.exec(select(EmailVerification)).all()
        stored = scoped.exec(select(OutboxEmail)).one()
    assert link.token_hash == auth.hash_token(token) and link.email == "alice@example.com"
    assert timedelta(hours=47) < link.expires_at.replace(tzinfo=None) - link.created_at.replace(tzinfo=None)
    assert token not in stored.text_body + stored.html_body and stored.status == "sent"

    assert verify(token).verified_email == "alice@example.com"
    assert account(user.id).email_verified
    # Once: the same link again is refused.
    with pytest.raises(InvalidVerifyLink):
        verify(token)


@pytest.mark.parametrize("token", ["", "short", "x" * 43 + "y", "../../etc/passwd", "A" * 43])
def test_a_token_that_is_not_ours_is_refused(session, token):
    with pytest.raises(InvalidVerifyLink):
        verify(token)
    assert email_verification.token_from_fragment("token=" + token) == (token if len(token) == 43 else "")
    assert email_verification.token_from_fragment(token) == ""


def test_a_link_expires_after_48_hours_and_a_newer_one_or_a_changed_address_ends_it(session):
    user = register("bob", "bob@example.com")
    first = token_of(send_due()[0])
    with pytest.raises(InvalidVerifyLink):
        verify(first, now=utcnow() + timedelta(hours=48, minutes=1))
    # A newer link (a minute later: the pacing) ends the first.
    transaction(lambda s: email_verification.send_again(s, user.id, now=later(1.5)), write=True)
    second = token_of(send_due()[0])
    with pytest.raises(InvalidVerifyLink):
        verify(first, now=later(2))
    # The account changes its address: the link for the old one confirms nothing.
    moved = later(3)
    transaction(lambda s: email_verification.change_address(s, user.id, "bob@elsewhere.example", now=moved), write=True)
    with pytest.raises(InvalidVerifyLink):
        verify(second, now=later(4))
    assert account(user.id).verified_email is None


def test_a_link_email_no_longer_needed_is_given_up_at_once_not_retried(session):
    user = register("carla", "carla@example.com")  # its link e-mail is queued, not sent yet
    transaction(lambda s: email_verification.change_address(s, user.id, "carla@elsewhere.example", now=later(2)),
                write=True)  # fmt: skip
    # The first e-mail is for an address the account no longer gives: not sent, and not tried again
    # (it would fail every try until EMAIL_MAX_ATTEMPTS); the new address's link goes out.
    assert [(e.kind, e.recipient) for e in send_due()] == [("verify_email", "carla@elsewhere.example")]
    (old,) = rows("verify_email", to="carla@example.com")
    assert (old.status, old.attempts) == ("failed", 1) and "another address" in old.last_error


def test_an_address_another_account_confirmed_registers_alike_sends_no_link_and_tells_its_owner(session):
    owner = make_user(session, "owner")  # confirmed owner@example.com
    other = make_user(session, "claimed", verified=False)
    squatter = register("squatter", "OWNER@example.com")
    # The account is made, keeping the address as a claim; its link row is made as for anyone...
    assert (squatter.email, squatter.verified_email) == ("owner@example.com", None)
    with session_scope() as scoped:
        links = scoped.exec(select(EmailVerification).where(EmailVerification.user_id == squatter.id)).all()
    assert [(link.email, link.token_hash) for link in links] == [("owner@example.com", None)]
    # ...but no link goes to the address: its owner hears someone tried.
    (told,) = send_due()
    assert (told.kind, told.recipient) == ("email_in_use", "owner@example.com")
    assert told.subject == "Someone tried to use your e-mail address at Reflex Shop"
    assert "owner" in told.text_body and "https://shop.example.com/forgot-password" in told.text_body
    # A second try (another registration, the claimant asking again) tells the owner nothing new today.
    register("squatter2", "owner@example.com")
    transaction(lambda s: email_verification.send_again(s, squatter.id, now=later(2)), write=True)
    assert send_due() == []
    assert [row.kind for row in rows(to="owner@example.com")] == ["email_in_use"]
    # An address only claimed (never confirmed) is anyone's to confirm: a link goes to it for each account.
    register("claimant", "claimed@example.com")
    assert [(email.kind, email.recipient) for email in send_due()] == [("verify_email", "claimed@example.com")]
    assert account(other.id).verified_email is None and account(owner.id).verified_email == "owner@example.com"


def test_the_claim_of_a_confirmed_address_is_never_confirmed_nor_mailed_about_the_account(session):
    make_user(session, "owner")
    squatter = register("squatter", "owner@example.com")
    send_due()
    # No e-mail about the squatter's account reaches the address: not a reset, not a password change.
    with session_scope(write=True) as scoped:
        claimant = scoped.get(User, squatter.id)
        assert mail.account_recipient(scoped, claimant) is None
        assert mail.queue_password_changed(scoped, claimant) is None
    # Even a link made for it by hand could not confirm it: the address is one account's.
    with session_scope(write=True) as scoped:
        link = scoped.exec(select(EmailVerification).where(EmailVerification.user_id == squatter.id)).one()
        link.token_hash = auth.hash_token("B" * 43)
        scoped.add(link)
    with pytest.raises(InvalidVerifyLink, match="another account"):
        verify("B" * 43)
    assert account(squatter.id).verified_email is None
    # The reset of the address leads to the account that confirmed it.
    with session_scope() as scoped:
        assert users.account_for_address(scoped, " Owner@Example.com").username == "owner"


def test_order_emails_go_to_the_confirmed_address_only_never_to_the_contact_email(session):
    product = make_product(session, stock=10)
    unconfirmed = make_user(session, "newbie", verified=False)
    confirmed = make_user(session, "regular")
    for user, key in ((unconfirmed, "k1"), (confirmed, "k2")):
        fill_cart(session, user, (product, 1))
        pay(place(user.id, key=key, address=CONTACT).id, user.id)
    sent = send_due()
    assert [(email.kind, email.recipient) for email in sent] == [("order_placed", "regular@example.com")]
    assert rows(to="someone.else@example.org") == [] and rows(to="newbie@example.com") == []


def test_a_changed_address_gets_a_link_and_the_confirmed_one_keeps_the_order_emails_until_then(session):
    user = make_user(session, "mover")
    status = transaction(lambda s: email_verification.change_address(s, user.id, "Mover@New.example"), write=True)
    assert (status.email, status.verified, status.mailed_to) == ("mover@new.example", False, "mover@example.com")
    (link,) = send_due()
    assert (link.kind, link.recipient) == ("verify_email", "mover@new.example")

    fill_cart(session, user, (make_product(session, stock=5), 1))
    order = place(user.id, address=CONTACT)
    pay(order.id, user.id)
    assert [(e.kind, e.recipient) for e in send_due()] == [("order_placed", "mover@example.com")]

    # Once the new address is confirmed, the order's next e-mail goes there.
    assert verify(token_of(link)).verified_email == "mover@new.example"
    with session_scope(write=True) as scoped:
        orders.change_status(scoped, order.id, "shipped", make_user(scoped, "boss", is_admin=True).id)
    assert [(e.kind, e.recipient) for e in send_due()] == [("order_shipped", "mover@new.example")]


def test_a_change_to_an_address_another_account_confirmed_answers_alike_and_tells_its_owner(session):
    make_user(session, "holder")
    mover = make_user(session, "mover", verified=False)
    status = transaction(lambda s: email_verification.change_address(s, mover.id, "Holder@example.com"), write=True)
    assert (status.email, status.verified, status.mailed_to) == ("holder@example.com", False, "")
    (told,) = send_due()
    assert (told.kind, told.recipient) == ("email_in_use", "holder@example.com")
    assert "changing an account's address" in told.text_body
    assert account(mover.id).verified_email is None


def test_back_to_the_confirmed_address_while_a_change_waits_needs_no_link(session):
    user = make_user(session, "undo")
    transaction(lambda s: email_verification.change_address(s, user.id, "typo@exmaple.com"), write=True)
    pending = token_of(send_due()[0])
    status = transaction(lambda s: email_verification.change_address(s, user.id, "undo@example.com"), write=True)
    assert (status.email, status.verified, status.mailed_to) == ("undo@example.com", True, "undo@example.com")
    assert send_due() == []
    # The typo's link confirms nothing any more.
    with pytest.raises(InvalidVerifyLink):
        verify(pending)


@pytest.mark.parametrize(
    ("typed", "error"),
    [("not-an-address", "Enter a valid e-mail address"), ("pace@example.com", "already your account's address")],
)
def test_a_change_to_a_bad_or_the_same_address_is_refused_next_to_the_field(session, typed, error):
    user = make_user(session, "pace", verified=False)
    with pytest.raises(FieldErrors) as refused:
        transaction(lambda s: email_verification.change_address(s, user.id, typed), write=True)
    assert error in refused.value.errors["email"]
    assert rows() == []


def test_links_are_paced_one_a_minute_and_a_few_a_day(session, monkeypatch):
    monkeypatch.setenv("EMAIL_LINKS_PER_ACCOUNT_PER_DAY", "3")
    reset_caches()
    user = register("eager", "eager@example.com")

    def again(minutes: float):
        return transaction(lambda s: email_verification.send_again(s, user.id, now=later(minutes)), write=True)

    with pytest.raises(LinkRefused, match="less than a minute ago"):
        again(0.5)
    assert again(1.5) == "eager@example.com"
    with pytest.raises(LinkRefused, match="less than a minute ago"):
        again(2)
    assert again(3)
    with pytest.raises(LinkRefused, match="No more links for this account today"):
        again(5)
    # A refused ask took no slot and made no link: three links in all, three e-mails.
    assert len(rows("verify_email")) == 3
    # A day later the account may ask again.
    assert again(24 * 60 + 5)


def test_a_confirmed_address_needs_no_new_link(session):
    user = make_user(session, "done")
    with pytest.raises(email_verification.ServiceError, match="already confirmed"):
        transaction(lambda s: email_verification.send_again(s, user.id), write=True)


def test_a_burst_of_asks_for_a_link_gets_one(session):
    user = register("burst", "burst@example.com")
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def ask() -> None:
        start.wait()
        try:
            transaction(lambda s: email_verification.send_again(s, user.id, now=later(2)), write=True)
            outcomes.append("sent")
        except LinkRefused:
            outcomes.append("refused")

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["refused"] * 7 + ["sent"]
    assert len(rows("verify_email")) == 2  # the registration's and the burst's one


def _queue(session: Session, recipient: str, kinds: list[str], sent_minutes_ago: float | None = None) -> None:
    for number, kind in enumerate(kinds):
        row = OutboxEmail(kind=kind, recipient=recipient, subject=f"{kind} {number}", text_body="text",
                          html_body="<p>html</p>")  # fmt: skip
        if sent_minutes_ago is not None:
            row.status, row.sent_at = EmailStatus.SENT.value, utcnow() - timedelta(minutes=sent_minutes_ago)
        session.add(row)
    session.commit()


def _capped_count(kind: str) -> float:
    return sum(
        sample.value
        for sample in metrics.EMAILS.collect()[0].samples
        if sample.name.endswith("_total") and sample.labels == {"kind": kind, "outcome": "capped"}
    )


def test_no_address_gets_more_than_its_hourly_cap_of_every_kind_together(session, monkeypatch):
    monkeypatch.setenv("EMAIL_PER_RECIPIENT_PER_HOUR", "5")
    reset_caches()
    # Sent 61 minutes ago: outside the hour, they do not count; 2 within it do.
    _queue(session, "victim@example.com", ["order_placed"] * 4, sent_minutes_ago=61)
    _queue(session, "victim@example.com", ["password_changed"] * 2, sent_minutes_ago=30)
    kinds = ["order_placed", "password_changed", "order_placed", "order_shipped", "order_refunded", "email_in_use"]
    _queue(session, "victim@example.com", kinds)
    _queue(session, "bystander@example.com", ["order_placed"] * 3)
    before = {kind: _capped_count(kind) for kind in kinds}

    sent = send_due()
    to_victim = [email.kind for email in sent if email.recipient == "victim@example.com"]
    assert to_victim == kinds[:3], "2 sent within the hour + 3 now = the cap of 5"
    assert len([email for email in sent if email.recipient == "bystander@example.com"]) == 3
    capped = rows(to="victim@example.com")[-3:]
    assert [(row.kind, row.status) for row in capped] == [(kind, "capped") for kind in kinds[3:]]
    assert all("EMAIL_PER_RECIPIENT_PER_HOUR" in row.last_error for row in capped)
    # Counted, and never tried again (not queued forever).
    assert {kind: _capped_count(kind) - before[kind] for kind in kinds[3:]} == dict.fromkeys(kinds[3:], 1)
    assert send_due() == []
    with session_scope() as scoped:
        assert outbox.backlog(scoped).depth == 0


def test_two_senders_on_postgresql_never_both_take_a_recipients_last_slot(postgres_database, monkeypatch):
    monkeypatch.setenv("EMAIL_PER_RECIPIENT_PER_HOUR", "10")
    reset_caches()
    with Session(get_engine()) as session:
        _queue(session, "victim@example.com", ["order_placed"] * 15)
    holding, release = threading.Event(), threading.Event()
    first: list = []

    def claim_and_hold() -> None:
        with session_scope(write=True) as scoped:
            first.extend(outbox.claim(scoped, 8))
            holding.set()
            release.wait(30)

    holder = threading.Thread(target=claim_and_hold)
    holder.start()
    try:
        assert holding.wait(30)
        # The other sender meanwhile: it cannot count the recipient (the first holds its lock), so it
        # passes over its rows instead of sending past the cap.
        assert transaction(lambda s: outbox.claim(s, 20), write=True) == []
    finally:
        release.set()
        holder.join(30)
    rest = transaction(lambda s: outbox.claim(s, 20), write=True)
    assert len(first) == 8 and not any(email.capped for email in first)
    assert [email.capped for email in rest] == [False, False] + [True] * 5


def test_the_migration_confirms_the_admins_addresses_and_no_shoppers(migrated):
    config = alembic_config()
    command.downgrade(config, "0009")
    with get_engine().begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO users (username, email, password_hash, is_admin, is_active, created_at) VALUES"
            " ('root', 'root@shop.local', 'x', true, true, CURRENT_TIMESTAMP),"
            " ('shopper', 'shopper@example.com', 'x', false, true, CURRENT_TIMESTAMP)"
        )
    command.upgrade(config, "head")
    with session_scope() as session:
        found = {user.username: user.verified_email for user in session.exec(select(User)).all()}
    assert found == {"root": "root@shop.local", "shopper": None}


def test_setup_confirms_the_admin_address_it_was_given(session):
    with session_scope(write=True) as scoped:
        users.ensure_admin(scoped, "boss", "Boss@Shop.local", "an admin's long password 1")
    with session_scope() as scoped:
        admin = users.get_by_username(scoped, "boss")
    assert (admin.email, admin.verified_email) == ("boss@shop.local", "boss@shop.local")


def test_disabled_accounts_get_no_order_emails_and_their_links_confirm_nothing(session):
    user = register("gone", "gone@example.com")
    (link,) = send_due()
    with session_scope(write=True) as scoped:
        scoped.get(User, user.id).is_active = False
    with pytest.raises(InvalidVerifyLink):
        verify(token_of(link))


def test_two_accounts_giving_one_unconfirmed_address_each_get_a_link_and_the_first_opened_wins(session):
    first = register("twin1", "twins@example.com")
    second = register("twin2", "twins@example.com")
    links = send_due()
    assert [email.recipient for email in links] == ["twins@example.com"] * 2
    by_user = {email.text_body.split("Hello ")[1].split(",")[0]: token_of(email) for email in links}
    assert verify(by_user["twin2"]).id == second.id
    with pytest.raises(InvalidVerifyLink, match="another account"):
        verify(by_user["twin1"])
    assert account(first.id).verified_email is None
