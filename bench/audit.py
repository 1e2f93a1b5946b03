"""`make audit`: Lighthouse (npm, with Debian's Chromium) on the production build, every page of
issue 18's table, mobile and desktop; a table in README "Lighthouse" between its markers.

Not part of `make test`: scores are measurements on a shared machine, not assertions.

/admin is audited as the admin: Playwright logs in once in a Chromium profile, and Lighthouse
runs in that profile without resetting its storage (the session token is in local storage).
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import sync_playwright

from bench.common import shop
from e2e.browser import CHROMIUM, CHROMIUM_ARGS
from ecom_reflex.settings import PROJECT_ROOT

LIGHTHOUSE = PROJECT_ROOT / ".tools" / "node_modules" / ".bin" / "lighthouse"
README = PROJECT_ROOT / "README.md"
BEGIN, END = "<!-- lighthouse:begin -->", "<!-- lighthouse:end -->"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
TARGETS = {"accessibility": 100, "best-practices": 100, "seo": 95}
# Mobile performance targets of issue 18 (the others have none).
PERFORMANCE_TARGETS = {"/": 85, "/product/<id>": 85, "/admin": 75}


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


def lighthouse(url: str, form_factor: str, profile: Path | None) -> dict[str, int]:
    flags = [*CHROMIUM_ARGS] + ([f"--user-data-dir={profile}"] if profile else [])
    command = [
        str(LIGHTHOUSE), url, "--output=json", "--quiet", f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={' '.join(flags)}", "--max-wait-for-load=60000",
    ]  # fmt: skip
    if form_factor == "desktop":
        command.append("--preset=desktop")
    if profile:
        command.append("--disable-storage-reset")
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={"CHROME_PATH": CHROMIUM, "PATH": "/usr/bin:/bin"}
    )
    if result.returncode != 0:
        raise RuntimeError(f"lighthouse failed on {url}: {result.stderr[-2000:]}")
    report = json.loads(result.stdout)
    return {name: round(100 * (report["categories"][name]["score"] or 0)) for name in CATEGORIES}


def run() -> dict:
    if not LIGHTHOUSE.exists():
        raise SystemExit("lighthouse is not installed: run `make audit`")
    server = shop()
    profile = Path(tempfile.mkdtemp(prefix="lighthouse-profile-"))
    rows = []
    try:
        server.setup()
        server.start()
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
                scores = lighthouse(server.url + path, form_factor, profile if signed_in else None)
                rows.append({"page": label, "form_factor": form_factor, **scores})
                print(label, form_factor, scores, flush=True)
    finally:
        server.stop()
        shutil.rmtree(profile, ignore_errors=True)
    return {"rows": rows}


def _first_product(server) -> int:
    import sqlite3

    db = server.env["DB_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT id FROM products WHERE is_active ORDER BY id LIMIT 1").fetchone()[0]


def markdown(result: dict) -> str:
    def cell(row: dict, category: str) -> str:
        score = row[category]
        target = TARGETS.get(category)
        if category == "performance" and row["form_factor"] == "mobile":
            target = PERFORMANCE_TARGETS.get(row["page"])
        return f"{score}" if target is None or score >= target else f"**{score}** (target {target})"

    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d} on {platform.node() or 'this machine'} "
        f"({platform.machine()}, {_cpus()} CPUs), Lighthouse {_version()} with Debian's Chromium, "
        "against the production build served by `make run` (SQLite). Bold: under issue 18's target.",
        "",
        "| page | form factor | performance | accessibility | best practices | SEO |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{row['page']}` | {row['form_factor']} | " + " | ".join(cell(row, c) for c in CATEGORIES) + " |"
        for row in result["rows"]
    ]
    return "\n".join(lines)


def _cpus() -> int:
    import os

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
    table = markdown(run())
    print(table)
    write_readme(table)
    print("\nREADME.md: Lighthouse table updated")
