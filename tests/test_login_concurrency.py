"""bcrypt never runs inside a write transaction, and a guest cart merges in a fixed number of statements.

The registration and login steps are run as the app runs them (state.auth), on a real
SQLite file; while the password is hashed or checked, another connection must be able to
take the write lock at once, which it could not if a write transaction were open.
"""

from __future__ import annotations

import asyncio
import sqlite3

from sqlmodel import select

from ecom_reflex.db import session_scope
from ecom_reflex.models import AuthSession, CartItem, User
from ecom_reflex.services import cart, passwords
from ecom_reflex.state import auth as auth_state
from tests.factories import make_product
from tests.test_query_counts import counted

PASSWORD = "Queue-pass-1"


def _lock_is_free(db_file) -> bool:
    connection = sqlite3.connect(db_file, isolation_level=None, timeout=0)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


def test_registration_and_login_hash_with_no_write_transaction_open(migrated_sqlite, isolated_settings, monkeypatch):
    seen: list[bool] = []

    def watching_hash(password: str) -> str:
        seen.append(_lock_is_free(isolated_settings))
        return passwords.hash_password(password)

    def watching_verify(password: str, password_hash: str) -> bool:
        seen.append(_lock_is_free(isolated_settings))
        return passwords.verify_password(password, password_hash)

    monkeypatch.setattr(auth_state, "hash_password", watching_hash)
    monkeypatch.setattr("ecom_reflex.services.auth.verify_password", watching_verify)
    form = {"username": "queued", "email": "queued@example.com"}
    registered = asyncio.run(auth_state._register(form, PASSWORD, PASSWORD, {}, "192.0.2.1"))
    logged_in = asyncio.run(auth_state._login("queued", PASSWORD, {}, "192.0.2.1"))
    wrong = asyncio.run(auth_state._login("queued", "not-the-password", {}, "192.0.2.1"))

    assert registered.token and logged_in.token and not wrong.token
    assert seen == [True, True, True], "every hash and check ran with the write lock free"
    with session_scope() as session:
        user = session.exec(select(User).where(User.username == "queued")).one()
        assert len(session.exec(select(AuthSession).where(AuthSession.user_id == user.id)).all()) == 2


def test_merging_a_guest_cart_costs_the_same_for_1_or_50_lines(session):
    from tests.factories import make_user

    user = make_user(session, "merger")
    products = [make_product(session, f"Merge {n}", stock=10) for n in range(60)]
    session.commit()

    def statements_for(lines: int) -> int:
        session.exec(CartItem.__table__.delete())
        session.commit()
        with counted() as statements, session_scope(write=True) as scoped:
            cart.merge_guest_cart(scoped, {p.id: 1 for p in products[:lines]}, user.id)
        return len(statements)

    assert statements_for(1) == statements_for(50)
    with session_scope() as scoped:
        assert len(scoped.exec(select(CartItem).where(CartItem.user_id == user.id)).all()) == 50


def test_merge_notices_are_few_whatever_the_cart(session):
    from tests.factories import make_user

    user = make_user(session, "unlucky")
    sold_out = [make_product(session, f"Gone {n}", stock=0) for n in range(20)]
    session.commit()
    with session_scope(write=True) as scoped:
        notices = cart.merge_guest_cart(scoped, {p.id: 1 for p in sold_out}, user.id)
    assert notices == ["20 products from your cart could not be added as they were (sold out or gone)."]
