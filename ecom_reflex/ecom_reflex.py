"""The Reflex app: pages, HTTP routes (/health, /metrics), lifespan tasks."""

import reflex as rx
from reflex.event import EventSpec
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ecom_reflex import SHOP_NAME, payments
from ecom_reflex.built_pages import serve_built_pages
from ecom_reflex.components.layout import SHOP_DESCRIPTION
from ecom_reflex.db import check_database, check_redis, failure_message, failure_reason
from ecom_reflex.lifespan import lifespan
from ecom_reflex.observability import browser_relay
from ecom_reflex.observability.alerts import alerts_webhook
from ecom_reflex.observability.browser_bundle import RELAY_PATH
from ecom_reflex.observability.client_noise import frontend_exception, refused_malformed_event
from ecom_reflex.observability.instrumentation import (
    event_exception_handler,
    instrument_reflex,
    observe_requests,
)
from ecom_reflex.observability.metrics import metrics_endpoint
from ecom_reflex.offload import run_db
from ecom_reflex.pages import account, auth, cart, checkout, home, not_found, orders, product
from ecom_reflex.pages.admin import dashboard as admin_dashboard
from ecom_reflex.pages.admin import orders as admin_orders
from ecom_reflex.pages.admin import products as admin_products
from ecom_reflex.pages.admin import users as admin_users
from ecom_reflex.security import forwarded_client, log_as_client, security_headers, websocket_origins
from ecom_reflex.services import throttling
from ecom_reflex.services.images import MAX_IMAGE_BYTES
from ecom_reflex.settings import get_settings
from ecom_reflex.state import store
from ecom_reflex.state.account import AccountState, VerifyEmailState
from ecom_reflex.state.admin.dashboard import AdminAnalyticsState
from ecom_reflex.state.admin.orders import AdminOrdersState, AdminOrderState
from ecom_reflex.state.admin.products import AdminProductFormState, AdminProductsState
from ecom_reflex.state.admin.users import AdminUsersState
from ecom_reflex.state.auth import LoginState, RegisterState
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.catalog import CatalogState, ProductState
from ecom_reflex.state.checkout import CheckoutState
from ecom_reflex.state.orders import OrdersState
from ecom_reflex.state.password_reset import ForgotPasswordState, ResetPasswordState


async def health(_request: Request) -> JSONResponse:
    """200 when every backing service answers; 503 naming each one that does not."""
    checks = {"database": check_database}
    if (redis_url := get_settings().redis_url) is not None:
        checks["redis"] = lambda: check_redis(redis_url)
    body: dict[str, str] = {"status": "ok"}
    for name, check in checks.items():
        problem = await run_in_threadpool(check)
        body[name] = "ok" if problem is None else f"unavailable ({problem})"
        if problem is not None:
            body["status"] = "error"
    # On the event loop: the client is async and times out in 2 s.
    if (problem := await payments.check()) is not None:
        body["payments"] = f"unavailable ({problem})"
        body["status"] = "error"
    else:
        body["payments"] = "ok"
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


# Reflex parses an upload before our (admin-guarded) handler sees it; this caps what
# anyone can make the server read: the image limit plus room for the multipart framing.
MAX_UPLOAD_REQUEST_BYTES = MAX_IMAGE_BYTES + 64 * 1024


def limit_upload_size(asgi_app: ASGIApp) -> ASGIApp:
    async def limited(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/_upload":
            return await asgi_app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if int(declared or 0) > MAX_UPLOAD_REQUEST_BYTES:
            return await PlainTextResponse("Upload too large.", status_code=413)(scope, receive, send)
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > MAX_UPLOAD_REQUEST_BYTES:
                raise HTTPException(413, "Upload too large.")
            return message

        return await asgi_app(scope, counting_receive, send)

    return limited


async def take_browser_export(request: Request) -> float | None:
    """The browser relay's rate limit: a slot of the request's client address (after trusted proxies), taken
    in a database thread (with Redis it is a round trip); None when taken, else the seconds to wait."""
    peer = request.client.host if request.client else None
    address = forwarded_client(peer, ",".join(request.headers.getlist("x-forwarded-for")))
    return await run_db(throttling.browser_export_refusal, address)


def event_failed(exception: Exception) -> EventSpec | None:
    """Reflex's backend exception handler: what really failed (db.failure_reason), recorded and shown.

    An event whose arguments do not fit its handler is a client's doing, not a failure: one
    quiet line (observability/client_noise.py), and nothing to show.
    """
    if refused_malformed_event(exception):
        return None
    reason = failure_reason(exception)
    return event_exception_handler(exception, reason, failure_message(reason))


api = Starlette(
    routes=[
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/alerts", alerts_webhook, methods=["POST"]),
        Route(RELAY_PATH, browser_relay.receive_traces, methods=["POST"]),
    ]
)

# Reflex's span per event and the plain routes' server spans; before the app builds its ASGI app.
instrument_reflex()
app = rx.App(
    # Outermost last: request timing sees everything, the upload cap included.
    api_transformer=[
        api,
        serve_built_pages,
        limit_upload_size,
        security_headers,
        observe_requests,
        # Everything logged while serving a client (access lines included) counts against its log budget.
        log_as_client,
    ],
    backend_exception_handler=event_failed,
    frontend_exception_handler=frontend_exception,
    # assets/contrast.css: toast colours with AA contrast.
    stylesheets=["/contrast.css"],
)
app.register_lifespan_task(lifespan)
# Each tab's state kept as long as it is worth keeping, and never used once forgotten (state/store.py).
store.install(app)
# Reflex lets every origin open the websocket; the shop lets only its own (security.py).
app.sio.eio.cors_allowed_origins = websocket_origins()

# (component, route, title, on_load)
PAGES = [
    (home.index, "/", "Shop", CatalogState.load_listing),
    (home.index, "/category/[slug]", "Shop", CatalogState.load_listing),
    (product.product_page, "/product/[product_id]", "Product", ProductState.load_product),
    (cart.cart_page, "/cart", "Your cart", CartState.load_cart),
    (auth.login_page, "/login", "Log in", LoginState.open_form),
    (auth.register_page, "/register", "Register", RegisterState.open_form),
    (auth.forgot_password_page, "/forgot-password", "Forgot password", ForgotPasswordState.open_forgot),
    (auth.reset_password_page, "/reset-password", "Choose a new password", ResetPasswordState.open_reset),
    (account.account_page, "/account", "Your account", AccountState.load_account),
    (account.verify_email_page, "/verify-email", "Confirm your e-mail address", VerifyEmailState.open_link),
    (checkout.checkout_page, "/checkout", "Checkout", CheckoutState.open_checkout),
    (orders.orders_page, "/orders", "My orders", OrdersState.load_orders),
    (orders.order_page, "/orders/[order_id]", "Order", OrdersState.load_order),
    (not_found.not_found_page, "404", "Page not found", CartState.load_cart),
    (admin_dashboard.dashboard_page, "/admin", "Admin", AdminAnalyticsState.load_dashboard),
    (admin_products.products_page, "/admin/products", "Admin · Products", AdminProductsState.load_products),
    (admin_products.product_form_page, "/admin/products/new", "Admin · New product", AdminProductFormState.load_form),
    (
        admin_products.product_form_page,
        "/admin/products/[product_id]",
        "Admin · Product",
        AdminProductFormState.load_form,
    ),
    (admin_orders.orders_page, "/admin/orders", "Admin · Orders", AdminOrdersState.load_orders),
    (admin_orders.order_page, "/admin/orders/[order_id]", "Admin · Order", AdminOrderState.load_order),
    (admin_users.users_page, "/admin/users", "Admin · Users", AdminUsersState.load_users),
]
# A product page is named after its product, in the tab and in search results.
PRODUCT_HEAD = {
    "title": rx.cond(ProductState.head_name != "", ProductState.head_name + f" · {SHOP_NAME}", SHOP_NAME),
    "description": rx.cond(ProductState.head_summary != "", ProductState.head_summary, SHOP_DESCRIPTION),
}
# Browser spans (POST /otlp/v1/traces) are measured by these pages' routes, rate-limited per address.
browser_relay.configure(page_routes=[route for _, route, _, _ in PAGES], take_slot=take_browser_export)
for component, route, title, on_load in PAGES:
    # Every page loads the navbar's cart badge and the caller's name first.
    loaders = on_load if on_load is CartState.load_cart else [CartState.load_cart, on_load]
    head = {"title": f"{title} · {SHOP_NAME}", "description": SHOP_DESCRIPTION}
    if on_load is ProductState.load_product:
        head = PRODUCT_HEAD
    app.add_page(component, route=route, on_load=loaders, **head)
