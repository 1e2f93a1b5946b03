"""/health and /metrics through the app's real Starlette routes."""

import pytest
from starlette.testclient import TestClient

from tests.conftest import reset_caches


@pytest.fixture
def client():
    from ecom_reflex.ecom_reflex import api

    return TestClient(api)


def test_health_ok_when_the_database_and_the_payment_service_answer(migrated, payment_service, client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "payments": "ok"}


def test_health_503_names_the_payment_service_when_it_does_not_answer(migrated, client):
    # tests/conftest.py points PAYMENT_URL at a port where nothing listens.
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error", "database": "ok", "payments": "unavailable (unreachable (ConnectError))"
    }  # fmt: skip


def test_health_503_names_the_database_when_it_fails(client, tmp_path, monkeypatch):
    (tmp_path / "broken.db").mkdir()
    monkeypatch.setenv("DB_URL", f"sqlite:///{tmp_path / 'broken.db'}")
    reset_caches()
    response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["database"].startswith("unavailable")


def test_metrics_exposes_prometheus_text(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "process_cpu_seconds_total" in response.text or "python_info" in response.text


def _body_reading_app():
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    async def read(request):
        return PlainTextResponse(str(len(await request.body())))

    return Starlette(routes=[Route("/_upload", read, methods=["POST"]), Route("/other", read, methods=["POST"])])


def test_uploads_are_capped_before_anyone_reads_them():
    from ecom_reflex.ecom_reflex import MAX_UPLOAD_REQUEST_BYTES, limit_upload_size

    client = TestClient(limit_upload_size(_body_reading_app()))
    small = client.post("/_upload", content=b"x" * 1000)
    assert small.status_code == 200 and small.text == "1000"
    assert client.post("/_upload", content=b"x" * (MAX_UPLOAD_REQUEST_BYTES + 1)).status_code == 413

    # Without a Content-Length (chunked), the bytes are counted as they arrive.
    def chunks():
        for _ in range(40):
            yield b"x" * 100_000

    assert client.post("/_upload", content=chunks()).status_code == 413
    # Other routes are not limited by this.
    assert client.post("/other", content=b"x" * (MAX_UPLOAD_REQUEST_BYTES + 1)).status_code == 200


GRAFANA_PAYLOAD = {
    "status": "firing",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "ShopSlowEvents", "severity": "warning"},
            "annotations": {"summary": "Shop events are slow", "description": "p95 is 1.7 seconds"},
            "startsAt": "2026-11-24T10:00:00Z",
        },
        {"status": "resolved", "labels": {"alertname": "ShopScrapeTargetDown"}, "annotations": {}},
    ],
}


def test_alerts_webhook_is_off_without_a_token(client):
    assert client.post("/alerts", json=GRAFANA_PAYLOAD).status_code == 404


def test_alerts_webhook_logs_each_alert(client, monkeypatch, caplog):
    monkeypatch.setenv("ALERT_WEBHOOK_TOKEN", "a-long-enough-token")
    reset_caches()
    assert client.post("/alerts", json=GRAFANA_PAYLOAD).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token-at-all"}
    assert client.post("/alerts", json=GRAFANA_PAYLOAD, headers=wrong).status_code == 401
    right = {"Authorization": "Bearer a-long-enough-token"}
    assert client.post("/alerts", content=b"not json", headers=right).status_code == 400
    with caplog.at_level("INFO", logger="ecom_reflex.alerts"):
        response = client.post("/alerts", json=GRAFANA_PAYLOAD, headers=right)
    assert response.status_code == 200 and response.json() == {"received": 2}
    firing, resolved = caplog.records
    assert firing.levelname == "WARNING" and firing.getMessage() == "alert firing: ShopSlowEvents"
    assert firing.description == "p95 is 1.7 seconds" and firing.severity == "warning"
    assert resolved.levelname == "INFO" and resolved.getMessage() == "alert resolved: ShopScrapeTargetDown"
