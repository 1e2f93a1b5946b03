"""The Reflex app: pages, HTTP routes (/health, /metrics), lifespan tasks."""

import reflex as rx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ecom_reflex.db import check_database
from ecom_reflex.observability.metrics import metrics_endpoint
from ecom_reflex.pages import home
from ecom_reflex.state.catalog import CatalogState


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
app.add_page(home.index, route="/", title="Reflex Shop", on_load=CatalogState.load_listing)
