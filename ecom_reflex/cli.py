"""Operator commands: `python -m ecom_reflex.cli COMMAND`.

setup   migrate the database, seed the demo catalogue, ensure the admin account
serve   run the production server on HOST:PORT (one port for pages and API); builds the
        frontend first, or with --prebuilt serves the one `build-frontend` made. Without
        PAYMENT_URL it starts the payment service (payment_gateway/) on PAYMENT_PORT too, and
        stops it with the shop. Refuses a HOST beyond loopback without METRICS_TOKEN (or
        METRICS_PUBLIC=true)
build-frontend  compile the app and build its production frontend for PORT (the image's build step)
migrate apply Alembic migrations only
render-demo-images  (re)write the demo catalogue's SVG images under assets/products/
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from ecom_reflex.settings import PROJECT_ROOT, Settings, load_or_exit

TOOLS_BIN = PROJECT_ROOT / ".tools" / "node_modules" / ".bin"
# Written by build-frontend next to the build: the port its pages connect back to.
FRONTEND_STAMP = PROJECT_ROOT / ".web" / "build" / "shop-frontend.json"


def migrate(settings: Settings) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    command.upgrade(config, "head")


def setup(settings: Settings) -> None:
    from ecom_reflex.db import session_scope
    from ecom_reflex.services.demo_catalog import seed_demo_catalog
    from ecom_reflex.services.users import ensure_admin

    migrate(settings)
    print("database: migrated to the latest schema")
    with session_scope() as session:
        if settings.seed_demo_data:
            added = seed_demo_catalog(session)
            print(f"demo catalogue: {'seeded ' + str(added) + ' products' if added else 'kept the existing catalogue'}")
        admin = ensure_admin(session, settings.admin_username, settings.admin_email, settings.admin_password)
    if admin.generated_password:
        _print_generated_password(admin.username, admin.generated_password)
    elif admin.created:
        print(f"admin: created '{admin.username}' with the password from ADMIN_PASSWORD")
    elif admin.password_reset:
        print(f"admin: '{admin.username}' exists; its password was reset to ADMIN_PASSWORD")
    else:
        print(f"admin: '{admin.username}' exists; password unchanged")


def _print_generated_password(username: str, password: str) -> None:
    lines = [
        "ADMIN ACCOUNT CREATED - this password is shown only once:",
        f"  username: {username}",
        f"  password: {password}",
        "Set ADMIN_PASSWORD and run `make run` again to choose another.",
    ]
    width = max(map(len, lines)) + 2
    print("\n" + "=" * width + "\n" + "\n".join(lines) + "\n" + "=" * width + "\n", flush=True)


def reflex_environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for the `reflex` CLI: the npm-installed bun, no telemetry, no network checks."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("REFLEX_USE_SYSTEM_BUN", "1")
    env.setdefault("BUN_INSTALL_CACHE_DIR", str(PROJECT_ROOT / ".tools" / "bun-cache"))
    env.setdefault("REFLEX_TELEMETRY_ENABLED", "false")
    env.setdefault("REFLEX_CHECK_LATEST_VERSION", "0")
    # Skips Reflex's latency probe of a second (unreachable) registry.
    env.setdefault("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org")
    return env


def serve_command(settings: Settings) -> list[str]:
    return [
        sys.executable, "-m", "reflex", "run", "--env", "prod", "--single-port",
        "--backend-host", settings.host, "--backend-port", str(settings.port),
    ]  # fmt: skip


def serve_environment(settings: Settings) -> dict[str, str]:
    """reflex_environment() plus the worker count and, for several workers, a fresh metrics folder."""
    env = reflex_environment()
    env["GRANIAN_WORKERS"] = str(settings.workers)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if settings.workers > 1:
        # prometheus_client multiprocess mode: one folder per run, emptied before any worker starts.
        shutil.rmtree(settings.prometheus_multiproc_dir, ignore_errors=True)
        settings.prometheus_multiproc_dir.mkdir(parents=True)
        env["PROMETHEUS_MULTIPROC_DIR"] = str(settings.prometheus_multiproc_dir)
    return env


# What Reflex prints that is wrong or beside the point for this shop (`make run` is the newcomer's
# first sight of it): its "next step" advice (the next step is already running), a schema check
# that compares Reflex's own view of the models with a database Alembic manages (the search
# index and its triggers are deliberately outside the models), and Node's version, which the
# bun-built frontend does not depend on enough to warrant a warning on every start.
REFLEX_NOISE = (
    re.compile(r"^Success: Initialized \S+\. Run `.*` to start the app\.$"),
    re.compile(r"^Detected database schema changes\. Run reflex db makemigrations"),
    re.compile(r"^Warning: Your version \([\d.]+\) of Node\.js is out of date\."),
)


def shown_reflex_line(line: str) -> str | None:
    """A line of Reflex's output as the shop shows it: unchanged, or None when it is noise."""
    return None if any(pattern.search(line) for pattern in REFLEX_NOISE) else line


def run_reflex(command: list[str], env: dict[str, str]) -> int:
    """Runs the reflex CLI with its noise left out; Ctrl-C and SIGTERM reach it; its exit code."""
    # Wide enough that Reflex's console does not wrap a line (and a filter miss half of it).
    process = subprocess.Popen(
        command, cwd=PROJECT_ROOT, env={**env, "COLUMNS": "500"}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, bufsize=1,
    )  # fmt: skip

    def forward(signum: int, _frame) -> None:
        process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    for line in process.stdout:
        if (shown := shown_reflex_line(line.rstrip("\n"))) is not None:
            print(shown, flush=True)
    return process.wait()


def build_frontend(settings: Settings) -> None:
    """What `reflex run --env prod --single-port` does before it serves, on its own: Reflex's export
    of the frontend (compile, then bun's production build into .web/build/client), for PORT.

    The pages' websocket URL is fixed at build time (the browser keeps the port and swaps in
    its own host name), so the build records its port and `serve --prebuilt` checks it.
    """
    env = reflex_environment()
    env["REFLEX_FRONTEND_PORT"] = env["REFLEX_BACKEND_PORT"] = str(settings.port)
    command = [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip", "--env", "prod"]
    if (code := run_reflex(command, env)) != 0:
        sys.exit(f"build-frontend: the frontend build failed (exit {code})")
    FRONTEND_STAMP.write_text(json.dumps({"port": settings.port}), encoding="utf-8")
    print(f"frontend: built for port {settings.port} in {FRONTEND_STAMP.parent / 'client'}", flush=True)


def built_frontend_problem(settings: Settings) -> str | None:
    """Why the frontend build on disk cannot be served on settings.port, or None when it can."""
    try:
        built_for = json.loads(FRONTEND_STAMP.read_text(encoding="utf-8"))["port"]
    except (OSError, ValueError, KeyError):
        return "there is no built frontend: run `python -m ecom_reflex.cli build-frontend` first"
    if built_for != settings.port:
        return (
            f"the frontend was built for port {built_for}, so its pages would connect there,"
            f" not to PORT={settings.port}: rebuild it with this PORT (the image's build argument PORT)"
            " or set PORT back"
        )
    return None


def serve(settings: Settings, prebuilt: bool = False) -> None:
    if problem := settings.metrics_exposure_problem:
        # Like an invalid setting: one line, exit 2, before anything starts.
        print(f"error: {problem}", file=sys.stderr)
        raise SystemExit(2)
    workers = f" with {settings.workers} workers" if settings.workers > 1 else ""
    os.chdir(PROJECT_ROOT)
    if prebuilt and (problem := built_frontend_problem(settings)):
        sys.exit(f"serve --prebuilt: {problem}")
    # What the server writes (logs, uploads, the database) is for its own user only.
    os.umask(0o077)
    with payment_service(settings) as payment_env:
        print(f"serving the shop on http://{settings.host}:{settings.port}{workers}", flush=True)
        if not prebuilt:
            sys.exit(run_reflex(serve_command(settings), {**serve_environment(settings), **payment_env}))
        os.environ.update(payment_env)
        _serve_built_frontend(settings)


def payment_environment(settings: Settings, api_key: str) -> dict[str, str]:
    """What the local payment service is started with: its port, ledger, key, flags and log next to the shop's."""
    logs = settings.log_file.parent if settings.log_file is not None else PROJECT_ROOT / "logs"
    env = {
        "PAYMENT_HOST": "127.0.0.1",
        "PAYMENT_PORT": str(settings.payment_port),
        "PAYMENT_LEDGER": str(settings.payment_ledger),
        "PAYMENT_API_KEY": api_key,
        "FAULT_FLAGS_FILE": str(settings.fault_flags_file),
        "PAYMENT_LOG_FILE": str(logs / "payments.json.log"),
    }
    # An operator's own PAYMENT_LOG_FILE wins.
    return {name: value for name, value in env.items() if name != "PAYMENT_LOG_FILE" or name not in os.environ}


@contextlib.contextmanager
def payment_service(settings: Settings):
    """The payment service for the shop: PAYMENT_URL's, or one started here on PAYMENT_PORT (and stopped
    when the shop stops). Yields what the shop's workers must be told (PAYMENT_URL, PAYMENT_API_KEY)."""
    if settings.payment_url is not None:
        yield {}
        return
    from ecom_reflex.payments import new_api_key
    from payment_gateway.process import GatewayStartError, start_gateway

    api_key = settings.payment_api_key or new_api_key()
    env = payment_environment(settings, api_key)
    settings.payment_ledger.parent.mkdir(parents=True, exist_ok=True)
    logs = Path(env.get("PAYMENT_LOG_FILE", PROJECT_ROOT / "logs" / "payments.json.log")).parent
    try:
        gateway = start_gateway(env, logs / "payments.out.log")
    except GatewayStartError as error:
        sys.exit(f"serve: the payment service did not start: {error}")
    print(f"payment service on {gateway.url} (ledger {gateway.ledger})", flush=True)
    try:
        yield {"PAYMENT_URL": gateway.url, "PAYMENT_API_KEY": api_key}
    finally:
        gateway.stop()


def _serve_built_frontend(settings: Settings) -> None:
    """The second half of `reflex run --env prod --single-port`: the backend's workers, serving the built
    frontend from the same port. No compile, no bun, no registry: the container's start."""
    os.environ.update(serve_environment(settings))
    os.environ["REFLEX_FRONTEND_PORT"] = os.environ["REFLEX_BACKEND_PORT"] = str(settings.port)

    from reflex.utils import exec as reflex_exec
    from reflex_base import constants
    from reflex_base.config import get_config
    from reflex_base.environment import environment

    environment.REFLEX_ENV_MODE.set(constants.Env.PROD)
    environment.REFLEX_SKIP_COMPILE.set(True)
    reflex_exec.run_backend_prod(
        settings.host, settings.port, get_config().loglevel.subprocess_level(), mount_frontend_compiled_app=True
    )


def render_demo_images(_settings: Settings) -> None:
    from html import escape

    from ecom_reflex.services.demo_catalog import demo_products
    from ecom_reflex.settings import ASSETS_DIR

    for category, product in demo_products():
        start, end = category.colors
        words = product.name.split()
        initials = "".join(word[0] for word in words if word[0].isalnum())[:2].upper()
        # Wrap the name onto at most two lines of roughly 18 characters.
        lines, current = [], ""
        for word in words:
            if current and len(current) + len(word) > 18:
                lines.append(current)
                current = word
            else:
                current = f"{current} {word}".strip()
        lines.append(current)
        text = "".join(
            f'<text x="240" y="{392 + 34 * i}" font-size="28" fill="#fff" text-anchor="middle" '
            f'font-family="Helvetica, Arial, sans-serif" font-weight="600">{escape(line)}</text>'
            for i, line in enumerate(lines[:2])
        )
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" width="480" height="480" viewBox="0 0 480 480">'
            f'<defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="{start}"/>'
            f'<stop offset="1" stop-color="{end}"/></linearGradient></defs>'
            '<rect width="480" height="480" fill="url(#g)"/>'
            '<circle cx="240" cy="200" r="112" fill="#fff" fill-opacity="0.18"/>'
            '<circle cx="240" cy="200" r="84" fill="#fff" fill-opacity="0.9"/>'
            f'<text x="240" y="224" font-size="64" fill="{start}" text-anchor="middle" '
            f'font-family="Helvetica, Arial, sans-serif" font-weight="700">{escape(initials)}</text>'
            f"{text}</svg>\n"
        )
        path = ASSETS_DIR / product.image.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(svg, encoding="utf-8")
    print(f"wrote {len(demo_products())} images under {ASSETS_DIR / 'products'}")


COMMANDS = {
    "setup": setup,
    "serve": serve,
    "build-frontend": build_frontend,
    "migrate": migrate,
    "render-demo-images": render_demo_images,
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m ecom_reflex.cli", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=sorted(COMMANDS))
    parser.add_argument(
        "--prebuilt", action="store_true", help="serve: serve the frontend build-frontend made, without rebuilding it"
    )
    args = parser.parse_args(argv)
    if args.prebuilt and args.command != "serve":
        parser.error("--prebuilt goes with serve only")
    settings = load_or_exit()
    if args.command == "serve":
        serve(settings, prebuilt=args.prebuilt)
    else:
        COMMANDS[args.command](settings)


if __name__ == "__main__":
    main()
