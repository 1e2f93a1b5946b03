"""Recording rules that keep the original Flask shop's documented queries working.

The original documented `flask_http_request_total` and `flask_http_request_exceptions_total`
(prometheus_flask_exporter). This shop answers HTTP requests and, over its websocket, Reflex
events; both are recorded under the old names, so saved queries and dashboards such as
`sum(rate(flask_http_request_total[5m]))` keep working. README "Queries of the original shop"
maps each one.
"""

from __future__ import annotations

GROUP = "original-shop-compat"


def recording_rules() -> dict:
    """monitoring/prometheus/rules/original-shop-compat.yml"""
    return {
        "groups": [
            {
                "name": GROUP,
                "rules": [
                    {
                        # Every request the shop answered: plain HTTP ones by method and status, and
                        # every event handler run (what the Flask shop served as requests) as
                        # method "EVENT", status 200 or 500.
                        "record": "flask_http_request_total",
                        "expr": 'sum by (job, method, status) (http_request_duration_seconds_count{job="shop"})'
                        # (Events are counted with status "ok" or "error": recorded as 200 and 500, so
                        # the original's status="200" and status=~"2.." find them.)
                        " or sum by (job, method, status) (label_replace(label_replace(label_replace("
                        'reflex_event_duration_seconds_count{job="shop"}, "method", "EVENT", "", ""),'
                        ' "status", "500", "status", "error"), "status", "200", "status", "ok"))',
                    },
                    {
                        # Requests that ended in an exception: failed event handlers and 5xx answers.
                        "record": "flask_http_request_exceptions_total",
                        "expr": 'sum by (job) (reflex_event_failures_total{job="shop"}'
                        ' or http_request_duration_seconds_count{job="shop", status=~"5.."})',
                    },
                ],
            }
        ]
    }
