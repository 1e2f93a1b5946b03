"""The database engine, sessions and transactions: the only place that connects.

SQLite gets WAL (readers never block the writer), enforced foreign keys and a
busy timeout on every connection; other databases use their defaults.

SQLite transactions are begun by us, not by the driver, so that a writing
transaction can take the write lock up front (BEGIN IMMEDIATE) and queue for it
(busy timeout): a transaction that reads first and upgrades later would fail at
once under concurrent writers instead of waiting its turn. Every transaction
that writes therefore says so (`write=True`).

Concurrent writers queue and retry, they do not fail: `transaction()` runs a
unit of work again (a bounded number of times, with jittered back-off) when it
lost a race: SQLite still busy after the timeout, a PostgreSQL serialization
failure or deadlock. `failure_reason()` names what really failed, so a busy
database is never reported as an unreachable one.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlmodel import Session, create_engine
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from ecom_reflex import faults
from ecom_reflex.observability import metrics
from ecom_reflex.settings import get_settings

logger = logging.getLogger("ecom_reflex.db")
T = TypeVar("T")

# A write transaction holding the lock longer than this is logged: it makes every other writer wait.
SLOW_WRITE_SECONDS = 0.25
# Runs of one unit of work in all; the back-off between them is random (jitter), growing, capped.
TRANSACTION_ATTEMPTS = 4
RETRY_WAIT = wait_random_exponential(multiplier=0.05, max=1.0)

# SQLite result codes (the low byte of sqlite_errorcode) and PostgreSQL SQLSTATEs that mean
# "another transaction was in the way": run again. Anything else is not retried.
_SQLITE_BUSY = {5: "busy", 6: "busy"}  # SQLITE_BUSY, SQLITE_LOCKED
_SQLITE_UNREACHABLE = {10, 14, 26}  # SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_NOTADB
_PG_RETRYABLE = {"40001": "serialization", "40P01": "deadlock", "55P03": "busy"}
# Connection exceptions, operator intervention (shutdown), insufficient resources.
_PG_UNREACHABLE_CLASSES = ("08", "57", "53")


def _sqlite_pragmas(dbapi_connection, _record, busy_timeout_ms: int) -> None:
    dbapi_connection.isolation_level = None  # autocommit at driver level; _sqlite_begin starts transactions
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
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


def build_engine(db_url: str, busy_timeout_s: float = 15.0, threads: int = 32) -> Engine:
    """An engine with a connection for each of the `threads` that run database work."""
    url = make_url(db_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, pool_size=threads, max_overflow=4, pool_timeout=60
        )
        event.listen(engine, "connect", functools.partial(_sqlite_pragmas, busy_timeout_ms=busy_timeout_s * 1000))
        event.listen(engine, "begin", _sqlite_begin)
    else:
        # Pre-ping: a connection the server dropped (restart, failover) is replaced, not handed out.
        engine = create_engine(
            url,
            pool_pre_ping=True,
            pool_size=min(10, threads),
            max_overflow=max(4, threads - 10 + 4),
            pool_timeout=60,
            connect_args={"options": "-c timezone=UTC", "connect_timeout": 5},
        )
    # The databaseDelayMs fault flag: each statement of a transaction waits that long first.
    event.listen(engine, "before_cursor_execute", _delay_statement)
    return engine


def _delay_statement(*_args) -> None:
    faults.delay_statement()


@functools.cache
def get_engine() -> Engine:
    settings = get_settings()
    return build_engine(settings.db_url, settings.db_busy_timeout_seconds, settings.db_threads)


@contextmanager
def session_scope(*, write: bool = False) -> Iterator[Session]:
    """A session that commits when the block succeeds and rolls back when it raises.

    `write=True` for every transaction that writes: on SQLite it queues for the write
    lock at BEGIN, and holds it until the block ends, so the block does its reads and
    writes and nothing slow (no password hashing, no network). How long it held the
    lock is measured (db_write_transaction_seconds).
    """
    # Read once per transaction, not per statement: a fault flag's value for the whole of it.
    delay = faults.statement_delay_ms.set(int(faults.value("databaseDelayMs")))
    with Session(get_engine(), expire_on_commit=False) as session:
        locked_at = None
        if write:
            session.connection(execution_options={WRITE_OPTION: True})
            locked_at = time.perf_counter()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            if locked_at is not None:
                _held(time.perf_counter() - locked_at)
            faults.statement_delay_ms.reset(delay)


def _held(seconds: float) -> None:
    metrics.observe_write_transaction(seconds)
    if seconds > SLOW_WRITE_SECONDS:
        logger.warning(
            "a write transaction held the database for %.0f ms", seconds * 1000, extra={"duration_ms": seconds * 1000}
        )


def retry_reason(error: BaseException) -> str | None:
    """'busy', 'serialization' or 'deadlock' when `error` means another transaction was in the way."""
    if isinstance(error, PoolTimeoutError):
        return "busy"
    if not isinstance(error, DBAPIError):
        return None
    code = getattr(error.orig, "sqlite_errorcode", None)
    if code is not None:
        return _SQLITE_BUSY.get(code & 0xFF)
    return _PG_RETRYABLE.get(getattr(error.orig, "sqlstate", None) or "")


def _retrying(error: BaseException) -> bool:
    reason = retry_reason(error)
    if reason is not None:
        metrics.count_transaction_retry(reason)
    return reason is not None


def transaction(work: Callable[[Session], T], *, write: bool = False) -> T:
    """`work(session)` in one transaction, committed; run again when it lost a race to another writer.

    `work` may run more than once, so it changes nothing outside the session; what it
    returns is what the caller acts on once the transaction has committed.
    """
    retrying = Retrying(
        retry=retry_if_exception(_retrying),
        stop=stop_after_attempt(TRANSACTION_ATTEMPTS),
        wait=RETRY_WAIT,
        reraise=True,
    )
    for attempt in retrying:
        with attempt, session_scope(write=write) as session:
            return work(session)
    raise AssertionError("unreachable: tenacity re-raises the last failure")


def failure_reason(error: BaseException) -> str:
    """What really failed, as one of metrics.FAILURE_REASONS: busy is not unreachable."""
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if retry_reason(error) is not None:
        return "database_busy"
    if isinstance(error, (RedisConnectionError, RedisTimeoutError)):
        return "session_store_unreachable"
    if not isinstance(error, DBAPIError):
        return "error"
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return "database_unreachable"
    code = getattr(error.orig, "sqlite_errorcode", None)
    if code is not None:
        return "database_unreachable" if code & 0xFF in _SQLITE_UNREACHABLE else "database_error"
    sqlstate = getattr(error.orig, "sqlstate", None)
    if isinstance(error, OperationalError) and (sqlstate is None or sqlstate[:2] in _PG_UNREACHABLE_CLASSES):
        return "database_unreachable"
    return "database_error"


FAILURE_MESSAGES = {
    "database_busy": "The shop is very busy and could not save this in time. Nothing was changed; please try again.",
    "database_unreachable": (
        "The shop's database is not reachable right now. Nothing was changed; please try again in a moment."
    ),
    "session_store_unreachable": "The shop cannot reach its session store right now. Please try again in a moment.",
}


def failure_message(reason: str) -> str:
    """What the shopper is told for a failure_reason(): which part failed when we know, never a traceback."""
    return FAILURE_MESSAGES.get(reason, "Something went wrong. Please try again.")


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
