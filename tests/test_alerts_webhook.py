"""POST /alerts is bounded like a public endpoint: body read up to its cap, at most 100 alerts, each an
object, every refusal a 4xx that says why (the running shop: tests/security/test_alerts_webhook.py)."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.testclient import TestClient

from ecom_reflex.observability import alerts
from tests.conftest import reset_caches

TOKEN = "a-long-enough-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(monkeypatch):
    from ecom_reflex.ecom_reflex import api

    monkeypatch.setenv("ALERT_WEBHOOK_TOKEN", TOKEN)
    reset_caches()
    return TestClient(api)


def alert(**fields) -> dict:
    return {"status": "resolved", "labels": {"alertname": "ShopSlowEvents"}, "annotations": {}, **fields}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"alerts":[1]}', "alert 0 is not an object"),
        (b'{"alerts":[{}, "x"]}', "alert 1 is not an object"),
        (b'{"alerts":[{"labels":["alertname"]}]}', "alert 0: 'labels' and 'annotations' must be objects"),
        (b'{"alerts":[{"annotations":"down"}]}', "alert 0: 'labels' and 'annotations' must be objects"),
        (json.dumps({"alerts": [{}] * 101}).encode(), "at most 100 alerts a request (got 101)"),
        (b'{"alerts":"everything"}', alerts.EXPECTED),
        (b'[{"alerts":[]}]', alerts.EXPECTED),
        (b"[1]", alerts.EXPECTED),
        (b"null", alerts.EXPECTED),
        (b"not json", alerts.EXPECTED),
        (b"\xff\xfe{}", alerts.EXPECTED),
        (b"[" * 200_000 + b"]" * 200_000, alerts.EXPECTED),  # deeper than json can recurse
        (b'{"alerts":[], "n": ' + b"9" * 100_000 + b"}", alerts.EXPECTED),  # past int's digit limit
    ],
)
def test_a_body_that_is_not_grafanas_is_a_400_that_says_why(client, caplog, body, message):
    with caplog.at_level("INFO", logger="ecom_reflex.alerts"):
        response = client.post("/alerts", content=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json() == {"error": message}
    assert caplog.records == []  # nothing of a refused body is logged


def test_a_hundred_alerts_are_logged_with_each_text_cut_to_its_bound(client, caplog):
    many = [alert(status="firing", annotations={"description": "d" * 10_000, "summary": 7}) for _ in range(100)]
    with caplog.at_level("INFO", logger="ecom_reflex.alerts"):
        response = client.post("/alerts", json={"alerts": many}, headers=AUTH)
    assert response.status_code == 200 and response.json() == {"received": 100}
    assert len(caplog.records) == 100
    first = caplog.records[0]
    assert first.levelname == "WARNING" and first.getMessage() == "alert firing: ShopSlowEvents"
    assert first.description == "d" * alerts.MAX_FIELD_CHARS and first.summary == "7"


def test_an_alert_without_a_status_is_logged_as_such_not_as_resolved(client, caplog):
    with caplog.at_level("INFO", logger="ecom_reflex.alerts"):
        assert client.post("/alerts", json={"alerts": [{}]}, headers=AUTH).json() == {"received": 1}
    (line,) = caplog.records
    assert line.levelname == "INFO" and line.getMessage() == "alert without a status: ?"


def _post(chunks: list[bytes], headers: dict[str, str]) -> tuple[int, dict, int]:
    """(status, JSON answer, chunks the app pulled) of one POST /alerts sent chunk by chunk to the ASGI app."""
    from ecom_reflex.ecom_reflex import api

    pulled = 0
    sent: list[dict] = []

    async def receive() -> dict:
        nonlocal pulled
        if pulled == len(chunks):
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": chunks[pulled - 1], "more_body": pulled < len(chunks)}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http", "method": "POST", "path": "/alerts", "raw_path": b"/alerts", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()], "http_version": "1.1",
        "scheme": "http", "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 5000), "root_path": "",
    }  # fmt: skip
    asyncio.run(api(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], json.loads(body), pulled


def test_a_chunked_body_over_the_cap_is_refused_once_the_cap_is_passed_not_read_whole(client):
    chunk = b" " * 65_536
    chunks = [chunk] * 3200  # 200 MB, announced by no Content-Length
    status, answer, pulled = _post(chunks, AUTH)
    assert status == 413 and answer == {"error": f"body larger than {alerts.MAX_BODY_BYTES} bytes"}
    assert pulled == alerts.MAX_BODY_BYTES // len(chunk) + 1  # the first chunk past 1 MB, and no more


def test_a_content_length_over_the_cap_is_refused_before_a_byte_is_read(client):
    for declared in (str(alerts.MAX_BODY_BYTES + 1), "9" * 40):
        status, _, pulled = _post([b"{}"], {**AUTH, "Content-Length": declared})
        assert (status, pulled) == (413, 0)
    # A body that claims less than it sends is still cut at the cap.
    status, _, pulled = _post([b" " * 65_536] * 100, {**AUTH, "Content-Length": "2"})
    assert status == 413 and pulled == 17


def test_nothing_is_read_without_the_token(client):
    status, answer, pulled = _post([b" " * 65_536] * 100, {"Authorization": "Bearer wrong-token-of-some-length"})
    assert (status, answer, pulled) == (401, {"error": "unauthorized"}, 0)
