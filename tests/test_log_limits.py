"""No client can rotate the log away: an identical error is written once a minute with a count of its
repeats, and the lines one client causes are bounded in bytes a minute (observability/log_limits.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import time

import pytest
from limits import parse
from opentelemetry.sdk.trace import TracerProvider

from ecom_reflex.observability import log_limits, metrics
from ecom_reflex.observability import logging as obs_logging
from ecom_reflex.observability.log_limits import (
    CLIENT_LOG_BYTES_PER_MINUTE,
    ClientLogBudget,
    RepeatedErrors,
    bind_client,
    current_client,
)
from ecom_reflex.observability.logging import flush_repeats


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(log_file) -> Clock:
    """The clock of the log's RepeatedErrors filter (one, shared by stdout and the file)."""
    fake = Clock()
    (repeats,) = {f for h in logging.getLogger().handlers for f in h.filters if isinstance(f, RepeatedErrors)}
    repeats.clock = fake
    return fake


@pytest.fixture
def client():
    token = bind_client("198.51.100.7")
    yield "198.51.100.7"
    current_client.reset(token)


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def suppressed(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("log_records_suppressed_total", {"reason": reason}) or 0


def fail(product_id: str) -> None:
    """The same error from the same place, whatever the id."""
    try:
        int(product_id)
    except ValueError:
        logging.getLogger("ecom_reflex.pages").exception("could not load product %s", product_id)


def test_an_identical_error_is_written_once_then_its_repeats_are_counted_in_one_line(log_file, clock):
    before = suppressed("repeat")
    for n in range(500):
        fail(f"²{n}")
    assert [line["message"] for line in lines(log_file)] == ["could not load product ²0"]
    assert suppressed("repeat") - before == 499
    clock.now += 61
    fail("²last")  # the minute is over: the count first, then this one is written again
    _, summary, again = lines(log_file)
    assert summary["level"] == "WARNING" and summary["logger"] == "ecom_reflex.log"
    assert summary["repeats"] == 499 and summary["repeated_logger"] == "ecom_reflex.pages"
    assert summary["repeated_message"] == "could not load product ²0"
    assert "499 more of this error within 60s" in summary["message"]
    assert again["message"] == "could not load product ²last" and "ValueError" in again["exc_info"]


def test_stdout_and_the_file_drop_the_same_repeats(log_file, clock):
    stdout = io.StringIO()
    next(h for h in logging.getLogger().handlers if isinstance(h, obs_logging.CountedStreamHandler)).setStream(stdout)
    for n in range(20):
        fail(str(n) + "x")
    out = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert (
        [line["message"] for line in out]
        == [line["message"] for line in lines(log_file)]
        == ["could not load product 0x"]
    )


def test_errors_that_differ_in_logger_template_type_or_place_are_each_written(log_file, clock):
    fail("a")
    logging.getLogger("ecom_reflex.other").error("could not load product %s", "a")  # another logger
    logging.getLogger("ecom_reflex.pages").error("another template %s", "a")
    try:
        {}["key"]
    except KeyError:  # another exception type
        logging.getLogger("ecom_reflex.pages").exception("could not load product %s", "b")
    try:
        int("also not a number")  # the same type, raised elsewhere
    except ValueError:
        logging.getLogger("ecom_reflex.pages").exception("could not load product %s", "c")
    assert len(lines(log_file)) == 5


def test_warnings_and_info_lines_are_not_folded(log_file, clock):
    for _ in range(3):
        logging.getLogger("ecom_reflex.client").warning("refused an event whose arguments do not fit its handler")
        logging.getLogger("ecom_reflex.business").info("order placed")
    assert len(lines(log_file)) == 6


def test_the_count_is_written_outside_whatever_runs_when_it_is_written(log_file, clock):
    for _ in range(3):
        fail("x")
    clock.now += 61
    tracer = TracerProvider().get_tracer("test")
    obs_logging.current_event.set("CartState.add_to_cart")
    try:
        with tracer.start_as_current_span("someone else's event"):
            logging.getLogger("ecom_reflex.business").info("order placed")
    finally:
        obs_logging.current_event.set(None)
    _, summary, placed = lines(log_file)
    assert summary["repeats"] == 2
    assert not {"trace_id", "span_id", "event", "user_id"} & set(summary), summary
    assert placed["event"] == "CartState.add_to_cart" and "trace_id" in placed


def test_a_worker_leaving_writes_the_counts_it_holds(log_file, clock):
    for _ in range(4):
        fail("x")
    flush_repeats()
    flush_repeats()  # nothing twice
    assert [line.get("repeats") for line in lines(log_file)] == [None, 3]


def test_one_clients_lines_are_bounded_in_bytes_and_others_still_log(log_file, client):
    before = suppressed("client_budget")
    for n in range(2_000):
        logging.getLogger("ecom_reflex.access").info(f"GET /product/{'9' * 20}{n} 404", extra={"status": 404})
    written = log_file.stat().st_size
    assert written <= CLIENT_LOG_BYTES_PER_MINUTE + 1_000, written
    assert written >= CLIENT_LOG_BYTES_PER_MINUTE // 2, "the budget is used, not refused outright"
    notices = [line for line in lines(log_file) if line["logger"] == "ecom_reflex.log"]
    assert len(notices) == 1 and "over its log budget" in notices[0]["message"]
    assert client not in log_file.read_text(), "the client's address is not written"
    assert suppressed("client_budget") - before == 2_000 - (len(lines(log_file)) - 1)
    # Another client, and lines of no client (the sender, the reconciler), are not charged for it.
    for other, message in ((None, "e-mail sent"), ("198.51.100.8", "GET /cart 200")):
        token = bind_client(other)
        try:
            logging.getLogger("ecom_reflex.access").info(message)
        finally:
            current_client.reset(token)
    assert [line["message"] for line in lines(log_file)[-2:]] == ["e-mail sent", "GET /cart 200"]


def test_a_clients_budget_comes_back_as_its_window_moves_on():
    budget = ClientLogBudget(parse("2000 per 1 second"), client=lambda: "198.51.100.9")

    def kept() -> bool:
        record = logging.makeLogRecord({"name": "x", "msg": "y" * 300, "levelno": logging.INFO})
        return budget.filter(record)

    assert [kept() for _ in range(5)] == [True, True, True, False, False]  # about 620 bytes each
    deadline = time.monotonic() + 5
    while not kept():
        assert time.monotonic() < deadline, "the budget never came back"
        time.sleep(0.05)


def test_a_traceback_counts_against_the_budget():
    try:
        fail_deep = [int(text) for text in ["1", "²"]]
    except ValueError:
        record = logging.getLogger("x").makeRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    else:
        raise AssertionError(fail_deep)
    traceback = logging.Formatter().formatException(record.exc_info)
    assert log_limits.estimated_bytes(record) >= log_limits.LINE_OVERHEAD_BYTES + len("boom") + len(traceback)


def test_each_request_is_charged_to_its_client_after_trusted_proxies(monkeypatch):
    from ecom_reflex.security import log_as_client
    from tests.conftest import reset_caches

    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.1")
    reset_caches()
    seen = []

    async def app(scope, receive, send):
        seen.append(current_client.get())

    def request(peer: str, forwarded: bytes | None) -> None:
        headers = [(b"x-forwarded-for", forwarded)] if forwarded else []
        scope = {"type": "http", "client": (peer, 5000), "headers": headers, "path": "/", "method": "GET"}
        asyncio.run(log_as_client(app)(scope, None, None))

    request("127.0.0.1", b"203.0.113.5")  # through the trusted proxy
    request("198.51.100.3", b"203.0.113.5")  # a client naming someone else
    request("127.0.0.1", b"1.2.3.4, 203.0.113.6")  # a client's own entry on the left is not believed
    assert seen == ["203.0.113.5", "198.51.100.3", "203.0.113.6"]
    assert current_client.get() is None, "nothing outlives the request"
