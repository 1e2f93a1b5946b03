"""`make stack-check`'s Prometheus half against a real Prometheus (Debian's) scraping the running shop.

The Grafana, Loki and Tempo half needs the compose stack (Docker): .github/workflows/stack.yml runs it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from e2e.fixtures import ARTIFACTS, ShopServer
from e2e.prometheus import Prometheus, start_prometheus
from ecom_reflex.settings import PROJECT_ROOT
from grafana_as_code.stack_check import expected_rules
from testkit.servers import free_port

RULE_FILES = tuple(sorted((PROJECT_ROOT / "monitoring" / "prometheus" / "rules").glob("*.yml")))


def stack_check(prometheus: Prometheus) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "grafana_as_code.stack_check", "--only", "prometheus",
         "--prometheus-url", prometheus.url],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def wait_for_first_scrape(prometheus: Prometheus) -> None:
    """Prometheus applies discovered targets every 5 s, then scrapes each: wait for one result of each."""
    deadline = time.monotonic() + 60
    while True:
        targets = prometheus.api("targets")["activeTargets"]
        if targets and all(target["health"] != "unknown" for target in targets):
            return
        assert time.monotonic() < deadline, "Prometheus did not scrape its targets"
        time.sleep(0.5)


@pytest.fixture
def started(tmp_path: Path):
    servers: list[Prometheus] = []

    def start(target: str, token: str, rule_files: tuple[Path, ...], name: str, payments: str | None = None):
        workdir = tmp_path / name
        workdir.mkdir()
        log = ARTIFACTS / f"stack-check-{name}.log"
        prometheus = start_prometheus(target, workdir, log, token, rule_files, payments=payments)
        servers.append(prometheus)
        wait_for_first_scrape(prometheus)
        return prometheus

    yield start
    for server in servers:
        server.stop()


def test_stack_check_passes_against_prometheus_scraping_the_shop_with_the_stacks_rules(
    shop_server: ShopServer, started
):
    payments = shop_server.payments.url.removeprefix("http://")
    prometheus = started(shop_server.address, shop_server.metrics_token, RULE_FILES, "healthy", payments)
    # Rules are evaluated every second: wait until each has been evaluated once.
    deadline = time.monotonic() + 30
    while any(
        rule.get("health") == "unknown"
        for group in prometheus.api("rules")["groups"]
        for rule in group["rules"]
    ):  # fmt: skip
        assert time.monotonic() < deadline
        time.sleep(0.5)

    result = stack_check(prometheus)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout
    assert f"1 up: {shop_server.address}" in result.stdout
    assert f"1 up: {payments}" in result.stdout
    assert f"{len(expected_rules())} loaded" in result.stdout
    assert "4 of 4 checks passed" in result.stdout


def test_stack_check_fails_on_a_shop_target_down_and_rules_missing(shop_server: ShopServer, started):
    # A shop target where nothing listens, no payment service target, and no rule files: each check must say so.
    nothing_there = f"127.0.0.1:{free_port()}"
    prometheus = started(nothing_there, shop_server.metrics_token, (), "broken")
    result = stack_check(prometheus)
    assert result.returncode == 1
    assert f"down: {nothing_there}" in result.stdout
    assert 'no target of job "payments"' in result.stdout
    assert "ShopScrapeTargetDown missing" in result.stdout and "flask_http_request_total missing" in result.stdout
    assert "1 of 4 checks passed" in result.stdout  # the stack's other jobs: none configured

    # A wrong token is a target down too (the shop's /metrics answers only Prometheus).
    prometheus = started(shop_server.address, "not-the-token", RULE_FILES, "wrong-token")
    result = stack_check(prometheus)
    assert result.returncode == 1 and f"down: {shop_server.address}" in result.stdout


def test_stack_check_says_when_no_mail_server_answers():
    # Mailpit itself needs the compose stack; without it the check must fail and say where it looked.
    closed = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "grafana_as_code.stack_check", "--only", "mail", "--mailpit-url", closed],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Mailpit" in result.stdout and "FAILED" in result.stdout and "ConnectError" in result.stdout
    assert "0 of 1 checks passed" in result.stdout
