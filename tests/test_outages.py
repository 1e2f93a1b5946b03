"""PostgreSQL or Redis going away at run time: /health names it, users get a clear message, and the
app recovers by itself when the server is back. Real servers, stopped and started for real."""

import pytest
import redis
from sqlmodel import select
from starlette.testclient import TestClient

from ecom_reflex.db import failure_message, failure_reason, session_scope
from ecom_reflex.models import Category
from testkit.servers import start_redis
from tests.conftest import reset_caches


@pytest.fixture
def client():
    from ecom_reflex.ecom_reflex import api

    return TestClient(api)


def test_postgres_outage_and_recovery(postgres, postgres_database, payment_service, client):
    assert client.get("/health").json() == {"status": "ok", "database": "ok", "payments": "ok"}
    with session_scope() as session:
        session.add(Category(name="Before", slug="before"))

    postgres.stop("fast")
    try:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["database"].startswith("unavailable (OperationalError")
        with pytest.raises(Exception) as failure, session_scope() as session:
            session.exec(select(Category)).all()
        assert failure_reason(failure.value) == "database_unreachable"
        assert "database is not reachable" in failure_message(failure_reason(failure.value))
    finally:
        postgres.start()

    # The pool notices the dead connections (pre-ping) and reconnects: no restart needed.
    assert client.get("/health").status_code == 200
    with session_scope() as session:
        assert [c.slug for c in session.exec(select(Category)).all()] == ["before"]


def test_redis_outage_and_recovery(redis_server, monkeypatch, client, migrated_sqlite, payment_service, tmp_path):
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    reset_caches()
    assert client.get("/health").json() == {"status": "ok", "database": "ok", "redis": "ok", "payments": "ok"}

    redis_server.stop()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json() == {
        "status": "error", "database": "ok", "redis": "unavailable (ConnectionError)", "payments": "ok"
    }  # fmt: skip
    with pytest.raises(redis.exceptions.ConnectionError) as failure:
        redis.Redis.from_url(redis_server.url, socket_connect_timeout=1).ping()
    assert failure_reason(failure.value) == "session_store_unreachable"
    assert "session store" in failure_message(failure_reason(failure.value))

    restarted = start_redis(tmp_path, redis_server.port)  # the same address, as after a restart
    try:
        assert client.get("/health").status_code == 200
    finally:
        restarted.stop()


def test_other_errors_get_a_generic_message():
    assert failure_reason(ValueError("x")) == "error"
    assert failure_message(failure_reason(ValueError("x"))) == "Something went wrong. Please try again."
