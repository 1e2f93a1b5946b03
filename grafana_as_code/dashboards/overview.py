"""Shop overview: RED metrics of events and HTTP routes, websockets, the database, e-mail, business KPIs, payments,
saturation."""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat, timeseries

from grafana_as_code.dashboards.common import PAYMENTS_SELECTOR, SHOP_SELECTOR, label_variable, shop_dashboard
from grafana_as_code.datasources import PROMETHEUS
from grafana_as_code.layout import Grid, promql

UID = "shop-overview"
EVENTS = f'{SHOP_SELECTOR}, event=~"$event"'


def _series(title: str, unit: str, *queries) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(PROMETHEUS).fill_opacity(10)
    for query in queries:
        panel = panel.with_target(query)
    return panel


def _kpi(title: str, expr: str, unit: str, description: str) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .description(description)
        .unit(unit)
        .datasource(PROMETHEUS)
        .with_target(promql(expr, instant=True))
    )


def build():
    dashboard = shop_dashboard(
        UID, "Shop overview", "Events, HTTP routes and business KPIs of the shop. Click an exemplar to open its trace."
    ).with_variable(label_variable("event", "Event", "reflex_event_duration_seconds_count"))
    grid = Grid(dashboard)

    grid.row("Events (Reflex event handlers)")
    grid.add(
        _series(
            "Event rate by handler",
            "reqps",
            promql(
                f"sum by (event) (rate(reflex_event_duration_seconds_count{{{EVENTS}}}[$__rate_interval]))", "{{event}}"
            ),
        )
    )
    grid.add(
        _series(
            "Event error ratio",
            "percentunit",
            promql(
                f'sum(rate(reflex_event_duration_seconds_count{{{EVENTS}, status="error"}}[$__rate_interval]))'
                f" / sum(rate(reflex_event_duration_seconds_count{{{EVENTS}}}[$__rate_interval]))",
                "errors",
            ),
        )
    )
    grid.add(
        _series(
            "Event latency p50 / p95 / p99 (with exemplars)",
            "s",
            *[
                promql(
                    f"histogram_quantile({q}, sum by (le, event) "
                    f"(rate(reflex_event_duration_seconds_bucket{{{EVENTS}}}[$__rate_interval])))",
                    f"p{round(q * 100)} {{{{event}}}}",
                    ref=i,
                    exemplars=True,
                )
                for i, q in enumerate((0.5, 0.95, 0.99))
            ],
        )
    )

    grid.row("HTTP routes and connections")
    grid.add(
        _series(
            "HTTP requests by route and status",
            "reqps",
            promql(
                "sum by (route, status) "
                f"(rate(http_request_duration_seconds_count{{{SHOP_SELECTOR}}}[$__rate_interval]))",
                "{{route}} {{status}}",
            ),
        )
    )
    grid.add(
        _series(
            "HTTP latency p95 by route (with exemplars)",
            "s",
            promql(
                "histogram_quantile(0.95, sum by (le, route) "
                f"(rate(http_request_duration_seconds_bucket{{{SHOP_SELECTOR}}}[$__rate_interval])))",
                "{{route}}",
                exemplars=True,
            ),
        )
    )
    grid.add(
        _series(
            "Websocket connections",
            "short",
            promql(f"sum(reflex_websocket_connections{{{SHOP_SELECTOR}}})", "connections"),
        )
    )

    grid.row("Database: queueing writers")
    grid.add(
        _series(
            "Write-lock hold p50 / p99",
            "s",
            *[
                promql(
                    f"histogram_quantile({q}, sum by (le) "
                    f"(rate(db_write_transaction_seconds_bucket{{{SHOP_SELECTOR}}}[$__rate_interval])))",
                    f"p{round(q * 100)}",
                    ref=i,
                )
                for i, q in enumerate((0.5, 0.99))
            ],
        )
    )
    grid.add(
        _series(
            "Transactions retried by reason",
            "short",
            promql(
                f"sum by (reason) (increase(db_transaction_retries_total{{{SHOP_SELECTOR}}}[$__rate_interval]))",
                "{{reason}}",
            ),
        )
    )
    grid.add(
        _series(
            "Failed events by what failed",
            "short",
            promql(
                f"sum by (reason) (increase(reflex_event_failures_total{{{SHOP_SELECTOR}}}[$__rate_interval]))",
                "{{reason}}",
            ),
        )
    )

    grid.row("E-mail (the outbox and its senders)")
    grid.add(
        _series(
            "E-mails waiting in the outbox",
            "short",
            promql(f"max(ecommerce_email_outbox_depth{{{SHOP_SELECTOR}}})", "queued or sending"),
        )
    )
    grid.add(
        _series(
            "Oldest unsent e-mail (ShopEmailsNotLeaving over 10 minutes)",
            "s",
            promql(f"max(ecommerce_email_outbox_oldest_age_seconds{{{SHOP_SELECTOR}}})", "oldest waiting"),
        )
    )
    grid.add(
        _series(
            "E-mail send attempts per minute by kind and outcome",
            "short",
            promql(
                f"sum by (kind, outcome) (rate(ecommerce_emails_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60",
                "{{kind}} {{outcome}}",
            ),
        )
    )

    grid.row("Business")
    for title, expr, unit, description in BUSINESS_KPIS:
        grid.add(_kpi(title, expr, unit, description), width=6, height=5)
    grid.add(
        _series(
            "Orders and cart additions per minute",
            "short",
            promql(f"sum(rate(ecommerce_orders_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60", "orders"),
            promql(
                f"sum(rate(ecommerce_cart_additions_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60",
                "cart additions",
                ref=1,
            ),
        )
    )
    grid.add(
        _series(
            "Logins per minute: success vs failure vs throttled",
            "short",
            promql(
                f"sum by (status) (rate(ecommerce_user_logins_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60",
                "{{status}}",
            ),
        )
    )
    grid.add(
        _series(
            "Checkout failures by reason",
            "short",
            promql(
                f"sum by (reason) (increase(ecommerce_checkout_failures_total{{{SHOP_SELECTOR}}}[$__rate_interval]))",
                "{{reason}}",
            ),
        )
    )

    # Last, so the panels above keep their ids (links to a panel name its id).
    grid.row("Payments (the shop's calls and the payment service)")
    grid.add(
        _series(
            "Payments per minute by outcome",
            "short",
            promql(
                f"sum by (outcome) (rate(ecommerce_payments_total{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60",
                "{{outcome}}",
            ),
        )
    )
    grid.add(
        _series(
            "Decline ratio: declined / (approved + declined) (CardTestingSuspected over 50%)",
            "percentunit",
            promql(
                f'sum(rate(ecommerce_payments_total{{{SHOP_SELECTOR}, outcome="declined"}}[$__rate_interval]))'
                f' / sum(rate(ecommerce_payments_total{{{SHOP_SELECTOR}, outcome=~"approved|declined"}}'
                "[$__rate_interval]))",
                "declined",
            ),
        )
    )
    grid.add(
        _series(
            "Declines per minute by code (payment service)",
            "short",
            promql(
                "sum by (decline_code) "
                f"(rate(payment_gateway_declines_total{{{PAYMENTS_SELECTOR}}}[$__rate_interval])) * 60",
                "{{decline_code}}",
            ),
        )
    )
    grid.add(
        _series(
            "Payment latency p95: the service, and the shop's HTTP hop (with exemplars)",
            "s",
            promql(
                "histogram_quantile(0.95, sum by (le, operation) "
                f"(rate(payment_gateway_request_duration_seconds_bucket{{{PAYMENTS_SELECTOR}}}[$__rate_interval])))",
                "service {{operation}}",
                exemplars=True,
            ),
            promql(
                "histogram_quantile(0.95, sum by (le, operation) "
                f"(rate(ecommerce_payment_request_duration_seconds_bucket{{{SHOP_SELECTOR}}}[$__rate_interval])))",
                "shop -> service {{operation}}",
                ref=1,
                exemplars=True,
            ),
        )
    )
    grid.add(
        _series(
            "Circuit breaker: workers open, service up (PaymentServiceDown)",
            "short",
            promql(f"sum(ecommerce_payment_breaker_open{{{SHOP_SELECTOR}}})", "workers with the breaker open"),
            promql(f"min(up{{{PAYMENTS_SELECTOR}}})", "payment service up", ref=1),
        )
    )
    grid.add(
        _series(
            "Payment calls per minute by outcome (shop side)",
            "short",
            promql(
                "sum by (operation, outcome) "
                f"(rate(ecommerce_payment_request_duration_seconds_count{{{SHOP_SELECTOR}}}[$__rate_interval])) * 60",
                "{{operation}} {{outcome}}",
            ),
        )
    )
    grid.add(
        _series(
            "Orders awaiting payment (holding stock)",
            "short",
            promql(f"max(ecommerce_orders_awaiting_payment{{{SHOP_SELECTOR}}})", "awaiting payment"),
        )
    )
    grid.add(
        _series(
            "Expired holds (unpaid orders that gave their stock back)",
            "short",
            promql(
                f"sum(increase(ecommerce_payment_holds_expired_total{{{SHOP_SELECTOR}}}[$__rate_interval]))",
                "expired",
            ),
        )
    )
    grid.add(
        _series(
            "Refunds: pending, and done by outcome",
            "short",
            promql(f"max(ecommerce_refunds_pending{{{SHOP_SELECTOR}}})", "pending"),
            promql(
                f"sum by (outcome) (increase(ecommerce_refunds_total{{{SHOP_SELECTOR}}}[$__rate_interval]))",
                "{{outcome}}",
                ref=1,
            ),
        )
    )

    # Last again, for the same reason. Per worker: with several workers (multiprocess mode) the gauges
    # carry a `pid` label and the histograms add the workers of one instance up.
    grid.row("Runtime (per worker: event loop, thread queues, CPU, memory, open files)")
    grid.add(
        _series(
            "Event loop lag p99 by instance (ShopEventLoopSaturated over 250 ms), and worst per worker",
            "s",
            promql(
                "histogram_quantile(0.99, sum by (le, instance) "
                f"(rate(reflex_event_loop_lag_seconds_bucket{{{SHOP_SELECTOR}}}[$__rate_interval])))",
                "p99 {{instance}}",
            ),
            promql(
                f"reflex_event_loop_lag_max_seconds{{{SHOP_SELECTOR}}}",
                "max over 10 s {{instance}} {{pid}}",
                ref=1,
            ),
        )
    )
    grid.add(
        _series(
            "Thread queue wait p95 by pool (database, hashing)",
            "s",
            promql(
                "histogram_quantile(0.95, sum by (le, instance, pool) "
                f"(rate(thread_pool_queue_wait_seconds_bucket{{{SHOP_SELECTOR}}}[$__rate_interval])))",
                "{{pool}} {{instance}}",
            ),
        )
    )
    grid.add(
        _series(
            "Thread queue depth by pool (work not started yet)",
            "short",
            promql(f"thread_pool_queue_depth{{{SHOP_SELECTOR}}}", "{{pool}} {{instance}} {{pid}}"),
        )
    )
    grid.add(
        _series(
            "CPU per worker (cores)",
            "short",
            promql(f"rate(process_cpu_seconds_total{{{SHOP_SELECTOR}}}[$__rate_interval])", "{{instance}} {{pid}}"),
        )
    )
    grid.add(
        _series(
            "Resident memory per worker",
            "bytes",
            promql(f"process_resident_memory_bytes{{{SHOP_SELECTOR}}}", "{{instance}} {{pid}}"),
        )
    )
    grid.add(
        _series(
            "Open files per worker",
            "short",
            promql(f"process_open_fds{{{SHOP_SELECTOR}}}", "{{instance}} {{pid}}"),
        )
    )
    return dashboard


# (title, PromQL, unit, description): the KPI stat panels; tests require each to return data.
BUSINESS_KPIS = [
    (
        "Orders",
        f"sum(increase(ecommerce_orders_total{{{SHOP_SELECTOR}}}[$__range]))",
        "short",
        "Orders placed in the time range.",
    ),
    (
        "Revenue",
        f"sum(increase(ecommerce_revenue_cents_total{{{SHOP_SELECTOR}}}[$__range])) / 100",
        "currencyUSD",
        "Value of the orders placed in the time range.",
    ),
    (
        "Average order value",
        f"sum(increase(ecommerce_order_value_dollars_sum{{{SHOP_SELECTOR}}}[$__range]))"
        f" / sum(increase(ecommerce_order_value_dollars_count{{{SHOP_SELECTOR}}}[$__range]))",
        "currencyUSD",
        "Revenue divided by orders.",
    ),
    (
        "Cart additions",
        f"sum(increase(ecommerce_cart_additions_total{{{SHOP_SELECTOR}}}[$__range]))",
        "short",
        "Products added to carts in the time range.",
    ),
    (
        "Registrations",
        f"sum(increase(ecommerce_user_registrations_total{{{SHOP_SELECTOR}}}[$__range]))",
        "short",
        "New accounts in the time range.",
    ),
    (
        "Successful logins",
        f'sum(increase(ecommerce_user_logins_total{{{SHOP_SELECTOR}, status="success"}}[$__range]))',
        "short",
        "Logins in the time range.",
    ),
    (
        "Checkout failures",
        f"sum(increase(ecommerce_checkout_failures_total{{{SHOP_SELECTOR}}}[$__range]))",
        "short",
        "Checkouts that created no order, every reason.",
    ),
    (
        "Low-stock products",
        f"max(ecommerce_low_stock_products{{{SHOP_SELECTOR}}})",
        "short",
        "Active products with fewer than 5 in stock.",
    ),
]
