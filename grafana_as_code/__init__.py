"""Grafana as code: datasources, the "Shop" dashboards and alert rules, written by `python -m grafana_as_code`.

Layout:
  datasources.py   the three datasources (fixed uids) and their provisioning YAML; every panel refers to these
  layout.py        panel helpers: a grid that places panels and numbers them, query builders
  dashboards/      overview (metrics), logs (Loki), traces (Tempo), shoppers (what the browsers felt)
  alerts.py        alert rules, rendered both for Prometheus (promtool-testable) and for Grafana (which notifies)
  render.py        writes the provisioning tree deterministically
"""

# The app's service name, as its logs and traces carry it.
SERVICE = "ecom-shop"
# The browser side of the shop, as its spans carry it (the browser's send of an event is a span of this service).
FRONTEND_SERVICE = "ecom-shop-frontend"
# The payment service's (payment_gateway/): the shop's checkout traces continue into it.
PAYMENT_SERVICE = "payment-gateway"
FOLDER = "Shop"
