"""The app image's two steps, without Docker (monitoring/app.Dockerfile):

- its build stage: `cli build-frontend`, the production frontend built once with bun from npm;
- its final stage and start: the build without node_modules, no bun, no Node, no npm registry in
  reach, then `cli setup` and `cli serve --prebuilt`.

Runs its own copy of the app, so its build never touches the one the other journeys use.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from e2e.fixtures import ARTIFACTS
from e2e.helpers import cart_count, from_own_address
from ecom_reflex.cli import reflex_environment
from ecom_reflex.settings import PROJECT_ROOT
from testkit.servers import ShopProcess, copy_of_the_app, free_port

# Any request to a registry or the web goes to a closed port.
NOWHERE = "http://127.0.0.1:9"


def files_of(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.stat().st_size) for path in folder.rglob("*")}


class ImageShop(ShopProcess):
    built: dict[str, tuple[int, int]]

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ecom_reflex.cli", *args],
            cwd=self.root, env={**self.env, **env}, capture_output=True, text=True, timeout=120,
        )  # fmt: skip


@pytest.fixture(scope="module")
def image_shop():
    workdir = Path(tempfile.mkdtemp(prefix="shop-image-"))
    root = copy_of_the_app(PROJECT_ROOT, workdir)
    port = free_port()
    env = reflex_environment()
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        DB_URL=f"sqlite:///{workdir / 'shop.db'}",
        ADMIN_PASSWORD=secrets.token_urlsafe(16),
        LOG_FILE=str(root / "logs" / "app.json.log"),
        TRUSTED_PROXIES="127.0.0.1",
        PAYMENT_PORT=str(free_port()),  # `cli serve` starts the payment service there
    )
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "PROMETHEUS_MULTIPROC_DIR", "WORKERS", "REDIS_URL"):
        env.pop(name, None)
    log_path = ARTIFACTS / "image-server.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # The build stage.
    build = subprocess.run(
        [sys.executable, "-m", "ecom_reflex.cli", "build-frontend"],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    log_path.write_text(build.stdout + build.stderr)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    # What the final stage copies: .web without node_modules; no bun (.tools), no Node on PATH.
    shutil.rmtree(root / ".web" / "node_modules")
    (root / ".tools").unlink()
    empty_path = workdir / "bin"
    empty_path.mkdir()
    env.update(
        PATH=str(empty_path),
        NPM_CONFIG_REGISTRY=NOWHERE,
        HTTP_PROXY=NOWHERE,
        HTTPS_PROXY=NOWHERE,
        ALL_PROXY=NOWHERE,
        NO_PROXY="127.0.0.1,localhost",
    )
    shop = ImageShop(root, env, log_path, serve_args=("--prebuilt",))
    shop.built = files_of(root / ".web" / "build")
    try:
        shop.setup()
        shop.start(timeout_s=180)
        yield shop
    finally:
        shop.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_image_start_serves_a_working_shop_from_the_build_alone(browser: Browser, image_shop: ImageShop):
    context = browser.new_context(
        base_url=image_shop.url, viewport={"width": 1280, "height": 900}, **from_own_address()
    )
    page = context.new_page()
    page.goto("/")
    # The pages are the build's, and their events reach the backend over the websocket.
    page.get_by_test_id("product-card").first.get_by_test_id("add-to-cart").click()
    expect(cart_count(page)).to_have_text("1")
    page.goto("/cart")
    expect(page.get_by_test_id("cart-line")).to_have_count(1)
    context.close()
    # Nothing was rebuilt: the files are the build stage's, untouched.
    assert files_of(image_shop.root / ".web" / "build") == image_shop.built


def test_serve_prebuilt_refuses_a_build_for_another_port_or_none(image_shop: ImageShop):
    other_port = str(free_port())
    refused = image_shop.cli("serve", "--prebuilt", PORT=other_port)
    assert refused.returncode != 0
    assert f"built for port {image_shop.env['PORT']}" in refused.stderr and f"PORT={other_port}" in refused.stderr

    stamp = image_shop.root / ".web" / "build" / "shop-frontend.json"
    kept = stamp.read_bytes()
    stamp.unlink()
    try:
        refused = image_shop.cli("serve", "--prebuilt", PORT=other_port)
    finally:
        stamp.write_bytes(kept)
    assert refused.returncode != 0 and "build-frontend" in refused.stderr

    assert image_shop.cli("build-frontend", "--prebuilt").returncode != 0
