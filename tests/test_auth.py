from datetime import timedelta

import pytest
from sqlmodel import select

from ecom_reflex.models import AuthSession, User, utcnow
from ecom_reflex.services import auth
from ecom_reflex.services.auth import LoginStatus
from ecom_reflex.services.errors import FieldErrors
from tests.factories import make_user


def register(session, username="Alice", email="alice@example.com", password="Quiet-harbour-9", confirm=None):
    user = auth.register(session, username, email, password, password if confirm is None else confirm)
    session.commit()
    return user


def test_register_stores_a_bcrypt_hash_and_normalised_email(session):
    user = register(session, email="  Alice@Example.COM ")
    assert user.username == "Alice" and user.email == "alice@example.com"
    assert user.password_hash.startswith("$2b$12$") and "Quiet-harbour-9" not in user.password_hash
    assert not user.is_admin and user.is_active


@pytest.mark.parametrize(
    ("username", "email", "password", "confirm", "fields"),
    [
        ("ab", "a@example.com", "Quiet-harbour-9", "Quiet-harbour-9", {"username"}),
        ("bad name!", "a@example.com", "Quiet-harbour-9", "Quiet-harbour-9", {"username"}),
        ("x" * 33, "a@example.com", "Quiet-harbour-9", "Quiet-harbour-9", {"username"}),
        ("valid_1.-", "not-an-email", "Quiet-harbour-9", "Quiet-harbour-9", {"email"}),
        ("valid", "a@example.com", "short", "short", {"password"}),
        ("valid", "a@example.com", " " * 12, " " * 12, {"password"}),
        ("valid", "a@example.com", "password", "password", {"password"}),
        ("valid", "a@example.com", "aaaaaaaaaaaa", "aaaaaaaaaaaa", {"password"}),
        ("valid", "a@example.com", "password1234", "password1234", {"password"}),
        ("valid_user_name", "a@example.com", "valid_user_name", "valid_user_name", {"password"}),
        ("valid", "long.address@example.com", "Long.Address@Example.com", "Long.Address@Example.com", {"password"}),
        ("valid", "a@example.com", "Quiet-harbour-9", "different", {"confirm"}),
        ("", "", "", "x", {"username", "email", "password", "confirm"}),
    ],
)
def test_register_reports_every_bad_field_and_creates_nothing(session, username, email, password, confirm, fields):
    with pytest.raises(FieldErrors) as error:
        auth.register(session, username, email, password, confirm)
    assert set(error.value.errors) == fields
    assert session.exec(select(User)).all() == []


def test_a_weak_password_is_refused_with_the_estimators_advice(session):
    with pytest.raises(FieldErrors) as error:
        auth.register(session, "carol", "carol@example.com", "Summer2024!", "Summer2024!")
    message = error.value.errors["password"]
    assert message.startswith("This password is too easy to guess.")
    assert "commonly used password" in message  # zxcvbn's own warning, shown next to the field


def test_usernames_are_unique_ignoring_case_and_a_taken_email_is_never_said(session):
    register(session)
    with pytest.raises(FieldErrors) as error:
        auth.register(session, "ALICE", "ALICE@example.com", "Quiet-harbour-9", "Quiet-harbour-9")
    # The e-mail is not judged at all: whether another account gives it is nobody's business
    # (tests/test_email_verification.py: the registration goes ahead like any other).
    assert set(error.value.errors) == {"username"}


def test_login_success_and_session_round_trip(session):
    register(session)
    result = auth.authenticate(session, "alice", "Quiet-harbour-9")
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
    refused = auth.authenticate(session, "shopper", "password123")
    assert refused.status is LoginStatus.DISABLED and refused.message == "This account is disabled."
    # Without the password, nobody learns that the account exists, disabled or not.
    assert auth.authenticate(session, "shopper", "wrong").message == auth.INVALID_CREDENTIALS
