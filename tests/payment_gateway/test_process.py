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


def test_spans_reach_an_otlp_receiver_with_the_callers_trace(env, tmp_path):
    """A real OTLP/HTTP endpoint (a small server decoding ExportTraceServiceRequest) receives the gateway's spans."""
    import gzip
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    received: list[tuple[str, str, dict]] = []

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                raw = gzip.decompress(raw)
            request = ExportTraceServiceRequest.FromString(raw)
            for resource_spans in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        attributes = {a.key: a.value for a in span.attributes}
                        received.append((service, span.name, {"trace_id": span.trace_id.hex(), **attributes}))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    try:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{server.server_address[1]}"
        gateway = start_gateway(env, tmp_path / "gateway.out")
        try:
            response = httpx.post(
                f"{gateway.url}/v1/payment_intents",
                json={"amount": 4200, "currency": "eur", "reference": "o-1", "confirm": True, "card": GOOD_CARD},
                headers={"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "order-1",
                         "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"},
            )  # fmt: skip
            assert response.status_code == 200
        finally:
            gateway.stop()  # the lifespan flushes the batch on the way out
    finally:
        server.shutdown()
        server.server_close()
    charges = [span for service, name, span in received if name == "payment.charge" and service == "payment-gateway"]
    assert len(charges) == 1 and charges[0]["trace_id"] == trace_id
    assert charges[0]["payment.outcome"].string_value == "succeeded"
    assert any(name == "POST /v1/payment_intents" for _, name, _ in received)
    assert "4242424242424242" not in (tmp_path / "gateway.out").read_text()
