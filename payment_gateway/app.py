"""The HTTP face of the payment service: a Starlette app, its routes and the edge middleware.

Layers, outermost first: OpenTelemetry's ASGI middleware (a server span per request, continuing
the caller's W3C traceparent), then EdgeMiddleware (times every request for Prometheus, applies
the fault flags, checks the API key, turns any escaped exception into a JSON 500), then the
routes. Routes read the body through `read_body` (16 KiB cap, also for a chunked body) and
parse it with api.py before calling the service.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.trace import TracerProvider
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from payment_gateway import api
from payment_gateway.faults import POLL_MS, FaultFlags
from payment_gateway.ledger import Ledger
from payment_gateway.service import Gateway, Reply
from payment_gateway.settings import GatewaySettings

logger = logging.getLogger("payment_gateway.http")

# A client that sends its body slower than this is cut off (slow-body clients hold a connection each).
BODY_TIMEOUT_S = 10.0
FAULT_HEADER = "x-fault-flag"
_CONFIRM_PATH = re.compile(r"/v1/payment_intents/[^/]+/confirm")
_INTENT_PATH = re.compile(r"/v1/payment_intents/[^/]+")


def operation_of(method: str, path: str) -> str:
    """The bounded operation label (and span name part) of a request: never a raw path."""
    if path == "/v1/payment_intents":
        return {"POST": "create", "GET": "search"}.get(method, "other")
    if method == "POST" and _CONFIRM_PATH.fullmatch(path):
        return "confirm"
    if method == "GET" and _INTENT_PATH.fullmatch(path):
        return "retrieve"
    if method == "POST" and path == "/v1/refunds":
        return "refund"
    return "other"


_SPAN_ROUTES = {
    "create": "/v1/payment_intents", "search": "/v1/payment_intents", "confirm": "/v1/payment_intents/{id}/confirm",
    "retrieve": "/v1/payment_intents/{id}", "refund": "/v1/refunds",
}  # fmt: skip


def span_details(scope: Scope) -> tuple[str, dict[str, Any]]:
    """Server span names with the route template (payment intent ids would make every name unique)."""
    method, path = scope.get("method", "HTTP"), scope.get("path", "")
    operation = operation_of(method, path)
    route = _SPAN_ROUTES.get(operation) or (path if path in ("/health", "/metrics") else "")
    return (f"{method} {route}" if route else method), ({"http.route": route} if route else {})


def error_response(error: api.ApiError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON answer of an ApiError."""
    return JSONResponse(error.body, status_code=error.status, headers=headers)


def reply_response(reply: Reply) -> JSONResponse:
    """The JSON answer of a service Reply."""
    return JSONResponse(reply.body, status_code=reply.status)


async def read_body(request: Request) -> bytes:
    """The body, at most api.MAX_BODY_BYTES: a longer one is refused (413) without being read to its end."""
    too_large = api.ApiError(
        413, "invalid_request_error", "request_too_large", f"The request body is over {api.MAX_BODY_BYTES} bytes."
    )
    length = request.headers.get("content-length")
    if length is not None:
        if not (length.isascii() and length.isdigit()):
            raise api.ApiError(400, "invalid_request_error", "invalid_request", "Content-Length is not a number.")
        if len(length) > 9 or int(length) > api.MAX_BODY_BYTES:
            raise too_large
    chunks, size = [], 0
    try:
        async with asyncio.timeout(BODY_TIMEOUT_S):
            async for chunk in request.stream():
                size += len(chunk)
                if size > api.MAX_BODY_BYTES:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise api.ApiError(
            408, "invalid_request_error", "request_timeout", "The request body came too slowly."
        ) from None
    return b"".join(chunks)


Handler = Callable[[Request, Gateway], Awaitable[Response]]


def route(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Hand the route its Gateway, and turn an ApiError into its JSON answer."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.gateway)
        except api.ApiError as error:
            return error_response(error)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint


@route
async def create_intent(request: Request, gateway: Gateway) -> Response:
    """POST /v1/payment_intents."""
    key = api.idempotency_key(request.headers.get("idempotency-key"), required=True)
    params = api.create_params(api.parse_json(await read_body(request)), gateway.clock())
    return reply_response(await gateway.create(key, params))


@route
async def confirm_intent(request: Request, gateway: Gateway) -> Response:
    """POST /v1/payment_intents/{id}/confirm."""
    intent_id = api.intent_id(request.path_params["intent_id"])
    key = api.idempotency_key(request.headers.get("idempotency-key"), required=False)
    card = api.confirm_card(api.parse_json(await read_body(request)))
    return reply_response(await gateway.confirm(intent_id, key, card))


@route
async def create_refund(request: Request, gateway: Gateway) -> Response:
    """POST /v1/refunds."""
    key = api.idempotency_key(request.headers.get("idempotency-key"), required=True)
    params = api.refund_params(api.parse_json(await read_body(request)))
    return reply_response(await gateway.refund(key, params))


@route
async def retrieve_intent(request: Request, gateway: Gateway) -> Response:
    """GET /v1/payment_intents/{id}."""
    return reply_response(await gateway.retrieve(api.intent_id(request.path_params["intent_id"])))


@route
async def search_intents(request: Request, gateway: Gateway) -> Response:
    """GET /v1/payment_intents?idempotency_key=K: the reconciler's way to learn an outcome."""
    raw = request.query_params.get("idempotency_key")
    if raw is None:
        raise api.missing("idempotency_key")
    return reply_response(await gateway.search(api.idempotency_key(raw, required=True)))


@route
async def health(request: Request, gateway: Gateway) -> Response:
    """GET /health: 200 when the ledger answers, else 503 naming the problem."""
    ok, ledger = await gateway.health()
    return JSONResponse({"status": "ok" if ok else "unavailable", "ledger": ledger}, status_code=200 if ok else 503)


@route
async def metrics(request: Request, gateway: Gateway) -> Response:
    """GET /metrics: Prometheus text, or OpenMetrics (with exemplars) when the scraper asks for it."""
    gateway.metrics.set_fault_flags(gateway.flags.current())
    content, media_type = gateway.metrics.exposition(request.headers.get("accept", ""))
    return Response(content, media_type=media_type)


async def http_error(request: Request, error: Exception) -> Response:
    """Unknown URLs and wrong methods answer in Stripe's shape too."""
    assert isinstance(error, HTTPException)
    code = {404: "url_invalid", 405: "method_not_allowed"}.get(error.status_code, "invalid_request")
    message = {404: "Unrecognized request URL.", 405: "This method is not allowed here."}.get(
        error.status_code, str(error.detail)
    )
    return error_response(api.ApiError(error.status_code, "invalid_request_error", code, message), error.headers)


async def server_error(request: Request, error: Exception) -> Response:
    """A last resort: an escaped exception still answers JSON, without internals."""
    return error_response(INTERNAL_ERROR)


INTERNAL_ERROR = api.ApiError(500, "api_error", "internal_error", "Something went wrong on our side; try again.")


class EdgeMiddleware:
    """Every request: timing and metrics, fault flags, the API key, and no exception ever leaves as a non-JSON 500."""

    def __init__(self, app: ASGIApp, gateway: Gateway, exemplars: bool) -> None:
        self.app, self.gateway, self.exemplars = app, gateway, exemplars

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method, path = scope.get("method", ""), scope.get("path", "")
        operation = operation_of(method, path)
        status = 500
        response_started = False

        async def send_tracking(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status, response_started = message["status"], True
            await send(message)

        try:
            refusal = await self._refusal(scope, method, path)
            if refusal is not None:
                await refusal(scope, receive, send_tracking)
            else:
                await self.app(scope, receive, send_tracking)
        except Exception:
            logger.exception("request failed", extra={"operation": operation})
            if not response_started:
                await error_response(INTERNAL_ERROR)(scope, receive, send_tracking)
        finally:
            self.gateway.metrics.observe_request(operation, status, time.perf_counter() - started, self._trace_id())

    async def _refusal(self, scope: Scope, method: str, path: str) -> Response | None:
        """The answer that stops a request before any route sees it, or None to go on."""
        flags = self.gateway.flags
        if flags.unreachable():
            error = api.ApiError(503, "api_error", "service_unavailable", "The payment service is unavailable.")
            return error_response(error, {FAULT_HEADER: "paymentUnreachable", "retry-after": "1"})
        if not path.startswith("/v1/"):
            return None
        if delay := flags.delay_seconds():
            await asyncio.sleep(delay)
        if not self._authorised(scope):
            error = api.ApiError(401, "authentication_error", "invalid_api_key",
                                 "Invalid API key: send it as 'Authorization: Bearer <key>'.")  # fmt: skip
            return error_response(error, {"www-authenticate": "Bearer"})
        if method == "POST" and flags.failure_injected():
            logger.warning("fault injected: request failed on purpose", extra={"operation": operation_of(method, path)})
            error = api.ApiError(500, "api_error", "processing_failure", "The payment service failed to process this.")
            return error_response(error, {FAULT_HEADER: "paymentFailurePercent"})
        return None

    def _authorised(self, scope: Scope) -> bool:
        supplied = b""
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                supplied = value
                break
        scheme, _, token = supplied.partition(b" ")
        # The key compared in constant time; the scheme's case is free, as HTTP says.
        key_matches = hmac.compare_digest(token.strip(), self.gateway.api_key)
        return key_matches and scheme.lower() == b"bearer"

    def _trace_id(self) -> str | None:
        if not self.exemplars:
            return None
        # Not span.is_recording(): the server span has already ended once the last body chunk went out.
        context = trace.get_current_span().get_span_context()
        return format(context.trace_id, "032x") if context.is_valid and context.trace_flags.sampled else None


def create_app(
    settings: GatewaySettings,
    *,
    clock: Callable[[], float] = time.time,
    tracer_provider: TracerProvider | None = None,
    exemplars: bool | None = None,
    flag_poll_ms: int = POLL_MS,
) -> Starlette:
    """The ASGI app over a ledger opened (and created) now; closing it is the lifespan's or `close_app`'s job.

    `clock` and `flag_poll_ms` are for tests (expiry without waiting, quick flag edits); `exemplars`
    defaults to whether spans are exported (a trace id nobody can open is no use on a metric).
    """
    ledger = Ledger(settings.payment_ledger)
    flags = FaultFlags(settings.fault_flags_file, poll_ms=flag_poll_ms)
    provider = tracer_provider or trace.get_tracer_provider()
    gateway = Gateway(ledger, flags, settings.api_key, clock=clock, tracer_provider=provider)

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        gateway.close()
        # Spans still in the batch leave now: uvicorn ends the process by re-raising SIGTERM right after.
        if flush := getattr(provider, "force_flush", None):
            await run_in_threadpool(flush, 5000)

    app = Starlette(
        routes=[
            Route("/v1/payment_intents", create_intent, methods=["POST"]),
            Route("/v1/payment_intents", search_intents, methods=["GET"]),
            Route("/v1/payment_intents/{intent_id}", retrieve_intent, methods=["GET"]),
            Route("/v1/payment_intents/{intent_id}/confirm", confirm_intent, methods=["POST"]),
            Route("/v1/refunds", create_refund, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        middleware=[
            Middleware(
                OpenTelemetryMiddleware,
                tracer_provider=provider,
                default_span_details=span_details,
                exclude_spans=["receive", "send"],
            ),
            Middleware(
                EdgeMiddleware, gateway=gateway, exemplars=settings.tracing_enabled if exemplars is None else exemplars
            ),
        ],
        exception_handlers={HTTPException: http_error, Exception: server_error},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


def close_app(app: Starlette) -> None:
    """Close the app's ledger and flag reader (when no lifespan ran, as with httpx's ASGITransport)."""
    app.state.gateway.close()
