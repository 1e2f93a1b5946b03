"""What the browser telemetry (reflex-otel's OtelPlugin in rxconfig.py) costs a first visit: the
JavaScript a fresh browser downloads for a page, with the shop's build and with a build of a copy
of the app whose rxconfig drops the plugin, and the whole production build's JavaScript.

Sizes are of the files as built and of Python's gzip (level 9) of each, as a server or CDN
compressing them would send them. Chunks holding OpenTelemetry code are found by the text
"opentelemetry" that its packages keep in minified code (the API's global symbol, the
exporter's user agent); the shop's own chunks never contain it.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import sync_playwright

from e2e.browser import CHROMIUM, CHROMIUM_ARGS
from testkit.servers import ShopProcess, copy_of_the_app, sqlite_shop

OTEL_MARKER = b"opentelemetry"
# A copy's rxconfig.py: the shop's own (renamed), minus reflex-otel's browser plugin.
_WITHOUT_PLUGIN = '''"""bench/frontend_cost.py: the shop's rxconfig (rxconfig_shop.py) minus its OtelPlugin."""

import importlib.util
from pathlib import Path

from reflex_otel import OtelPlugin

_spec = importlib.util.spec_from_file_location("rxconfig_shop", Path(__file__).with_name("rxconfig_shop.py"))
_shop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shop)
config = _shop.config
config.plugins = [plugin for plugin in config.plugins if not isinstance(plugin, OtelPlugin)]
'''


# The page's own resource timing: what it asked for once its load event had started.
_ASKED_AFTER_LOAD = """() => {
  const start = performance.getEntriesByType("navigation")[0].loadEventStart;
  return performance.getEntriesByType("resource").filter((e) => e.startTime >= start).map((e) => e.name);
}"""


@dataclass(frozen=True)
class Script:
    url: str
    bytes: int
    gzip_bytes: int
    opentelemetry: bool
    # Asked for after the page's load event (off the critical path of its first paint).
    after_load: bool = False


def _script(url: str, body: bytes, after_load: bool = False) -> Script:
    gzip_bytes = len(gzip.compress(body, compresslevel=9))
    return Script(url, len(body), gzip_bytes, OTEL_MARKER in body.lower(), after_load)


def totals(scripts: list[Script]) -> dict[str, int]:
    """Sizes of `scripts` in all, and of those that hold OpenTelemetry code."""
    otel = [script for script in scripts if script.opentelemetry]
    late = [script for script in scripts if script.after_load]
    return {
        "scripts": len(scripts),
        "bytes": sum(s.bytes for s in scripts),
        "gzip_bytes": sum(s.gzip_bytes for s in scripts),
        "opentelemetry_scripts": len(otel),
        "opentelemetry_bytes": sum(s.bytes for s in otel),
        "opentelemetry_gzip_bytes": sum(s.gzip_bytes for s in otel),
        "after_load_scripts": len(late),
        "after_load_gzip_bytes": sum(s.gzip_bytes for s in late),
    }


def first_visit_scripts(url: str, settle_ms: int = 6000) -> list[Script]:
    """The JavaScript a fresh browser (empty cache) downloads to open `url`: before the page's load
    event, and after it until the network is idle and `settle_ms` later (the shop loads its
    browser telemetry when the browser is idle after load, within 5 s)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context().new_page()
            responses = []
            page.on("response", lambda response: responses.append(response))
            page.goto(url, wait_until="networkidle")
            page.wait_for_timeout(settle_ms)
            late = set(page.evaluate(_ASKED_AFTER_LOAD))
            scripts = [
                _script(response.url, response.body(), after_load=response.url in late)
                for response in list(responses)
                if response.request.resource_type == "script" and response.ok
            ]
        finally:
            browser.close()
    return sorted(scripts, key=lambda script: script.url)


def build_scripts(root: Path) -> list[Script]:
    """Every JavaScript file of the production build Reflex made in `root` (.web/build/client)."""
    client = root / ".web" / "build" / "client"
    return [_script(str(path.relative_to(client)), path.read_bytes()) for path in sorted(client.rglob("*.js"))]


def shop_without_browser_telemetry(source: Path, workdir: Path, **settings: str) -> ShopProcess:
    """A shop (not yet started) built from a copy of the app in `workdir` whose rxconfig has no OtelPlugin."""
    root = copy_of_the_app(source, workdir)
    (root / "rxconfig.py").rename(root / "rxconfig_shop.py")
    (root / "rxconfig.py").write_text(_WITHOUT_PLUGIN, encoding="utf-8")
    return sqlite_shop(root, **settings)
