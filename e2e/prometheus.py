"""A real Prometheus (Debian's package) scraping the shop (and the payment service) every second, on a free loopback
port."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from testkit.servers import free_port

PROMETHEUS = "/usr/bin/prometheus"


@dataclass
class Prometheus:
    url: str
    process: subprocess.Popen

    def api(self, path: str, **params) -> dict:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def value(self, promql: str) -> float | None:
        """The single value of an instant query, or None when it has no result."""
        result = self.api("query", query=promql)["result"]
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_prometheus(
    target: str,
    workdir: Path,
    log_path: Path,
    token: str,
    rule_files: tuple[Path, ...] = (),
    payments: str | None = None,
) -> Prometheus:
    """`target` is host:port of the shop; Prometheus scrapes its /metrics every second with `token`
    and evaluates `rule_files` every second. `payments`, host:port of the payment service, is
    scraped too (job "payments", no key), as monitoring/prometheus/prometheus.yml does."""
    port = free_port()
    config = workdir / "prometheus.yml"
    rules = "".join(f"  - '{path}'\n" for path in rule_files)
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        + (f"rule_files:\n{rules}" if rules else "")
        + "scrape_configs:\n  - job_name: shop\n    metrics_path: /metrics\n"
        f"    authorization:\n      credentials: '{token}'\n"
        f"    static_configs:\n      - targets: ['{target}']\n        labels: {{environment: e2e}}\n"
        + (
            "  - job_name: payments\n    metrics_path: /metrics\n"
            f"    static_configs:\n      - targets: ['{payments}']\n        labels: {{environment: e2e}}\n"
            if payments
            else ""
        )
    )
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                PROMETHEUS,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--enable-feature=exemplar-storage",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    prometheus = Prometheus(url=f"http://127.0.0.1:{port}", process=process)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=2) as response:
                if response.status == 200:
                    return prometheus
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"Prometheus did not start; see {log_path}")
        time.sleep(0.2)
