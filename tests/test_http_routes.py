"""/health and /metrics through the app's real Starlette routes."""

import pytest
from starlette.testclient import TestClient

from tests.conftest import reset_caches


@pytest.fixture
def client():
    from ecom_reflex.ecom_reflex import api

    return TestClient(api)


def test_health_ok_when_the_database_answers(migrated, client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


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
