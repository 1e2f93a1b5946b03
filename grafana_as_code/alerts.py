"""Alert rules, defined once and rendered twice.

- For Prometheus (monitoring/prometheus/rules/shop-alerts.yml): evaluated there, checked and
  unit-tested with promtool (monitoring/prometheus/tests/), shown in Grafana's alert list.
- For Grafana (provisioning/alerting/): Grafana evaluates the same expressions and notifies
  through the contact point below, a webhook into the shop itself (POST /alerts), which writes
  every notification as a JSON log line: it works without any external service.

Each rule's runbook is a section of the README ("Runbooks").
"""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import alerting, prometheus
from grafana_foundation_sdk.builders import expr as expressions
from grafana_foundation_sdk.models.alerting import RelativeTimeRange
from grafana_foundation_sdk.models.dashboard import DataSourceRef
from grafana_foundation_sdk.models.expr import ExprTypeThresholdConditions, ExprTypeThresholdConditionsEvaluator

from grafana_as_code import FOLDER
from grafana_as_code.datasources import PROMETHEUS, PROMETHEUS_UID

CONTACT_POINT = "shop-webhook"
RULE_GROUP = "shop"
# Runbooks are sections of the repository README.
RUNBOOK_BASE = "README.md#runbook-"
OPERATORS = {">": "gt", "<": "lt"}


@dataclass(frozen=True)
class AlertRule:
    uid: str
    title: str
    # PromQL giving the value the threshold applies to (one series).
    value: str
    operator: str
    threshold: float
    for_: str
    severity: str
    summary: str
    # {value} is replaced by each renderer's own template of the current value.
    description: str

    @property
    def prometheus_expr(self) -> str:
        return f"{self.value} {self.operator} {self.threshold:g}"

    @property
    def runbook_url(self) -> str:
        return RUNBOOK_BASE + self.uid


RULES = (
    AlertRule(
        uid="shop-high-error-ratio",
        title="ShopHighErrorRatio",
        value='sum(rate(reflex_event_duration_seconds_count{job="shop", status="error"}[5m]))'
        ' / sum(rate(reflex_event_duration_seconds_count{job="shop"}[5m]))',
        operator=">",
        threshold=0.05,
        for_="5m",
        severity="critical",
        summary="More than 5% of shop events fail",
        description="{value} of event handler runs failed over the last 5 minutes (threshold 5%).",
    ),
    AlertRule(
        uid="shop-slow-events",
        title="ShopSlowEvents",
        value='histogram_quantile(0.95, sum by (le) (rate(reflex_event_duration_seconds_bucket{job="shop"}[5m])))',
        operator=">",
        threshold=1,
        for_="10m",
        severity="warning",
        summary="Shop events are slow (p95 over 1 s)",
        description="The 95th percentile of event handler time is {value} seconds (threshold 1 s).",
    ),
    AlertRule(
        uid="shop-login-failure-spike",
        title="ShopLoginFailureSpike",
        value='sum(rate(ecommerce_user_logins_total{job="shop", status=~"failure|throttled"}[5m])) * 60',
        operator=">",
        threshold=10,
        for_="2m",
        severity="warning",
        summary="Many failed logins: possible brute force",
        description="{value} failed or throttled logins per minute over 5 minutes (threshold 10).",
    ),
    AlertRule(
        uid="shop-checkout-failures",
        title="ShopCheckoutFailures",
        value='sum(increase(ecommerce_checkout_failures_total{job="shop", reason=~"out_of_stock|error"}[15m]))',
        operator=">",
        threshold=5,
        for_="5m",
        severity="warning",
        summary="Checkouts are failing",
        description="{value} checkouts failed for stock or errors in the last 15 minutes (threshold 5).",
    ),
    AlertRule(
        uid="shop-target-down",
        title="ShopScrapeTargetDown",
        value='min(up{job="shop"})',
        operator="<",
        threshold=1,
        for_="1m",
        severity="critical",
        summary="Prometheus cannot scrape the shop",
        description="The shop's /metrics has not answered for a minute (up = {value}).",
    ),
)


def prometheus_rules() -> dict:
    """monitoring/prometheus/rules/shop-alerts.yml"""
    return {
        "groups": [
            {
                "name": RULE_GROUP,
                "rules": [
                    {
                        "alert": rule.title,
                        "expr": rule.prometheus_expr,
                        "for": rule.for_,
                        "labels": {"severity": rule.severity, "service": "shop"},
                        "annotations": {
                            "summary": rule.summary,
                            "description": rule.description.format(value="{{ $value | humanize }}"),
                            "runbook_url": rule.runbook_url,
                        },
                    }
                    for rule in RULES
                ],
            }
        ]
    }


def _grafana_rule(rule: AlertRule) -> alerting.Rule:
    value = (
        alerting.Query("A")
        .datasource_uid(PROMETHEUS_UID)
        .relative_time_range(RelativeTimeRange(from_val=600, to=0))
        .model(prometheus.Dataquery().expr(rule.value).instant().ref_id("A").datasource(PROMETHEUS))
    )
    condition = (
        alerting.Query("C")
        .datasource_uid("__expr__")
        .model(
            expressions.TypeThreshold()
            .ref_id("C")
            .expression("A")
            .datasource(DataSourceRef(type_val="__expr__", uid="__expr__"))
            .conditions(
                [
                    _Built(
                        ExprTypeThresholdConditions(
                            evaluator=ExprTypeThresholdConditionsEvaluator(
                                params=[rule.threshold], type_val=OPERATORS[rule.operator]
                            )
                        )
                    )
                ]
            )
        )
    )
    return (
        alerting.Rule(rule.title)
        .uid(rule.uid)
        .condition("C")
        .queries([value, condition])
        .for_val(rule.for_)
        .no_data_state("OK")
        .exec_err_state("Error")
        .labels({"severity": rule.severity, "service": "shop"})
        .annotations(
            {
                "summary": rule.summary,
                "description": rule.description.format(value="{{ humanize $values.A.Value }}"),
                "runbook_url": rule.runbook_url,
            }
        )
    )


class _Built:
    """Wraps an already-built model where the SDK expects a builder."""

    def __init__(self, model):
        self.model = model

    def build(self):
        return self.model


def grafana_alerting() -> dict:
    """provisioning/alerting/shop-alerts.yaml: rules, the contact point and the notification policy."""
    import json

    from grafana_foundation_sdk.cog.encoder import JSONEncoder

    def plain(built) -> dict:
        return json.loads(JSONEncoder(sort_keys=True).encode(built))

    rules = []
    for rule in RULES:
        data = plain(_grafana_rule(rule).build())
        rules.append(
            {
                key: data[key]
                for key in ("uid", "title", "condition", "data", "for", "noDataState", "execErrState", "labels",
                            "annotations")
                if key in data
            }
        )  # fmt: skip
    contact_point = {
        "orgId": 1,
        "name": CONTACT_POINT,
        "receivers": [
            {
                "uid": "shop-webhook",
                "type": "webhook",
                "disableResolveMessage": False,
                "settings": {
                    "url": "http://app:8000/alerts",
                    "httpMethod": "POST",
                    "authorization_scheme": "Bearer",
                    # Expanded by Grafana from its environment (compose passes ALERT_WEBHOOK_TOKEN).
                    "authorization_credentials": "$ALERT_WEBHOOK_TOKEN",
                },
            }
        ],
    }
    policy = {
        "orgId": 1,
        "receiver": CONTACT_POINT,
        "group_by": ["alertname", "severity"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
    }
    return {
        "apiVersion": 1,
        "groups": [{"orgId": 1, "name": RULE_GROUP, "folder": FOLDER, "interval": "1m", "rules": rules}],
        "contactPoints": [contact_point],
        "policies": [policy],
    }
