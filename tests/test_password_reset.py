"""Password reset: single-use links kept only as a hash, made by the sender as it sends (so the token is
never written to the database, WAL included), and a cap on the reset e-mails an address receives
that counts e-mails sent, not requests asked, and holds under a burst.

What happens after the answer is run here as the request's background task runs it (`_ask`); the
answer itself, its time and the attacks over the websocket: tests/security/test_password_reset.py."""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from ecom_reflex import mailer
from ecom_reflex.db import get_engine, session_scope
from ecom_reflex.models import AuthSession, OutboxEmail, PasswordReset, User, utcnow
from ecom_reflex.services import auth, password_reset
from ecom_reflex.services.passwords import hash_password, verify_password
from ecom_reflex.services.users import ensure_admin
from ecom_reflex.settings import get_settings
from ecom_reflex.state.password_reset import _ask
from testkit.smtp import SmtpSink
from tests.conftest import reset_caches
from tests.factories import make_user, send_due


@pytest.fixture(autouse=True)
def public_url(monkeypatch):
    monkeypatch.setenv("PUBLIC_URL", "https://shop.example.com")
    reset_caches()


def token_of(text: str) -> str:
    return text.split("/reset-password#token=")[1].split()[0]


def reset_rows() -> list[OutboxEmail]:
    with session_scope() as session:
        return list(session.exec(select(OutboxEmail).where(OutboxEmail.kind == "password_reset")).all())


def test_a_reset_link_is_single_use_stored_only_as_a_hash_and_ends_every_session(session):
    user = make_user(session)
    other_session_token = auth.start_session(session, user)
    session.commit()
    assert _ask("shopper@example.com") == "queued"
    # Queued without a link: nothing secret exists yet.
    (row,) = reset_rows()
    assert row.recipient == "shopper@example.com" and row.text_body == "" and row.html_body == ""
    assert session.exec(select(PasswordReset)).all() == []

    (email,) = send_due()
    token = token_of(email.text_body)
    assert len(token) == 43 and f"https://shop.example.com/reset-password#token={token}" in email.html_body
    with session_scope() as scoped:
        (reset,) = scoped.exec(select(PasswordReset)).all()
        assert reset.token_hash == auth.hash_token(token)
        lifetime = reset.expires_at.replace(tzinfo=None) - reset.created_at.replace(tzinfo=None)
        assert timedelta(minutes=29) < lifetime <= timedelta(minutes=30)
        (sent,) = scoped.exec(select(OutboxEmail).where(OutboxEmail.kind == "password_reset")).all()
        assert sent.status == "sent" and token not in sent.text_body + sent.html_body

    new_hash = hash_password("a much better passphrase 42")
    with session_scope(write=True) as scoped:
        password_reset.finish_reset(scoped, token, new_hash)
    with session_scope() as scoped:
        assert verify_password("a much better passphrase 42", scoped.get(User, user.id).password_hash)
        assert scoped.exec(select(AuthSession).where(AuthSession.user_id == user.id)).all() == []
        assert auth.user_for_token(scoped, other_session_token) is None
        (told,) = scoped.exec(select(OutboxEmail).where(OutboxEmail.kind == "password_changed")).all()
        assert told.recipient == "shopper@example.com" and "https://shop.example.com/forgot-password" in told.text_body
    # Used once: never again.
    with pytest.raises(password_reset.InvalidResetLink), session_scope(write=True) as scoped:
        password_reset.finish_reset(scoped, token, new_hash)


def test_an_unknown_or_disabled_address_gets_no_link_and_nothing_is_queued(session):
    make_user(session, "gone", is_active=False)
    assert _ask("nobody@example.com") == "no_account"
    assert _ask("gone@example.com") == "no_account"
    assert reset_rows() == [] and send_due() == []


def test_the_link_is_for_the_account_that_confirmed_the_address_not_an_earlier_claim_on_it(session):
    # Someone gave the owner's address first (it can never be confirmed for them)...
    claimer = make_user(session, "claimer", verified=False)
    claimer.email = "owner@example.com"
    session.add(claimer)
    session.commit()
    # ...then the owner registered with it and confirmed it.
    make_user(session, "owner")
    assert _ask("owner@example.com") == "queued"
    (email,) = send_due()
    assert email.recipient == "owner@example.com" and email.text_body.startswith("Hello owner,")
    with session_scope() as scoped:
        assert password_reset.account_for_token(scoped, token_of(email.text_body)).username == "owner"
    # An address nobody confirmed: the account that gives it.
    make_user(session, "unconfirmed", verified=False)
    assert _ask("unconfirmed@example.com") == "queued"


def test_each_try_makes_a_new_link_and_a_newer_link_or_a_password_change_replaces_it(session):
    make_user(session)
    _ask("shopper@example.com")
    first = token_of(send_due()[0].text_body)
    later = utcnow() + timedelta(minutes=31)
    with pytest.raises(password_reset.InvalidResetLink), session_scope() as scoped:
        password_reset.account_for_token(scoped, first, now=later)
    with session_scope() as scoped:
        assert password_reset.account_for_token(scoped, first).username == "shopper"

    _ask("shopper@example.com")
    second = token_of(send_due()[0].text_body)
    with pytest.raises(password_reset.InvalidResetLink), session_scope() as scoped:
        password_reset.account_for_token(scoped, first)
    with session_scope() as scoped:
        password_reset.account_for_token(scoped, second)

    # The operator resets the password from the environment: the link dies with the old password.
    with session_scope(write=True) as scoped:
        scoped.exec(select(User)).first().is_admin = True
    with session_scope(write=True) as scoped:
        ensure_admin(scoped, "shopper", "shopper@example.com", "an operator's new password 7")
    with pytest.raises(password_reset.InvalidResetLink), session_scope() as scoped:
        password_reset.account_for_token(scoped, second)
    assert [email.kind for email in send_due()] == ["password_changed"]  # the owner is told, once


@pytest.mark.parametrize(
    ("token", "well_formed"),
    [("", False), ("short", False), ("x" * 43 + "y", False), ("../../etc/passwd", False), ("A" * 43, True)],
)
def test_a_token_that_is_not_ours_is_refused_without_error(session, token, well_formed):
    with pytest.raises(password_reset.InvalidResetLink), session_scope() as scoped:
        password_reset.account_for_token(scoped, token)
    # Only what could be one of our tokens is read from a link's fragment at all.
    assert password_reset.token_from_fragment("token=" + token) == (token if well_formed else "")
    assert password_reset.token_from_fragment(token) == ""


def test_the_cap_counts_emails_sent_not_requests_asked(session):
    # Asked for over and over before the address had an account: no e-mail, so nothing counted.
    assert {_ask("later@example.com") for _ in range(10)} == {"no_account"}
    make_user(session, "later")
    # Its owner then gets the cap's three e-mails an hour (the default), and no more.
    assert [_ask("later@example.com") for _ in range(5)] == ["queued"] * 3 + ["capped"] * 2
    assert len(send_due()) == 3
    # Another address is not touched by it.
    make_user(session, "other")
    assert _ask("other@example.com") == "queued"


def test_a_burst_of_requests_for_one_address_queues_no_more_emails_than_the_cap(session, monkeypatch):
    make_user(session, "victim")
    barrier, outcomes, lock = threading.Barrier(60), [], threading.Lock()

    def ask() -> None:
        barrier.wait(30)
        outcome = _ask("victim@example.com")
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=ask) for _ in range(60)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["capped"] * 57 + ["queued"] * 3
    assert len(reset_rows()) == 3 and len(send_due()) == 3


def _database_bytes(db_file) -> bytes:
    """Everything SQLite keeps on disk for the database: the file, its WAL and its shared memory."""
    return b"".join(path.read_bytes() for path in db_file.parent.glob(db_file.name + "*"))


def test_no_reset_token_is_ever_written_to_the_database_files_sent_or_given_up(
    migrated_sqlite, isolated_settings, monkeypatch
):
    made: list[str] = []
    real_make_link = password_reset.make_link

    def recording_make_link(*args, **kwargs):
        username, token = real_make_link(*args, **kwargs)
        made.append(token)
        return username, token

    monkeypatch.setattr(password_reset, "make_link", recording_make_link)
    with Session(get_engine()) as session:
        make_user(session, "sent")
        make_user(session, "refused")
    # One sent through a real SMTP server...
    smtp = SmtpSink().start()
    try:
        monkeypatch.setenv("SMTP_URL", smtp.url)
        reset_caches()
        _ask("sent@example.com")
        send_due(mailer.transport_for(get_settings()))
        (message,) = smtp.wait_for(to="sent@example.com", kind="password_reset")
    finally:
        smtp.stop()
    # ...one given up: the server is gone, and one try is all it gets.
    monkeypatch.setenv("EMAIL_MAX_ATTEMPTS", "1")
    reset_caches()
    _ask("refused@example.com")
    send_due(mailer.transport_for(get_settings()))
    with session_scope() as scoped:
        statuses = dict(scoped.exec(select(OutboxEmail.recipient, OutboxEmail.status)).all())
    assert statuses == {"sent@example.com": "sent", "refused@example.com": "failed"}

    assert len(made) == 2 and made[0] in message.get_body(("plain",)).get_content()
    on_disk = _database_bytes(isolated_settings)
    # The right files are read: each link's hash is there...
    assert all(auth.hash_token(token).encode() in on_disk for token in made)
    # ...and no token, in any form SQLite could have kept it.
    for token in made:
        assert token.encode() not in on_disk and token.encode("utf-16-le") not in on_disk


def test_the_answer_does_the_same_work_whether_or_not_an_account_has_the_address(session):
    from ecom_reflex.state import password_reset as reset_state
    from tests.test_inputs import _state
    from tests.test_query_counts import counted

    make_user(session)
    handler = reset_state.ForgotPasswordState.event_handlers["request_link"].fn

    async def ask(email: str) -> tuple:
        state = _state(reset_state.ForgotPasswordState)
        with counted() as statements:
            async for _ in handler(state, {"email": email}):
                pass
        answered = (state.sent_to, state.form_error, state.errors, list(statements))
        await asyncio.gather(*reset_state._asking)  # what is decided after the answer
        return answered

    async def both() -> tuple:
        return await ask("Shopper@example.com"), await ask("nobody@example.com")

    known, unknown = asyncio.run(both())
    # Answered alike, with no database work at all: the address is looked up after the answer.
    assert known == ("shopper@example.com", "", {}, []) and unknown == ("nobody@example.com", "", {}, [])
    assert [row.recipient for row in reset_rows()] == ["shopper@example.com"]
