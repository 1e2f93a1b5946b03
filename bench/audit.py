"""`make audit`: Lighthouse (npm, with Debian's Chromium) on the production build, every page of
issue 18's table, mobile and desktop; a table in README "Lighthouse" between its markers.

Not part of `make test`: scores are measurements on a shared machine, not assertions.

/admin is audited as the admin: Playwright logs in once in a Chromium profile, and Lighthouse
runs in that profile without resetting its storage (the session token is in local storage).
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import shop
from bench.frontend_cost import build_scripts, first_visit_scripts, shop_without_browser_telemetry, totals
from bench.lighthouse_runs import ATTEMPTS, PageResult, RunOutcome, read_run, with_retries
from bench.run import RESULTS
from e2e.browser import CHROMIUM, CHROMIUM_ARGS
from ecom_reflex.settings import PROJECT_ROOT
from testkit.servers import ShopProcess

LIGHTHOUSE = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "lighthouse"
README = PROJECT_ROOT / "README.md"
BEGIN, END = "<!-- lighthouse:begin -->", "<!-- lighthouse:end -->"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGETS = {"accessibility": 100, "best-practices": 100, "seo": 95}
# Mobile performance targets of issue 18 (the others have none).
PERFORMANCE_TARGETS = {"/": 85, "/product/<id>": 85, "/admin": 75}
LIGHTHOUSE_TIMEOUT_S = 300
# The lab metrics the cost section compares (milliseconds).
SHOWN_METRICS = (("first-contentful-paint", "FCP"), ("largest-contentful-paint", "LCP"),
                 ("total-blocking-time", "TBT"), ("speed-index", "SI"))  # fmt: skip
# Mobile performance runs a side (with and without the browser telemetry) for its cost.
COST_ROUNDS = 3


def log_in_profile(url: str, profile: Path, username: str, password: str) -> None:
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=CHROMIUM_ARGS, base_url=url
        )
        page = context.new_page()
        page.goto("/login")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/$"))
        context.close()


def lighthouse(url: str, form_factor: str, profile: Path | None, categories=CATEGORIES) -> PageResult:
    """Lighthouse on `url`, run again while a run fails (bench/lighthouse_runs.py), at most ATTEMPTS times."""
    flags = [*CHROMIUM_ARGS] + ([f"--user-data-dir={profile}"] if profile else [])
    command = [
        str(LIGHTHOUSE), url, "--output=json", "--quiet", f"--only-categories={','.join(categories)}",
        f"--chrome-flags={' '.join(flags)}", "--max-wait-for-load=60000",
    ]  # fmt: skip
    if form_factor == "desktop":
        command.append("--preset=desktop")
    if profile:
        command.append("--disable-storage-reset")

    def run_once() -> RunOutcome:
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=LIGHTHOUSE_TIMEOUT_S,
                env={"CHROME_PATH": CHROMIUM, "PATH": "/usr/bin:/bin"},
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            return RunOutcome(error=f"timed out after {LIGHTHOUSE_TIMEOUT_S} s")
        outcome = read_run(result.returncode, result.stdout, result.stderr, categories)
        if outcome.error:
            print(f"  lighthouse on {url} ({form_factor}): {outcome.error}", flush=True)
        return outcome

    return with_retries(run_once)


def run() -> dict:
    if not LIGHTHOUSE.exists():
        raise SystemExit("lighthouse is not installed: run `make audit`")
    load_before = os.getloadavg()[0]
    workdir = Path(tempfile.mkdtemp(prefix="audit-"))
    server = shop()
    # The same app without the browser telemetry, to say what it costs (bench/frontend_cost.py).
    without = shop_without_browser_telemetry(PROJECT_ROOT, workdir)
    profile = workdir / "lighthouse-profile"
    rows = []
    try:
        for each in (server, without):
            each.setup()
            each.start()
        product = _first_product(server)
        log_in_profile(server.url, profile, "admin", server.env["ADMIN_PASSWORD"])
        for label, path, signed_in in (
            ("/", "/", False),
            ("/product/<id>", f"/product/{product}", False),
            ("/cart", "/cart", False),
            ("/login", "/login", False),
            ("/admin", "/admin", True),
        ):
            for form_factor in ("mobile", "desktop"):
                page = lighthouse(server.url + path, form_factor, profile if signed_in else None)
                rows.append(_row(label, form_factor, page))
                print(label, form_factor, page.scores or "failed", page.retries_text(), flush=True)
        shops = {"with": server, "without": without}
        pages = {name: {"/": "/", "/product/<id>": f"/product/{_first_product(each)}"} for name, each in shops.items()}
        cost = telemetry_cost(shops, pages)
    finally:
        for each in (server, without):
            each.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    # Lighthouse's mobile scores fall when other work shares the cores: said with the table.
    return {"rows": rows, "telemetry_cost": cost, "load_average": [load_before, os.getloadavg()[0]]}


def _row(label: str, form_factor: str, page: PageResult) -> dict:
    return {
        "page": label,
        "form_factor": form_factor,
        "scores": page.scores,
        "attempts": page.attempts,
        "errors": page.errors,
        "runs": page.retries_text(),
    }


def telemetry_cost(shops: dict[str, ShopProcess], paths: dict[str, dict[str, str]]) -> dict:
    """What reflex-otel's browser bundle costs: the JavaScript of a first visit to each page of
    `paths` and of the whole build, `shops["with"]` (the shop as built) against `shops["without"]`;
    mobile performance of each page, COST_ROUNDS runs a side taking turns, each retried as the table's."""
    labels = list(paths["with"])
    first_visit = {
        label: {name: totals(first_visit_scripts(shop.url + paths[name][label])) for name, shop in shops.items()}
        for label in labels
    }
    build = {name: totals(build_scripts(shop.root)) for name, shop in shops.items()}
    performance: dict[str, dict[str, list]] = {label: {name: [] for name in shops} for label in labels}
    for turn in range(COST_ROUNDS):
        for label in labels:
            for name in ("with", "without") if turn % 2 == 0 else ("without", "with"):
                page = lighthouse(shops[name].url + paths[name][label], "mobile", None, ("performance",))
                score = (page.scores or {}).get("performance")
                performance[label][name].append(
                    {"score": score, "errors": page.errors, "runs": page.retries_text(), "metrics": page.metrics}
                )
                print("cost:", label, name, page.scores or "failed", page.retries_text(), flush=True)
    return {"first_visit": first_visit, "build": build, "mobile_performance": performance, "rounds": COST_ROUNDS}


def _first_product(server) -> int:
    import sqlite3

    db = server.env["DB_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT id FROM products WHERE is_active ORDER BY id LIMIT 1").fetchone()[0]


def markdown(result: dict) -> str:
    def cell(row: dict, category: str) -> str:
        if row["scores"] is None:
            return "failed"
        score = row["scores"][category]
        target = TARGETS.get(category)
        if category == "performance" and row["form_factor"] == "mobile":
            target = PERFORMANCE_TARGETS.get(row["page"])
        return f"{score}" if target is None or score >= target else f"**{score}** (target {target})"

    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.node() or 'this machine'} "
        f"({platform.machine()}, {_cpus()} CPUs), Lighthouse {_version()} with Debian's Chromium, "
        "against the production build served by `make run` (SQLite); the machine's load average "
        f"(1 min) {result['load_average'][0]:.1f} at the start, {result['load_average'][1]:.1f} at the end. "
        "Bold: under issue 18's target. "
        f"Runs: a page whose Lighthouse run failed (a lost trace: NO_NAVSTART, NO_FCP) is run again, "
        f"at most {ATTEMPTS} times.",
        "",
        "| page | form factor | performance | accessibility | best practices | SEO | runs |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{row['page']}` | {row['form_factor']} | "
        + " | ".join(cell(row, c) for c in CATEGORIES)
        + f" | {row['runs'] or row['attempts']} |"
        for row in result["rows"]
    ]
    return "\n".join([*lines, "", *cost_markdown(result["telemetry_cost"]), "", retried_line(result)])


def cost_markdown(cost: dict) -> list[str]:
    def kib(n: float) -> str:
        return f"{n / 1024:.1f}"

    def scripts(n: int, sign: str = "") -> str:
        return f"{n:{sign}d} script{'' if abs(n) == 1 else 's'}"

    def sizes(t: dict) -> str:
        late = f"; {kib(t['after_load_gzip_bytes'])} KiB of it after load" if t["after_load_scripts"] else ""
        return f"{kib(t['gzip_bytes'])} KiB ({kib(t['bytes'])} KiB), {scripts(t['scripts'])}{late}"

    def added(with_: dict, without: dict) -> str:
        return (
            f"{kib(with_['gzip_bytes'] - without['gzip_bytes'])} KiB "
            f"({kib(with_['bytes'] - without['bytes'])} KiB), {scripts(with_['scripts'] - without['scripts'], '+')}"
        )

    def median_score(runs: list[dict]) -> int | None:
        scores = [run["score"] for run in runs if run["score"] is not None]
        return round(statistics.median(scores)) if scores else None

    def performance(label: str, runs: list[dict]) -> str:
        median = median_score(runs)
        each = ", ".join("failed" if run["score"] is None else str(run["score"]) for run in runs)
        target = PERFORMANCE_TARGETS[label]
        shown = "failed" if median is None else f"{median}" if median >= target else f"**{median}** (target {target})"
        return f"{shown} ({each})"

    lines = [
        "Browser telemetry (reflex-otel's OpenTelemetry bundle, `rxconfig.py`), against a build of the same "
        "app without its plugin (bench/frontend_cost.py): the JavaScript a fresh browser downloads for "
        "the page (until idle after its load event), gzip (level 9) and raw; the build's; mobile "
        "performance as the median of "
        f"{cost['rounds']} runs a side, taking turns.",
        "",
        "| | with it | without | it adds |",
        "|---|---|---|---|",
    ]
    for label, sides in cost["first_visit"].items():
        lines.append(
            f"| `{label}`: first visit's JavaScript | {sizes(sides['with'])} | {sizes(sides['without'])} | "
            f"{added(sides['with'], sides['without'])} |"
        )
    build = cost["build"]
    lines.append(
        f"| the whole build's JavaScript | {sizes(build['with'])} | {sizes(build['without'])} | "
        f"{added(build['with'], build['without'])} |"
    )
    for label, sides in cost["mobile_performance"].items():
        with_, without = median_score(sides["with"]), median_score(sides["without"])
        change = f"{with_ - without:+d}" if with_ is not None and without is not None else "?"
        lines.append(
            f"| `{label}`: mobile performance | {performance(label, sides['with'])} | "
            f"{performance(label, sides['without'])} | {change} |"
        )
    lines.append("")
    for label, sides in cost["mobile_performance"].items():
        with_, without = (_median_metrics(sides[name]) for name in ("with", "without"))
        parts = [
            f"{short} {with_[metric]:.0f} / {without[metric]:.0f} ms"
            for metric, short in SHOWN_METRICS
            if metric in with_ and metric in without
        ]
        if parts:
            lines.append(f"`{label}` mobile, medians with / without: {', '.join(parts)}.")
    otel = build["with"]
    lines += [
        "",
        f"In the build, {otel['opentelemetry_scripts']} chunks hold OpenTelemetry code "
        f"({kib(otel['opentelemetry_gzip_bytes'])} KiB gzip, with some of the shop's own code bundled in; "
        "the difference above is the telemetry's own).",
    ]
    return lines


def _median_metrics(runs: list[dict]) -> dict[str, float]:
    """Each lab metric's median over the runs that measured it."""
    values: dict[str, list[float]] = {}
    for run in runs:
        for metric, value in run.get("metrics", {}).items():
            values.setdefault(metric, []).append(value)
    return {metric: statistics.median(numbers) for metric, numbers in values.items()}


def retried_line(result: dict) -> str:
    """Which runs needed more than one attempt (table and cost runs alike), and which failed every one."""
    retried = [f"`{row['page']}` {row['form_factor']}: {row['runs']}" for row in result["rows"] if row["runs"]]
    for label, sides in result["telemetry_cost"]["mobile_performance"].items():
        for name, runs in sides.items():
            retried += [f"`{label}` mobile {name} the telemetry: {run['runs']}" for run in runs if run["runs"]]
    if not retried:
        return "Every page was measured at its first run."
    return "Run again after a failed run: " + "; ".join(retried) + "."


def failed_pages(result: dict) -> list[str]:
    failed = [f"{row['page']} {row['form_factor']}" for row in result["rows"] if row["scores"] is None]
    for label, sides in result["telemetry_cost"]["mobile_performance"].items():
        for name, runs in sides.items():
            failed += [f"{label} mobile ({name} the telemetry)" for run in runs if run["score"] is None]
    return failed


def _cpus() -> int:
    return os.cpu_count() or 1


def _version() -> str:
    package = LIGHTHOUSE.resolve().parent.parent / "package.json"
    try:
        return json.loads(package.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def write_readme(table: str) -> None:
    text = README.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    README.write_text(text[:start] + "\n" + table + "\n" + text[end:], encoding="utf-8")


if __name__ == "__main__":
    audit = run()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "audit.json").write_text(json.dumps(audit, indent=2, sort_keys=True) + "\n")
    table = markdown(audit)
    print(table)
    write_readme(table)
    print("\nREADME.md: Lighthouse table updated")
    if failed := failed_pages(audit):
        sys.exit(f"Lighthouse failed every one of {ATTEMPTS} runs on: {', '.join(failed)}")
