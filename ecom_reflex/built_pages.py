"""How the built frontend is answered over HTTP, around Reflex's own static mount.

- A page URL is answered where it is: Reflex's build has both `cart.html` and a `cart/` folder,
  and the static mount answered `/cart` with a 307 to `/cart/`. Every internal link paid that
  round trip.
- A product or category page for something that does not exist says so (the page does) and
  answers 404, so search engines and link checkers see it too.
- Hashed build assets (`/assets/<name>-<hash>.js`) never change under their name: browsers keep
  them a year without asking again. Pages are revalidated on every visit (`no-cache`: the ETag
  answers 304 when nothing changed), so a new deploy is seen at once.
"""

from __future__ import annotations

import re
from functools import cache

from sqlalchemy.exc import SQLAlchemyError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ecom_reflex.db import session_scope
from ecom_reflex.offload import run_db
from ecom_reflex.services.catalog import storefront_page_exists

# Storefront pages named by a key: the page exists only if the key names something on sale.
KEYED_PAGE = re.compile(r"^/(?P<kind>product|category)/(?P<key>[^/.]{1,80})/?$")
HASHED_ASSET = re.compile(r"^/assets/[^/]+-[A-Za-z0-9_-]{8}\.(?:js|css|mjs)$")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"


@cache
def page_files() -> frozenset[str]:
    """`/cart.html`, `/admin/orders.html`, ...: the pages of the build this process serves (read once:
    a new build comes with a restart), so no request pays a file system check."""
    from reflex.utils import prerequisites
    from reflex_base import constants

    static = (prerequisites.get_web_dir() / constants.Dirs.STATIC).resolve()
    return frozenset("/" + path.relative_to(static).as_posix() for path in static.rglob("*.html"))


def page_file(path: str) -> str | None:
    """`/cart` -> `/cart.html` when the build has that page; None for anything else."""
    if path == "/" or path.endswith("/"):
        return None
    candidate = f"{path}.html"
    return candidate if candidate in page_files() else None


def _exists(kind: str, key: str) -> bool:
    try:
        with session_scope() as session:
            return storefront_page_exists(session, kind, key)
    except SQLAlchemyError:  # the database being down is /health's news: the page still loads, with 200
        return True


def serve_built_pages(asgi_app: ASGIApp) -> ASGIApp:
    """An api_transformer: page URLs without the trailing-slash redirect, and cache headers."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return await asgi_app(scope, receive, send)
        path = scope["path"]
        cache_control = None
        status = None
        if (keyed := KEYED_PAGE.match(path)) and not await run_db(_exists, keyed["kind"], keyed["key"]):
            status, cache_control = 404, REVALIDATE
        elif HASHED_ASSET.match(path):
            cache_control = IMMUTABLE
        elif file := page_file(path):
            scope = {**scope, "path": file, "raw_path": file.encode()}
            cache_control = REVALIDATE
        elif path == "/":
            cache_control = REVALIDATE
        if cache_control is None:
            return await asgi_app(scope, receive, send)

        async def send_with_cache_control(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 304):
                # The page itself, with the status it deserves (a 304 stays one: nothing new to send).
                if status is not None and message["status"] == 200:
                    message = {**message, "status": status}
                MutableHeaders(scope=message)["Cache-Control"] = cache_control
            await send(message)

        await asgi_app(scope, receive, send_with_cache_control)

    return serve
