"""POST /alerts: Grafana's contact point. Each notified alert becomes one JSON log line.

That is how alerts reach someone without any external service: they land in the
logs (and so in Loki and the Logs dashboard). Off unless ALERT_WEBHOOK_TOKEN is set;
then only requests carrying it as a bearer token are accepted.

Bounded like any public endpoint, token or not (a leaked token must not freeze the shop):

- the body is read as it arrives and refused with 413 once it passes MAX_BODY_BYTES, whatever
  Content-Length says (a chunked body has none), so no more than that is ever held;
- at most MAX_ALERTS alerts a request, each an object whose labels and annotations are objects:
  anything else is a 400 saying what was wrong (never a 500);
- parsing and the log lines run in a thread, not on the event loop, and each line keeps at most
  MAX_FIELD_CHARS characters of any text the alert carries.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ecom_reflex.observability.access import bearer_refusal
from ecom_reflex.observability.bounded_body import read_body, too_large
from ecom_reflex.settings import get_settings

logger = logging.getLogger("ecom_reflex.alerts")
MAX_BODY_BYTES = 1024 * 1024
# Grafana sends one notification per alert group: a handful of alerts, far below this.
MAX_ALERTS = 100
# What a log line keeps of each text of an alert (a description is the longest a rule writes).
MAX_FIELD_CHARS = 1000
EXPECTED = "expected Grafana's webhook JSON: an object with an 'alerts' list"


class BadPayload(ValueError):
    """A body that is not what Grafana sends: its message is the 400's."""


def parse_alerts(body: bytes) -> list[dict]:
    """The alerts of Grafana's webhook JSON, or BadPayload saying what is wrong with it."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, a 5,000-digit number, nested too deep
        raise BadPayload(EXPECTED) from None
    if not isinstance(payload, dict) or not isinstance(notified := payload.get("alerts"), list):
        raise BadPayload(EXPECTED)
    if len(notified) > MAX_ALERTS:
        raise BadPayload(f"at most {MAX_ALERTS} alerts a request (got {len(notified)})")
    for number, alert in enumerate(notified):
        if not isinstance(alert, dict):
            raise BadPayload(f"alert {number} is not an object")
        if not all(isinstance(alert.get(part) or {}, dict) for part in ("labels", "annotations")):
            raise BadPayload(f"alert {number}: 'labels' and 'annotations' must be objects")
    return notified


def _text(value: object) -> str:
    return str(value)[:MAX_FIELD_CHARS]


def log_alerts(notified: list[dict]) -> None:
    """One log line per alert: WARNING for a firing one, INFO for any other status."""
    for alert in notified:
        labels, annotations = alert.get("labels") or {}, alert.get("annotations") or {}
        status = _text(alert.get("status", ""))
        firing = status == "firing"
        name = _text(labels.get("alertname", "?"))
        logger.log(
            logging.WARNING if firing else logging.INFO,
            f"alert {'firing' if firing else (status or 'without a status')[:20]}: {name}",
            extra={
                "action": "alert",
                "alertname": _text(labels.get("alertname", "")),
                "severity": _text(labels.get("severity", "")),
                "alert_status": status,
                "summary": _text(annotations.get("summary", "")),
                "description": _text(annotations.get("description", "")),
                "starts_at": _text(alert.get("startsAt", "")),
            },
        )


def _receive(body: bytes) -> int:
    notified = parse_alerts(body)
    log_alerts(notified)
    return len(notified)


async def alerts_webhook(request: Request) -> Response:
    token = get_settings().alert_webhook_token
    if token is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    if (refusal := bearer_refusal(request, token)) is not None:
        return refusal
    try:
        body = await read_body(request, MAX_BODY_BYTES)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is left to read it
    if body is None:
        return too_large(MAX_BODY_BYTES)
    try:
        # Off the event loop (in a copy of this context, so the lines keep the request's trace).
        received = await asyncio.to_thread(_receive, body)
    except BadPayload as problem:
        return JSONResponse({"error": str(problem)}, status_code=400)
    return JSONResponse({"received": received})
