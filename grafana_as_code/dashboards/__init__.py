"""The "Shop" dashboards; each module has build() -> Dashboard builder."""

from grafana_as_code.dashboards import logs, overview, shoppers, traces

ALL = (overview, logs, traces, shoppers)
