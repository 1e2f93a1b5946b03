import pytest
from sqlalchemy.exc import IntegrityError

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
