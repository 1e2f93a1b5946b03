"""What every HTTP response tells the browser about using it, and which sites may open the websocket.

- Security headers on every HTTP response (pages, assets, /health, /metrics, uploads): a
  Content-Security-Policy, `frame-ancestors 'none'` (and X-Frame-Options for old browsers),
  `nosniff`, a Referrer-Policy.
- The policy allows scripts from the shop itself plus the inline scripts of its built pages,
  each by its SHA-256 (React Router's hydration data, the colour-mode switch): hashed from
  the build Reflex serves, so the policy follows every build; an injected <script> does not
  run. It also allows eval: Reflex's client runs the actions the server sends (every toast,
  downloads) through eval (`_call_script` in its state.js), so without it no toast would
  show. Styles may be inline: Radix and Emotion set them at run time.
- The websocket accepts a browser only from the shop's own origins (ALLOWED_ORIGINS, default
  the origin the page was served from); a page on another site cannot drive a visitor's tab.
- Who a client is: its connection's peer, or the address trusted proxies say it has
  (`forwarded_client`, for the throttles and the log's per-client budget alike).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import ipaddress
import re
from pathlib import Path

from reflex.utils import prerequisites
from reflex_base import constants
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ecom_reflex.observability.log_limits import bind_client, current_client
from ecom_reflex.settings import get_settings

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
POLICY = (
    "default-src 'self'",
    "script-src 'self' 'unsafe-eval' {script_hashes}",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)


def inline_script_hashes(html: str) -> set[str]:
    """CSP sources ('sha256-...') for the inline scripts of one page."""
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    }


def built_pages() -> Path:
    return prerequisites.get_web_dir() / constants.Dirs.STATIC


@functools.cache
def _policy_for(build_stamp: float) -> str:
    hashes: set[str] = set()
    for page in built_pages().rglob("*.html"):
        hashes |= inline_script_hashes(page.read_text(encoding="utf-8", errors="replace"))
    return "; ".join(POLICY).replace("{script_hashes}", " ".join(sorted(hashes)))


def content_security_policy() -> str:
    """The policy for the build being served (recomputed when a new build replaces it)."""
    pages = built_pages()
    return _policy_for(pages.stat().st_mtime if pages.exists() else 0.0)


def security_headers(asgi_app: ASGIApp) -> ASGIApp:
    """An api_transformer: the headers above on every HTTP response that does not set its own."""

    async def with_headers(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await asgi_app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in {**HEADERS, "Content-Security-Policy": content_security_policy()}.items():
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await asgi_app(scope, receive, send_with_headers)

    return with_headers


def websocket_origins() -> list[str] | None:
    """What the websocket server accepts as a browser's Origin: ALLOWED_ORIGINS, or None for
    python-engineio's same-origin check (the Host the request came to, X-Forwarded-Proto/-Host
    honoured). Clients that send no Origin (scripts, not browsers) are not concerned."""
    return get_settings().allowed_origin_list or None


def forwarded_client(peer: str | None, forwarded_for: str = "") -> str:
    """The client's address: the connection's `peer`, or what trusted proxies say it is.

    X-Forwarded-For is read from the right (the entry the nearest proxy added) for as long as
    the address it came from is one of TRUSTED_PROXIES; anything a client wrote further left
    is never believed.
    """
    address = peer or "unknown"
    networks = get_settings().trusted_proxy_networks
    forwarded = [hop.strip() for hop in forwarded_for.split(",")]
    while networks and forwarded and _within(address, networks):
        hop = forwarded.pop()
        if not _is_address(hop):
            break
        address = hop
    return address


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str, networks) -> bool:
    try:
        return any(ipaddress.ip_address(address) in network for network in networks)
    except ValueError:
        return False


def log_as_client(asgi_app: ASGIApp) -> ASGIApp:
    """An api_transformer: what is logged while serving a request or a websocket is charged to its
    client's log budget (observability/log_limits.py), so no one client can flood the log."""

    async def bound(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await asgi_app(scope, receive, send)
        peer = (scope.get("client") or (None,))[0]
        forwarded = ",".join(value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for")
        token = bind_client(forwarded_client(peer, forwarded))
        try:
            return await asgi_app(scope, receive, send)
        finally:
            current_client.reset(token)

    return bound
