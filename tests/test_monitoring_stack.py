"""The compose monitoring stack (monitoring/), checked without a Docker engine.

What can be checked here is checked for real: the compose file against the compose-spec
schema (check-jsonschema's vendored copy, offline), the Prometheus config with promtool,
and every config against the others and against what the app really writes.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from opentelemetry import trace

from ecom_reflex.observability.logging import ContextFilter, json_formatter
from ecom_reflex.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "monitoring"
COMPOSE_FILE = MONITORING / "docker-compose.yml"
# The scale path: a second file on top of the first (`-f docker-compose.yml -f docker-compose.scale.yml`).
SCALE_FILE = MONITORING / "docker-compose.scale.yml"
SERVICES = {"app", "payments", "mailpit", "prometheus", "loki", "alloy", "tempo", "grafana"}
SCALE_SERVICES = {"postgres", "redis", "app-scale"}
# What `docker compose up` reads from monitoring/.env, per file (README "Operate it" lists both).
STACK_VARIABLES = {
    "GRAFANA_ADMIN_PASSWORD", "ALERT_WEBHOOK_TOKEN", "METRICS_TOKEN", "SHOP_ADMIN_PASSWORD", "PAYMENT_API_KEY"
}  # fmt: skip
SCALE_VARIABLES = {
    "POSTGRES_PASSWORD",
    "ALERT_WEBHOOK_TOKEN",
    "METRICS_TOKEN",
    "SHOP_ADMIN_PASSWORD",
    "PAYMENT_API_KEY",
}
# The payment service (payment_gateway/): its port inside the compose network.
PAYMENTS_PORT = "8010"
# A tag that names a release: digits and dots (PostgreSQL's have two parts), optionally a
# leading v and a suffix; never a bare major version or a moving name like latest.
VERSION_TAG = re.compile(r"v?\d+\.\d+(\.\d+)?([.-][0-9A-Za-z.-]+)?")


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def scale_compose() -> dict[str, Any]:
    return load_yaml(SCALE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any], scale_compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every service of both files, as Compose merges them for the scale path (no name in both)."""
    assert not set(compose["services"]) & set(scale_compose["services"])
    return compose["services"] | scale_compose["services"]


def read_variables(path: Path) -> set[str]:
    return set(re.findall(r"\$\{(\w+)", path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def alloy_config() -> str:
    return (MONITORING / "alloy" / "config.alloy").read_text(encoding="utf-8")


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict, whichever form (map or list) the file uses."""
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def mounts(service: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """target -> (source, options) for each short-syntax volume of a service."""
    result = {}
    for entry in service.get("volumes", []):
        source, target, *options = entry.split(":")
        result[target] = (source, options[0] if options else "rw")
    return result


def alloy_block_body(config: str, block: str, attribute: str = "values") -> str:
    """The inside of `<block> { <attribute> = { ... } }` in the Alloy config."""
    pattern = re.escape(block) + r"\s*\{\s*" + attribute + r"\s*=\s*\{(?P<body>[^}]*)\}"
    match = re.search(pattern, config)
    assert match, f"no {block} block with {attribute} in config.alloy"
    return match["body"]


def alloy_names(body: str) -> list[str]:
    return re.findall(r"^\s*(\w+)\s*=\s*\"\"\s*,?\s*$", body, re.MULTILINE)


# --- compose file ---------------------------------------------------------------------------


def test_compose_file_validates_against_the_compose_spec(tmp_path: Path) -> None:
    check_jsonschema = Path(sys.executable).parent / "check-jsonschema"
    assert check_jsonschema.exists(), "pip install -r requirements-test.txt (check-jsonschema)"

    def validate(path: Path | str) -> subprocess.CompletedProcess[str]:
        command = [str(check_jsonschema), "--builtin-schema", "vendor.compose-spec", str(path)]
        return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)

    for path in ("monitoring/docker-compose.yml", "monitoring/docker-compose.scale.yml"):
        result = validate(path)
        assert result.returncode == 0, result.stdout + result.stderr
    # The same check rejects a broken file: the schema is really applied.
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  app:\n    image: shop:1.0.0\n    ports: 8000\n", encoding="utf-8")
    assert validate(broken).returncode != 0


def test_the_stack_has_exactly_its_eight_services(compose, scale_compose, services: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES
    assert set(scale_compose["services"]) == SCALE_SERVICES
    # The file is the switch: no profiles, so `up` starts everything a file names.
    assert not any(service.get("profiles") for service in services.values())


def test_the_stack_needs_only_its_own_variables_and_the_scale_path_its_own() -> None:
    """Compose interpolates a whole file before anything else: a `${X:?}` in the base file would make
    `docker compose up` fail without X even for an operator who never runs the scale path."""
    assert read_variables(COMPOSE_FILE) == STACK_VARIABLES
    assert read_variables(SCALE_FILE) == SCALE_VARIABLES


def test_the_scale_profile_runs_the_app_on_postgres_redis_and_two_workers(services: dict[str, Any]) -> None:
    env = environment(services["app-scale"])
    assert env["DB_URL"].startswith("postgresql://shop:${POSTGRES_PASSWORD:?")
    assert env["DB_URL"].endswith("@postgres:5432/shop")
    assert env["REDIS_URL"] == "redis://redis:6379/0" and env["WORKERS"] == "2"
    assert set(services["app-scale"]["depends_on"]) == {"postgres", "redis", "payments"}
    assert all(dep["condition"] == "service_healthy" for dep in services["app-scale"]["depends_on"].values())


def dockerfile(service: dict[str, Any], compose_dir: Path = MONITORING) -> str:
    build = service["build"]
    return ((compose_dir / build["context"]).resolve() / build["dockerfile"]).read_text(encoding="utf-8")


def images(service: dict[str, Any]) -> list[str]:
    """The images a service runs or is built from (a Dockerfile's stages are not images)."""
    if "build" not in service:
        return [service["image"]]
    text = dockerfile(service)
    stages = set(re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, re.MULTILINE | re.IGNORECASE))
    return [base for base in re.findall(r"^FROM\s+(\S+)", text, re.MULTILINE) if base not in stages]


def test_every_image_is_pinned_to_a_release(services: dict[str, Any]) -> None:
    built = {name for name, service in services.items() if "build" in service}
    assert built == {"app", "app-scale", "payments", "tempo"}
    for name, service in services.items():
        for image in images(service):
            repository, _, tag = image.rpartition(":")
            assert repository and "/" not in tag, f"{name}: {image} has no tag"
            assert tag != "latest" and VERSION_TAG.fullmatch(tag), f"{name}: {image} is not a release tag"


def test_every_image_says_where_its_release_was_confirmed(compose, scale_compose) -> None:
    """A comment above each pulled image names its release notes (a missing tag fails the pull)."""
    for path in (COMPOSE_FILE, SCALE_FILE, MONITORING / "tempo.Dockerfile", MONITORING / "app.Dockerfile"):
        lines = path.read_text(encoding="utf-8").splitlines()
        for number, line in enumerate(lines):
            # Image references, not `FROM <stage>`.
            if re.match(r"\s*image:|FROM \S+:", line):
                context = " ".join(lines[max(0, number - 6) : number])
                assert re.search(r"release|CHANGELOG|pull request|\d+\.\d+", context), f"{path.name}: {line}"


def test_images_are_on_the_expected_lines(services: dict[str, Any]) -> None:
    expected = {
        "prometheus": r"prom/prometheus:v[23]\.\d+\.\d+",
        "loki": r"grafana/loki:3\.\d+\.\d+",
        "alloy": r"grafana/alloy:v1\.\d+\.\d+",
        # 2.9.3 to 2.9.5 fix CVEs.
        "tempo": r"grafana/tempo:2\.9\.[5-9]|grafana/tempo:2\.\d{2,}\.\d+",
        # Dashboards are generated with grafana-foundation-sdk's 11.6 line.
        "grafana": r"grafana/grafana:11\.6\.\d+",
    }
    for name, pattern in expected.items():
        (image,) = [image for image in images(services[name]) if not image.startswith("busybox:")]
        assert re.fullmatch(pattern, image), f"{name}: {image}"
    # CVE-2025-49844 is fixed from Redis 7.4.6 on.
    assert re.fullmatch(r"redis:7\.4\.([6-9]|\d{2,})-bookworm", services["redis"]["image"])


def test_the_app_image_builds_its_frontend_and_runs_it_without_node_as_a_non_root_user(services) -> None:
    build = services["app"]["build"]
    assert (ROOT / "monitoring" / build["context"]).resolve() == ROOT
    assert images(services["app"]) == ["python:3.11.17-slim-bookworm"]
    text = dockerfile(services["app"])
    stages = re.split(r"^FROM\s+", text, flags=re.MULTILINE)[1:]
    frontend = next(stage for stage in stages if re.match(r"\S+\s+AS\s+frontend", stage))
    final = stages[-1]
    # The frontend stage builds with bun from npm, as `make run` does ...
    assert "bun@1.4.5" in frontend and "ecom_reflex.cli build-frontend" in frontend
    assert "rm -rf .web/node_modules" in frontend
    # ... and the final image takes only its output: no Node, npm or bun, nothing built at start.
    assert "COPY --from=frontend" in final and "/app/.web" in final
    assert not re.search(r"nodejs|npm|bun", final.split("\nCMD")[0].split("COPY --from=frontend")[0])
    users = re.findall(r"^USER\s+(\S+)", final, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    assert re.search(r"^EXPOSE\s+\$\{PORT\}", final, re.MULTILINE)
    cmd = final[final.rindex("\nCMD") :]
    assert 0 <= cmd.index("ecom_reflex.cli setup") < cmd.index("ecom_reflex.cli serve --prebuilt")


def test_each_app_service_listens_on_the_port_its_pages_were_built_for(services: dict[str, Any]) -> None:
    """The built pages open their websocket on the build's PORT (the browser keeps the port)."""
    for name in ("app", "app-scale"):
        service = services[name]
        port = service["build"]["args"]["PORT"]
        assert environment(service)["PORT"] == port, name
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"], name
        assert any(f"127.0.0.1:{port}/health" in part for part in service["healthcheck"]["test"]), name


def test_the_build_context_leaves_out_local_state_and_secrets() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines() if line.strip()
    }
    required = {".venv", ".tools", ".web", "data", "logs", "artifacts", "uploaded_files", ".git", ".env"}
    assert required <= ignored
    assert {"__pycache__", "**/__pycache__"} & ignored
    assert {".pytest_cache", ".metrics"} <= ignored


def test_every_service_has_a_healthcheck_that_needs_no_shell(services: dict[str, Any]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and not check.get("disable"), f"{name} has no healthcheck"
        test = check["test"]
        # Exec form: Loki and Tempo images have no shell at all, the others do not need one.
        assert isinstance(test, list) and test[0] == "CMD" and len(test) > 1, f"{name}: {test}"
        assert check.get("interval") and check.get("retries"), name


def test_distroless_images_check_themselves(services: dict[str, Any]) -> None:
    assert services["loki"]["healthcheck"]["test"][1:3] == ["/usr/bin/loki", "-health"]
    assert services["tempo"]["healthcheck"]["test"][1] == "/busybox/wget"
    assert any("8000/health" in part for part in services["app"]["healthcheck"]["test"])


def test_all_services_share_one_user_defined_network(compose: dict[str, Any], services: dict[str, Any]) -> None:
    networks = compose.get("networks", {})
    assert len(networks) == 1
    (network,) = networks
    for name, service in services.items():
        assert service.get("networks") == [network], name
        assert "network_mode" not in service, name


def test_state_lives_in_declared_named_volumes(compose, scale_compose, services: dict[str, Any]) -> None:
    declared = set(compose.get("volumes", {})) | set(scale_compose.get("volumes", {}))
    used = set()
    for name, service in services.items():
        for target, (source, _) in mounts(service).items():
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} for {target} is not declared"
                used.add(source)
    assert used == declared
    state = {
        "app": ["/app/data", "/app/logs", "/app/uploaded_files"],
        "payments": ["/app/payments", "/app/logs"],
        "prometheus": ["/prometheus"],
        "loki": ["/loki"],
        "tempo": ["/var/tempo"],
        "grafana": ["/var/lib/grafana"],
        "alloy": ["/var/lib/alloy/data"],
    }
    for name, targets in state.items():
        for target in targets:
            assert mounts(services[name]).get(target, ("./",))[0] in declared, f"{name}: {target} is not a volume"


def test_alloy_reads_the_app_log_volume_read_only(services: dict[str, Any], alloy_config: str) -> None:
    app_env = environment(services["app"])
    log_dir = str(Path(app_env["LOG_FILE"]).parent)
    app_volume, _ = mounts(services["app"])[log_dir]
    assert mounts(services["alloy"])[log_dir] == (app_volume, "ro")
    (glob,) = re.findall(r'"__path__"\s*=\s*"([^"]+)"', alloy_config)
    assert fnmatch.fnmatch(app_env["LOG_FILE"], glob)
    # The payment service writes its JSON lines on the same volume, where the same glob finds them
    # (Alloy labels each line by its own `service` field: payment-gateway).
    payment_log = environment(services["payments"])["PAYMENT_LOG_FILE"]
    assert mounts(services["payments"])[str(Path(payment_log).parent)] == (app_volume, "rw")
    assert fnmatch.fnmatch(payment_log, glob) and payment_log != app_env["LOG_FILE"]


def test_published_ports_listen_on_loopback_only(services: dict[str, Any]) -> None:
    published = {}
    for name, service in services.items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"
            published[name] = port
    assert published["app"] == "127.0.0.1:8000:8000"
    assert published["app-scale"] == "127.0.0.1:8001:8001"
    assert published["grafana"] == "127.0.0.1:3000:3000"
    assert published["prometheus"] == "127.0.0.1:9090:9090"


def test_grafana_has_no_default_password_and_no_anonymous_access(services: dict[str, Any]) -> None:
    grafana = services["grafana"]
    env = environment(grafana)
    assert env["GF_SECURITY_ADMIN_USER"] == "admin"
    assert re.fullmatch(r"\$\{GRAFANA_ADMIN_PASSWORD:\?[^}]+\}", env["GF_SECURITY_ADMIN_PASSWORD"])
    assert env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert env["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert re.fullmatch(r"\$\{ALERT_WEBHOOK_TOKEN:\?[^}]+\}", env["ALERT_WEBHOOK_TOKEN"])
    assert mounts(grafana)["/etc/grafana/provisioning"] == ("./grafana/provisioning", "ro")
    assert {"prometheus", "loki", "tempo"} <= set(grafana["depends_on"])
    assert all(dep["condition"] == "service_healthy" for dep in grafana["depends_on"].values())


def test_app_environment_is_valid_for_the_shop_settings(services: dict[str, Any]) -> None:
    env = environment(services["app"])
    assert env["ADMIN_PASSWORD"] == "${SHOP_ADMIN_PASSWORD:-}"
    assert re.fullmatch(r"\$\{ALERT_WEBHOOK_TOKEN:\?[^}]+\}", env["ALERT_WEBHOOK_TOKEN"])
    literal = {key: value for key, value in env.items() if "$" not in value}
    # Every literal is a real setting (a typo would be silently ignored by the app) and valid,
    # with a stand-in for each secret compose requires from monitoring/.env.
    assert {key.lower() for key in literal} <= set(Settings.model_fields)
    required = {key.lower(): "a-stand-in-secret-of-32-chars-xx" for key, value in env.items() if ":?" in value}
    settings = Settings(**{key.lower(): value for key, value in literal.items()}, **required)
    assert settings.host == "0.0.0.0" and settings.port == 8000
    # Served to the network, so /metrics needs its token: `cli serve` would refuse to start otherwise.
    assert settings.metrics_token is not None and settings.metrics_exposure_problem is None
    assert settings.db_url == "sqlite:////app/data/shop.db"
    assert settings.otel_exporter_otlp_endpoint == "http://tempo:4318"
    assert settings.otel_exporter_otlp_protocol == "http/protobuf"
    assert str(settings.log_file) == "/app/logs/app.json.log"
    assert str(settings.upload_dir) == "/app/uploaded_files"
    assert settings.payment_url == f"http://payments:{PAYMENTS_PORT}"


def test_the_payment_service_runs_from_the_app_image_with_its_own_ledger(services: dict[str, Any]) -> None:
    from payment_gateway.settings import GatewaySettings

    payments = services["payments"]
    # The shop's image and build, so one build serves both (and the build cache makes it one).
    assert payments["build"] == services["app"]["build"]
    assert payments["command"] == ["python", "-m", "payment_gateway"]
    assert payments.get("init") is True and payments.get("restart") == "unless-stopped"
    # Reached inside the compose network only: the shop calls it, Prometheus scrapes it.
    assert "ports" not in payments
    env = environment(payments)
    assert re.fullmatch(r"\$\{PAYMENT_API_KEY:\?[^}]+\}", env["PAYMENT_API_KEY"])
    literal = {key: value for key, value in env.items() if "$" not in value}
    assert {key.lower() for key in literal} <= set(GatewaySettings.model_fields)
    settings = GatewaySettings(**{key.lower(): value for key, value in literal.items()},
                               payment_api_key="a-stand-in-secret-of-32-chars-xx")  # fmt: skip
    assert settings.payment_host == "0.0.0.0" and str(settings.payment_port) == PAYMENTS_PORT
    # The ledger on a named volume of its own (not the shop's data volume).
    ledger_volume, _ = mounts(payments)[str(settings.payment_ledger.parent)]
    assert ledger_volume == "payments-data" and ledger_volume not in {s for s, _ in mounts(services["app"]).values()}
    # Traces to the same collector as the shop: the checkout's trace continues into the service.
    assert settings.otel_exporter_otlp_endpoint == environment(services["app"])["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert settings.otel_exporter_otlp_protocol == "http/protobuf"
    # The same fault flag file as the shop.
    assert mounts(payments)["/app/monitoring/flagd"] == mounts(services["app"])["/app/monitoring/flagd"]
    check = payments["healthcheck"]["test"]
    assert any(f"127.0.0.1:{PAYMENTS_PORT}/health" in part for part in check), check


def test_the_image_gives_the_ledger_folder_to_the_app_user(services: dict[str, Any]) -> None:
    """A named volume takes its owner from the image's folder: without it the service cannot write its ledger."""
    final = re.split(r"^FROM\s+", dockerfile(services["payments"]), flags=re.MULTILINE)[-1]
    ledger_dir = str(Path(environment(services["payments"])["PAYMENT_LEDGER"]).parent)
    chown = re.search(r"chown shop:shop ([^\n]+)", final)
    assert chown and ledger_dir in chown.group(1).split()


def test_each_shop_pays_through_the_payment_service_once_it_is_healthy(services: dict[str, Any]) -> None:
    key = environment(services["payments"])["PAYMENT_API_KEY"]
    for name in ("app", "app-scale"):
        env = environment(services[name])
        assert env["PAYMENT_URL"] == f"http://payments:{PAYMENTS_PORT}", name
        assert env["PAYMENT_API_KEY"] == key, name
        assert services[name]["depends_on"]["payments"] == {"condition": "service_healthy"}, name


def test_env_example_documents_every_secret_the_compose_files_read() -> None:
    example = (MONITORING / ".env.example").read_text(encoding="utf-8")
    assignments = dict(re.findall(r"^([A-Z_]+)=(.*)$", example, re.MULTILINE))
    assert assignments == {
        "GRAFANA_ADMIN_PASSWORD": "",
        "ALERT_WEBHOOK_TOKEN": "",
        "SHOP_ADMIN_PASSWORD": "",
        "POSTGRES_PASSWORD": "",
        "METRICS_TOKEN": "",
        "PAYMENT_API_KEY": "",
    }
    assert example.count("secrets.token_urlsafe(") >= 6
    assert read_variables(COMPOSE_FILE) | read_variables(SCALE_FILE) == set(assignments)
    gitignore = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "monitoring/.env" in gitignore


# --- Prometheus -----------------------------------------------------------------------------


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    assert Path(promtool).exists(), "promtool missing: `make test` installs Debian's prometheus package"
    # promtool opens the bearer token file, which only the container has (a compose secret).
    copy = tmp_path / "prometheus"
    shutil.copytree(MONITORING / "prometheus", copy)
    (tmp_path / "metrics_token").write_text("a-token-for-promtool-only")
    config = copy / "prometheus.yml"
    config.write_text(config.read_text().replace("/run/secrets/metrics_token", str(tmp_path / "metrics_token")))
    result = subprocess.run(
        [promtool, "check", "config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prometheus_scrapes_the_shop_and_the_stack(services: dict[str, Any]) -> None:
    config = load_yaml(MONITORING / "prometheus" / "prometheus.yml")
    assert config["global"]["scrape_interval"] == "15s"
    assert config["global"]["evaluation_interval"] == "15s"
    assert config["rule_files"] == ["rules/*.yml"]
    assert "alerting" not in config
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    # `app` is static (a stopped or unresolvable shop is up 0, not gone); app-scale, in the scale
    # file only, is found by DNS on its own port.
    assert jobs["shop"]["static_configs"] == [{"targets": ["app:8000"]}]
    (shop_discovery,) = jobs["shop"]["dns_sd_configs"]
    assert shop_discovery["names"] == ["app-scale"] and shop_discovery["port"] == 8001
    assert {"target_label": "environment", "replacement": "compose"} in jobs["shop"]["relabel_configs"]
    targets = {name: job["static_configs"][0]["targets"] for name, job in jobs.items()}
    assert {"prometheus", "tempo", "loki", "alloy"} <= set(targets)
    assert targets["tempo"] == ["tempo:3200"] and targets["loki"] == ["loki:3100"]
    assert targets["alloy"] == ["alloy:12345"]
    assert "--server.http.listen-addr=0.0.0.0:12345" in services["alloy"]["command"]
    command = services["prometheus"]["command"]
    for flag in (
        "--config.file=/etc/prometheus/prometheus.yml",
        "--storage.tsdb.path=/prometheus",
        "--enable-feature=exemplar-storage",
        "--web.enable-remote-write-receiver",
    ):
        assert flag in command
    assert mounts(services["prometheus"])["/etc/prometheus"] == ("./prometheus", "ro")


def test_prometheus_scrapes_the_payment_service(services: dict[str, Any]) -> None:
    config = load_yaml(MONITORING / "prometheus" / "prometheus.yml")
    payments = next(job for job in config["scrape_configs"] if job["job_name"] == "payments")
    # Static (a stopped service is up 0: PaymentServiceDown), on the port the service listens on.
    assert payments["static_configs"] == [{"targets": [f"payments:{PAYMENTS_PORT}"]}]
    assert environment(services["payments"])["PAYMENT_PORT"] == PAYMENTS_PORT
    assert payments.get("metrics_path", "/metrics") == "/metrics"
    # Its /metrics needs no key; its series carry the same environment as the shop's (the dashboards' variable).
    assert "authorization" not in payments
    assert {"target_label": "environment", "replacement": "compose"} in payments["relabel_configs"]


def test_prometheus_scrapes_the_shop_with_the_token_the_app_requires(compose, services) -> None:
    config = load_yaml(MONITORING / "prometheus" / "prometheus.yml")
    shop = next(job for job in config["scrape_configs"] if job["job_name"] == "shop")
    assert shop["authorization"] == {"credentials_file": "/run/secrets/metrics_token"}
    assert compose["secrets"]["metrics_token"] == {"environment": "METRICS_TOKEN"}
    assert services["prometheus"]["secrets"] == ["metrics_token"]
    for app in ("app", "app-scale"):
        assert services[app]["environment"]["METRICS_TOKEN"].startswith("${METRICS_TOKEN:?")


# --- Alloy and Loki -------------------------------------------------------------------------


def test_alloy_sets_exactly_three_low_cardinality_labels(alloy_config: str) -> None:
    labels = alloy_names(alloy_block_body(alloy_config, "stage.labels"))
    assert sorted(labels) == ["environment", "level", "service"]
    metadata = alloy_names(alloy_block_body(alloy_config, "stage.structured_metadata"))
    assert {"trace_id", "span_id"} <= set(metadata)
    assert not {"trace_id", "span_id"} & set(labels)


def test_alloy_parses_the_lines_the_app_writes(alloy_config: str) -> None:
    extracted = set(alloy_names(alloy_block_body(alloy_config, "stage.json", "expressions")))
    assert extracted == {"level", "service", "trace_id", "span_id", "timestamp"}
    timestamp = re.search(r"stage\.timestamp\s*\{(?P<body>[^}]*)\}", alloy_config)
    assert timestamp and 'source = "timestamp"' in timestamp["body"] and '"RFC3339Nano"' in timestamp["body"]
    # A real line from the app's formatter, inside a span.
    span = trace.NonRecordingSpan(
        trace.SpanContext(trace_id=0x1234, span_id=0x5678, is_remote=False, trace_flags=trace.TraceFlags(1))
    )
    record = logging.LogRecord("ecom_reflex.test", logging.INFO, __file__, 1, "hello", None, None)
    with trace.use_span(span):
        ContextFilter().filter(record)
    line = json.loads(json_formatter("ecom-shop").format(record))
    assert extracted <= set(line)
    assert line["trace_id"] == f"{0x1234:032x}" and line["span_id"] == f"{0x5678:016x}"
    # RFC 3339 with a numeric offset or Z, which Go's RFC3339Nano layout parses.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", line["timestamp"])
    assert datetime.fromisoformat(line["timestamp"]).utcoffset() == timedelta(0)


def test_alloy_pushes_to_loki(alloy_config: str, services: dict[str, Any]) -> None:
    assert re.findall(r'url\s*=\s*"([^"]+)"', alloy_config) == ["http://loki:3100/loki/api/v1/push"]
    assert alloy_config.count("{") == alloy_config.count("}")
    assert services["alloy"]["depends_on"]["loki"]["condition"] == "service_healthy"


def test_loki_uses_tsdb_schema_v13_with_structured_metadata(services: dict[str, Any]) -> None:
    config = load_yaml(MONITORING / "loki" / "loki.yml")
    (period,) = config["schema_config"]["configs"]
    assert period["store"] == "tsdb" and period["schema"] == "v13" and period["object_store"] == "filesystem"
    limits = config["limits_config"]
    assert limits["allow_structured_metadata"] is True
    assert limits["volume_enabled"] is True
    assert limits["retention_period"] and config["compactor"]["retention_enabled"] is True
    assert config["server"]["http_listen_port"] == 3100
    # Everything Loki writes is on its named volume.
    assert config["common"]["path_prefix"] == "/loki"
    assert "/loki" in mounts(services["loki"])
    assert mounts(services["loki"])["/etc/loki/loki.yml"] == ("./loki/loki.yml", "ro")


# --- Tempo ----------------------------------------------------------------------------------


def test_tempo_receives_otlp_and_remote_writes_span_metrics(services: dict[str, Any]) -> None:
    config = load_yaml(MONITORING / "tempo" / "tempo.yml")
    protocols = config["distributor"]["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"] == "0.0.0.0:4317"
    assert protocols["http"]["endpoint"] == "0.0.0.0:4318"
    # The app's OTLP/HTTP exporter points at that HTTP receiver.
    assert environment(services["app"])["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://tempo:4318"
    (remote_write,) = config["metrics_generator"]["storage"]["remote_write"]
    assert remote_write == {"url": "http://prometheus:9090/api/v1/write", "send_exemplars": True}
    processors = config["overrides"]["defaults"]["metrics_generator"]["processors"]
    assert {"service-graphs", "span-metrics"} <= set(processors)
    assert config["storage"]["trace"]["backend"] == "local"
    assert config["storage"]["trace"]["local"]["path"].startswith("/var/tempo/")
    assert config["server"]["http_listen_port"] == 3200
    assert "/var/tempo" in mounts(services["tempo"])
    assert services["tempo"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def seconds(duration: str) -> float:
    """A Go duration as Tempo's config writes them (30s, 2m, 1m30s), in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def test_tempo_pairs_the_browsers_event_with_the_servers_into_one_service_graph_edge() -> None:
    """The browser's send of an event is a PRODUCER span of ecom-shop-frontend, the server's handling its
    CONSUMER child: the service-graphs processor pairs them with no setting (connection_type
    messaging_system). What it needs: both halves arriving within `wait` of each other (each side's
    exporter batches for about 5 s, and the server's half comes only once the event has ended), and the
    browser's half, stamped by the shopper's clock, within the ingestion slack of Tempo's."""
    config = load_yaml(MONITORING / "tempo" / "tempo.yml")
    generator = config["metrics_generator"]
    service_graphs = generator["processor"]["service_graphs"]
    assert seconds(service_graphs["wait"]) >= 30
    assert seconds(generator["metrics_ingestion_time_range_slack"]) >= 60
    # Producer end to consumer start is clock skew for a browser's span: not measured.
    assert not service_graphs.get("enable_messaging_system_latency_histogram", False)
    assert "service-graphs" in config["overrides"]["defaults"]["metrics_generator"]["processors"]


# --- the stack on a host with Docker ---------------------------------------------------------


def test_the_stack_workflow_builds_starts_sends_traffic_and_runs_stack_check() -> None:
    workflow_file = ROOT / ".github" / "workflows" / "stack.yml"
    check_jsonschema = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check_jsonschema), "--builtin-schema", "vendor.github-workflows", str(workflow_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = load_yaml(workflow_file)
    (job,) = workflow["jobs"].values()
    composes = {entry["compose"] for entry in job["strategy"]["matrix"]["include"]}
    assert composes == {
        "-f monitoring/docker-compose.yml",
        "-f monitoring/docker-compose.yml -f monitoring/docker-compose.scale.yml",
    }
    runs = [step.get("run", "") for step in job["steps"]]
    order = ["$COMPOSE build", "$COMPOSE up -d --wait", "make traffic", "make stack-check", "$COMPOSE logs"]
    positions = [next(i for i, run in enumerate(runs) if phrase in run) for phrase in order]
    assert positions == sorted(positions), runs
    logs = next(step for step in job["steps"] if "$COMPOSE logs" in step.get("run", ""))
    assert logs["if"] == "failure()"
    # The secrets it writes are exactly the ones the compose files read.
    env_step = next(run for run in runs if "monitoring/.env" in run)
    written = set(re.findall(r"echo \"(\w+)=", env_step))
    assert written == read_variables(COMPOSE_FILE) | read_variables(SCALE_FILE)


def test_make_stack_check_reads_the_stacks_secrets_and_runs_the_checker() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile[makefile.index("\nstack-check:") :].split("\n\n")[0]
    assert ". monitoring/.env" in recipe and "-m grafana_as_code.stack_check" in recipe
