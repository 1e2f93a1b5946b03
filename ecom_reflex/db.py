"""The database engine and sessions: the only place that connects.

SQLite gets WAL (readers never block the writer), enforced foreign keys and a
busy timeout on every connection; other databases use their defaults.

SQLite transactions are begun by us, not by the driver, so that a writing
transaction can take the write lock up front (BEGIN IMMEDIATE): a transaction
that reads first and upgrades later fails at once under concurrent writers
instead of waiting its turn.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlmodel import Session, create_engine

from ecom_reflex.settings import get_settings


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # autocommit at driver level; _sqlite_begin starts transactions
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


WRITE_OPTION = "sqlite_begin_immediate"


def _sqlite_begin(connection) -> None:
    if connection.get_execution_options().get(WRITE_OPTION, False):
        # Through SQLAlchemy, so it is a traced statement: its span shows the wait for the lock.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        # A deferred BEGIN takes no lock and cannot wait; straight to the driver, it costs
        # no SQLAlchemy execution and no span (one on every read was a sixth of all spans).
        connection.connection.driver_connection.execute("BEGIN")


def build_engine(db_url: str) -> Engine:
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    # Pre-ping: a connection the server dropped (restart, failover) is replaced, not handed out.
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        connect_args={"options": "-c timezone=UTC", "connect_timeout": 5},
    )


@functools.cache
def get_engine() -> Engine:
    return build_engine(get_settings().db_url)


@contextmanager
def session_scope(*, write: bool = False) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises.

    `write=True` for a transaction that must see and change rows atomically
    (checkout, stock changes): on SQLite it holds the write lock from the start.
    """
    with Session(get_engine(), expire_on_commit=False) as session:
        if write:
            session.connection(execution_options={WRITE_OPTION: True})
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def check_redis(redis_url: str) -> str | None:
    """None when Redis answers PING, else a short reason (for /health)."""
    import redis

    try:
        client = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as error:  # any failure means "not healthy"
        return type(error).__name__
    return None


def check_database() -> str | None:
    """None when the database answers a query, else a short reason (for /health)."""
    try:
        with get_engine().connect() as connection:
            connection.exec_driver_sql("SELECT 1")
    except Exception as error:
        return type(error).__name__
    return None
