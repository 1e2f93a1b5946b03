"""The datasources, by fixed uid. Every panel and alert takes its datasource from here."""

from __future__ import annotations

from grafana_foundation_sdk.models.dashboard import DataSourceRef

PROMETHEUS_UID = "prometheus"
LOKI_UID = "loki"
TEMPO_UID = "tempo"

PROMETHEUS = DataSourceRef(type_val="prometheus", uid=PROMETHEUS_UID)
LOKI = DataSourceRef(type_val="loki", uid=LOKI_UID)
TEMPO = DataSourceRef(type_val="tempo", uid=TEMPO_UID)

# Grafana expands $VAR in provisioning files; $$ keeps a literal $ for Grafana's own ${...} variables.
_TRACE_LOGS_QUERY = '{service="$${__span.tags["service.name"]}"} | json | trace_id="$${__trace.traceId}"'


def provisioning() -> dict:
    """provisioning/datasources/datasources.yaml: metrics -> traces -> logs, linked both ways."""
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "type": "prometheus",
                "uid": PROMETHEUS_UID,
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "editable": False,
                "jsonData": {
                    "httpMethod": "POST",
                    # A latency bucket's exemplar opens its trace in Tempo.
                    # trace_id: the shop's own exemplars; traceID: those of Tempo's span metrics.
                    "exemplarTraceIdDestinations": [
                        {"name": "trace_id", "datasourceUid": TEMPO_UID},
                        {"name": "traceID", "datasourceUid": TEMPO_UID},
                    ],
                },
            },
            {
                "name": "Loki",
                "type": "loki",
                "uid": LOKI_UID,
                "access": "proxy",
                "url": "http://loki:3100",
                "editable": False,
                "jsonData": {
                    "maxLines": 1000,
                    # A log line's trace_id opens its trace in Tempo.
                    "derivedFields": [
                        {
                            "name": "TraceID",
                            "matcherType": "regex",
                            "matcherRegex": r'"trace_id":\s*"(\w+)"',
                            "datasourceUid": TEMPO_UID,
                            "url": "$${__value.raw}",
                            "urlDisplayLabel": "View trace",
                        }
                    ],
                },
            },
            {
                "name": "Tempo",
                "type": "tempo",
                "uid": TEMPO_UID,
                "access": "proxy",
                "url": "http://tempo:3200",
                "editable": False,
                "jsonData": {
                    # A span opens the log lines of its trace in Loki.
                    "tracesToLogsV2": {
                        "datasourceUid": LOKI_UID,
                        "spanStartTimeShift": "-5m",
                        "spanEndTimeShift": "5m",
                        "filterByTraceID": True,
                        "customQuery": True,
                        "query": _TRACE_LOGS_QUERY,
                        "tags": [{"key": "service.name", "value": "service"}],
                    },
                    # A span opens the app's latency and error metrics in Prometheus.
                    "tracesToMetrics": {
                        "datasourceUid": PROMETHEUS_UID,
                        "spanStartTimeShift": "-5m",
                        "spanEndTimeShift": "5m",
                        "queries": [
                            {
                                "name": "Event latency p95",
                                "query": "histogram_quantile(0.95, sum by (le) "
                                "(rate(reflex_event_duration_seconds_bucket[5m])))",
                            },
                            {
                                "name": "Event errors",
                                "query": 'sum(rate(reflex_event_duration_seconds_count{status="error"}[5m]))',
                            },
                            {
                                "name": "Payment service latency p95",
                                "query": "histogram_quantile(0.95, sum by (le, operation) "
                                '(rate(payment_gateway_request_duration_seconds_bucket{job="payments"}[5m])))',
                            },
                        ],
                    },
                    "serviceMap": {"datasourceUid": PROMETHEUS_UID},
                    "nodeGraph": {"enabled": True},
                    "lokiSearch": {"datasourceUid": LOKI_UID},
                    "search": {"hide": False},
                    "traceQuery": {"timeShiftEnabled": True, "spanStartTimeShift": "-1h", "spanEndTimeShift": "1h"},
                },
            },
        ],
    }
