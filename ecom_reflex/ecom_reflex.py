"""The Reflex app: pages, HTTP routes (/health, /metrics), lifespan tasks."""

import reflex as rx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ecom_reflex.components.layout import SHOP_NAME
from ecom_reflex.db import check_database
from ecom_reflex.observability.metrics import metrics_endpoint
from ecom_reflex.pages import auth, cart, checkout, home, not_found, orders, product
from ecom_reflex.state.auth import LoginState, RegisterState
from ecom_reflex.state.cart import CartState
from ecom_reflex.state.catalog import CatalogState, ProductState
from ecom_reflex.state.checkout import CheckoutState
from ecom_reflex.state.orders import OrdersState


async def health(_request: Request) -> JSONResponse:
    problem = await run_in_threadpool(check_database)
    if problem is None:
        return JSONResponse({"status": "ok", "database": "ok"})
    return JSONResponse({"status": "error", "database": f"unavailable ({problem})"}, status_code=503)


api = Starlette(
    routes=[
        Route("/health", health, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
)

app = rx.App(api_transformer=api)

# (component, route, title, on_load)
PAGES = [
    (home.index, "/", "Shop", CatalogState.load_listing),
    (home.index, "/category/[slug]", "Shop", CatalogState.load_listing),
    (product.product_page, "/product/[product_id]", "Product", ProductState.load_product),
    (cart.cart_page, "/cart", "Your cart", CartState.load_cart),
    (auth.login_page, "/login", "Log in", LoginState.open_form),
    (auth.register_page, "/register", "Register", RegisterState.open_form),
    (checkout.checkout_page, "/checkout", "Checkout", CheckoutState.open_checkout),
    (orders.orders_page, "/orders", "My orders", OrdersState.load_orders),
    (orders.order_page, "/orders/[order_id]", "Order", OrdersState.load_order),
    (not_found.not_found_page, "404", "Page not found", CartState.load_cart),
]
for component, route, title, on_load in PAGES:
    app.add_page(component, route=route, title=f"{title} · {SHOP_NAME}", on_load=on_load)
