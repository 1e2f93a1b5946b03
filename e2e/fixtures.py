"""One production build of the shop for the whole test session, driven by Debian's Chromium.

A pytest plugin (pyproject: `-p e2e.fixtures`), so that e2e/ and tests/security/ share one
running shop.

The app runs exactly as `make run` runs it (cli setup, then cli serve), on a free
port with a temporary database; its output goes to artifacts/e2e/server.log. It
exports its traces to a real OTLP/HTTP receiver hosted here, writes its JSON log
to artifacts/e2e/app.json.log, and a real Prometheus scrapes it when a test asks.
"""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from e2e.otlp_receiver import OtlpReceiver, start_receiver
from e2e.prometheus import start_prometheus
from ecom_reflex.cli import reflex_environment
from ecom_reflex.settings import PROJECT_ROOT
from payment_gateway.process import GatewayProcess, start_gateway
from testkit.servers import ShopProcess, free_port
from testkit.smtp import SmtpSink

ARTIFACTS = PROJECT_ROOT / "artifacts" / "e2e"
START_TIMEOUT_S = 600


@dataclass(frozen=True)
class ShopServer:
    url: str
    db_file: Path
    admin_username: str
    admin_password: str
    log_file: Path
    otlp: OtlpReceiver
    metrics_token: str
    # The shop's fault flags (a copy of monitoring/flagd/flags.json): e2e/helpers.fault_flag turns them on and off.
    flags_file: Path
    # The SMTP server the shop sends every e-mail to (SMTP_URL), in this process.
    smtp: SmtpSink
    # The payment service the shop pays through (PAYMENT_URL): a real process of its own, reading the
    # same flag file; pause()/resume() freeze it mid-payment.
    payments: GatewayProcess
    payments_api_key: str
    # The bearer token POST /alerts takes (ALERT_WEBHOOK_TOKEN), as Grafana's contact point sends it.
    alert_token: str = ""

    @property
    def address(self) -> str:
        return self.url.removeprefix("http://")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Unit tests first, then e2e/, then tests/security/ (which drives the running shop and Chromium
    as e2e/ does). Playwright keeps an event loop in the main thread once a browser test ran, and
    the unit tests' asyncio.run cannot share it; pytest would otherwise pull every browser test
    forward to the first one collected (tests/security/ sorts before tests/test_*.py)."""
    items.sort(key=lambda item: 2 if item.nodeid.startswith("tests/security/") else item.nodeid.startswith("e2e/"))


@pytest.fixture(scope="session")
def otlp_receiver():
    receiver = start_receiver()
    yield receiver
    receiver.stop()


@pytest.fixture(scope="session")
def smtp_server():
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def payments_server(tmp_path_factory: pytest.TempPathFactory, otlp_receiver: OtlpReceiver):
    """The payment service, started as `cli serve` starts it, with the shop's flag file and OTLP receiver."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workdir = tmp_path_factory.mktemp("payments")
    flags_file = workdir / "flags.json"
    shutil.copy(PROJECT_ROOT / "monitoring" / "flagd" / "flags.json", flags_file)
    api_key = secrets.token_urlsafe(24)
    log_file = ARTIFACTS / "payments.json.log"
    log_file.unlink(missing_ok=True)
    env = {
        "PAYMENT_PORT": str(free_port()), "PAYMENT_LEDGER": str(workdir / "ledger.db"), "PAYMENT_API_KEY": api_key,
        "PAYMENT_LOG_FILE": str(log_file), "FAULT_FLAGS_FILE": str(flags_file),
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp_receiver.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_BSP_SCHEDULE_DELAY": "200",
    }  # fmt: skip
    gateway = start_gateway(env, ARTIFACTS / "payments.out.log")
    gateway.api_key, gateway.flags_file, gateway.log_file = api_key, flags_file, log_file
    yield gateway
    gateway.stop()


@pytest.fixture(scope="session")
def shop_server(
    tmp_path_factory: pytest.TempPathFactory,
    otlp_receiver: OtlpReceiver,
    smtp_server: SmtpSink,
    payments_server: GatewayProcess,
):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    workdir = tmp_path_factory.mktemp("shop")
    db_file = workdir / "shop.db"
    log_file = ARTIFACTS / "app.json.log"
    log_file.unlink(missing_ok=True)
    port = free_port()
    admin_password = secrets.token_urlsafe(16)
    metrics_token = secrets.token_urlsafe(24)
    alert_token = secrets.token_urlsafe(24)
    # One flag file for the shop and its payment service, as in the compose stack.
    flags_file = payments_server.flags_file
    env = reflex_environment()
    env.update(
        DB_URL=f"sqlite:///{db_file}",
        HOST="127.0.0.1",
        PORT=str(port),
        ADMIN_USERNAME="admin",
        ADMIN_PASSWORD=admin_password,
        UPLOAD_DIR=str(workdir / "uploads"),
        LOG_FILE=str(log_file),
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        # Export within a fraction of a second instead of every 5 s, so tests need not wait.
        OTEL_BSP_SCHEDULE_DELAY="200",
        LOW_STOCK_REFRESH_SECONDS="1",
        # Tests come from loopback and say, as a proxy would, which address each client has
        # (X-Forwarded-For): every test is a shopper of its own to the per-address throttles.
        TRUSTED_PROXIES="127.0.0.1",
        METRICS_TOKEN=metrics_token,
        ALERT_WEBHOOK_TOKEN=alert_token,
        FAULT_FLAGS_FILE=str(flags_file),
        SMTP_URL=smtp_server.url,
        MAIL_FROM="Reflex Shop <shop@shop.test>",
        PUBLIC_URL=f"http://127.0.0.1:{port}",
        # E-mails leave within a fraction of a second, and a refused one is tried again soon.
        EMAIL_POLL_SECONDS="0.2",
        EMAIL_RETRY_SECONDS="0.5",
        PAYMENT_URL=payments_server.url,
        PAYMENT_API_KEY=payments_server.api_key,
        # A frozen service is noticed within a few seconds, and the reconciler asks again twice a second.
        PAYMENT_TIMEOUT_SECONDS="2",
        PAYMENT_RECONCILE_SECONDS="0.5",
        PAYMENT_BREAKER_RESET_SECONDS="5",
    )
    log_path = ARTIFACTS / "server.log"
    log_path.write_text("")
    shop = ShopProcess(PROJECT_ROOT, env, log_path)
    try:
        try:
            shop.setup()
            shop.start(START_TIMEOUT_S)
        except RuntimeError as error:
            pytest.fail(str(error))
        yield ShopServer(
            url=shop.url,
            db_file=db_file,
            admin_username="admin",
            admin_password=admin_password,
            log_file=log_file,
            otlp=otlp_receiver,
            metrics_token=metrics_token,
            flags_file=flags_file,
            smtp=smtp_server,
            payments=payments_server,
            payments_api_key=payments_server.api_key,
            alert_token=alert_token,
        )
    finally:
        shop.stop()


@pytest.fixture(scope="session")
def prometheus(shop_server: ShopServer, tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("prometheus")
    server = start_prometheus(shop_server.address, workdir, ARTIFACTS / "prometheus.log", shop_server.metrics_token)
    yield server
    server.stop()
