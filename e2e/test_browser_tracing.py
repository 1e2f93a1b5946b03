"""What the shopper's browser measures reaches the operator, through the shop's own relay
(/otlp/v1/traces): one trace per click from the browser to SQL, and web vitals, click-to-answer
times, socket drops and script errors in /metrics. Real Chromium, the real OTLP receiver."""

from __future__ import annotations

from playwright.sync_api import Page, WebSocketRoute, expect

from e2e.helpers import metric_value, product_id, wait_until

FRONTEND = "ecom-shop-frontend"
SPAN_KIND_PRODUCER = 4
SPAN_KIND_CONSUMER = 5


def telemetry_loaded(page: Page) -> None:
    """The browser's telemetry loads once the page is idle (browser_loader.js); clicks before it are
    traced from the server's side only."""
    page.wait_for_function("() => typeof window.__reflex_otel?.onEventSend === 'function'", timeout=15_000)


def open_product(page: Page, shop_server, name: str) -> None:
    page.goto(f"/product/{product_id(shop_server.db_file, name)}")
    expect(page.get_by_test_id("product-title")).to_have_text(name)
    telemetry_loaded(page)


def test_a_click_on_add_to_cart_is_one_trace_from_the_browser_to_sql(page: Page, shop_server):
    open_product(page, shop_server, "Bluetooth Speaker")
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_text("Added Bluetooth Speaker to your cart")).to_be_visible()

    def click_trace():
        spans = shop_server.otlp.snapshot()
        clicks = [s for s in spans if s.resource.get("service.name") == FRONTEND and s.kind == SPAN_KIND_PRODUCER
                  and s.attributes.get("reflex.event.name", "").endswith(".add_selected")]  # fmt: skip
        if not clicks:
            return None
        click = clicks[-1]
        in_trace = [s for s in spans if s.trace_id == click.trace_id]
        answers = [s for s in in_trace if s.name == "ui.answer"]
        has_sql = any("db.statement" in s.attributes for s in in_trace)
        return (click, in_trace) if answers and has_sql else None

    wait_until(lambda: click_trace() is not None, 30)
    click, in_trace = click_trace()
    by_id = {s.span_id: s for s in in_trace}

    # The server's event span is the browser span's child, in the browser's trace.
    (event,) = [s for s in in_trace if s.parent_span_id == click.span_id and s.kind == SPAN_KIND_CONSUMER]
    assert event.resource["service.name"] == "ecom-shop"
    assert event.attributes["code.function.name"].endswith("ProductState.add_selected")
    assert click.attributes["url.path"].startswith("/product/")

    def root_of(span):
        while span.parent_span_id in by_id:
            span = by_id[span.parent_span_id]
        return span

    # Its SQL statements run below it, and the whole trace has one root: the click.
    statements = [s for s in in_trace if "db.statement" in s.attributes]
    assert statements and all(root_of(s).span_id == click.span_id for s in statements)
    assert {root_of(s).span_id for s in in_trace} == {click.span_id}
    # The time until the page showed the answer is measured in the browser, under the click too.
    (answer,) = [s for s in in_trace if s.name == "ui.answer"]
    assert answer.parent_span_id == click.span_id and answer.resource["service.name"] == FRONTEND


def test_web_vitals_click_to_answer_and_a_reconnect_appear_in_metrics(page: Page, shop_server):
    def reconnects():
        return metric_value(shop_server, "browser_socket_reconnects_total") or 0.0

    def vitals(vital: str, route: str) -> float:
        return metric_value(shop_server, "browser_web_vital_seconds_count", vital=vital, page=route) or 0.0

    product_route = "/product/[product_id]"
    before = {
        "fcp": vitals("FCP", product_route),
        "ttfb": vitals("TTFB", product_route),
        "answers": metric_value(shop_server, "browser_click_to_answer_seconds_count", event="ProductState.add_selected")
        or 0.0,
        "reconnects": reconnects(),
        "dropped": metric_value(shop_server, "browser_socket_disconnects_total", reason="transport_close") or 0.0,
    }

    # The websocket goes through a route the test can cut, as a flaky mobile link would.
    sockets: list[WebSocketRoute] = []

    def relay(socket: WebSocketRoute) -> None:
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket("**/_event**", relay)
    open_product(page, shop_server, "Bluetooth Speaker")
    page.get_by_test_id("add-to-cart").click()
    expect(page.get_by_text("Added Bluetooth Speaker to your cart")).to_be_visible()
    wait_until(lambda: len(sockets) == 1, 10)

    sockets[0].close(code=1011, reason="test")  # the link drops; the page connects again
    wait_until(lambda: len(sockets) == 2, 30)
    page.get_by_role("button", name="More").click()
    expect(page.get_by_test_id("quantity")).to_have_text("2")
    page.goto("/cart")  # leaving the page hands its last spans over (pagehide)
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()

    wait_until(lambda: reconnects() >= before["reconnects"] + 1, 30)
    wait_until(lambda: vitals("FCP", product_route) >= before["fcp"] + 1, 30)
    assert vitals("TTFB", product_route) >= before["ttfb"] + 1
    assert (metric_value(shop_server, "browser_socket_disconnects_total", reason="transport_close") or 0.0) >= before[
        "dropped"
    ] + 1
    wait_until(
        lambda: (
            (
                metric_value(shop_server, "browser_click_to_answer_seconds_count", event="ProductState.add_selected")
                or 0.0
            )
            >= before["answers"] + 1
        ),
        30,
    )
    # Ratings are counted against Google's thresholds, by the page's route, never its raw path.
    rated = sum(
        metric_value(shop_server, "browser_web_vital_ratings_total", vital="FCP", page=product_route, rating=rating)
        or 0.0
        for rating in ("good", "needs-improvement", "poor")
    )
    assert rated >= 1
    assert metric_value(shop_server, "browser_web_vital_seconds_count", page="/product/1") is None


def test_a_script_error_is_counted_by_page(page: Page, shop_server):
    before = metric_value(shop_server, "browser_errors_total", page="/cart") or 0.0
    page.goto("/cart")
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    telemetry_loaded(page)
    page.evaluate("() => setTimeout(() => { throw new TypeError('broken on purpose') }, 0)")
    page.goto("/")  # pagehide: the error's span is handed over
    wait_until(lambda: (metric_value(shop_server, "browser_errors_total", page="/cart") or 0.0) >= before + 1, 30)
