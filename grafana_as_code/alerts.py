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

# Payments the shop made a call for (throttled ones never reached the service), and those whose
# outcome it could learn. `unknown`: timeout, 5xx after the retries, unreachable, breaker open.
_PAYMENTS = 'ecommerce_payments_total{{job="shop", outcome=~"{outcomes}"}}'
PAYMENTS_CALLED = _PAYMENTS.format(outcomes="approved|declined|unknown")
PAYMENTS_ANSWERED = _PAYMENTS.format(outcomes="approved|declined")
PAYMENTS_DECLINED = 'ecommerce_payments_total{job="shop", outcome="declined"}'

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
    AlertRule(
        uid="shop-event-loop-saturated",
        title="ShopEventLoopSaturated",
        # Per instance: how late its event loop wakes a timer due every 0.5 s (lifespan.py). Every event
        # ready meanwhile waits as long, whatever its handler does.
        value="histogram_quantile(0.99,"
        ' sum by (le, instance) (rate(reflex_event_loop_lag_seconds_bucket{job="shop"}[2m])))',
        operator=">",
        threshold=0.25,
        for_="2m",
        severity="warning",
        summary="A shop event loop is saturated (lag p99 over 250 ms)",
        description="The event loop of {{{{ $labels.instance }}}} woke its timer {value} seconds late (p99 over 2"
        " minutes, threshold 250 ms): every event ready meanwhile waited as long.",
    ),
    AlertRule(
        uid="payment-errors",
        title="PaymentErrors",
        # Errors, not declines: payments whose outcome the shop could not learn, over every payment
        # it called the service for. Only with at least one payment a minute, so one timeout at
        # night is not 100 %.
        value=f'sum(rate(ecommerce_payments_total{{job="shop", outcome="unknown"}}[5m]))'
        f" / sum(rate({PAYMENTS_CALLED}[5m]))"
        f" and sum(rate({PAYMENTS_CALLED}[5m])) * 60 >= 1",
        operator=">",
        threshold=0.05,
        for_="2m",
        severity="critical",
        summary="Payments end with an unknown outcome",
        description="{value} of payments over the last 5 minutes got no answer the shop could use (timeout, 5xx"
        " after the retries, service unreachable or circuit breaker open; threshold 5%). The reconciler settles"
        " them; shoppers are told their payment is being confirmed.",
    ),
    AlertRule(
        uid="payment-service-down",
        title="PaymentServiceDown",
        # 1 when Prometheus cannot scrape the payment service or any shop worker's circuit breaker
        # is open (the shop fails payments fast without calling the service), else 0.
        value='max((1 - up{job="payments"}) or ecommerce_payment_breaker_open{job="shop"})',
        operator=">",
        threshold=0,
        for_="1m",
        severity="critical",
        summary="The payment service is down or the shop's circuit breaker is open",
        description="The payment service answers no scrape or a shop worker's payment circuit breaker is open"
        " ({value}): checkouts cannot take payments.",
    ),
    AlertRule(
        uid="payments-slow",
        title="PaymentsSlow",
        # What a shopper waits for at checkout: creating and confirming a payment, as the service
        # measured it. Only with at least one such call a minute.
        value="histogram_quantile(0.95, sum by (le) (rate(payment_gateway_request_duration_seconds_bucket"
        '{job="payments", operation=~"create|confirm"}[5m])))'
        ' and sum(rate(payment_gateway_request_duration_seconds_count{job="payments", operation=~"create|confirm"}'
        "[5m])) * 60 >= 1",
        operator=">",
        threshold=1,
        for_="5m",
        severity="warning",
        summary="Payments are slow (p95 over 1 s)",
        description="The 95th percentile of the payment service's create and confirm calls is {value} seconds"
        " over 5 minutes (threshold 1 s).",
    ),
    AlertRule(
        uid="card-testing-suspected",
        title="CardTestingSuspected",
        # A burst of declines through the checkout: someone trying stolen card numbers. The value
        # is the decline ratio, counted only while more than 10 payments were declined in 5 minutes.
        value=f"sum(rate({PAYMENTS_DECLINED}[5m])) / sum(rate({PAYMENTS_ANSWERED}[5m]))"
        f" and sum(increase({PAYMENTS_DECLINED}[5m])) > 10",
        operator=">",
        threshold=0.5,
        for_="1m",
        severity="warning",
        summary="Many declined payments: possible card testing",
        description="{value} of answered payments were declined over the last 5 minutes, more than 10 of them"
        " (threshold 50%).",
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
