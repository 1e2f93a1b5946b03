import os
import subprocess
import sys

import pytest

from ecom_reflex.settings import PROJECT_ROOT, SettingsError, get_settings


def test_defaults_are_laptop_friendly(monkeypatch):
    monkeypatch.delenv("DB_URL")
    get_settings.cache_clear()
    current = get_settings()
    assert current.port == 8000
    assert current.host == "127.0.0.1"
    assert current.admin_username == "admin"
    assert current.admin_password is None
    assert current.is_sqlite
    assert current.db_url.endswith("data/shop.db")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("PORT", "eighty", "PORT"),
        ("PORT", "70000", "PORT"),
        ("DB_URL", "not a url", "DB_URL"),
        ("DB_URL", "mysql://u:p@localhost/shop", "DB_URL"),
        ("ADMIN_USERNAME", "a b", "ADMIN_USERNAME"),
        ("SEED_DEMO_DATA", "maybe", "SEED_DEMO_DATA"),
    ],
)
def test_invalid_setting_names_the_setting(monkeypatch, name, value, expected):
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as error:
        get_settings()
    message = str(error.value)
    assert message.startswith(f"invalid setting {expected}:")
    assert "\n" not in message


def test_a_rejected_password_is_never_echoed(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "short7!")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as error:
        get_settings()
    assert "ADMIN_PASSWORD" in str(error.value)
    assert "short7!" not in str(error.value)


def test_empty_admin_password_means_unset(monkeypatch):
    monkeypatch.setenv("ADMIN_PASSWORD", "")
    get_settings.cache_clear()
    assert get_settings().admin_password is None


@pytest.mark.parametrize("command", ["setup", "serve"])
def test_entry_points_stop_with_one_clear_line(command):
    env = {**os.environ, "PORT": "abc"}
    result = subprocess.run(
        [sys.executable, "-m", "ecom_reflex.cli", command],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: invalid setting PORT: Input should be a valid integer, unable to parse string as an integer (got 'abc')"
    ]
    assert "Traceback" not in result.stderr


def test_workers_need_redis(monkeypatch):
    monkeypatch.setenv("WORKERS", "2")
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match="invalid setting WORKERS: more than 1 worker needs REDIS_URL"):
        get_settings()
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    get_settings.cache_clear()
    assert get_settings().workers == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_invalid_observability_settings(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with pytest.raises(SettingsError, match=f"invalid setting {name}"):
        get_settings()


def test_tracing_is_off_without_an_endpoint(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    get_settings.cache_clear()
    assert not get_settings().tracing_enabled


def test_a_password_in_a_url_is_never_echoed(monkeypatch):
    monkeypatch.setenv("DB_URL", "mysql://shop:s3cr3t-pw@db.example:3306/shop")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as error:
        get_settings()
    assert "s3cr3t-pw" not in str(error.value) and "shop:***@db.example" in str(error.value)


def test_plain_postgresql_urls_use_psycopg_3(monkeypatch):
    monkeypatch.setenv("DB_URL", "postgresql://shop:pw@127.0.0.1:5432/shop")
    get_settings.cache_clear()
    assert get_settings().db_url == "postgresql+psycopg://shop:pw@127.0.0.1:5432/shop"


@pytest.mark.parametrize(
    ("old", "new"),
    [("LOGIN_FAILURES_PER_ACCOUNT", "LOGIN_ATTEMPTS_PER_ACCOUNT"),
     ("PASSWORD_RESETS_PER_ACCOUNT", "PASSWORD_RESET_EMAILS_PER_RECIPIENT")],
)  # fmt: skip
def test_a_renamed_limit_left_in_the_environment_is_refused_with_its_new_name(monkeypatch, old, new):
    monkeypatch.setenv(old, "1 per minute")
    get_settings.cache_clear()
    with pytest.raises(SettingsError) as error:
        get_settings()
    assert str(error.value) == f"invalid settings: {old} is now {new} (it counts what it says): rename it"
