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
    # What Grafana does when the query returns nothing: most rules are quiet then; target-down is not.
    no_data_state: str = "OK"

    @property
    def prometheus_expr(self) -> str:
        return f"({self.value}) {self.operator} {self.threshold:g}"

    @property
    def runbook_url(self) -> str:
        return RUNBOOK_BASE + self.uid


# Checkouts that failed with an error, over checkouts that ended in an order or an error.
_CHECKOUT_ERRORS = (
    'sum(rate(ecommerce_checkout_failures_total{{job="shop", reason=~"error|database_.*|session_store_unreachable"}}'
    "[{window}]))"
)
CHECKOUT_ERROR_RATIO = (
    f'{_CHECKOUT_ERRORS} / ({_CHECKOUT_ERRORS} + sum(rate(ecommerce_orders_total{{{{job="shop"}}}}[{{window}}])))'
)

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
        # Per event: one slow handler is not averaged away by many fast ones. Only events that run
        # at least 3 times a minute count, so one slow call at night does not page anyone.
        value="histogram_quantile(0.95,"
        ' sum by (le, event) (rate(reflex_event_duration_seconds_bucket{job="shop"}[5m])))'
        ' and on (event) (sum by (event) (rate(reflex_event_duration_seconds_count{job="shop"}[5m])) * 60 >= 3)',
        operator=">",
        threshold=1,
        for_="10m",
        severity="warning",
        summary="A shop event is slow (p95 over 1 s)",
        description="The 95th percentile of {{{{ $labels.event }}}} is {value} seconds (threshold 1 s).",
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
        uid="shop-checkout-error-budget-burn",
        title="ShopCheckoutErrorBudgetBurn",
        # Checkouts that fail with an error (not for stock or input) against an objective of 99 %
        # placed: the 1-hour and the 5-minute error ratio both burn the budget 14.4 times too fast
        # (2 % of a 30-day budget in an hour). The value is the lower of the two windows.
        value=f"({CHECKOUT_ERROR_RATIO.format(window='5m')}) <= ({CHECKOUT_ERROR_RATIO.format(window='1h')})"
        f" or ({CHECKOUT_ERROR_RATIO.format(window='1h')})",
        operator=">",
        threshold=0.144,
        for_="2m",
        severity="critical",
        summary="Checkouts fail with errors: the error budget burns 14 times too fast",
        description="{value} of checkouts failed with an error over both the last 5 minutes and the last hour.",
    ),
    AlertRule(
        uid="shop-target-down",
        title="ShopScrapeTargetDown",
        # Per target, the share of successful scrapes over 5 minutes: a stopped, crash-looping or
        # unresolvable shop (`app` is a static target) is well under 0.9, one missed scrape is not.
        # A target that vanished (app-scale is found by DNS) counts as 0 for 30 minutes after its
        # last scrape; no shop target at all counts as 0 too.
        value='min(avg_over_time(up{job="shop"}[5m])'
        ' or on (instance) (0 * group by (instance) (max_over_time(up{job="shop"}[30m]))))'
        " or vector(0)",
        operator="<",
        threshold=0.9,
        for_="2m",
        severity="critical",
        summary="Prometheus cannot scrape the shop",
        description="The shop answered {value} of its scrapes over 5 minutes, or is gone (0).",
        no_data_state="Alerting",
    ),
    AlertRule(
        uid="shop-traces-lost",
        title="ShopTracesLost",
        value='sum(rate(otel_spans_total{job="shop", outcome=~"failed|dropped"}[5m]))',
        operator=">",
        threshold=0,
        for_="5m",
        severity="warning",
        summary="Traces are being lost",
        description="{value} spans a second could not be exported or were dropped (collector down or overloaded).",
    ),
    AlertRule(
        uid="shop-logs-not-reaching-file",
        title="ShopLogsNotReachingFile",
        value='sum(rate(log_records_total{job="shop", handler="file", outcome="failed"}[5m]))',
        operator=">",
        threshold=0,
        for_="2m",
        severity="warning",
        summary="Log lines are not reaching the log file (so not Loki either)",
        description="{value} log lines a second could not be written to LOG_FILE.",
    ),
    AlertRule(
        uid="shop-emails-not-leaving",
        title="ShopEmailsNotLeaving",
        # The oldest e-mail not yet sent (queued or being sent), as any worker last saw the outbox.
        # Ten minutes is longer than the first few back-offs: one refused try does not page anyone.
        value='max(ecommerce_email_outbox_oldest_age_seconds{job="shop"})',
        operator=">",
        threshold=600,
        for_="2m",
        severity="critical",
        summary="E-mails are not leaving the shop",
        description="The oldest e-mail waiting in the outbox was queued {value} seconds ago (threshold 10 minutes):"
        " order confirmations and password resets are not reaching anyone.",
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
        .no_data_state(rule.no_data_state)
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
