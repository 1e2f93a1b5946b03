"""Shop logs: volume by level, errors, the latest business actions; each line links to its trace."""

from __future__ import annotations

from grafana_foundation_sdk.builders import logs, timeseries

from grafana_as_code import SERVICE
from grafana_as_code.dashboards.common import shop_dashboard
from grafana_as_code.datasources import LOKI
from grafana_as_code.layout import Grid, logql

UID = "shop-logs"
# Alloy sets exactly these stream labels: service, level, environment.
STREAM = f'{{service="{SERVICE}", environment=~"$environment"}}'


def _lines(title: str, expr: str, description: str) -> logs.Panel:
    return (
        logs.Panel()
        .title(title)
        .description(description)
        .datasource(LOKI)
        .show_time(True)
        .wrap_log_message(True)
        .enable_log_details(True)
        .with_target(logql(expr))
    )


def build():
    dashboard = shop_dashboard(UID, "Shop logs", "The shop's JSON logs. Open a line's details to follow its trace_id.")
    grid = Grid(dashboard)
    grid.row("Volume")
    grid.add(
        timeseries.Panel()
        .title("Log lines by level")
        .datasource(LOKI)
        .unit("short")
        .with_target(logql(f"sum by (level) (count_over_time({STREAM} [$__interval]))", "{{level}}")),
        width=24,
        height=7,
    )
    grid.row("Lines")
    grid.add(
        _lines(
            "Errors",
            f'{{service="{SERVICE}", environment=~"$environment", level="ERROR"}}',
            "Failed events with their exception.",
        ),
        width=24,
        height=10,
    )
    grid.add(
        _lines(
            "Latest business actions",
            f'{STREAM} | json | logger="ecom_reflex.business"',
            "Logins, registrations, orders, checkout failures and admin changes.",
        ),
        width=12,
        height=12,
    )
    grid.add(
        _lines(
            "Orders placed",
            f'{STREAM} | json | action="order_placed"',
            "Each order with its id, total and the trace that placed it.",
        ),
        width=12,
        height=12,
    )
    return dashboard
