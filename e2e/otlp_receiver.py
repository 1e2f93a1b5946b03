"""A real OTLP/HTTP trace receiver on loopback: decodes ExportTraceServiceRequest, keeps every span."""

from __future__ import annotations

import gzip
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict
    resource: dict
    # (name, attributes) of each span event, e.g. OpenFeature's flag evaluations.
    events: list = field(default_factory=list)
    # (trace id, span id) of each span link, e.g. an e-mail's send to the order that queued it.
    links: list = field(default_factory=list)
    # OTLP's SpanKind: SERVER (2) answers a request, CLIENT (3) makes one.
    kind: int = 0


SPAN_KIND_SERVER = 2
SPAN_KIND_CLIENT = 3


@dataclass
class OtlpReceiver:
    server: ThreadingHTTPServer
    spans: list[ReceivedSpan] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # While set, every export is refused with 503, as by a collector that is down behind its
    # load balancer: the exporter retries, then gives the batch up.
    unavailable: threading.Event = field(default_factory=threading.Event)

    @property
    def endpoint(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def snapshot(self) -> list[ReceivedSpan]:
        with self.lock:
            return list(self.spans)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def restart(self) -> None:
        """Listen again, on the same port, after stop(): the shop's exporter finds its collector back."""
        self.server = ThreadingHTTPServer(self.server.server_address[:2], self.server.RequestHandlerClass)
        threading.Thread(target=self.server.serve_forever, daemon=True, name="otlp-receiver").start()


def _value(any_value) -> object:
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


def start_receiver() -> OtlpReceiver:
    receiver: OtlpReceiver

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real collector: no connection per export

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if receiver.unavailable.is_set():
                self.send_error(503)
                return
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path != "/v1/traces":
                self.send_error(404)
                return
            request = ExportTraceServiceRequest.FromString(body)
            received = []
            for resource_spans in request.resource_spans:
                resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        received.append(
                            ReceivedSpan(
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_span_id=span.parent_span_id.hex(),
                                attributes={a.key: _value(a.value) for a in span.attributes},
                                resource=resource,
                                events=[(e.name, {a.key: _value(a.value) for a in e.attributes}) for e in span.events],
                                links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                                kind=span.kind,
                            )
                        )
            with receiver.lock:
                receiver.spans.extend(received)
            payload = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):  # keep test output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = OtlpReceiver(server=server)
    threading.Thread(target=server.serve_forever, daemon=True, name="otlp-receiver").start()
    return receiver
