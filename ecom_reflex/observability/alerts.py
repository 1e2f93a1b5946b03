"""POST /alerts: Grafana's contact point. Each notified alert becomes one JSON log line.

That is how alerts reach someone without any external service: they land in the
logs (and so in Loki and the Logs dashboard). Off unless ALERT_WEBHOOK_TOKEN is set;
then only requests carrying it as a bearer token are accepted.
"""

from __future__ import annotations

import json
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ecom_reflex.observability.access import bearer_refusal
from ecom_reflex.settings import get_settings

logger = logging.getLogger("ecom_reflex.alerts")
MAX_BODY_BYTES = 1024 * 1024


async def alerts_webhook(request: Request) -> Response:
    token = get_settings().alert_webhook_token
    if token is None:
        return JSONResponse({"error": "not found"}, status_code=404)
    if (refusal := bearer_refusal(request, token)) is not None:
        return refusal
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return JSONResponse({"error": "too large"}, status_code=413)
    try:
        payload = json.loads(body)
        notified = payload["alerts"]
        assert isinstance(notified, list)
    except (ValueError, KeyError, TypeError, AssertionError):
        return JSONResponse({"error": "expected Grafana's webhook JSON with an 'alerts' list"}, status_code=400)
    for alert in notified:
        labels, annotations = alert.get("labels") or {}, alert.get("annotations") or {}
        firing = alert.get("status") == "firing"
        logger.log(
            logging.WARNING if firing else logging.INFO,
            f"alert {'firing' if firing else 'resolved'}: {labels.get('alertname', '?')}",
            extra={
                "action": "alert",
                "alertname": str(labels.get("alertname", "")),
                "severity": str(labels.get("severity", "")),
                "alert_status": str(alert.get("status", "")),
                "summary": str(annotations.get("summary", "")),
                "description": str(annotations.get("description", "")),
                "starts_at": str(alert.get("startsAt", "")),
            },
        )
    return JSONResponse({"received": len(notified)})
