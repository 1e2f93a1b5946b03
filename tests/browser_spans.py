"""Browser spans as reflex-otel's bundle exports them to POST /otlp/v1/traces: OTLP/JSON with hex ids."""

from __future__ import annotations

import json
import secrets

from ecom_reflex.observability.browser_bundle import frontend_service_name

FRONTEND = frontend_service_name("ecom-shop")
# A click's time: sent at T0, answered 0.25 s later.
T0 = 1_770_000_000_000_000_000
QUARTER_SECOND_NS = 250_000_000


def value(raw: object) -> dict:
    """An OTLP/JSON AnyValue, as @opentelemetry/otlp-transformer writes it (integers as intValue)."""
    if isinstance(raw, bool):
        return {"boolValue": raw}
    if isinstance(raw, int):
        return {"intValue": str(raw)}
    if isinstance(raw, float):
        return {"doubleValue": raw}
    return {"stringValue": raw}


def span(name: str, attributes: dict, *, trace_id: str | None = None, duration_ns: int = 0, **fields) -> dict:
    return {
        "traceId": trace_id or secrets.token_hex(16),
        "spanId": secrets.token_hex(8),
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(T0),
        "endTimeUnixNano": str(T0 + duration_ns),
        "attributes": [{"key": key, "value": value(raw)} for key, raw in attributes.items()],
        **fields,
    }


def web_vital(vital: str, raw: float, rating: str, path: str = "/") -> dict:
    return span(
        f"web_vital.{vital}",
        {"url.path": path, "web_vital.name": vital, "web_vital.value": raw, "web_vital.rating": rating},
    )


def ui_answer(event: str, path: str = "/", trace_id: str | None = None) -> dict:
    return span(
        "ui.answer",
        {"url.path": path, "reflex.event.name": event},
        trace_id=trace_id,
        duration_ns=QUARTER_SECOND_NS,
        parentSpanId=secrets.token_hex(8),
    )


def export(spans: list[dict], service: str = FRONTEND) -> dict:
    """An ExportTraceServiceRequest of `spans`, from one resource with `service` as its service.name."""
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
                "scopeSpans": [{"scope": {"name": "reflex", "version": "0.2.0"}, "spans": spans}],
            }
        ]
    }


def body(spans: list[dict], service: str = FRONTEND) -> bytes:
    return json.dumps(export(spans, service)).encode()
