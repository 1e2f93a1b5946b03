"""The real process: start it with start_gateway, pay over HTTP, pause and resume it, stop it for good."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import httpx
import pytest

from payment_gateway.process import GatewayStartError, start_gateway
from tests.payment_gateway.conftest import API_KEY, GOOD_CARD, write_flags


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    flags = tmp_path / "flags.json"
    write_flags(flags)
    return {
        "PAYMENT_API_KEY": API_KEY, "PAYMENT_PORT": str(free_port()), "PAYMENT_LEDGER": str(tmp_path / "p.db"),
        "FAULT_FLAGS_FILE": str(flags), "PAYMENT_LOG_FILE": str(tmp_path / "payments.json.log"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }  # fmt: skip


def test_the_real_process_pays_pauses_resumes_and_stops(env, tmp_path):
    gateway = start_gateway(env, tmp_path / "gateway.out")
    try:
        assert gateway.url == f"http://127.0.0.1:{env['PAYMENT_PORT']}"
        assert gateway.ledger == tmp_path / "p.db" and gateway.ledger.exists()
        auth = {"Authorization": f"Bearer {API_KEY}"}
        with httpx.Client(base_url=gateway.url, headers=auth, timeout=30) as http:
            paid = http.post(
                "/v1/payment_intents",
                json={"amount": 4200, "currency": "eur", "reference": "o-1", "confirm": True, "card": GOOD_CARD},
                headers={"Idempotency-Key": "order-1"},
            )
            assert paid.status_code == 200 and paid.json()["status"] == "succeeded"
            assert http.get("/health").json() == {"status": "ok", "ledger": "ok"}
            metrics = http.get("/metrics").text
            assert 'payment_gateway_payments_total{outcome="succeeded"} 1.0' in metrics

            gateway.pause()
            answers: list[httpx.Response] = []
            reader = threading.Thread(
                target=lambda: answers.append(http.get(f"/v1/payment_intents/{paid.json()['id']}"))
            )
            reader.start()
            reader.join(0.5)
            assert reader.is_alive() and not answers  # frozen: the request waits
            gateway.resume()
            reader.join(10)
            assert answers and answers[0].status_code == 200 and answers[0].json()["status"] == "succeeded"
        log_lines = (tmp_path / "payments.json.log").read_text()
        assert '"payment succeeded"' in log_lines and "4242424242424242" not in log_lines
    finally:
        code = gateway.stop()
    # Graceful: uvicorn finishes its shutdown, then ends by the SIGTERM it received (so -15, not 0).
    assert code in (0, -15)
    assert "Application shutdown complete." in (tmp_path / "gateway.out").read_text()
    assert gone(gateway.pid) and not gateway.running


def test_a_paused_process_still_stops(env, tmp_path):
    gateway = start_gateway(env, tmp_path / "gateway.out")
    gateway.pause()
    gateway.stop(timeout_s=10)
    assert gone(gateway.pid)


def test_start_fails_clearly_without_a_key(env, tmp_path):
    env["PAYMENT_API_KEY"] = ""
    with pytest.raises(GatewayStartError, match="PAYMENT_API_KEY"):
        start_gateway(env, tmp_path / "gateway.out", timeout_s=30)


def test_start_refuses_a_port_already_taken(env, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        env["PAYMENT_PORT"] = str(taken.getsockname()[1])
        with pytest.raises(GatewayStartError, match="already in use"):
            start_gateway(env, tmp_path / "gateway.out")
