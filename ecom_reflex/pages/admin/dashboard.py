"""Admin dashboard: KPI cards, charts, low stock and CSV exports."""

import reflex as rx

from ecom_reflex.components.admin import admin_shell
from ecom_reflex.components.layout import MUTED, section_title
from ecom_reflex.components.orders import status_color
from ecom_reflex.services.analytics import PERIODS
from ecom_reflex.services.catalog import LOW_STOCK_THRESHOLD
from ecom_reflex.state.admin.dashboard import AdminAnalyticsState

# Dollars on the money axes: "$1,200", not "1200" (Reflex emits the string as a JS function).
DOLLARS = "(value) => '$' + Number(value).toLocaleString('en-US')"


def kpi(label: str, value: rx.Var, name: str, test_id: str) -> rx.Component:
    state = AdminAnalyticsState
    direction = state.kpi_direction[name]
    return rx.card(
        rx.vstack(
            rx.text(label, size="2", color=MUTED),
            rx.text(value, size="7", weight="bold", data_testid=test_id),
            rx.hstack(
                rx.match(
                    direction,
                    ("up", rx.icon("trending-up", size=14, aria_hidden="true")),
                    ("down", rx.icon("trending-down", size=14, aria_hidden="true")),
                    rx.icon("minus", size=14, aria_hidden="true"),
                ),
                rx.text(
                    state.kpi_change[name],
                    " vs previous ",
                    state.period.to_string(),
                    " days",
                    size="1",
                    data_testid=test_id + "-change",
                ),
                spacing="1",
                align="center",
                color=rx.match(direction, ("up", rx.color("green", 11)), ("down", rx.color("red", 11)), MUTED),
            ),
            spacing="1",
        ),
        width="100%",
    )


def _chart_card(title: str, chart: rx.Component, height: int) -> rx.Component:
    """A chart, or "No orders" in a box of the chart's own height: nothing moves when data arrives."""
    return rx.card(
        section_title(title, size="3", margin_bottom="0.75em"),
        rx.cond(
            AdminAnalyticsState.period_orders > 0,
            chart,
            rx.center(rx.text("No orders in this period.", color=MUTED), height=f"{height}px"),
        ),
        width="100%",
    )


def dashboard_page() -> rx.Component:
    state = AdminAnalyticsState
    return admin_shell(
        "Dashboard",
        "Dashboard",
        rx.hstack(
            rx.text("Period:", size="2"),
            rx.segmented_control.root(
                *[rx.segmented_control.item(f"{days} days", value=str(days)) for days in PERIODS],
                value=state.period.to_string(),
                on_change=state.set_period,
            ),
            rx.spacer(),
            rx.text("Export CSV:", size="2"),
            *[
                rx.button(kind.capitalize(), size="1", variant="soft", on_click=state.export_csv(kind))
                for kind in ("products", "orders", "users")
            ],
            align="center",
            spacing="2",
            wrap="wrap",
            width="100%",
        ),
        rx.grid(
            kpi("Revenue", state.revenue, "revenue_cents", "kpi-revenue"),
            kpi("Orders", state.order_count, "order_count", "kpi-orders"),
            kpi("Average order", state.average_order, "average_order_cents", "kpi-average"),
            kpi("Customers", state.customers, "customers", "kpi-customers"),
            kpi("New registrations", state.new_registrations, "new_registrations", "kpi-registrations"),
            columns=rx.breakpoints(initial="2", md="5"),
            spacing="3",
            width="100%",
        ),
        _chart_card(
            "Revenue and orders per day",
            rx.recharts.composed_chart(
                rx.recharts.bar(
                    data_key="revenue", name="Revenue ($)", fill="#6366f1", y_axis_id="left", is_animation_active=False
                ),
                rx.recharts.line(
                    data_key="orders", name="Orders", stroke="#f59e0b", y_axis_id="right", is_animation_active=False
                ),
                rx.recharts.x_axis(data_key="day"),
                rx.recharts.y_axis(y_axis_id="left", tick_formatter=DOLLARS, width=70),
                rx.recharts.y_axis(y_axis_id="right", orientation="right", allow_decimals=False),
                rx.recharts.graphing_tooltip(),
                rx.recharts.legend(),
                data=state.daily_chart,
                height=280,
                width="100%",
            ),
            280,
        ),
        rx.grid(
            _chart_card(
                "Top 10 products by revenue",
                rx.recharts.bar_chart(
                    rx.recharts.bar(data_key="revenue", name="Revenue ($)", fill="#10b981", is_animation_active=False),
                    rx.recharts.x_axis(type_="number", tick_formatter=DOLLARS),
                    rx.recharts.y_axis(data_key="name", type_="category", width=160),
                    rx.recharts.graphing_tooltip(),
                    data=state.top_chart,
                    layout="vertical",
                    height=320,
                    width="100%",
                ),
                320,
            ),
            _chart_card(
                "Orders by status",
                rx.recharts.pie_chart(
                    rx.recharts.pie(
                        rx.foreach(
                            state.status_chart, lambda row: rx.recharts.cell(fill=status_color(row["status"], 9))
                        ),
                        data=state.status_chart,
                        data_key="orders",
                        name_key="status",
                        label=True,
                        is_animation_active=False,
                    ),
                    rx.recharts.graphing_tooltip(),
                    rx.recharts.legend(),
                    height=320,
                    width="100%",
                ),
                320,
            ),
            columns=rx.breakpoints(initial="1", md="2"),
            spacing="4",
            width="100%",
        ),
        rx.cond(
            state.faults_on.length() > 0,
            rx.callout.root(
                rx.callout.icon(rx.icon("flask-conical")),
                rx.callout.text(
                    'Fault flags are on (README, "Break it on purpose"): ', rx.foreach(state.faults_on, rx.code)
                ),
                color_scheme="orange",
                width="100%",
                data_testid="fault-flags-on",
            ),
            rx.text("Fault flags: all off.", size="2", color=rx.color("gray", 11), data_testid="fault-flags-off"),
        ),
        rx.card(
            section_title(f"Low stock (under {LOW_STOCK_THRESHOLD})", size="3", margin_bottom="0.75em"),
            rx.cond(
                state.low_stock_rows.length() == 0,
                rx.text(f"Every product has at least {LOW_STOCK_THRESHOLD} in stock."),
                rx.vstack(
                    rx.foreach(
                        state.low_stock_rows,
                        lambda p: rx.hstack(
                            rx.link(p.name, href="/admin/products/" + p.id.to_string()),
                            rx.spacer(),
                            rx.badge(
                                p.stock.to_string() + " left",
                                high_contrast=True,
                                color_scheme=rx.cond(p.stock == 0, "red", "orange"),
                            ),
                            width="100%",
                            data_testid="low-stock-row",
                        ),
                    ),
                    width="100%",
                ),
            ),
            width="100%",
        ),
    )
