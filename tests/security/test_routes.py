"""Hostile URLs: no request from anyone makes a 500, and no client can rotate the log away.

The attack that broke it: `GET /product/99999999999999999999` (or `/product/²`) answered 500 with a
6.8 KB traceback in the log; 2,000 of them in 14 s rotated the whole kept log away (60 MB, the
admin audit trail with it). Here every HTTP route and every page pattern is fuzzed (Hypothesis)
with hostile segments and query values, over HTTP and, for the pages, over the websocket as the
page's own load; the routes and patterns are read from the app, so a new page is fuzzed too.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.loadgen import router_data
from e2e.helpers import wait_until
from ecom_reflex.ecom_reflex import api, app
from ecom_reflex.observability.log_limits import CLIENT_LOG_BYTES_PER_MINUTE
from ecom_reflex.state.admin.orders import AdminOrdersState
from tests.security.conftest import RecordingClient, in_own_loop

# Reflex 0.10.1 (requirements.txt): the routes of every page added, with `[name]` for a parameter
# ("product/[product_id]", "index" for /, "404"). A Reflex without it fails here, not silently.
PAGE_ROUTES = list(app._unevaluated_pages)
assert "product/[product_id]" in PAGE_ROUTES and "index" in PAGE_ROUTES, PAGE_ROUTES

# Reflex's own endpoints, as the Reflex 0.10.1 app mounts them (/ping, /_event, /_upload, ...).
REFLEX_ENDPOINTS = ["/ping", "/_health", "/_event", "/_upload", "/_all_routes", "/auth-codespace"]
HTTP_ROUTES = [(route.path, sorted(route.methods or {"GET"})) for route in api.routes] + [
    (path, ["GET", "POST"]) for path in REFLEX_ENDPOINTS
]
QUERY_NAMES = ["page", "q", "sort", "category", "status", "days", "next", "placed", "confirming", "token", "id"]

# What an attacker puts in a URL segment, already encoded as sent on the wire.
HUGE = st.one_of(
    st.integers(min_value=2**63 - 2, max_value=10**40).map(str),
    st.integers(min_value=20, max_value=400).map(lambda n: "9" * n),
    st.integers(max_value=-1).map(str),
)
UNICODE_DIGITS = st.text(st.characters(categories=["Nd", "No", "Nl"], exclude_characters="0123456789"), min_size=1)
WIRE = st.sampled_from(
    ["%00", "%00.html", "1%00", "..", "%2e%2e", "..%2f..%2fetc%2fpasswd", "%2F", "%5C", "%", "%zz", "%ff%fe",
     "%C0%AF", "1e309", "NaN", "-0", "0x10", "+1", "%20", "%0d%0aSet-Cookie:%20x=1", "index.html", ".env",
     "%F0%9F%98%80", "%E2%80%AE", "%EF%BB%BF1", "1;2", "1.html", "%3Cscript%3E"]
)  # fmt: skip
TEXT = st.one_of(
    st.text(max_size=40),
    st.text(min_size=300, max_size=3000),
    st.sampled_from(["😀", "👨‍👩‍👧", "²", "٣", "１２", "\u202e", "\u200b", "../../etc/passwd", "C:\\windows"]),
    UNICODE_DIGITS,
)
SEGMENT = st.one_of(
    HUGE, WIRE, (HUGE | TEXT).map(lambda text: quote(text, safe="")), TEXT.map(lambda text: quote(text, safe="/"))
)
PARAMETER = re.compile(r"\[[^\]]+\]")


def page_path(route: str) -> str:
    return "/" if route == "index" else f"/{route}"


def status_of(url: str, method: str, target: str, address: str) -> int:
    """The status of one request sent exactly as written (http.client: no normalising of `..` or `%`)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        connection.putheader("X-Forwarded-For", address)
        connection.putheader("Content-Length", "0")
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def fuzzed_targets(path: str) -> st.SearchStrategy[str]:
    """`path` with each `[parameter]` a hostile segment; or a hostile segment after it; or a hostile query."""
    if PARAMETER.search(path):
        in_place = SEGMENT.map(lambda segment: PARAMETER.sub(lambda _: segment, path))
    else:
        in_place = SEGMENT.map(lambda segment: path.rstrip("/") + "/" + segment)
    plain = PARAMETER.sub("1", path)
    query = st.tuples(st.sampled_from(QUERY_NAMES) | st.text(max_size=10), HUGE | TEXT).map(
        lambda pair: f"{plain}?{urlencode([pair])}"
    )
    wire_query = st.tuples(st.sampled_from(QUERY_NAMES), WIRE).map(lambda pair: f"{plain}?{pair[0]}={pair[1]}")
    return in_place | query | wire_query


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


@pytest.mark.parametrize("route", PAGE_ROUTES)
def test_no_page_path_makes_a_5xx(shop_server, route):
    @FUZZ
    @given(target=fuzzed_targets(page_path(route)))
    @example(target=PARAMETER.sub(lambda _: "99999999999999999999", page_path(route)))
    @example(target=PARAMETER.sub(lambda _: quote("²"), page_path(route)))
    @example(target=PARAMETER.sub(lambda _: quote("٣"), page_path(route)))
    def request(target: str) -> None:
        status = status_of(shop_server.url, "GET", target, "198.18.26.1")
        assert status < 500, f"GET {target} answered {status}"

    request()


@pytest.mark.parametrize(("path", "methods"), HTTP_ROUTES, ids=[path for path, _ in HTTP_ROUTES])
def test_no_http_route_makes_a_5xx(shop_server, path, methods):
    @FUZZ
    @given(method=st.sampled_from([*methods, "HEAD", "OPTIONS", "PUT", "DELETE"]), target=fuzzed_targets(path))
    def request(method: str, target: str) -> None:
        status = status_of(shop_server.url, method, target, "198.18.26.2")
        assert status < 500, f"{method} {target} answered {status}"

    request()


@pytest.mark.parametrize("key", ["99999999999999999999", "9223372036854775808", "²", "٣", "１２", "-1", "0"])
def test_a_product_that_cannot_exist_is_a_404(shop_server, key):
    assert status_of(shop_server.url, "GET", f"/product/{quote(key)}", "198.18.26.3") == 404


def test_a_product_that_exists_is_a_200(shop_server):
    from e2e.helpers import product_id

    product = product_id(shop_server.db_file, "Yoga Mat")
    assert status_of(shop_server.url, "GET", f"/product/{product}", "198.18.26.3") == 200


def log_since(log_file, offset: int) -> list[dict]:
    with log_file.open(encoding="utf-8") as log:
        log.seek(offset)
        return [json.loads(line) for line in log.read().splitlines() if line.startswith("{")]


def test_two_thousand_bad_requests_from_one_client_cannot_flood_the_log(shop_server):
    first_line = shop_server.log_file.read_text(encoding="utf-8").splitlines()[0]
    offset = shop_server.log_file.stat().st_size
    targets = ["/product/99999999999999999999", f"/product/{quote('²')}", f"/category/{'x' * 80}"] * 667
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda t: status_of(shop_server.url, "GET", t, "198.18.26.4"), targets[:2000]))
    took = time.monotonic() - started
    assert set(statuses) == {404}, set(statuses)
    grown = shop_server.log_file.stat().st_size - offset
    # The client's budget, plus what the shop logged for everyone else meanwhile (a scrape, the sender).
    assert grown <= CLIENT_LOG_BYTES_PER_MINUTE + 16 * 1024, f"{grown} bytes for 2,000 requests in {took:.1f}s"
    lines = log_since(shop_server.log_file, offset)
    assert not [line for line in lines if line["level"] in ("ERROR", "CRITICAL") or "exc_info" in line], lines[:3]
    notices = [line for line in lines if "over its log budget" in line["message"]]
    assert len(notices) == 1 and "198.18.26.4" not in json.dumps(lines)
    assert first_line in shop_server.log_file.read_text(encoding="utf-8"), "nothing was rotated away"
    # Another client is not held to this one's budget.
    offset = shop_server.log_file.stat().st_size
    assert status_of(shop_server.url, "GET", "/product/99999999999999999999", "198.18.26.5") == 404
    # Its access line is written once the answer is sent.
    wait_until(lambda: [line for line in log_since(shop_server.log_file, offset) if line.get("status") == 404])


async def _admin_tab(url: str, username: str, password: str) -> RecordingClient:
    from bench.journeys import LOGIN
    from bench.loadgen import SESSION

    tab = RecordingClient(url, "198.18.26.6")
    await tab.connect("/login")
    form = {"username": username, "password": password}
    await tab.send("login", LOGIN, "log_in", {"form_data": form}, router_data("/login"),
                   until=lambda d: bool(d.get(SESSION, {}).get("username_rx_state_")))  # fmt: skip
    return tab


async def _load_pages(url: str, username: str, password: str, route: str, paths: list[str]) -> dict[str, list]:
    """Each path loaded as its page loads it (the route's on_load handlers, over the websocket, as the
    admin, who may open every page), then a real event whose answer says all of them were handled;
    the error toasts each path got."""
    from bench.loadgen import CART, NAMESPACE

    handlers = app.get_load_events(PARAMETER.sub("1", page_path(route)))
    assert handlers, f"{route} has no on_load to attack"
    tab = await _admin_tab(url, username, password)
    toasts = {}
    try:
        for path in paths:
            tab.toasts.clear()
            for handler in handlers:
                event = {"name": f"{handler.state_full_name}.{handler.fn.__name__}", "payload": {},
                         "router_data": router_data(path)}  # fmt: skip
                await tab.client.emit("event", event, namespace=NAMESPACE)
            await tab.send("cart", CART, "load_cart", route=router_data("/cart"),
                           until=lambda d: "item_count_rx_state_" in d.get(CART, {}))  # fmt: skip
            toasts[path] = tab.error_toasts()
    finally:
        await tab.close()
    return toasts


PARAMETER_PAGES = [route for route in PAGE_ROUTES if PARAMETER.search(route)]


@pytest.mark.parametrize("route", PARAMETER_PAGES)
def test_a_page_loaded_over_the_websocket_with_a_hostile_id_is_not_found_not_an_error(shop_server, route):
    offset = shop_server.log_file.stat().st_size
    hostile = ["99999999999999999999", "²", "٣", "１２", "-1", "%00", "😀", "9" * 400]
    paths = [PARAMETER.sub(lambda _, key=key: quote(key, safe="%"), page_path(route)) for key in hostile]
    paths += [PARAMETER.sub(lambda _, key=key: key, page_path(route)) for key in hostile[:4]]  # as typed
    admin, password = shop_server.admin_username, shop_server.admin_password
    toasts = in_own_loop(_load_pages(shop_server.url, admin, password, route, paths))
    assert toasts == {path: [] for path in paths}
    errors = [line for line in log_since(shop_server.log_file, offset) if line["level"] in ("ERROR", "CRITICAL")]
    assert errors == []


ADMIN_ORDERS = AdminOrdersState.get_full_name()


async def _admin_searches(url: str, username: str, password: str, searches: list[str]) -> list[tuple[dict, list]]:
    tab = await _admin_tab(url, username, password)
    answers = []
    try:
        for search in searches:
            tab.toasts.clear()
            await tab.send("search", ADMIN_ORDERS, "search_orders", {"form_data": {"q": search}},
                           router_data("/admin/orders"))  # fmt: skip
            route = {"pathname": "/admin/orders", "asPath": "/admin/orders?" + urlencode({"q": search}), "query": {}}
            delta = await tab.send("load", ADMIN_ORDERS, "load_orders", route=route,
                                   until=lambda d: "order_rows_rx_state_" in d.get(ADMIN_ORDERS, {}))  # fmt: skip
            answers.append((delta.get(ADMIN_ORDERS, {}), list(tab.error_toasts())))
    finally:
        await tab.close()
    return answers


def test_the_admin_order_search_finds_nothing_for_numbers_out_of_bounds(shop_server):
    searches = ["²", "#²", "9" * 23, "#" + "9" * 23, "٣", "９"]
    answers = in_own_loop(
        _admin_searches(shop_server.url, shop_server.admin_username, shop_server.admin_password, searches)
    )
    for search, (state, toasts) in zip(searches, answers, strict=True):
        assert toasts == [], (search, toasts)
        assert state["order_rows_rx_state_"] == [], search
        assert state.get("order_search_rx_state_", search) == search
