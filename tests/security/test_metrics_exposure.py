"""Serving the network requires a metrics token: `cli serve` with a HOST beyond loopback and no
METRICS_TOKEN refuses to start, with one line saying why; METRICS_PUBLIC=true opts out."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ecom_reflex import cli
from ecom_reflex.settings import PROJECT_ROOT, Settings

TOKEN = "a-metrics-token-of-32-characters"


@pytest.fixture(autouse=True)
def _no_metrics_public(monkeypatch):
    monkeypatch.delenv("METRICS_PUBLIC", raising=False)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", "::ffff:127.0.0.1"]
)
def test_loopback_serves_without_a_token(host):
    settings = Settings(host=host)
    assert settings.host_is_loopback and settings.metrics_exposure_problem is None


@pytest.mark.parametrize(
    "host", ["0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "128.0.0.1", "shop.example.com", "localhost.example.com"]
)
def test_a_host_beyond_loopback_needs_a_token_or_an_explicit_opt_out(host):
    problem = Settings(host=host).metrics_exposure_problem
    assert problem is not None and f"HOST={host}" in problem and "METRICS_TOKEN" in problem and "\n" not in problem
    assert Settings(host=host, metrics_token=TOKEN).metrics_exposure_problem is None
    assert Settings(host=host, metrics_public=True).metrics_exposure_problem is None


def test_serve_on_the_network_without_a_token_exits_with_one_line_before_starting_anything():
    env = {key: value for key, value in os.environ.items() if key not in ("METRICS_TOKEN", "METRICS_PUBLIC")}
    result = subprocess.run(
        [sys.executable, "-m", "ecom_reflex.cli", "serve"],
        cwd=PROJECT_ROOT, env={**env, "HOST": "0.0.0.0"}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: HOST=0.0.0.0 serves the network, and without METRICS_TOKEN anyone who reaches it reads /metrics"
        " (revenue, orders, login failures): set METRICS_TOKEN (16 or more characters), or METRICS_PUBLIC=true"
        " to publish them"
    ]
    assert result.stdout == ""  # nothing started: no payment service, no "serving the shop on"


class _Started(Exception):
    pass


def _started(_settings):
    raise _Started


@pytest.mark.parametrize(
    "settings",
    [
        {"host": "0.0.0.0", "metrics_token": TOKEN},
        {"host": "0.0.0.0", "metrics_public": True},
        {"host": "127.0.0.1"},
    ],
)
def test_serve_goes_ahead_with_a_token_an_opt_out_or_loopback(monkeypatch, settings):
    monkeypatch.setattr(cli, "payment_service", _started)  # the first thing serve starts
    # What serve does to the process before it (the working directory, the umask) is undone after the test.
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setattr(os, "umask", lambda mask: 0o022)
    with pytest.raises(_Started):
        cli.serve(Settings(**settings))


def test_metrics_public_is_read_from_the_environment(monkeypatch):
    monkeypatch.setenv("METRICS_PUBLIC", "true")
    monkeypatch.setenv("HOST", "0.0.0.0")
    assert Settings().metrics_exposure_problem is None
