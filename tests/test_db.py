import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from ecom_reflex.db import check_database, get_engine, session_scope
from ecom_reflex.models import Product


def test_sqlite_runs_in_wal_mode_with_foreign_keys(migrated_sqlite):
    with get_engine().connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_foreign_keys_are_enforced(migrated):
    with pytest.raises(IntegrityError), session_scope() as session:
        session.add(Product(name="Orphan", price_cents=100, stock=1, category_id=999))


def test_session_scope_rolls_back_on_error(session):
    from ecom_reflex.models import Category

    with pytest.raises(RuntimeError), session_scope() as scoped:
        scoped.add(Category(name="Temp", slug="temp"))
        scoped.flush()
        raise RuntimeError("boom")
    with session_scope() as scoped:
        assert scoped.get(Category, 1) is None


def test_check_database_reports_a_broken_database(tmp_path, monkeypatch):
    from tests.conftest import reset_caches

    assert check_database() is None
    # A directory where the database file should be: SQLite cannot open it.
    (tmp_path / "dir.db").mkdir()
    monkeypatch.setenv("DB_URL", f"sqlite:///{tmp_path / 'dir.db'}")
    reset_caches()
    assert check_database() == "OperationalError"


def _hold_write_lock(db_file, seconds: float):
    """Another program takes SQLite's write lock for `seconds` (in a thread); returns it once the lock is held."""
    import sqlite3
    import threading

    taken, done = threading.Event(), threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(db_file, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
        taken.set()
        done.wait(seconds)
        connection.rollback()
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    taken.wait(10)
    return thread, done


def _count(metric_name: str, **labels) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(metric_name, labels) or 0.0


def test_a_writer_queues_for_the_lock_and_retries_instead_of_failing(migrated_sqlite, isolated_settings, monkeypatch):
    from ecom_reflex import db
    from ecom_reflex.models import Category
    from tests.conftest import reset_caches

    # A busy timeout far shorter than the hold: the first attempts give up, a retry gets through.
    monkeypatch.setenv("DB_BUSY_TIMEOUT_SECONDS", "0.2")
    reset_caches()
    retries_before = _count("db_transaction_retries_total", reason="busy")
    holds_before = _count("db_write_transaction_seconds_count")
    thread, _ = _hold_write_lock(isolated_settings, 0.5)
    try:
        slug = db.transaction(lambda s: s.add(Category(name="Queued", slug="queued")) or "queued", write=True)
    finally:
        thread.join()
    assert slug == "queued"
    with session_scope() as session:
        assert [c.slug for c in session.exec(select(Category)).all()] == ["queued"]
    assert _count("db_transaction_retries_total", reason="busy") > retries_before
    assert _count("db_write_transaction_seconds_count") == holds_before + 1


def test_a_lock_held_past_every_retry_is_busy_not_unreachable(migrated_sqlite, isolated_settings, monkeypatch):
    from ecom_reflex import db
    from tests.conftest import reset_caches

    monkeypatch.setenv("DB_BUSY_TIMEOUT_SECONDS", "0.05")
    monkeypatch.setattr(db, "TRANSACTION_ATTEMPTS", 2)
    reset_caches()
    thread, release = _hold_write_lock(isolated_settings, 30)
    try:
        with pytest.raises(Exception) as failure:
            db.transaction(lambda s: None, write=True)
    finally:
        release.set()
        thread.join()
    assert db.failure_reason(failure.value) == "database_busy"
    assert "busy" in db.failure_message("database_busy")
    assert "not reachable" not in db.failure_message("database_busy")
    # Reads never waited: the database was reachable all along.
    assert check_database() is None


def test_work_that_fails_for_another_reason_is_not_retried(migrated_sqlite):
    from ecom_reflex import db

    calls = []

    def work(session):
        calls.append(1)
        raise ValueError("a bug, not a race")

    with pytest.raises(ValueError):
        db.transaction(work, write=True)
    assert len(calls) == 1


def test_postgres_lock_timeouts_are_retried_until_the_lock_is_free(postgres, postgres_database):
    """A PostgreSQL transaction that gave up waiting for a row lock (55P03) is run again, not failed."""
    import psycopg
    from sqlalchemy import text

    from ecom_reflex import db
    from ecom_reflex.models import Category

    with session_scope() as session:
        session.add(Category(name="Contended", slug="contended"))
    holder = psycopg.connect(postgres.url(postgres_database).replace("+psycopg", ""))
    holder.execute("SELECT * FROM categories WHERE slug = 'contended' FOR UPDATE")  # opens a transaction
    retries_before = _count("db_transaction_retries_total", reason="busy")
    calls = []

    def rename(session) -> None:
        calls.append(1)
        if len(calls) == 2:
            holder.rollback()  # the other writer finishes while we wait for our retry
        session.execute(text("SET LOCAL lock_timeout = '100ms'"))
        session.execute(text("UPDATE categories SET name = 'Renamed' WHERE slug = 'contended'"))

    try:
        db.transaction(rename, write=True)
    finally:
        holder.close()
    assert len(calls) == 2
    assert _count("db_transaction_retries_total", reason="busy") == retries_before + 1
    with session_scope() as session:
        assert session.exec(select(Category).where(Category.slug == "contended")).one().name == "Renamed"
