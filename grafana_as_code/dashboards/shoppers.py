"""Shopper experience: what shoppers felt in their browsers. Web vitals p75 by page against Google's
thresholds, each click's wait beside the server's share of it (exemplars open the click's trace), the
socket's disconnects, front-end errors, the browser -> shop edge of Tempo's service graph, and the health
of the relay that takes the browser's telemetry in."""

from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, bargauge, nodegraph, table, text, timeseries
from grafana_foundation_sdk.builders.common import GraphThresholdsStyleConfig, ReduceDataOptions, VizLegendOptions
from grafana_foundation_sdk.builders.dashboard import ThresholdsConfig
from grafana_foundation_sdk.models.common import (
    BarGaugeDisplayMode,
    GraphThresholdsStyleMode,
    LegendDisplayMode,
    LegendPlacement,
    StackingMode,
    VisibilityMode,
    VizOrientation,
)
from grafana_foundation_sdk.models.dashboard import (
    DataTransformerConfig,
    DynamicConfigValue,
    Threshold,
    ThresholdsMode,
)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat
from grafana_foundation_sdk.models.text import TextMode

from grafana_as_code import FRONTEND_SERVICE, SERVICE
from grafana_as_code.dashboards.common import SHOP_SELECTOR, label_variable, shop_dashboard
from grafana_as_code.datasources import PROMETHEUS, TEMPO
from grafana_as_code.layout import Grid, promql, service_map, traceql

UID = "shop-shopper-experience"
PAGES = f'{SHOP_SELECTOR}, page=~"$page"'
EVENTS = f'{SHOP_SELECTOR}, event=~"$event"'

# Google's thresholds (web.dev/articles/vitals): (vital, unit, good up to, poor above, what it measures).
# The shop records each as browser_web_vital_seconds{vital}, except CLS (unitless) as browser_web_vital_cls.
VITALS = [
    ("LCP", "s", 2.5, 4.0, "Largest Contentful Paint: when the page's main content showed."),
    ("INP", "s", 0.2, 0.5, "Interaction to Next Paint: how long a tap or key waited for the screen to answer."),
    ("CLS", "none", 0.1, 0.25, "Cumulative Layout Shift: how much the page jumped about while it loaded."),
    ("FCP", "s", 1.8, 3.0, "First Contentful Paint: when the first text or image showed."),
    ("TTFB", "s", 0.8, 1.8, "Time to First Byte: when the first byte of the page arrived."),
]
RATINGS = (("good", "green"), ("needs-improvement", "#EAB839"), ("poor", "red"))

# The browser's send of an event is a PRODUCER span of the frontend; the server's handling of it, its
# CONSUMER child: Tempo's service graph pairs the two into this edge (connection_type="messaging_system").
FRONTEND_EDGE = f'client="{FRONTEND_SERVICE}", server="{SERVICE}"'
SLOW_CLICKS = (
    f'{{ resource.service.name = "{FRONTEND_SERVICE}" && kind = producer }}'
    f' > {{ resource.service.name = "{SERVICE}" && kind = consumer && duration > 500ms }}'
)

HOW_TO = f"""\
**What the shopper felt.** The browser measures each page's web vitals and the time from each click to the
page's answer, and sends them to the shop (`POST /otlp/v1/traces`), which counts them (`browser_*` metrics,
job `shop`). Thresholds are Google's: green is good, amber needs improvement, red is poor; a page passes a
vital when its p75 is green.

**Follow a slow click to its SQL.**
1. In *Click to answer p95*, the dots are exemplars: hover one high on a *shopper waited* line and choose
   **View trace** (its `trace_id`) to open that click's trace in Tempo.
2. The trace's root is the browser's span of the click (service `{FRONTEND_SERVICE}`, kind producer: the
   event leaving the page). Under it are `ui.answer` (until the page showed the answer, timed in the
   browser) and the server's event span (service `{SERVICE}`, kind consumer, named after the handler),
   and under that its SQL spans (each with its statement) and any call to the payment service.
3. Compare `ui.answer` with the event span: the event span is the server's time; the rest of the wait is
   the socket, the tab's queue of events and the browser drawing the answer.
4. From any span, **Logs for this span** opens the shop's log lines of that trace in Loki.

Only sampled clicks have a trace (`BROWSER_TRACE_SAMPLE_RATIO`), so not every click has a dot. *Slow
clicks* lists traces whose server event took over 500 ms, found by TraceQL without an exemplar.
"""


def _thresholds(good: float, poor: float) -> ThresholdsConfig:
    # Grafana colours a value by the highest step at or below it: exactly `good` shows amber, where Google
    # still calls it good. A p75 right on the line is rare enough not to matter.
    return (
        ThresholdsConfig()
        .mode(ThresholdsMode.ABSOLUTE)
        .steps([Threshold(None, "green"), Threshold(good, "#EAB839"), Threshold(poor, "red")])
    )


def _series(title: str, unit: str, description: str, *queries) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).description(description).unit(unit).datasource(PROMETHEUS).fill_opacity(10)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _vital_p75(vital: str, window: str) -> str:
    """p75 by page of one vital over `window` (a range selector's duration, e.g. $__range)."""
    if vital == "CLS":
        return f"histogram_quantile(0.75, sum by (le, page) (rate(browser_web_vital_cls_bucket{{{PAGES}}}[{window}])))"
    return (
        "histogram_quantile(0.75, sum by (le, page) "
        f'(rate(browser_web_vital_seconds_bucket{{{PAGES}, vital="{vital}"}}[{window}])))'
    )


def _vital_now(vital: str, unit: str, good: float, poor: float, description: str) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .title(f"{vital} p75 by page (good up to {good:g}{_unit_suffix(unit)}, poor over {poor:g}{_unit_suffix(unit)})")
        .description(f"{description} p75 over the whole time range, one bar per page.")
        .datasource(PROMETHEUS)
        .unit(unit)
        .min(0)
        .thresholds(_thresholds(good, poor))
        .display_mode(BarGaugeDisplayMode.BASIC)
        .orientation(VizOrientation.HORIZONTAL)
        .reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(promql(_vital_p75(vital, "$__range"), "{{page}}", instant=True))
    )


def _vital_over_time(vital: str, unit: str, good: float, poor: float, description: str) -> timeseries.Panel:
    return (
        _series(
            f"{vital} p75 by page over time",
            unit,
            f"{description} Bands: green good, amber needs improvement, red poor.",
            promql(_vital_p75(vital, "$__rate_interval"), "{{page}}"),
        )
        .min(0)
        .thresholds(_thresholds(good, poor))
        .thresholds_style(GraphThresholdsStyleConfig().mode(GraphThresholdsStyleMode.DASHED_AND_AREA))
        .span_nulls(True)
    )


def _unit_suffix(unit: str) -> str:
    return " s" if unit == "s" else ""


def _ratings() -> barchart.Panel:
    share = (
        f"sum by (vital, rating) (increase(browser_web_vital_ratings_total{{{PAGES}}}[$__range]))"
        f" / on (vital) group_left sum by (vital) (increase(browser_web_vital_ratings_total{{{PAGES}}}[$__range]))"
    )
    panel = (
        barchart.Panel()
        .title("Share of good / needs-improvement / poor by vital")
        .description(
            "Each vital's measurements over the time range, as the browser rated them against Google's thresholds."
            " A page passes a vital when at least 75% of its visits are good."
        )
        .datasource(PROMETHEUS)
        .unit("percentunit")
        .stacking(StackingMode.NORMAL)
        .show_value(VisibilityMode.AUTO)
        .orientation(VizOrientation.HORIZONTAL)
        .legend(
            VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)
        )
        .with_target(promql(share, instant=True).format(PromQueryFormat.TABLE))
        # One row per vital, one column per rating.
        .with_transformation(
            DataTransformerConfig(
                id_val="groupingToMatrix",
                options={"columnField": "rating", "rowField": "vital", "valueField": "Value", "emptyValue": "zero"},
            )
        )
    )
    for rating, color in RATINGS:
        panel = panel.override_by_name(rating, [DynamicConfigValue("color", {"mode": "fixed", "fixedColor": color})])
    return panel


def _p95(metric: str, selector: str, window: str) -> str:
    return f"histogram_quantile(0.95, sum by (le, event) (rate({metric}_bucket{{{selector}}}[{window}])))"


def _click_vs_server() -> timeseries.Panel:
    return _series(
        "Click to answer p95 (shopper) beside the event's p95 (server), by event (with exemplars)",
        "s",
        "Solid: from the click's event leaving the page until the page showed a change, timed in the"
        " browser. Dashed: the same event's handler on the server. The gap is the socket, the tab's queue"
        " of events and the browser's drawing: time the server's metrics never see. A dot is an exemplar:"
        " click it, then View trace, to open that click's trace (browser span, server event span, SQL spans).",
        promql(
            _p95("browser_click_to_answer_seconds", EVENTS, "$__rate_interval"),
            "shopper waited {{event}}",
            exemplars=True,
        ),
        promql(
            _p95("reflex_event_duration_seconds", EVENTS, "$__rate_interval"),
            "server spent {{event}}",
            ref=1,
            exemplars=True,
        ),
    ).override_by_query("B", [DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]})])


def _click_vs_server_table() -> table.Panel:
    shopper = _p95("browser_click_to_answer_seconds", EVENTS, "$__range")
    server = _p95("reflex_event_duration_seconds", EVENTS, "$__range")
    columns = {
        "Value #A": "shopper waited (p95)",
        "Value #B": "server spent (p95)",
        "Value #C": "server's part of the wait",
    }
    return (
        table.Panel()
        .title("Over the time range: the shopper's wait and the server's part of it, by event")
        .description(
            "p95 of each over the whole time range. The last column is the server's p95 divided by the"
            " shopper's p95: well under 100% means most of the wait is outside the event handler."
        )
        .datasource(PROMETHEUS)
        .unit("s")
        .with_target(promql(shopper, instant=True).format(PromQueryFormat.TABLE))
        .with_target(promql(server, ref=1, instant=True).format(PromQueryFormat.TABLE))
        .with_target(promql(f"{server} / {shopper}", ref=2, instant=True).format(PromQueryFormat.TABLE))
        .with_transformation(DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            DataTransformerConfig(id_val="organize", options={"excludeByName": {"Time": True}, "renameByName": columns})
        )
        .override_by_name(columns["Value #C"], [DynamicConfigValue("unit", "percentunit")])
    )


def build():
    dashboard = (
        shop_dashboard(
            UID,
            "Shopper experience",
            "What shoppers felt in their browsers: web vitals by page, each click's wait beside the server's"
            " part of it, disconnects and front-end errors. A click's exemplar opens its trace.",
        )
        .with_variable(label_variable("page", "Page", "browser_web_vital_seconds_count"))
        .with_variable(label_variable("event", "Event", "browser_click_to_answer_seconds_count"))
    )
    grid = Grid(dashboard)

    grid.row("How to read this, and how to follow a slow click to its SQL")
    grid.add(text.Panel().title("Reading this dashboard").mode(TextMode.MARKDOWN).content(HOW_TO), width=24, height=9)

    grid.row("Web vitals: p75 by page over the time range, against Google's thresholds")
    for index, vital in enumerate(VITALS):
        grid.add(_vital_now(*vital), width=8 if index < 3 else 12, height=7)

    grid.row("Web vitals: p75 by page over time")
    for index, vital in enumerate(VITALS):
        grid.add(_vital_over_time(*vital), width=8 if index < 3 else 12, height=8)
    grid.add(_ratings(), width=24, height=7)

    grid.row("Clicks: what the shopper waited, and the server's part of it")
    grid.add(_click_vs_server(), width=16, height=10)
    grid.add(_click_vs_server_table(), width=8, height=10)
    grid.add(
        _series(
            "Measured clicks per minute by event",
            "short",
            "Clicks whose answer the browser timed (what the p95s above are made of).",
            promql(
                f"sum by (event) (rate(browser_click_to_answer_seconds_count{{{EVENTS}}}[$__rate_interval])) * 60",
                "{{event}}",
            ),
        ),
        width=8,
    )
    grid.add(
        table.Panel()
        .title("Slow clicks: browser traces whose server event took over 500 ms")
        .description(
            f"TraceQL: a {FRONTEND_SERVICE} producer span whose {SERVICE} consumer child took over 500 ms."
            " Open one to see its SQL spans."
        )
        .datasource(TEMPO)
        .with_target(traceql(SLOW_CLICKS)),
        width=16,
    )

    grid.row("Connection and front-end errors")
    grid.add(
        _series(
            "Socket disconnects per minute by reason, and reconnects",
            "short",
            "Disconnects the browsers reported, by why (server, client, ping_timeout, transport_close,"
            " transport_error, parse_error, other), and how many of them reconnected.",
            promql(
                f"sum by (reason) (rate(browser_socket_disconnects_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60",
                "{{reason}}",
            ),
            promql(
                f"sum(rate(browser_socket_reconnects_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60",
                "reconnects",
                ref=1,
            ),
        ),
        width=12,
    )
    grid.add(
        _series(
            "Front-end errors per minute by page",
            "short",
            "Uncaught errors the browsers reported, by the page they happened on.",
            promql(f"sum by (page) (rate(browser_errors_total{{{PAGES}}}[$__rate_interval])) * 60", "{{page}}"),
        ),
        width=12,
    )

    grid.row(f"{FRONTEND_SERVICE} -> {SERVICE} (Tempo's service graph)")
    grid.add(
        _series(
            "Sampled events per second from browsers, and failed ones (service graph edge)",
            "reqps",
            f"Tempo pairs each browser producer span ({FRONTEND_SERVICE}) with the server's consumer span"
            f" ({SERVICE}) of the same event. Only sampled clicks are traced, so this counts those.",
            promql(f"sum(rate(traces_service_graph_request_total{{{FRONTEND_EDGE}}}[$__rate_interval]))", "events"),
            promql(
                f"sum(rate(traces_service_graph_request_failed_total{{{FRONTEND_EDGE}}}[$__rate_interval]))",
                "failed",
                ref=1,
            ),
        ),
        width=8,
    )
    grid.add(
        nodegraph.Panel()
        .title("Service graph: browsers, the shop, its database and the payment service")
        .description("From Tempo's metrics generator. Click a node or an edge for its rate, errors and traces.")
        .datasource(TEMPO)
        .with_target(service_map()),
        width=16,
        height=10,
    )

    grid.row("Browser telemetry relay (the shop's endpoint for the browsers' spans and measurements)")
    grid.add(
        _series(
            "Browser spans per minute by outcome",
            "short",
            "What became of the spans browsers sent to the shop: accepted, forwarded (to Tempo),"
            " forward_failed, not_sampled, refused (why: the next panel).",
            promql(
                f"sum by (outcome) (rate(browser_spans_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60", "{{outcome}}"
            ),
        ),
        width=12,
    )
    grid.add(
        _series(
            "Refused browser telemetry per minute by reason",
            "short",
            "Requests the relay turned away: too_large, too_many_spans, forged_service (a span claiming to"
            " be the server), rate_limited, not_otlp, unsupported_media_type.",
            promql(
                f"sum by (reason) (rate(browser_telemetry_refused_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60",
                "{{reason}}",
            ),
        ),
        width=12,
    )
    return dashboard
