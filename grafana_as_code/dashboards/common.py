"""What every Shop dashboard shares: variables, time settings, links between the dashboards."""

from __future__ import annotations

from grafana_foundation_sdk.builders.dashboard import Dashboard, DashboardLink, QueryVariable
from grafana_foundation_sdk.models.dashboard import DashboardLinkType, VariableRefresh

from grafana_as_code.datasources import PROMETHEUS

# Prometheus adds `environment` to every series of the shop at scrape time.
ENVIRONMENT_VARIABLE = "environment"
SHOP_SELECTOR = 'job="shop", environment=~"$environment"'
# The payment service (payment_gateway/), scraped as job "payments" with the same `environment`.
PAYMENTS_SELECTOR = 'job="payments", environment=~"$environment"'


def environment_variable() -> QueryVariable:
    return (
        QueryVariable(ENVIRONMENT_VARIABLE)
        .label("Environment")
        .datasource(PROMETHEUS)
        .query('label_values(up{job="shop"}, environment)')
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .all_value(".*")
    )


def label_variable(name: str, label: str, series: str) -> QueryVariable:
    """A multi-value variable of the values of label `name` on the shop's series `series`, "All" matching any."""
    return (
        QueryVariable(name)
        .label(label)
        .datasource(PROMETHEUS)
        .query(f"label_values({series}{{{SHOP_SELECTOR}}}, {name})")
        .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
        .include_all(True)
        .all_value(".*")
        .multi(True)
    )


def shop_dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (
        Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["shop", "generated"])
        .time("now-1h", "now")
        .refresh("30s")
        .timezone("utc")
        .readonly()
        .with_variable(environment_variable())
        .link(
            DashboardLink("Shop dashboards")
            .type(DashboardLinkType.DASHBOARDS)
            .tags(["shop"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
    )
