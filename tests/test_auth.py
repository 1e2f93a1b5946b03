from datetime import timedelta

import pytest
from sqlmodel import select

from ecom_reflex.models import AuthSession, User, utcnow
from ecom_reflex.services import auth
from ecom_reflex.services.auth import LoginStatus
from ecom_reflex.services.errors import FieldErrors
from tests.factories import make_user


def register(session, username="Alice", email="alice@example.com", password="s3cret-pass", confirm=None):
    user = auth.register(session, username, email, password, password if confirm is None else confirm)
    session.commit()
    return user


def test_register_stores_a_bcrypt_hash_and_normalised_email(session):
    user = register(session, email="  Alice@Example.COM ")
    assert user.username == "Alice" and user.email == "alice@example.com"
    assert user.password_hash.startswith("$2b$12$") and "s3cret-pass" not in user.password_hash
    assert not user.is_admin and user.is_active


@pytest.mark.parametrize(
    ("username", "email", "password", "confirm", "fields"),
    [
        ("ab", "a@example.com", "longenough", "longenough", {"username"}),
        ("bad name!", "a@example.com", "longenough", "longenough", {"username"}),
        ("x" * 33, "a@example.com", "longenough", "longenough", {"username"}),
        ("valid_1.-", "not-an-email", "longenough", "longenough", {"email"}),
        ("valid", "a@example.com", "short", "short", {"password"}),
        ("valid", "a@example.com", "longenough", "different", {"confirm"}),
        ("", "", "", "x", {"username", "email", "password", "confirm"}),
    ],
)
def test_register_reports_every_bad_field_and_creates_nothing(session, username, email, password, confirm, fields):
    with pytest.raises(FieldErrors) as error:
        auth.register(session, username, email, password, confirm)
    assert set(error.value.errors) == fields
    assert session.exec(select(User)).all() == []


def test_username_and_email_are_unique_ignoring_case(session):
    register(session)
    with pytest.raises(FieldErrors) as error:
        auth.register(session, "ALICE", "ALICE@example.com", "s3cret-pass", "s3cret-pass")
    assert set(error.value.errors) == {"username", "email"}


def test_login_success_and_session_round_trip(session):
    register(session)
    result = auth.authenticate(session, "alice", "s3cret-pass")
    assert result.status is LoginStatus.SUCCESS and result.user.username == "Alice"
    token = auth.start_session(session, result.user)
    session.commit()
    assert len(token) >= 43  # 32 random bytes, url-safe base64
    stored = session.exec(select(AuthSession)).one()
    assert stored.token_hash == auth.hash_token(token) and token not in stored.token_hash
    assert auth.user_for_token(session, token).id == result.user.id

    auth.end_session(session, token)
    session.commit()
    assert auth.user_for_token(session, token) is None


def test_unknown_user_and_wrong_password_get_the_same_message(session):
    register(session)
    wrong = auth.authenticate(session, "alice", "wrong-password")
    unknown = auth.authenticate(session, "nobody", "wrong-password")
    assert wrong.status is unknown.status is LoginStatus.FAILURE
    assert wrong.message == unknown.message == auth.INVALID_CREDENTIALS


def test_unknown_user_still_pays_for_a_bcrypt_check(session, monkeypatch):
    calls = []
    real = auth.verify_password
    monkeypatch.setattr(auth, "verify_password", lambda p, h: calls.append(h) or real(p, h))
    auth.authenticate(session, "nobody", "whatever")
    assert len(calls) == 1 and calls[0].startswith("$2b$12$")


def test_sessions_expire_after_seven_days(session):
    user = make_user(session)
    start = utcnow()
    token = auth.start_session(session, user, now=start)
    session.commit()
    assert auth.user_for_token(session, token, now=start + timedelta(days=6, hours=23)) is not None
    assert auth.user_for_token(session, token, now=start + timedelta(days=7, seconds=1)) is None


def test_a_disabled_user_is_out_at_once(session):
    user = make_user(session)
    token = auth.start_session(session, user)
    session.commit()
    user.is_active = False
    session.add(user)
    session.commit()
    assert auth.user_for_token(session, token) is None
    assert auth.authenticate(session, "shopper", "password123").status is LoginStatus.FAILURE


def test_lockout_on_the_sixth_attempt_even_with_the_right_password(session):
    register(session)
    start = utcnow()
    for minute in range(5):
        result = auth.authenticate(session, "alice", "wrong", now=start + timedelta(minutes=minute))
        assert result.status is LoginStatus.FAILURE
    session.commit()
    sixth = auth.authenticate(session, "Alice", "s3cret-pass", now=start + timedelta(minutes=5))
    assert sixth.status is LoginStatus.LOCKED
    assert "Try again in 10 minutes" in sixth.message
    # The lock lifts 15 minutes after the first of the five failures.
    later = auth.authenticate(session, "alice", "s3cret-pass", now=start + timedelta(minutes=15, seconds=1))
    assert later.status is LoginStatus.SUCCESS


def test_lockout_applies_to_unknown_usernames_too(session):
    for _ in range(5):
        auth.authenticate(session, "ghost", "x")
    assert auth.authenticate(session, "ghost", "x").status is LoginStatus.LOCKED


def test_a_success_clears_earlier_failures(session):
    register(session)
    for _ in range(4):
        auth.authenticate(session, "alice", "wrong")
    assert auth.authenticate(session, "alice", "s3cret-pass").status is LoginStatus.SUCCESS
    for _ in range(4):
        auth.authenticate(session, "alice", "wrong")
    assert auth.authenticate(session, "alice", "s3cret-pass").status is LoginStatus.SUCCESS
