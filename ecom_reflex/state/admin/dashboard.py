"""State of /admin: KPIs and charts over a period, low stock, CSV exports."""

from __future__ import annotations

import reflex as rx

from ecom_reflex import faults
from ecom_reflex.db import session_scope
from ecom_reflex.money import format_cents
from ecom_reflex.services import analytics
from ecom_reflex.state.admin import AdminState, admin_only, admin_url
from ecom_reflex.state.inputs import parse_int

EXPORTS = {"products": analytics.products_csv, "orders": analytics.orders_csv, "users": analytics.users_csv}


class AdminAnalyticsState(AdminState):
    period: int = 30
    revenue: str = "$0.00"
    order_count: int = 0
    average_order: str = "$0.00"
    customers: int = 0
    new_registrations: int = 0
    # Each KPI against the period before it ("+12%", "new", "no change") and "up" / "down" / "flat".
    kpi_change: dict[str, str] = {}
    kpi_direction: dict[str, str] = {}
    daily_chart: list[dict[str, str | float | int]] = []
    top_chart: list[dict[str, str | float | int]] = []
    # The statuses with orders in the period, in workflow order (the page colours them).
    status_chart: list[dict[str, str | int]] = []
    # Every order placed in the period, cancelled ones too.
    period_orders: int = 0
    low_stock_rows: list[analytics.LowStockProduct] = []
    # Fault flags (ecom_reflex/faults.py) that are on, as "flag: value"; an operator breaking the shop on
    # purpose sees it here too.
    faults_on: list[str] = []

    @rx.event
    @admin_only
    def load_dashboard(self):
        days = parse_int(self._query_param("days")) or self.period
        self.period = days if days in analytics.PERIODS else 30
        with session_scope() as session:
            kpis = analytics.kpis(session, self.period)
            before = analytics.kpis(session, self.period, periods_back=1)
            daily = analytics.daily(session, self.period)
            top = analytics.top_products(session, self.period)
            statuses = analytics.orders_by_status(session, self.period)
            self.low_stock_rows = analytics.low_stock(session)
        self.revenue = format_cents(kpis.revenue_cents)
        self.order_count = kpis.order_count
        self.average_order = format_cents(kpis.average_order_cents)
        self.customers = kpis.customers
        self.new_registrations = kpis.new_registrations
        changes = analytics.kpi_changes(kpis, before)
        self.kpi_change = {name: c.text for name, c in changes.items()}
        self.kpi_direction = {name: c.direction for name, c in changes.items()}
        self.daily_chart = [{"day": d.day[5:], "revenue": d.revenue_cents / 100, "orders": d.orders} for d in daily]
        self.top_chart = [{"name": p.name, "revenue": p.revenue_cents / 100, "quantity": p.quantity} for p in top]
        self.status_chart = [{"status": status, "orders": count} for status, count in statuses.items() if count]
        self.period_orders = sum(statuses.values())
        self.faults_on = [
            f"{flag}: {'on' if value is True else value}" for flag, value in faults.current().items() if value
        ]

    @rx.event
    @admin_only
    def set_period(self, days: str | list[str]):
        value = parse_int(days[0] if isinstance(days, list) and days else days)
        return rx.redirect(admin_url("/admin", days=value if value in analytics.PERIODS else 30))

    @rx.event
    @admin_only
    def export_csv(self, kind: str):
        export = EXPORTS.get(str(kind))
        if export is None:
            return rx.toast.error("Unknown export.")
        with session_scope() as session:
            data = export(session)
        return rx.download(data=data, filename=f"{kind}.csv", mime_type="text/csv")
