"""The browser's half of tracing: reflex-otel's OtelPlugin, plus what the shop adds to its module.

reflex-otel compiles an OpenTelemetry web bundle into the frontend: every event the browser sends
gets a PRODUCER span and a W3C traceparent (the server's event span becomes its child), web
vitals and socket (re)connects become spans. ShopOtelPlugin appends browser_bundle.js to that
module, in the module's own scope, to add what the shop's relay turns into metrics: the page of
every span, the time from a click to the page showing its answer, and script errors. Instead of
the plugin's import of that module at the top of the entry script, browser_loader.js loads it
when the page has loaded and the browser is idle (off the first visit's critical path).

The browser exports to the shop itself (RELAY_PATH, same origin, so the CSP keeps
`connect-src 'self'` and no collector faces the internet); observability/browser_relay.py
bounds, measures and forwards what arrives. Every interaction is sent (sample_rate 1): the
relay derives the metrics from all of them and forwards BROWSER_TRACE_SAMPLE_RATIO of the
traces, the same share the server's sampler keeps (tracing.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reflex_base.constants.compiler import Embed
from reflex_otel import OtelPlugin

RELAY_PATH = "/otlp/v1/traces"
EXTENSION = Path(__file__).with_name("browser_bundle.js")
LOADER = Path(__file__).with_name("browser_loader.js")
LOADER_MODULE = Path("utils/otel_loader.js")
_ENTRY_IMPORT = 'import "$/utils/otel_loader";\n'

# What browser_bundle.js uses of reflex-otel's module (reflex-otel 0.2.0's otel.js). If an
# upgrade renames any of them, the build stops here with this list instead of shipping a bundle
# that fails in every shopper's browser.
MODULE_BINDINGS = (
    "const tracer = ",
    "const propagator = ",
    "const epoch = ",
    "let connectCount = 0;",
    "SpanStatusCode,",
    "context,",
    "window.__reflex_otel = {",
    "onEventSend(event)",
)


def frontend_service_name(service_name: str) -> str:
    """service.name of the browser's spans: the only one the relay accepts from a browser."""
    return f"{service_name}-frontend"


def extended_module(source: str) -> str:
    """reflex-otel's browser module with browser_bundle.js appended (same module scope)."""
    missing = [binding for binding in MODULE_BINDINGS if binding not in source]
    if missing:
        raise RuntimeError(
            "reflex-otel's browser module (utils/otel.js) no longer has what "
            f"ecom_reflex/observability/browser_bundle.js uses: {', '.join(missing)}. "
            "It was written against reflex-otel 0.2.0 (requirements.txt)."
        )
    return f"{source}\n{EXTENSION.read_text()}"


def _load_when_idle(entry: str) -> str:
    return entry if _ENTRY_IMPORT in entry else _ENTRY_IMPORT + entry


class ShopOtelPlugin(OtelPlugin):
    """OtelPlugin exporting to the shop's relay, its module extended by browser_bundle.js and
    loaded by browser_loader.js once the page is idle.

    Not for render_timing (the plugin's React profiler root): its entry patch is not applied."""

    # Installed, but not as Reflex's "frontend dependencies": those it bundles into the root
    # module (window.__reflex) that every page loads first, which put the whole SDK back on the
    # first paint's path. As build-time packages, they go into the chunk the loader imports.
    def get_frontend_dependencies(self, **context: Any) -> tuple[str, ...]:
        return ()

    def get_frontend_development_dependencies(self, **context: Any) -> tuple[str, ...]:
        return tuple(super().get_frontend_dependencies(**context))

    def get_static_assets(self, **context: Any) -> list[tuple[Path, str]]:
        modules = [(path, extended_module(source)) for path, source in super().get_static_assets(**context)]
        return [*modules, (LOADER_MODULE, LOADER.read_text())]

    def pre_compile(self, **context: Any) -> None:
        if self.render_timing:
            raise ValueError("ShopOtelPlugin loads the module late; render_timing needs it first")
        context["add_modify_task"](Embed.ENTRY_PATH, _load_when_idle)


def browser_tracing_plugin(service_name: str) -> ShopOtelPlugin:
    """The plugin for rxconfig.py: every interaction sent to the relay, which samples."""
    return ShopOtelPlugin(endpoint=RELAY_PATH, service_name=frontend_service_name(service_name), sample_rate=1.0)
