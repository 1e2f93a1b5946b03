"""Every test gets its own SQLite file and fresh settings; nothing touches data/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from ecom_reflex import db, settings


def reset_caches() -> None:
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp database URL and no stray settings from the developer's environment or .env."""
    for name in (
        "PORT", "HOST", "ADMIN_USERNAME", "ADMIN_PASSWORD", "ADMIN_EMAIL", "SEED_DEMO_DATA", "ENVIRONMENT",
        "WORKERS", "REDIS_URL", "LOG_FILE", "LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
        "UPLOAD_DIR",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setitem(settings.Settings.model_config, "env_file", None)
    db_file = tmp_path / "shop.db"
    monkeypatch.setenv("DB_URL", f"sqlite:///{db_file}")
    reset_caches()
    yield db_file
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    reset_caches()


@pytest.fixture
def migrated() -> None:
    from ecom_reflex.cli import migrate

    migrate(settings.get_settings())


@pytest.fixture
def session(migrated: None) -> Iterator[Session]:
    with Session(db.get_engine(), expire_on_commit=False) as session:
        yield session
