"""Every test gets its own SQLite file and fresh settings; nothing touches data/."""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from ecom_reflex import db, settings
from payment_gateway.process import GatewayProcess, start_gateway
from testkit.servers import PostgresServer, RedisServer, free_port, start_postgres, start_redis


def reset_caches() -> None:
    from ecom_reflex import payments
    from ecom_reflex.services import throttling
    from ecom_reflex.services.catalog import forget_category_counts

    payments.forget()
    settings.get_settings.cache_clear()
    db.get_engine.cache_clear()
    forget_category_counts()
    throttling.forget()


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A temp database URL and no stray settings from the developer's environment or .env."""
    for name in (
        "PORT", "HOST", "ADMIN_USERNAME", "ADMIN_PASSWORD", "ADMIN_EMAIL", "SEED_DEMO_DATA", "ENVIRONMENT",
        "WORKERS", "REDIS_URL", "LOG_FILE", "LOG_LEVEL", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL",
        "UPLOAD_DIR", "TRUSTED_PROXIES", "LOGIN_ATTEMPTS_PER_ADDRESS", "LOGIN_ATTEMPTS_PER_ACCOUNT_AND_ADDRESS",
        "LOGIN_ATTEMPTS_PER_ACCOUNT", "REGISTRATIONS_PER_ADDRESS", "METRICS_TOKEN", "ALERT_WEBHOOK_TOKEN", "SMTP_URL",
        "MAIL_FROM", "PUBLIC_URL", "PASSWORD_RESETS_PER_ADDRESS", "PASSWORD_RESET_EMAILS_PER_RECIPIENT", "PAYMENT_PORT",
        "PAYMENT_LEDGER", "PAYMENT_HOLD_MINUTES", "PAYMENT_TIMEOUT_SECONDS", "PAYMENT_RETRIES",
        "PAYMENT_BREAKER_FAILURES", "PAYMENT_BREAKER_RESET_SECONDS", "PAYMENT_RECONCILE_SECONDS",
        "PAYMENT_ATTEMPTS_PER_ACCOUNT", "PAYMENT_ATTEMPTS_PER_ADDRESS", "PAYMENT_CURRENCY",
        "BROWSER_TRACE_SAMPLE_RATIO", "BROWSER_EXPORTS_PER_ADDRESS", "SERVICE_NAME", "OBSERVABILITY",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    # Nothing listens on the discard port: a test that needs the payment service asks for `payment_service`.
    monkeypatch.setenv("PAYMENT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("PAYMENT_API_KEY", "no-payment-service-here")
    monkeypatch.setitem(settings.Settings.model_config, "env_file", None)
    db_file = tmp_path / "shop.db"
    monkeypatch.setenv("DB_URL", f"sqlite:///{db_file}")
    reset_caches()
    yield db_file
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    reset_caches()


def migrate_current() -> None:
    from ecom_reflex.cli import migrate

    migrate(settings.get_settings())


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL cluster for the whole run, with a migrated template database."""
    # Not under pytest's tmp_path: its parents are private to root, and the server runs as postgres.
    workdir = Path(tempfile.mkdtemp(prefix="shop-postgres-"))
    server = start_postgres(workdir)
    try:
        server.execute("CREATE DATABASE shop_template")
        yield server
    finally:
        server.stop("immediate")
        shutil.rmtree(workdir, ignore_errors=True)


_template_ready = False
_database_counter = iter(range(1, 1_000_000))


@pytest.fixture
def postgres_database(postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh, migrated database for one test (a copy of the template: much faster than migrating)."""
    global _template_ready
    if not _template_ready:
        monkeypatch.setenv("DB_URL", postgres.url("shop_template"))
        reset_caches()
        migrate_current()
        db.get_engine().dispose()
        _template_ready = True
    name = f"test_{next(_database_counter)}"
    postgres.execute(f"CREATE DATABASE {name} TEMPLATE shop_template")
    monkeypatch.setenv("DB_URL", postgres.url(name))
    reset_caches()
    yield name
    db.get_engine().dispose()
    reset_caches()
    postgres.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated(request: pytest.FixtureRequest) -> str:
    """A migrated database; every test using it runs once on SQLite and once on PostgreSQL."""
    if request.param == "postgresql":
        request.getfixturevalue("postgres_database")
    else:
        migrate_current()
    return request.param


@pytest.fixture
def migrated_sqlite() -> None:
    """For the tests about SQLite itself (WAL, pragmas, sqlite_master)."""
    migrate_current()


@pytest.fixture
def session(migrated: None) -> Iterator[Session]:
    with Session(db.get_engine(), expire_on_commit=False) as session:
        yield session


@pytest.fixture(scope="session")
def payment_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The real payment service (payment_gateway/) for the whole run, on a free port with its own ledger
    and flag file (`.flags_file`, `.api_key`)."""
    workdir = tmp_path_factory.mktemp("payments")
    flags_file = workdir / "flags.json"
    shutil.copy(settings.PROJECT_ROOT / "monitoring" / "flagd" / "flags.json", flags_file)
    api_key = secrets.token_urlsafe(24)
    env = {
        "PAYMENT_PORT": str(free_port()), "PAYMENT_LEDGER": str(workdir / "ledger.db"), "PAYMENT_API_KEY": api_key,
        "PAYMENT_LOG_FILE": str(workdir / "payments.json.log"), "FAULT_FLAGS_FILE": str(flags_file),
    }  # fmt: skip
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT",):
        env[name] = ""
    gateway = start_gateway(env, workdir / "out.log")
    gateway.api_key, gateway.flags_file = api_key, flags_file
    yield gateway
    gateway.stop()


@pytest.fixture
def payment_service(payment_gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch) -> GatewayProcess:
    """The shop's settings point at the real payment service; short timeouts, one retry."""
    monkeypatch.setenv("PAYMENT_URL", payment_gateway.url)
    monkeypatch.setenv("PAYMENT_API_KEY", payment_gateway.api_key)
    monkeypatch.setenv("PAYMENT_TIMEOUT_SECONDS", "2")
    monkeypatch.setenv("PAYMENT_RETRIES", "1")
    reset_caches()
    return payment_gateway


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = start_redis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def log_file(tmp_path):
    """The shop's JSON logging configured into a file of this test's (taken down afterwards)."""
    import logging

    from ecom_reflex.observability import logging as obs_logging

    path = tmp_path / "logs" / "app.json.log"
    obs_logging.configure_logging("test-shop", "INFO", path)
    yield path
    for handler in list(logging.getLogger().handlers):
        if getattr(handler, obs_logging._HANDLER_MARK, False):
            logging.getLogger().removeHandler(handler)
            handler.close()
