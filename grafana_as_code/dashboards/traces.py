"""Shop traces: slowest checkouts (TraceQL), the service graph, span-metrics RED, the shop -> payment service edge."""

from __future__ import annotations

from grafana_foundation_sdk.builders import nodegraph, table, timeseries

from grafana_as_code import PAYMENT_SERVICE, SERVICE
from grafana_as_code.dashboards.common import shop_dashboard
from grafana_as_code.datasources import PROMETHEUS, TEMPO
from grafana_as_code.layout import Grid, promql, service_map, traceql

UID = "shop-traces"
CHECKOUT = f'resource.service.name = "{SERVICE}" && span.code.function.name =~ ".*CheckoutState.place_order"'
# Written by Tempo's metrics generator (remote write), not by the app.
SPAN_METRICS = f'service="{SERVICE}"'
# The service graph's edge from the shop to the payment service (Tempo pairs the shop's httpx client
# spans with the service's server spans). The graph itself shows every service: nothing filters it.
PAYMENT_EDGE = f'client="{SERVICE}", server="{PAYMENT_SERVICE}"'
PAYMENT_SPANS = f'resource.service.name = "{PAYMENT_SERVICE}" && kind = server'


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
    # Last, so the panels above keep their ids.
    grid.row(f"{SERVICE} -> {PAYMENT_SERVICE}")
    grid.add(
        timeseries.Panel()
        .title("Calls and failed calls per second (service graph edge)")
        .datasource(PROMETHEUS)
        .unit("reqps")
        .with_target(
            promql(f"sum(rate(traces_service_graph_request_total{{{PAYMENT_EDGE}}}[$__rate_interval]))", "calls")
        )
        .with_target(
            promql(
                f"sum(rate(traces_service_graph_request_failed_total{{{PAYMENT_EDGE}}}[$__rate_interval]))",
                "failed",
                ref=1,
            )
        )
    )
    grid.add(
        timeseries.Panel()
        .title("Call latency p95: as the shop saw it, as the service served it")
        .datasource(PROMETHEUS)
        .unit("s")
        .with_target(
            promql(
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(traces_service_graph_request_client_seconds_bucket{{{PAYMENT_EDGE}}}[$__rate_interval])))",
                f"{SERVICE} (client)",
            )
        )
        .with_target(
            promql(
                "histogram_quantile(0.95, sum by (le) "
                f"(rate(traces_service_graph_request_server_seconds_bucket{{{PAYMENT_EDGE}}}[$__rate_interval])))",
                f"{PAYMENT_SERVICE} (server)",
                ref=1,
            )
        )
    )
    grid.add(
        table.Panel()
        .title(f"Slowest {PAYMENT_SERVICE} requests (over 250 ms)")
        .datasource(TEMPO)
        .with_target(traceql(f"{{ {PAYMENT_SPANS} && duration > 250ms }}"))
    )
    return dashboard
