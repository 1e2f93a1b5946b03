"""`make stack-check`: does a running stack hold what grafana_as_code provisions, and does data flow?

    python -m grafana_as_code.stack_check [--only prometheus|grafana|mail] [--prometheus-url URL] [--grafana-url URL]
                                          [--mailpit-url URL]

Prometheus (its own URL): every target of job "shop" up, every target of job "payments" (the payment
service) up, and every other target up; every alert and recording rule this package writes loaded
and healthy.
Grafana (its URL, user admin and GRAFANA_ADMIN_PASSWORD): each provisioned datasource's health
endpoint; each dashboard and alert rule loaded, all in one folder "Shop"; through Grafana's
datasource proxy (Loki and Tempo publish no port), the shop's log lines for {service="ecom-shop"}
and a trace in Tempo whose id appears in those lines.
Mailpit (its URL): the shop's e-mails arrived there (each registration of `make traffic` sends an address link).

Prints one table row per check and exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from grafana_as_code import FOLDER, SERVICE, alerts, compat
from grafana_as_code.dashboards import ALL as DASHBOARDS
from grafana_as_code.datasources import LOKI_UID, PROMETHEUS_UID, TEMPO_UID

SHOP_JOB = "shop"
PAYMENTS_JOB = "payments"
# How far back the log check looks, and how many of the newest traced lines it tries in Tempo.
LOG_WINDOW_S = 3600
TRACES_TO_TRY = 20


@dataclass(frozen=True)
class Result:
    check: str
    subject: str
    ok: bool
    detail: str


class CheckFailed(Exception):
    """A check's answer was wrong; the message says how."""


def _get(client: httpx.Client, path: str, **params) -> dict | list:
    response = client.get(path, params=params or None)
    if response.status_code != 200:
        raise CheckFailed(f"HTTP {response.status_code} from {path}: {response.text[:200]}")
    return response.json()


# --- Prometheus ------------------------------------------------------------------------------


def expected_rules() -> dict[str, str]:
    """name -> type ("alerting" or "recording") of every rule written to monitoring/prometheus/rules/."""
    rules = {rule.title: "alerting" for rule in alerts.RULES}
    for group in compat.recording_rules()["groups"]:
        rules.update({rule["record"]: "recording" for rule in group["rules"]})
    return rules


def prometheus_checks(client: httpx.Client) -> Iterator[tuple[str, str, Callable[[], str]]]:
    def targets() -> dict[str, list[dict]]:
        by_job: dict[str, list[dict]] = {}
        for target in _get(client, "/api/v1/targets", state="active")["data"]["activeTargets"]:
            by_job.setdefault(target["labels"]["job"], []).append(target)
        return by_job

    def job_targets_up(job: str) -> Callable[[], str]:
        def check() -> str:
            found = targets().get(job, [])
            if not found:
                raise CheckFailed(f'no target of job "{job}"')
            down = [f"{t['labels']['instance']} ({t['health']}: {t['lastError'] or 'no scrape yet'})" for t in found
                    if t["health"] != "up"]  # fmt: skip
            if down:
                raise CheckFailed("down: " + ", ".join(down))
            return f"{len(found)} up: " + ", ".join(t["labels"]["instance"] for t in found)

        return check

    def other_targets_up() -> str:
        others = [t for job, found in targets().items() if job not in (SHOP_JOB, PAYMENTS_JOB) for t in found]
        down = [f"{t['labels']['job']}/{t['labels']['instance']} ({t['health']})" for t in others
                if t["health"] != "up"]  # fmt: skip
        if down:
            raise CheckFailed("down: " + ", ".join(down))
        return f"{len(others)} up" if others else "none configured"

    def rules_loaded() -> str:
        loaded = {
            rule["name"]: rule
            for group in _get(client, "/api/v1/rules")["data"]["groups"]
            for rule in group["rules"]
        }  # fmt: skip
        problems = []
        for name, kind in expected_rules().items():
            rule = loaded.get(name)
            if rule is None or rule["type"] != kind:
                problems.append(f"{name} missing")
            elif rule.get("health") not in ("ok", "unknown"):
                problems.append(f"{name} {rule['health']}: {rule.get('lastError', '')}")
        if problems:
            raise CheckFailed("; ".join(problems))
        firing = sorted(name for name, rule in loaded.items() if rule.get("state") == "firing")
        return f"{len(expected_rules())} loaded" + (f"; firing now: {', '.join(firing)}" if firing else "")

    yield "Prometheus target", f'job "{SHOP_JOB}"', job_targets_up(SHOP_JOB)
    yield "Prometheus target", f'job "{PAYMENTS_JOB}"', job_targets_up(PAYMENTS_JOB)
    yield "Prometheus target", "the stack's other jobs", other_targets_up
    yield "Prometheus rules", "alerting and recording", rules_loaded


# --- Grafana, Loki and Tempo -----------------------------------------------------------------


def grafana_checks(client: httpx.Client) -> Iterator[tuple[str, str, Callable[[], str]]]:
    folder_uids: dict[str, str] = {}

    def datasource_healthy(uid: str) -> Callable[[], str]:
        def check() -> str:
            body = _get(client, f"/api/datasources/uid/{uid}/health")
            if str(body.get("status", "")).upper() != "OK":
                raise CheckFailed(f"{body.get('status')}: {body.get('message')}")
            return body.get("message", "OK")

        return check

    def one_shop_folder() -> str:
        shop = [folder for folder in _get(client, "/api/folders") if folder["title"] == FOLDER]
        if len(shop) != 1:
            raise CheckFailed(f'{len(shop)} folders called "{FOLDER}"')
        folder_uids["shop"] = shop[0]["uid"]
        return f"uid {shop[0]['uid']}"

    def dashboard_loaded(uid: str) -> Callable[[], str]:
        def check() -> str:
            body = _get(client, f"/api/dashboards/uid/{uid}")
            meta = body["meta"]
            if meta.get("folderTitle") != FOLDER:
                raise CheckFailed(f'in folder "{meta.get("folderTitle")}", not "{FOLDER}"')
            if not meta.get("provisioned"):
                raise CheckFailed("present but not provisioned")
            return body["dashboard"]["title"]

        return check

    def alert_rules_loaded() -> str:
        loaded = {rule["uid"]: rule for rule in _get(client, "/api/v1/provisioning/alert-rules")}
        missing = [rule.uid for rule in alerts.RULES if rule.uid not in loaded]
        if missing:
            raise CheckFailed("missing: " + ", ".join(missing))
        elsewhere = {loaded[rule.uid]["folderUID"] for rule in alerts.RULES} - {folder_uids.get("shop")}
        if elsewhere:
            raise CheckFailed(f"rules in folder(s) {sorted(elsewhere)}, not the dashboards' {folder_uids.get('shop')}")
        return f"{len(alerts.RULES)} in the {FOLDER} folder"

    trace_ids: list[str] = []

    def shop_logs_in_loki() -> str:
        now_ns = time.time_ns()
        body = _get(
            client,
            f"/api/datasources/proxy/uid/{LOKI_UID}/loki/api/v1/query_range",
            query=f'{{service="{SERVICE}"}}',
            start=str(now_ns - LOG_WINDOW_S * 1_000_000_000),
            end=str(now_ns),
            limit="1000",
            direction="backward",
        )
        lines = [line for stream in body["data"]["result"] for _, line in stream["values"]]
        if not lines:
            raise CheckFailed(f'no lines for {{service="{SERVICE}"}} in the last {LOG_WINDOW_S // 60} minutes')
        for line in lines:
            try:
                trace_id = json.loads(line).get("trace_id")
            except ValueError:
                continue
            if trace_id and trace_id not in trace_ids:
                trace_ids.append(trace_id)
        return f"{len(lines)} lines, {len(trace_ids)} with a trace id"

    def trace_in_tempo() -> str:
        if not trace_ids:
            raise CheckFailed("no log line carries a trace id")
        for trace_id in trace_ids[:TRACES_TO_TRY]:
            response = client.get(f"/api/datasources/proxy/uid/{TEMPO_UID}/api/traces/{trace_id}")
            if response.status_code == 200 and response.content:
                return f"trace {trace_id} (from the log lines)"
        tried = min(len(trace_ids), TRACES_TO_TRY)
        raise CheckFailed(f"none of the traces of the newest {tried} traced log lines is in Tempo")

    for uid in (PROMETHEUS_UID, LOKI_UID, TEMPO_UID):
        yield "Grafana datasource", uid, datasource_healthy(uid)
    yield "Grafana folder", FOLDER, one_shop_folder
    for module in DASHBOARDS:
        yield "Grafana dashboard", module.UID, dashboard_loaded(module.UID)
    yield "Grafana alert rules", "provisioned", alert_rules_loaded
    yield "Loki", f'{{service="{SERVICE}"}}', shop_logs_in_loki
    yield "Tempo", "trace of a log line", trace_in_tempo


def mail_checks(client: httpx.Client) -> Iterator[tuple[str, str, Callable[[], str]]]:
    def emails_arrived() -> str:
        body = _get(client, "/api/v1/messages", limit="1")
        if not body.get("total"):
            raise CheckFailed("no e-mail reached Mailpit: send traffic with registrations (make traffic), then see the"
                              " shop's e-mail log lines (action=email) for the error")  # fmt: skip
        return f"{body['total']} e-mails, the newest: {body['messages'][0]['Subject']!r}"

    yield "Mailpit", "the shop's e-mails", emails_arrived


# --- running and reporting -------------------------------------------------------------------


def run(checks: Iterator[tuple[str, str, Callable[[], str]]]) -> list[Result]:
    results = []
    for check, subject, function in checks:
        try:
            results.append(Result(check, subject, True, function()))
        except CheckFailed as error:
            results.append(Result(check, subject, False, str(error)))
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as error:
            results.append(Result(check, subject, False, f"{type(error).__name__}: {error}"))
    return results


def table(results: list[Result]) -> str:
    rows = [("check", "subject", "result", "detail")] + [
        (r.check, r.subject, "ok" if r.ok else "FAILED", r.detail) for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = []
    for row in rows:
        padded = [cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)]
        lines.append("  ".join([*padded, row[3]]))
    lines.insert(1, "  ".join("-" * width for width in widths) + "  " + "-" * 6)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana_as_code.stack_check", description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("prometheus", "grafana", "mail"), help="run one part of the checks")
    parser.add_argument("--prometheus-url", default=os.environ.get("PROMETHEUS_URL", "http://127.0.0.1:9090"))
    parser.add_argument("--grafana-url", default=os.environ.get("GRAFANA_URL", "http://127.0.0.1:3000"))
    parser.add_argument("--grafana-user", default=os.environ.get("GRAFANA_USER", "admin"))
    parser.add_argument("--mailpit-url", default=os.environ.get("MAILPIT_URL", "http://127.0.0.1:8025"))
    args = parser.parse_args(argv)

    results: list[Result] = []
    if args.only in (None, "prometheus"):
        with httpx.Client(base_url=args.prometheus_url, timeout=15) as client:
            results += run(prometheus_checks(client))
    if args.only in (None, "grafana"):
        password = os.environ.get("GRAFANA_ADMIN_PASSWORD")
        if not password:
            parser.error("GRAFANA_ADMIN_PASSWORD is not set (make stack-check reads it from monitoring/.env)")
        with httpx.Client(base_url=args.grafana_url, auth=(args.grafana_user, password), timeout=30) as client:
            results += run(grafana_checks(client))
    if args.only in (None, "mail"):
        with httpx.Client(base_url=args.mailpit_url, timeout=15) as client:
            results += run(mail_checks(client))
    print(table(results))
    failed = [r for r in results if not r.ok]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
