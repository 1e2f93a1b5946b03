"""The JSON log format, its context fields, and what must never be in it."""

import contextlib
import io
import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from ecom_reflex.observability import logging as obs_logging
from ecom_reflex.observability.logging import RateLimitedWarnings, configure_logging


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_one_json_object_a_line_with_the_standard_fields(log_file):
    logging.getLogger("ecom_reflex.business").info("order placed", extra={"order_id": 7, "total_cents": 1999})
    (line,) = lines(log_file)
    assert line["message"] == "order placed" and line["level"] == "INFO"
    assert line["logger"] == "ecom_reflex.business" and line["service"] == "test-shop"
    assert line["timestamp"].endswith("+00:00") and "T" in line["timestamp"]
    assert line["order_id"] == 7 and line["total_cents"] == 1999


def test_trace_event_and_user_are_added_when_known(log_file):
    tracer = TracerProvider().get_tracer("test")
    obs_logging.current_event.set("CartState.add_to_cart")
    obs_logging.current_user_id.set(42)
    try:
        with tracer.start_as_current_span("work") as span:
            logging.getLogger("x").info("inside")
        logging.getLogger("x").info("outside")
    finally:
        obs_logging.current_event.set(None)
        obs_logging.current_user_id.set(None)
    inside, outside = lines(log_file)
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert inside["span_id"] == format(span.get_span_context().span_id, "016x")
    assert inside["event"] == "CartState.add_to_cart" and inside["user_id"] == 42
    assert "trace_id" not in outside


def test_secret_fields_are_dropped(log_file):
    logging.getLogger("x").info(
        "login", extra={"username": "ada", "password": "hunter22", "session_token": "abc", "token_hash": "def"}
    )
    (line,) = lines(log_file)
    assert line["username"] == "ada"
    assert not {"password", "session_token", "token_hash"} & set(line)
    assert "hunter22" not in log_file.read_text()


def test_errors_carry_the_exception(log_file):
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("x").exception("event failed")
    (line,) = lines(log_file)
    assert line["level"] == "ERROR" and "ValueError: boom" in line["exc_info"]


def test_exporter_warnings_are_rate_limited_the_same_for_every_handler():
    limiter = RateLimitedWarnings(interval_s=60)
    outputs = [io.StringIO(), io.StringIO()]
    logger = logging.getLogger("opentelemetry.exporter.test")
    logger.propagate = False
    handlers = [logging.StreamHandler(out) for out in outputs]
    for handler in handlers:
        handler.addFilter(limiter)
        logger.addHandler(handler)
    try:
        for _ in range(10):
            logger.warning("export failed")
        logging.getLogger("opentelemetry.other").warning("x")  # other loggers have their own budget
    finally:
        for handler in handlers:
            logger.removeHandler(handler)
    assert [out.getvalue().count("export failed") for out in outputs] == [1, 1]


def test_a_file_that_refuses_writes_is_counted_and_said_once_not_per_line(log_file, capfd):
    from ecom_reflex.observability import metrics

    def counted(outcome: str) -> float:
        return metrics.REGISTRY.get_sample_value("log_records_total", {"handler": "file", "outcome": outcome}) or 0

    handler = next(h for h in logging.getLogger().handlers if isinstance(h, obs_logging.CountedFileHandler))
    written, failed = counted("written"), counted("failed")
    logging.getLogger("ecom_reflex").info("before the disk filled up")
    handler.stream = open("/dev/full", "w")  # noqa: SIM115 - every write fails with ENOSPC, as on a full disk
    for n in range(50):
        logging.getLogger("ecom_reflex").info("lost line %d", n)
    with contextlib.suppress(OSError):  # what is still buffered cannot be written either
        handler.stream.close()
    handler.stream = handler._open()
    logging.getLogger("ecom_reflex").info("after")
    assert counted("failed") - failed == 50 and counted("written") - written == 2
    said = capfd.readouterr().err
    assert said.count("cannot write") == 1 and "No space left on device" in said
    assert "Traceback" not in said and "--- Logging error ---" not in said
    assert [line["message"] for line in lines(log_file)] == ["before the disk filled up", "after"]


def test_a_failing_handler_never_raises_into_the_code_that_logged_even_when_stderr_fails(log_file, monkeypatch):
    class BrokenStderr:
        def write(self, _text):
            raise OSError(27, "File too large")

    handler = next(h for h in logging.getLogger().handlers if isinstance(h, obs_logging.CountedFileHandler))
    monkeypatch.setattr("sys.__stderr__", BrokenStderr())
    handler.stream = open("/dev/full", "w")  # noqa: SIM115 - every write fails
    try:
        logging.getLogger("ecom_reflex.access").info("GET /health 200")  # must not raise
    finally:
        with contextlib.suppress(OSError):
            handler.stream.close()
        handler.stream = handler._open()


def test_each_worker_has_a_log_file_of_its_own_that_the_shipper_still_matches(tmp_path):
    from ecom_reflex.observability.logging import worker_log_file

    assert worker_log_file(tmp_path / "app-scale.json.log", 42).name == "app-scale.42.json.log"
    assert worker_log_file(tmp_path / "shop.log", 42).name == "shop.42.log"
    assert worker_log_file(tmp_path / "app.json.log", 7).parent == tmp_path


def test_reflex_lines_stay_in_the_json_log_after_reflex_warns_in_a_worker_of_its_cli(tmp_path, monkeypatch):
    """The reflex CLI marks its workers as managed; the first Reflex deprecation notice must not
    give Reflex's loggers a console of their own (their lines would leave the JSON log)."""
    from reflex_base.utils import console
    from reflex_base.utils import log as reflex_log

    monkeypatch.setenv(reflex_log._MANAGED_ENV_VAR, "true")
    path = tmp_path / "app.json.log"
    configure_logging("test-shop", "INFO", path)
    try:
        console.deprecate(feature_name="x", reason="test", deprecation_version="0.1", removal_version="9.9")
        logging.getLogger("reflex_base.event.processor.event_processor").warning("a line from deep in Reflex")
        logging.getLogger("reflex.app").warning("and one from the app module")
    finally:
        reflex_log._reset()
        for handler in list(logging.getLogger().handlers):
            if getattr(handler, obs_logging._HANDLER_MARK, False):
                logging.getLogger().removeHandler(handler)
                handler.close()
    messages = [line["message"] for line in lines(path)]
    assert "a line from deep in Reflex" in messages and "and one from the app module" in messages
