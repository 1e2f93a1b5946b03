"""The browser's half of tracing: reflex-otel's module extended by ours, and the sampler both halves share."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from ecom_reflex.observability.browser_bundle import (
    EXTENSION,
    RELAY_PATH,
    browser_tracing_plugin,
    extended_module,
)
from ecom_reflex.observability.tracing import browser_trace_sampler


def library_module() -> str:
    import reflex_otel

    return (Path(reflex_otel.__file__).parent / "otel.js").read_text()


def test_the_pinned_reflex_otel_module_has_what_the_extension_uses():
    assert version("reflex-otel") == "0.2.0", "browser_bundle.js was checked against reflex-otel 0.2.0: check again"
    module = extended_module(library_module())
    assert module.startswith(library_module()) and module.endswith(EXTENSION.read_text())


def test_a_module_without_what_the_extension_uses_stops_the_build_naming_it():
    changed = library_module().replace("const propagator = ", "const textPropagator = ")
    with pytest.raises(RuntimeError, match=r"const propagator = .*reflex-otel 0\.2\.0"):
        extended_module(changed)


def test_the_plugin_sends_every_interaction_to_the_shops_own_relay_loading_its_module_when_idle():
    plugin = browser_tracing_plugin("my-shop")
    modules = {str(path): source for path, source in plugin.get_static_assets()}
    assert "ui.answer" in modules["utils/otel.js"]
    assert 'import("$/utils/otel")' in modules["utils/otel_loader.js"]
    # The entry script imports the small loader, not the SDK: it is off the first paint's path.
    tasks = []
    plugin.pre_compile(add_modify_task=lambda path, modify: tasks.append((path, modify)))
    ((path, modify),) = tasks
    entry = 'import { startTransition } from "react";\n'
    assert path == "app/entry.client.js" and modify(entry) == 'import "$/utils/otel_loader";\n' + entry
    assert modify(modify(entry)) == modify(entry)
    settings = plugin.update_env_json()["OTEL"]
    assert settings["endpoint"] == RELAY_PATH == "/otlp/v1/traces"  # same origin: the CSP's connect-src 'self'
    assert settings["service_name"] == "my-shop-frontend" and settings["sample_rate"] == 1.0


def browser_parent(trace_id: int) -> trace.Context:
    span_context = SpanContext(trace_id, 0x1234, is_remote=True, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(span_context))


def test_the_sampler_keeps_a_ratio_of_browser_traces_and_records_the_rest():
    sampler = browser_trace_sampler(0.25)
    decisions = [sampler.should_sample(browser_parent(trace_id), trace_id, "event").decision for trace_id in
                 (int.from_bytes(bytes([i]) * 16, "big") for i in range(1, 256, 8))]  # fmt: skip
    kept = decisions.count(Decision.RECORD_AND_SAMPLE)
    assert 0 < kept < len(decisions)
    # What is not kept is still recorded: the event metrics are timed from the spans.
    assert set(decisions) == {Decision.RECORD_AND_SAMPLE, Decision.RECORD_ONLY}
    # A trace the shop starts itself (no browser span above it) is always kept.
    assert browser_trace_sampler(0.0).should_sample(None, 7, "event").decision is Decision.RECORD_AND_SAMPLE
    assert browser_trace_sampler(0.0).should_sample(browser_parent(7), 7, "event").decision is Decision.RECORD_ONLY
