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
from grafana_as_code import alerts, render
from grafana_as_code.dashboards import overview

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


def test_three_dashboards_in_the_shop_folder_with_stable_ids():
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "dashboards.yaml").read_text())["providers"][0]
    assert provider["folder"] == "Shop"
    found = {d["uid"]: d for d in dashboards()}
    assert set(found) == {"shop-overview", "shop-logs", "shop-traces"}
    for dashboard in found.values():
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids)
        assert all(t.get("refId") for t in targets(dashboard))
    variables = {v["name"] for v in found["shop-overview"]["templating"]["list"]}
    assert {"environment", "event"} <= variables


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
