"""Settings: defaults, and an invalid or missing value stops the process with one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from payment_gateway.settings import DEFAULT_LEDGER, PROJECT_ROOT, GatewaySettings, SettingsError, load_settings

KEY = "k" * 16


def run_gateway(**env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENT_")}
    return subprocess.run(
        [sys.executable, "-m", "payment_gateway"], env={**clean, **env}, cwd=PROJECT_ROOT, capture_output=True,
        text=True, timeout=30,
    )  # fmt: skip


def test_defaults(monkeypatch):
    monkeypatch.setenv("PAYMENT_API_KEY", KEY)
    settings = GatewaySettings(_env_file=None)
    assert (settings.payment_host, settings.payment_port, settings.payment_ledger) == (
        "127.0.0.1",
        8010,
        DEFAULT_LEDGER,
    )
    assert settings.fault_flags_file == PROJECT_ROOT / "monitoring" / "flagd" / "flags.json"
    assert settings.payment_log_file == PROJECT_ROOT / "logs" / "payments.json.log"
    assert not settings.tracing_enabled and settings.api_key == KEY


def test_an_empty_log_file_means_stdout_only(monkeypatch):
    monkeypatch.setenv("PAYMENT_LOG_FILE", "")
    assert GatewaySettings(_env_file=None, payment_api_key=KEY).payment_log_file is None


@pytest.mark.parametrize(
    ("env", "says"),
    [({}, "PAYMENT_API_KEY is required"), ({"PAYMENT_API_KEY": "short"}, "PAYMENT_API_KEY"),
     ({"PAYMENT_API_KEY": KEY, "PAYMENT_PORT": "http"}, "PAYMENT_PORT"),
     ({"PAYMENT_API_KEY": KEY, "PAYMENT_PORT": "70000"}, "PAYMENT_PORT"),
     ({"PAYMENT_API_KEY": KEY, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
     ({"PAYMENT_API_KEY": KEY, "OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT")],
)  # fmt: skip
def test_invalid_settings_exit_2_with_one_line(env, says):
    result = run_gateway(**env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], result.stderr
    assert "short" not in lines[0]  # the key is never echoed


def test_a_key_with_spaces_is_refused(monkeypatch):
    monkeypatch.setenv("PAYMENT_API_KEY", "a key with spaces inside")
    with pytest.raises(SettingsError, match=r"PAYMENT_API_KEY.*<hidden>"):
        load_settings()
