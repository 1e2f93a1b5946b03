"""The generated Grafana provisioning: deterministic, consistent, and only asking for what exists."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ecom_reflex.settings import PROJECT_ROOT
from grafana_as_code import FRONTEND_SERVICE, SERVICE, alerts, render
from grafana_as_code.dashboards import overview, shoppers

PROVISIONING = PROJECT_ROOT / "monitoring" / "grafana" / "provisioning"
RULES = PROJECT_ROOT / "monitoring" / "prometheus" / "rules"
ALLOY_CONFIG = PROJECT_ROOT / "monitoring" / "alloy" / "config.alloy"
PROMTOOL = "/usr/bin/promtool"
# Series Prometheus itself or Tempo's metrics generator writes: not the app's.
NOT_FROM_THE_APP = {"up"}
TEMPO_GENERATED_PREFIX = "traces_"


def tree(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def dashboards() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((PROVISIONING / "dashboards" / "shop").glob("*.json"))]


def targets(dashboard: dict) -> list[dict]:
    return [target for panel in dashboard["panels"] for target in panel.get("targets", [])]


def prometheus_exprs() -> list[str]:
    exprs = [t["expr"] for d in dashboards() for t in targets(d) if t["datasource"]["uid"] == "prometheus"]
    return exprs + [rule.value for rule in alerts.RULES]


def loki_exprs() -> list[str]:
    return [t["expr"] for d in dashboards() for t in targets(d) if t["datasource"]["uid"] == "loki"]


def test_the_committed_files_are_what_the_code_generates(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "grafana_as_code", "--out", str(tmp_path / "p"), "--rules-out", str(tmp_path / "r")],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
    )
    assert tree(tmp_path / "p") == tree(PROVISIONING), "run `python -m grafana_as_code` and commit the result"
    assert tree(tmp_path / "r") == tree(RULES)


def test_generation_is_deterministic(tmp_path):
    render.write(tmp_path / "a", tmp_path / "ra")
    render.write(tmp_path / "b", tmp_path / "rb")
    assert tree(tmp_path / "a") == tree(tmp_path / "b") and tree(tmp_path / "ra") == tree(tmp_path / "rb")


def test_four_dashboards_in_the_shop_folder_with_stable_ids():
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())["providers"][0]
    assert provider["folder"] == "Shop"
    found = {d["uid"]: d for d in dashboards()}
    assert set(found) == {"shop-overview", "shop-logs", "shop-traces", "shop-shopper-experience"}
    for dashboard in found.values():
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
        assert all(t.get("refId") for t in targets(dashboard))
    variables = {v["name"] for v in found["shop-overview"]["templating"]["list"]}
    assert {"environment", "event"} <= variables
    variables = {v["name"] for v in found["shop-shopper-experience"]["templating"]["list"]}
    assert {"environment", "page", "event"} <= variables


def test_dashboards_and_alert_rules_name_one_folder_by_title():
    """Grafana 11.6 provisions alert rules first, finding or creating their folder by title (rule groups
    have no folder uid); a dashboard provider with a folderUid looks up by uid only and made a second
    "Shop". Both by the same title, they share one folder whichever runs first."""
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())["providers"][0]
    alerting = yaml.safe_load((PROVISIONING / "alerting" / "shop-alerts.yaml").read_text())
    assert "folderUid" not in provider
    assert {group["folder"] for group in alerting["groups"]} == {provider["folder"]} == {"Shop"}
    assert not any("folderUid" in group or "folderUID" in group for group in alerting["groups"])


def test_every_datasource_uid_a_panel_or_alert_uses_exists():
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yaml").read_text())["datasources"]
    defined = {ds["uid"] for ds in datasources}
    assert defined == {"prometheus", "loki", "tempo"}
    used = set()
    for dashboard in dashboards():
        text = json.dumps(dashboard)
        used |= set(re.findall(r'"uid": "([^"]+)"', text)) - {dashboard["uid"]}
    grafana_alerts = yaml.safe_load((PROVISIONING / "alerting" / "shop-alerts.yaml").read_text())
    for rule in grafana_alerts["groups"][0]["rules"]:
        used |= {query["datasourceUid"] for query in rule["data"]}
    assert used - {"__expr__"} <= defined


def test_datasources_link_metrics_traces_and_logs():
    by_uid = {
        ds["uid"]: ds
        for ds in yaml.safe_load((PROVISIONING / "datasources" / "datasources.yaml").read_text())["datasources"]
    }
    # The shop's exemplars say trace_id; Tempo's span-metric exemplars say traceID: both link.
    assert by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"] == [
        {"datasourceUid": "tempo", "name": "trace_id"},
        {"datasourceUid": "tempo", "name": "traceID"},
    ]
    (derived,) = by_uid["loki"]["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == "tempo"
    log_line = '{"level": "INFO", "trace_id": "7348ce581c42b009e9ba108d84a2f3af", "span_id": "10561bffe74818f2"}'
    assert re.search(derived["matcherRegex"], log_line).group(1) == "7348ce581c42b009e9ba108d84a2f3af"
    tempo = by_uid["tempo"]["jsonData"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki" and tempo["tracesToLogsV2"]["filterByTraceID"]
    assert tempo["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert tempo["serviceMap"]["datasourceUid"] == "prometheus" and tempo["nodeGraph"]["enabled"]


# Labels Prometheus adds to every series at scrape time (prometheus.yml), not the app.
TARGET_LABELS = {"job", "instance", "environment"}


def series_of(metric) -> dict[str, set[str]]:
    """Every series name a prometheus_client metric object can export, with its label names."""
    base, labels = metric._name, set(metric._labelnames)
    if metric._type == "counter":
        return {f"{base}_total": labels, f"{base}_created": labels}
    if metric._type == "histogram":
        return {f"{base}_bucket": labels | {"le"}, f"{base}_sum": labels, f"{base}_count": labels}
    if metric._type == "info":
        return {f"{base}_info": labels}
    return {base: labels}


def metric_objects(namespace: dict) -> list:
    from prometheus_client.metrics import MetricWrapperBase

    return [value for value in namespace.values() if isinstance(value, MetricWrapperBase)]


def app_metrics() -> dict[str, set[str]]:
    """name -> label names of every series the shop (ecom_reflex/observability/metrics.py) and the
    payment service (payment_gateway/metrics.py) export: from their metric objects, so a histogram or a
    labelled counter counts before its first observation."""
    from ecom_reflex.observability import metrics
    from payment_gateway.metrics import GatewayMetrics

    # The process's CPU, memory and open files: prometheus_client's ProcessCollector (one process), or
    # each worker's own series in multiprocess mode (metrics.PROCESS_SAMPLES, with a pid label added).
    exported: dict[str, set[str]] = {name: set() for name in metrics.PROCESS_SAMPLES}
    for metric in metric_objects(vars(metrics)) + metric_objects(vars(GatewayMetrics(fault_flags=()))):
        for name, labels in series_of(metric).items():
            exported[name] = exported.get(name, set()) | labels
    return exported


def app_metric_names() -> set[str]:
    from prometheus_client import REGISTRY

    from ecom_reflex.observability import metrics
    from ecom_reflex.services.mail import KINDS

    metrics.initialise("ecom-shop", "test")
    metrics.initialise_emails(KINDS)  # as each worker's lifespan does
    names = set(app_metrics())
    for family in REGISTRY.collect():
        names |= {sample.name for sample in family.samples} | {family.name}
    return names


def metric_names(expr: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', '""', expr)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    without_ranges = re.sub(r"\b(by|without)\s*\([^)]*\)", "", without_ranges)
    words = set(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?=\s*[{\[)]|\s*$|\s*[*/+-])", without_ranges))
    functions_and_keywords = {"sum", "by", "rate", "increase", "histogram_quantile", "max", "min", "le", "count"}
    return {w for w in words if "_" in w or w == "up"} - functions_and_keywords


def test_every_metric_a_panel_or_rule_uses_is_exported_by_the_app():
    exported = app_metric_names()
    used = set().union(*(metric_names(expr) for expr in prometheus_exprs()))
    assert {"reflex_event_duration_seconds_bucket", "ecommerce_orders_total"} <= used
    # The payment row and alerts read both sides of the HTTP hop.
    assert {"ecommerce_payments_total", "payment_gateway_request_duration_seconds_bucket"} <= used
    from_app = {name for name in used if not name.startswith(TEMPO_GENERATED_PREFIX)} - NOT_FROM_THE_APP
    assert from_app <= exported, f"not exported by the app: {from_app - exported}"


def test_every_label_a_panel_or_rule_uses_is_one_its_metrics_carry():
    """Label matchers name a label of their metric; by/on lists name a label of some metric in the
    expression (a typo there gives an empty panel or a rule that never fires, silently)."""
    exported = app_metrics() | {"up": set()}
    for expr in prometheus_exprs():
        without_strings = re.sub(r'"[^"]*"', '""', expr)
        selectors = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}", without_strings)
        carried = set(TARGET_LABELS)
        for name, matchers in selectors:
            if name.startswith(TEMPO_GENERATED_PREFIX):
                continue
            labels = exported[name] | TARGET_LABELS
            carried |= labels
            used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
            assert used <= labels, f"{name} has no label {used - labels}: {expr}"
        if any(name.startswith(TEMPO_GENERATED_PREFIX) for name, _ in selectors):
            continue
        for grouping in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", without_strings):
            used = {label.strip() for label in grouping.split(",") if label.strip()}
            assert used <= carried, f"no metric here carries {used - carried}: {expr}"


def alloy_labels() -> set[str]:
    config = ALLOY_CONFIG.read_text()
    block = re.search(r"stage\.labels\s*\{\s*values\s*=\s*\{(.*?)\}", config, re.S)
    assert block, "the Alloy config sets its labels in a stage.labels block"
    return set(re.findall(r"^\s*([a-z_]+)\s*=", block.group(1), re.M))


def test_loki_selectors_use_only_the_labels_alloy_sets():
    labels = alloy_labels()
    assert labels == {"service", "level", "environment"}
    assert "trace_id" not in labels
    exprs = loki_exprs()
    datasource = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yaml").read_text())
    exprs.append(
        next(d for d in datasource["datasources"] if d["uid"] == "tempo")["jsonData"]["tracesToLogsV2"]["query"]
    )
    assert len(exprs) >= 4
    for expr in exprs:
        selector = re.search(r"\{([^}]*)\}", expr).group(1)
        used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
        assert used and used <= labels, f"{expr}: {used - labels}"


def grafana_variables_filled(expr: str) -> str:
    """A panel's PromQL as Grafana sends it: its range variables as a duration, the others as a regex."""
    expr = re.sub(r"\$__(rate_interval|range|interval)\b", "5m", expr)
    return re.sub(r"\$\w+", ".*", expr)


def test_promtool_parses_every_panel_query(tmp_path):
    """Each panel's PromQL, with Grafana's variables filled in, is one Prometheus parses (as a recording
    rule, which promtool checks offline): a typo gives an empty panel, not an error anyone sees."""
    exprs = [t["expr"] for d in dashboards() for t in targets(d) if t["datasource"]["uid"] == "prometheus"]
    rules = [{"record": f"panel:query_{i}", "expr": grafana_variables_filled(e)} for i, e in enumerate(exprs)]
    rules_file = tmp_path / "panels.yml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "panels", "rules": rules}]}))
    result = subprocess.run([PROMTOOL, "check", "rules", str(rules_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def shopper_dashboard() -> dict:
    return next(d for d in dashboards() if d["uid"] == shoppers.UID)


# Google's good / poor thresholds (web.dev "Web Vitals"), written out apart from the dashboard's own table.
GOOGLE_THRESHOLDS = {"LCP": (2.5, 4), "INP": (0.2, 0.5), "CLS": (0.1, 0.25), "FCP": (1.8, 3), "TTFB": (0.8, 1.8)}


@pytest.mark.parametrize("vital", sorted(GOOGLE_THRESHOLDS))
def test_the_shopper_dashboard_shows_each_vitals_p75_by_page_against_googles_thresholds(vital):
    good, poor = GOOGLE_THRESHOLDS[vital]
    panels = [p for p in shopper_dashboard()["panels"] if p["title"].startswith(f"{vital} p75 by page")]
    assert {p["type"] for p in panels} == {"bargauge", "timeseries"}
    metric = "browser_web_vital_cls_bucket" if vital == "CLS" else "browser_web_vital_seconds_bucket"
    for panel in panels:
        steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
        assert [(step["value"], step["color"]) for step in steps] == [(None, "green"), (good, "#EAB839"), (poor, "red")]
        assert panel["fieldConfig"]["defaults"]["unit"] == ("none" if vital == "CLS" else "s")
        (target,) = panel["targets"]
        assert target["expr"].startswith("histogram_quantile(0.75, sum by (le, page)") and metric in target["expr"]
        assert vital == "CLS" or f'vital="{vital}"' in target["expr"]
    over_time = next(p for p in panels if p["type"] == "timeseries")
    assert over_time["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] != "off"


def test_the_shopper_dashboard_puts_the_servers_p95_beside_the_click_and_links_slow_clicks_to_traces():
    by_metric = {}
    for panel in shopper_dashboard()["panels"]:
        for target in panel.get("targets", []):
            for name in metric_names(target.get("expr", "")):
                by_metric.setdefault(name, []).append((panel, target))
    (clicks,) = [panel for panel, t in by_metric["browser_click_to_answer_seconds_bucket"] if not t.get("instant")]
    exprs = {t["expr"]: t for t in clicks["targets"]}
    shopper, server = (
        next(t for e, t in exprs.items() if f"{metric}_bucket" in e)
        for metric in ("browser_click_to_answer_seconds", "reflex_event_duration_seconds")
    )
    for target in (shopper, server):
        assert target["expr"].startswith("histogram_quantile(0.95, sum by (le, event)")
        assert target["exemplar"] is True
    # The shop's exemplars say trace_id; the Prometheus datasource opens that id in Tempo.
    datasources = yaml.safe_load((PROVISIONING / "datasources" / "datasources.yaml").read_text())["datasources"]
    prometheus = next(d for d in datasources if d["uid"] == "prometheus")
    assert {"datasourceUid": "tempo", "name": "trace_id"} in prometheus["jsonData"]["exemplarTraceIdDestinations"]
    # Every browser series the shop exports is on the dashboard.
    assert {
        "browser_web_vital_seconds_bucket",
        "browser_web_vital_cls_bucket",
        "browser_web_vital_ratings_total",
        "browser_click_to_answer_seconds_bucket",
        "browser_socket_disconnects_total",
        "browser_socket_reconnects_total",
        "browser_errors_total",
        "browser_spans_total",
        "browser_telemetry_refused_total",
    } <= set(by_metric)
    # The browser -> shop edge of Tempo's service graph, and the TraceQL that finds slow clicks without an exemplar.
    edge = f'client="{FRONTEND_SERVICE}", server="{SERVICE}"'
    assert any(edge in t["expr"] for _, t in by_metric["traces_service_graph_request_total"])
    traceql_queries = [t["query"] for p in shopper_dashboard()["panels"] for t in p.get("targets", [])
                       if t.get("queryType") == "traceql"]  # fmt: skip
    assert any("kind = producer" in q and "kind = consumer" in q and FRONTEND_SERVICE in q for q in traceql_queries)
    text = next(p for p in shopper_dashboard()["panels"] if p["type"] == "text")["options"]["content"]
    assert "View trace" in text and FRONTEND_SERVICE in text


def test_business_kpis_are_on_the_overview():
    titles = {p["title"] for d in dashboards() if d["uid"] == "shop-overview" for p in d["panels"]}
    assert {title for title, *_ in overview.BUSINESS_KPIS} <= titles


@pytest.mark.parametrize("rule", alerts.RULES, ids=lambda r: r.title)
def test_each_alert_has_a_summary_a_value_and_a_runbook(rule):
    assert rule.summary and "{value}" in rule.description
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert f"### Runbook: {rule.uid}" in readme, f"README needs a '### Runbook: {rule.uid}' section"


def test_grafana_alerting_has_contact_point_and_policy():
    provisioned = yaml.safe_load((PROVISIONING / "alerting" / "shop-alerts.yaml").read_text())
    (contact_point,) = provisioned["contactPoints"]
    (policy,) = provisioned["policies"]
    assert policy["receiver"] == contact_point["name"]
    (receiver,) = contact_point["receivers"]
    assert receiver["type"] == "webhook" and receiver["settings"]["url"] == "http://app:8000/alerts"
    rules = provisioned["groups"][0]["rules"]
    assert {r["uid"] for r in rules} == {r.uid for r in alerts.RULES}
    for rule in rules:
        assert rule["condition"] == "C" and "$values.A" in rule["annotations"]["description"]


def test_promtool_checks_the_rules_and_their_unit_tests():
    for rules_file in RULES.glob("*.yml"):
        subprocess.run([PROMTOOL, "check", "rules", str(rules_file)], check=True, capture_output=True)
    result = subprocess.run(
        [PROMTOOL, "test", "rules", "monitoring/prometheus/tests/shop-alerts.test.yml"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    tests = yaml.safe_load((PROJECT_ROOT / "monitoring/prometheus/tests/shop-alerts.test.yml").read_text())["tests"]
    cases = [case for group in tests for case in group["alert_rule_test"]]
    for rule in alerts.RULES:
        mine = [case for case in cases if case["alertname"] == rule.title]
        assert any(case["exp_alerts"] for case in mine), f"{rule.title} never fires in a test"
        assert any(not case["exp_alerts"] for case in mine), f"{rule.title} never stays quiet in a test"
