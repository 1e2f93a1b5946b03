"""Shop traces: slowest checkouts (TraceQL), the service graph, span-metrics RED from Tempo's generator."""

from __future__ import annotations

from grafana_foundation_sdk.builders import nodegraph, table, timeseries

from grafana_as_code import SERVICE
from grafana_as_code.dashboards.common import shop_dashboard
from grafana_as_code.datasources import PROMETHEUS, TEMPO
from grafana_as_code.layout import Grid, promql, service_map, traceql

UID = "shop-traces"
CHECKOUT = f'resource.service.name = "{SERVICE}" && span.code.function.name =~ ".*CheckoutState.place_order"'
# Written by Tempo's metrics generator (remote write), not by the app.
SPAN_METRICS = f'service="{SERVICE}"'


def build():
    dashboard = shop_dashboard(UID, "Shop traces", "Checkout traces, the service graph and RED metrics from spans.")
    grid = Grid(dashboard)
    grid.row("Checkout")
    grid.add(
        table.Panel()
        .title("Slowest checkout traces (over 250 ms)")
        .datasource(TEMPO)
        .with_target(traceql(f"{{ {CHECKOUT} && duration > 250ms }}")),
        width=12,
        height=10,
    )
    grid.add(
        table.Panel().title("Latest checkout traces").datasource(TEMPO).with_target(traceql(f"{{ {CHECKOUT} }}")),
        width=12,
        height=10,
    )
    grid.row("Service graph")
    grid.add(nodegraph.Panel().title("Service graph").datasource(TEMPO).with_target(service_map()), width=24, height=10)
    grid.row("RED from spans (Tempo metrics generator)")
    grid.add(
        timeseries.Panel()
        .title("Span rate by span name")
        .datasource(PROMETHEUS)
        .unit("reqps")
        .with_target(
            promql(
                f"sum by (span_name) (rate(traces_spanmetrics_calls_total{{{SPAN_METRICS}}}[$__rate_interval]))",
                "{{span_name}}",
            )
        )
    )
    grid.add(
        timeseries.Panel()
        .title("Span error ratio")
        .datasource(PROMETHEUS)
        .unit("percentunit")
        .with_target(
            promql(
                f'sum(rate(traces_spanmetrics_calls_total{{{SPAN_METRICS}, status_code="STATUS_CODE_ERROR"}}'
                f"[$__rate_interval])) / sum(rate(traces_spanmetrics_calls_total{{{SPAN_METRICS}}}[$__rate_interval]))",
                "errors",
            )
        )
    )
    grid.add(
        timeseries.Panel()
        .title("Span latency p95 by span name")
        .datasource(PROMETHEUS)
        .unit("s")
        .with_target(
            promql(
                "histogram_quantile(0.95, sum by (le, span_name) "
                f"(rate(traces_spanmetrics_latency_bucket{{{SPAN_METRICS}}}[$__rate_interval])))",
                "{{span_name}}",
            )
        )
    )
    return dashboard
