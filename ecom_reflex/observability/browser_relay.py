"""POST /otlp/v1/traces: shoppers' browsers send their spans to the shop, which measures and forwards them.

Why here: the browser exports (OTLP/HTTP, JSON or protobuf) to the page's own origin, so the CSP
keeps `connect-src 'self'`, no CORS is needed, and no collector faces the internet.

What it does with an export it accepts:
- every span feeds the browser metrics (metrics.py): web vitals by page route, click-to-answer time
  by event handler, socket disconnects by reason and reconnects, script errors by page. Labels are
  bounded: a page is one of the shop's own routes (`/product/[product_id]`, never `/product/42`) or
  "unknown", an event one of the shop's handlers (`CartState.add_to_cart`) or "other";
- with OTEL_EXPORTER_OTLP_ENDPOINT set, the spans of the traces that BROWSER_TRACE_SAMPLE_RATIO keeps
  (the SDK's TraceIdRatioBased decision on the trace id) go on to the collector, attributes cut,
  from threads of their own: the browser's answer never waits for the collector, and no more than
  MAX_FORWARDS_PENDING exports wait to go (past it they are dropped and counted). Only forwarded
  traces give exemplars.

It is a public endpoint, bounded like one. In this order, each before the work it limits:
1. a slot of the client's address (60 a minute, services/throttling.py, taken by the app's
   `take_slot`): else 429 with Retry-After;
2. OTLP's media types only, uncompressed (no decompression bomb): else 415;
3. at most MAX_BODY_BYTES, read as it arrives: else 413;
4. an ExportTraceServiceRequest (trace ids of 16 bytes, span ids of 8): else 400;
5. at most MAX_SPANS spans: else 413;
6. every resource's service.name the frontend's own ("<SERVICE_NAME>-frontend"): a browser cannot
   speak for the server, so anything else is a 403 for the whole request.
A refused request forwards nothing and measures nothing; it is counted in
browser_telemetry_refused_total{reason} (its spans in browser_spans_total{outcome="refused"} when
known), and logged once a minute per reason at most, without its body or its address.

This module receives its values: the app module gives it the page routes and the rate limit
(`configure`), the lifespan the event handlers' labels (`start`).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from ecom_reflex.observability import metrics
from ecom_reflex.observability.bounded_body import read_body, too_large
from ecom_reflex.observability.browser_bundle import frontend_service_name
from ecom_reflex.settings import Settings, get_settings

logger = logging.getLogger("ecom_reflex.browser_relay")

# A browser batch of 512 spans is about 150 KiB of OTLP/JSON: room for that, and no more is ever read.
MAX_BODY_BYTES = 256 * 1024
# The browser SDK's BatchSpanProcessor sends at most 512 spans an export (its maxExportBatchSize).
MAX_SPANS = 512
# What a forwarded span keeps: string values (and names) cut to this many characters, at most this
# many attributes (the SDK's own default limit is 128; the browser's spans have fewer than 10).
MAX_ATTRIBUTE_CHARS = 256
MAX_ATTRIBUTES = 64
# Forwarding: a collector that does not answer within this is given up on (the spans are counted
# as forward_failed), by this many threads, with at most this many exports waiting for them.
FORWARD_TIMEOUT_S = 2.0
FORWARD_THREADS = 2
# 64 exports of at most MAX_BODY_BYTES hold at most 16 MiB; 8 dropped 8 % of spans at full rate (make bench).
MAX_FORWARDS_PENDING = 64
# At most one log line a minute per kind of refusal or forwarding failure: the counters tell how many.
QUIET = parse("1 per minute")

JSON_MEDIA = "application/json"
PROTOBUF_MEDIA = "application/x-protobuf"
ACCEPTED_MEDIA = (JSON_MEDIA, PROTOBUF_MEDIA)
# OTLP/JSON carries these ids as hex (protobuf's JSON mapping would read base64).
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")
_NANOS = 1_000_000_000

SlotTaker = Callable[[Request], Awaitable[float | None]]


class Refused(Exception):
    """An export the relay will not take: why (a browser_telemetry_refused_total reason), its status,
    the answer's message, and how many spans it held (0 when not known)."""

    def __init__(self, reason: str, status: int, message: str, spans: int = 0):
        super().__init__(message)
        self.reason, self.status, self.message, self.spans = reason, status, message, spans


class PageRoutes:
    """The shop's page routes, to name a browser's raw path by: `[x]` is one path segment; where two
    routes match, the one with more literal segments wins (/admin/products/new over
    /admin/products/[product_id]); anything else is "unknown"."""

    def __init__(self, routes: Iterable[str]):
        self.routes = tuple(dict.fromkeys(route for route in routes if route.startswith("/")))
        patterns = [
            (route, tuple(None if _is_param(part) else part for part in _segments(route))) for route in self.routes
        ]
        self._patterns = sorted(patterns, key=lambda pattern: -sum(part is not None for part in pattern[1]))

    def of(self, path: object) -> str:
        if not isinstance(path, str) or len(path) > 2048:
            return metrics.UNKNOWN_PAGE
        parts = _segments(path)
        for route, pattern in self._patterns:
            if len(pattern) == len(parts) and all(map(_fits, pattern, parts)):
                return route
        return metrics.UNKNOWN_PAGE


def _fits(literal: str | None, part: str) -> bool:
    """Whether a path segment fits a route's: the same text, or any for a `[x]` segment (None)."""
    return part == literal if literal is not None else part != ""


def _segments(path: str) -> tuple[str, ...]:
    stripped = path.strip("/")
    return tuple(stripped.split("/")) if stripped else ()


def _is_param(segment: str) -> bool:
    return segment.startswith("[") and segment.endswith("]")


@dataclass
class _Wiring:
    pages: PageRoutes = field(default_factory=lambda: PageRoutes(()))
    take_slot: SlotTaker | None = None
    event_labels: Mapping[str, str] = field(default_factory=dict)


_wiring = _Wiring()
_quiet = MovingWindowRateLimiter(MemoryStorage())


def configure(*, page_routes: Iterable[str], take_slot: SlotTaker) -> None:
    """The app module's part: its page routes (PAGES), and the rate limit, `take_slot(request)` -> None
    when the request's client address had a slot, else the seconds until it has one."""
    _wiring.pages = PageRoutes(page_routes)
    _wiring.take_slot = take_slot


def start(event_labels: Mapping[str, str]) -> None:
    """A worker's lifespan: the labels of the shop's event handlers by the name a browser gives them
    (`reflex___state____state.ecom_reflex___state___cart____cart_state.add_to_cart` ->
    `CartState.add_to_cart`), and every browser counter at 0."""
    _wiring.event_labels = dict(event_labels)
    metrics.initialise_browser(_wiring.pages.routes)


def _log_quietly(kind: str, level: int, message: str, *args: object) -> None:
    if _quiet.hit(QUIET, "browser-relay", kind):
        logger.log(level, message, *args)


# -- Reading an export -------------------------------------------------------------------------------


def _hex_ids_to_base64(payload: dict) -> None:
    """OTLP/JSON's hex span and trace ids (spans and their links), as protobuf's JSON mapping reads bytes."""
    for resource_spans in _list(payload, "resourceSpans", "resource_spans"):
        for scope_spans in _list(resource_spans, "scopeSpans", "scope_spans"):
            for span in _list(scope_spans, "spans"):
                for item in (span, *_list(span, "links")):
                    for key in _ID_KEYS:
                        if isinstance(value := item.get(key), str):
                            item[key] = base64.b64encode(bytes.fromhex(value)).decode()


def _list(parent: object, *keys: str) -> list[dict]:
    if not isinstance(parent, dict):
        return []
    for key in keys:
        if isinstance(items := parent.get(key), list):
            return [item for item in items if isinstance(item, dict)]
    return []


def parse_export(body: bytes, media: str) -> ExportTraceServiceRequest:
    """The ExportTraceServiceRequest in `body` (OTLP/JSON or protobuf), or Refused(not_otlp)."""
    export = ExportTraceServiceRequest()
    try:
        if media == JSON_MEDIA:
            payload = json.loads(body)
            if not isinstance(payload, dict):
                raise TypeError("not an object")
            _hex_ids_to_base64(payload)
            json_format.ParseDict(payload, export, ignore_unknown_fields=True)
        else:
            export.ParseFromString(body)
    # Not JSON or not UTF-8, a 5,000-digit number, nested too deep, ids that are not hex, fields
    # of the wrong type, protobuf that does not decode.
    except (ValueError, TypeError, RecursionError, binascii.Error, json_format.ParseError, DecodeError):
        raise Refused("not_otlp", 400, "expected an OTLP ExportTraceServiceRequest") from None
    for resource_spans in export.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                _check_ids(span.trace_id, span.span_id, span.parent_span_id)
                for link in span.links:
                    _check_ids(link.trace_id, link.span_id, b"")
    return export


def _check_ids(trace_id: bytes, span_id: bytes, parent_span_id: bytes) -> None:
    if len(trace_id) != 16 or not any(trace_id) or len(span_id) != 8 or not any(span_id):
        raise Refused("not_otlp", 400, "every span needs a trace id of 16 bytes and a span id of 8, not all zero")
    if parent_span_id and len(parent_span_id) != 8:
        raise Refused("not_otlp", 400, "a parent span id is 8 bytes")


def span_count(export: ExportTraceServiceRequest) -> int:
    return sum(len(scope_spans.spans) for resource in export.resource_spans for scope_spans in resource.scope_spans)


def check_export(export: ExportTraceServiceRequest, frontend_service: str) -> int:
    """The export's span count, or Refused when it has too many or speaks for another service."""
    spans = span_count(export)
    if spans > MAX_SPANS:
        raise Refused("too_many_spans", 413, f"at most {MAX_SPANS} spans a request (got {spans})", spans)
    for resource_spans in export.resource_spans:
        names = [kv.value.string_value for kv in resource_spans.resource.attributes if kv.key == "service.name"]
        if names != [frontend_service]:
            raise Refused("forged_service", 403, f"only service.name {frontend_service!r} is accepted here", spans)
    return spans


# -- Bounding what is forwarded ----------------------------------------------------------------------


def _cut(text: str) -> str:
    return text if len(text) <= MAX_ATTRIBUTE_CHARS else text[:MAX_ATTRIBUTE_CHARS]


def _cut_value(value: AnyValue) -> None:
    kind = value.WhichOneof("value")
    if kind == "string_value" and len(value.string_value) > MAX_ATTRIBUTE_CHARS:
        value.string_value = _cut(value.string_value)
    elif kind == "bytes_value" and len(value.bytes_value) > MAX_ATTRIBUTE_CHARS:
        value.bytes_value = value.bytes_value[:MAX_ATTRIBUTE_CHARS]
    elif kind == "array_value":
        del value.array_value.values[MAX_ATTRIBUTES:]
        for item in value.array_value.values:
            _cut_value(item)
    elif kind == "kvlist_value":
        _cut_attributes(value.kvlist_value.values)


def _cut_attributes(attributes) -> int:
    """At most MAX_ATTRIBUTES attributes, each key and string cut: how many were dropped."""
    dropped = max(0, len(attributes) - MAX_ATTRIBUTES)
    del attributes[MAX_ATTRIBUTES:]
    for attribute in attributes:
        attribute.key = _cut(attribute.key)
        _cut_value(attribute.value)
    return dropped


def cut_attributes(export: ExportTraceServiceRequest) -> None:
    """Every attribute (resource, scope, span, span event, link) and every name within the bounds."""
    for resource_spans in export.resource_spans:
        resource = resource_spans.resource
        resource.dropped_attributes_count += _cut_attributes(resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope.name, scope.version = _cut(scope.name), _cut(scope.version)
            scope.dropped_attributes_count += _cut_attributes(scope.attributes)
            for span in scope_spans.spans:
                span.name, span.trace_state = _cut(span.name), _cut(span.trace_state)
                span.status.message = _cut(span.status.message)
                span.dropped_attributes_count += _cut_attributes(span.attributes)
                for event in span.events:
                    event.name = _cut(event.name)
                    event.dropped_attributes_count += _cut_attributes(event.attributes)
                for link in span.links:
                    link.trace_state = _cut(link.trace_state)
                    link.dropped_attributes_count += _cut_attributes(link.attributes)


# -- What the shopper felt ---------------------------------------------------------------------------


def _attributes(attributes: Iterable[KeyValue]) -> dict[str, object]:
    found: dict[str, object] = {}
    for attribute in attributes:
        kind = attribute.value.WhichOneof("value")
        if kind in ("string_value", "int_value", "double_value", "bool_value"):
            found[attribute.key] = getattr(attribute.value, kind)
    return found


def _number(value: object) -> float | None:
    """A measurement a browser sent: a finite number, not negative; else None (not measured)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def derive_metrics(
    export: ExportTraceServiceRequest,
    pages: PageRoutes,
    event_labels: Mapping[str, str],
    exemplar: Callable[[bytes], bool] = lambda _trace_id: False,
) -> None:
    """The browser metrics of every span in `export`; `exemplar(trace_id)` says whether a click-to-answer
    sample may point at its trace (only when that trace is forwarded)."""
    for resource_spans in export.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                _measure(span, pages, event_labels, exemplar)


def _measure(span, pages: PageRoutes, event_labels: Mapping[str, str], exemplar: Callable[[bytes], bool]) -> None:
    name = span.name
    if name.startswith("web_vital."):
        attributes = _attributes(span.attributes)
        vital = attributes.get("web_vital.name", name.removeprefix("web_vital."))
        value = _number(attributes.get("web_vital.value"))
        if vital not in metrics.WEB_VITALS or value is None:
            return
        if vital != "CLS":
            value /= 1000  # the browser's milliseconds
        rating = attributes.get("web_vital.rating")
        metrics.observe_web_vital(pages.of(attributes.get("url.path")), vital, value, str(rating))
    elif name == "ui.answer":
        if span.end_time_unix_nano < span.start_time_unix_nano or not span.start_time_unix_nano:
            return
        attributes = _attributes(span.attributes)
        event = event_labels.get(str(attributes.get("reflex.event.name")), metrics.OTHER_EVENT)
        seconds = (span.end_time_unix_nano - span.start_time_unix_nano) / _NANOS
        metrics.observe_click_to_answer(event, seconds, span.trace_id.hex() if exemplar(span.trace_id) else None)
    elif name == "socket.connect":
        count = _number(_attributes(span.attributes).get("reflex.socket.connect_count"))
        if count is not None and count > 1:
            metrics.count_socket_reconnect()
    elif name == "socket.disconnect":
        metrics.count_socket_disconnect(str(_attributes(span.attributes).get("reflex.socket.disconnect_reason")))
    elif name == "browser.error":
        metrics.count_browser_error(pages.of(_attributes(span.attributes).get("url.path")))


# -- Forwarding --------------------------------------------------------------------------------------


def sampled_part(
    export: ExportTraceServiceRequest, keep: Callable[[bytes], bool]
) -> tuple[ExportTraceServiceRequest, int, int]:
    """(the export with only the spans of the traces `keep` keeps, spans kept, spans left out)."""
    kept_export = ExportTraceServiceRequest()
    kept = left_out = 0
    for resource_spans in export.resource_spans:
        kept_resource = None
        for scope_spans in resource_spans.scope_spans:
            spans = [span for span in scope_spans.spans if keep(span.trace_id)]
            left_out += len(scope_spans.spans) - len(spans)
            if not spans:
                continue
            if kept_resource is None:
                kept_resource = kept_export.resource_spans.add(
                    resource=resource_spans.resource, schema_url=resource_spans.schema_url
                )
            kept_resource.scope_spans.add(scope=scope_spans.scope, schema_url=scope_spans.schema_url, spans=spans)
            kept += len(spans)
    return kept_export, kept, left_out


def sampler(ratio: float) -> Callable[[bytes], bool]:
    """Whether a trace id is kept at `ratio`: the SDK's TraceIdRatioBased decision, as the server's sampler makes it."""
    decide = TraceIdRatioBased(ratio)

    @functools.cache
    def keep(trace_id: bytes) -> bool:
        return decide.should_sample(None, int.from_bytes(trace_id, "big"), "browser").decision.is_sampled()

    return keep


class ForwardRefused(Exception):
    """The collector answered, but not with a success."""


_pending_lock = threading.Condition()
_pending = 0


class Forwarder:
    """Sends exports to the collector from FORWARD_THREADS threads of its own, at most
    MAX_FORWARDS_PENDING waiting; each within FORWARD_TIMEOUT_S."""

    def __init__(self, endpoint: str, protocol: str):
        self._pool = ThreadPoolExecutor(max_workers=FORWARD_THREADS, thread_name_prefix="browser-forward")
        if protocol == "grpc":
            self._send = self._grpc(endpoint)
        else:
            self._send = self._http(endpoint.rstrip("/") + "/v1/traces")

    @staticmethod
    def _http(url: str) -> Callable[[ExportTraceServiceRequest], None]:
        import httpx

        # The collector is the shop's own neighbour: no proxy from the environment in between.
        client = httpx.Client(timeout=FORWARD_TIMEOUT_S, trust_env=False)

        def send(export: ExportTraceServiceRequest) -> None:
            response = client.post(url, content=export.SerializeToString(), headers={"Content-Type": PROTOBUF_MEDIA})
            if not response.is_success:
                raise ForwardRefused(f"HTTP {response.status_code}")

        return send

    @staticmethod
    def _grpc(endpoint: str) -> Callable[[ExportTraceServiceRequest], None]:
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2_grpc import TraceServiceStub

        parts = urlsplit(endpoint)
        channel = (
            grpc.secure_channel(parts.netloc, grpc.ssl_channel_credentials())
            if parts.scheme == "https"
            else grpc.insecure_channel(parts.netloc)
        )
        stub = TraceServiceStub(channel)

        def send(export: ExportTraceServiceRequest) -> None:
            stub.Export(export, timeout=FORWARD_TIMEOUT_S)

        return send

    def submit(self, export: ExportTraceServiceRequest, spans: int) -> None:
        """Forwards `export` (`spans` spans) in the background, or drops it when too many wait already."""
        global _pending
        with _pending_lock:
            full = _pending >= MAX_FORWARDS_PENDING
            if not full:
                _pending += 1
        if full:
            metrics.count_browser_spans("forward_failed", spans)
            _log_quietly("forward_dropped", logging.WARNING, "browser spans dropped: %d exports already wait to be"
                         " forwarded to the collector", MAX_FORWARDS_PENDING)  # fmt: skip
            return
        self._pool.submit(self._forward, export, spans)

    def _forward(self, export: ExportTraceServiceRequest, spans: int) -> None:
        global _pending
        try:
            self._send(export)
        except Exception as error:  # whatever went wrong on the way, the spans are lost: counted, said once a minute
            metrics.count_browser_spans("forward_failed", spans)
            _log_quietly("forward_failed", logging.WARNING, "could not forward browser spans to the collector: %s %s",
                         type(error).__name__, str(error)[:200])  # fmt: skip
        else:
            metrics.count_browser_spans("forwarded", spans)
        finally:
            with _pending_lock:
                _pending -= 1
                _pending_lock.notify_all()


@functools.cache
def forwarder(endpoint: str, protocol: str) -> Forwarder:
    return Forwarder(endpoint, protocol)


def wait_for_forwards(timeout_s: float) -> bool:
    """Whether every export handed to a forwarder has gone (or failed) within `timeout_s` (tests, shutdown)."""
    with _pending_lock:
        return _pending_lock.wait_for(lambda: _pending == 0, timeout_s)


# -- The endpoint ------------------------------------------------------------------------------------


def _refusal(refused: Refused, headers: dict[str, str] | None = None) -> Response:
    metrics.count_browser_refusal(refused.reason)
    metrics.count_browser_spans("refused", refused.spans)
    _log_quietly(refused.reason, logging.INFO, "refused a browser span export (%s, %d): %s; more are only counted"
                 " in browser_telemetry_refused_total", refused.reason, refused.status, refused.message)  # fmt: skip
    if refused.reason == "too_large":
        return too_large(MAX_BODY_BYTES)
    return JSONResponse({"error": refused.message}, status_code=refused.status, headers=headers)


def _accepted(media: str) -> Response:
    if media == JSON_MEDIA:
        return JSONResponse({})
    return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF_MEDIA)


def accept(body: bytes, media: str, settings: Settings) -> Response:
    """An export's body, read within its cap: refused, or measured (and forwarded) and answered."""
    try:
        export = parse_export(body, media)
        spans = check_export(export, frontend_service_name(settings.service_name))
    except Refused as refused:
        return _refusal(refused)
    metrics.count_browser_spans("accepted", spans)
    cut_attributes(export)
    endpoint = settings.otel_exporter_otlp_endpoint
    keep = sampler(settings.browser_trace_sample_ratio)
    derive_metrics(export, _wiring.pages, _wiring.event_labels, keep if endpoint else lambda _trace_id: False)
    if endpoint:
        kept_export, kept, left_out = sampled_part(export, keep)
        metrics.count_browser_spans("not_sampled", left_out)
        if kept:
            forwarder(endpoint, settings.otel_exporter_otlp_protocol).submit(kept_export, kept)
    return _accepted(media)


async def receive_traces(request: Request) -> Response:
    """POST RELAY_PATH (/otlp/v1/traces): 200 and an empty ExportTraceServiceResponse for an export taken, a 4xx that
    says why for one refused; 204 and nothing done with observability off."""
    settings = get_settings()
    if not settings.observability:
        return Response(status_code=204)
    if _wiring.take_slot is None:  # the app module has not configured the relay: nothing is taken
        return JSONResponse({"error": "not ready"}, status_code=503, headers={"Retry-After": "5"})
    if (wait := await _wiring.take_slot(request)) is not None:
        seconds = max(1, math.ceil(wait))
        message = f"too many exports from your address: try again in {seconds} s"
        return _refusal(Refused("rate_limited", 429, message), {"Retry-After": str(seconds)})
    media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if media not in ACCEPTED_MEDIA or encoding not in ("", "identity"):
        message = "expected OTLP/HTTP: application/json or application/x-protobuf, not compressed"
        return _refusal(Refused("unsupported_media_type", 415, message))
    try:
        body = await read_body(request, MAX_BODY_BYTES)
    except ClientDisconnect:
        return Response(status_code=400)  # nobody is left to read it
    if body is None:
        return _refusal(Refused("too_large", 413, f"body larger than {MAX_BODY_BYTES} bytes"))
    # Parsing and measuring off the event loop.
    return await asyncio.to_thread(accept, body, media, settings)
