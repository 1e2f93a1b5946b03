"""make audit's reading of Lighthouse's JSON and its retry of a page whose trace failed
(bench/lighthouse_runs.py). The reports are real Lighthouse 12.8.2 output (tests/lighthouse/, trimmed
to the keys read): a page that painted, and a blank page, which ends in NO_FCP."""

from __future__ import annotations

import json
from pathlib import Path

from bench.lighthouse_runs import RunOutcome, read_run, with_retries

REPORTS = Path(__file__).resolve().parent / "lighthouse"
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
OK = (REPORTS / "painted.json").read_text()
NO_FCP = (REPORTS / "no_fcp.json").read_text()
# What Lighthouse writes on stderr after printing such a report (cli/run.js printErrorAndExit).
NO_FCP_STDERR = "Runtime error encountered: The page did not paint any content. (NO_FCP)\n"


def _with_runtime_error(code: str) -> str:
    """The NO_FCP report as Lighthouse prints it for another trace error (same shape, its code)."""
    report = json.loads(NO_FCP)
    report["runtimeError"] = {
        "code": code,
        "message": f"Something went wrong with recording the trace over your page load. ({code})",
    }
    return json.dumps(report)


def test_a_run_that_painted_gives_every_score_and_the_performance_metrics():
    outcome = read_run(0, OK, "", CATEGORIES)
    assert outcome.scores == {"performance": 100, "accessibility": 100, "best-practices": 93, "seo": 90}
    assert outcome.error is None
    assert outcome.metrics == {
        "first-contentful-paint": 625.090025,
        "largest-contentful-paint": 625.090025,
        "total-blocking-time": 80,
        "speed-index": 625.090025,
        "cumulative-layout-shift": 0,
    }


def test_a_trace_error_is_named_by_its_code():
    assert read_run(1, NO_FCP, NO_FCP_STDERR, CATEGORIES) == RunOutcome(error="NO_FCP")
    assert read_run(1, _with_runtime_error("NO_NAVSTART"), "", CATEGORIES) == RunOutcome(error="NO_NAVSTART")


def test_a_trace_lost_before_any_report_is_named_by_its_code():
    """Lighthouse 12.8.2 on the shop's /admin, desktop, as make audit saw it: nothing on stdout."""
    stderr = (
        "Runtime error encountered: Something went wrong with recording the trace over your page load."
        " Please run Lighthouse again. (NO_NAVSTART)\n"
    )
    assert read_run(1, "", stderr, CATEGORIES) == RunOutcome(error="NO_NAVSTART")


def test_a_run_without_a_usable_report_is_an_error():
    crashed = read_run(1, "", "Error: Unable to connect to Chrome\n", CATEGORIES)
    assert crashed.scores is None and "exit 1" in crashed.error and "Unable to connect to Chrome" in crashed.error
    assert read_run(1, OK, "", CATEGORIES) == RunOutcome(error="exit 1")
    assert read_run(0, "[]", "", CATEGORIES).error == "exit 0, no report: no output"
    no_performance = json.loads(OK)
    no_performance["categories"]["performance"]["score"] = None
    assert read_run(0, json.dumps(no_performance), "", CATEGORIES) == RunOutcome(error="no performance score")


def _runs(*reports: tuple[int, str]):
    """Lighthouse's successive answers for one page, read as make audit reads them."""
    answers = iter(reports)
    calls = []

    def run_once() -> RunOutcome:
        calls.append(1)
        returncode, stdout = next(answers)
        return read_run(returncode, stdout, "", CATEGORIES)

    return run_once, calls


def test_a_page_is_run_again_after_a_trace_error_and_says_so():
    run_once, calls = _runs((1, _with_runtime_error("NO_NAVSTART")), (0, OK))
    result = with_retries(run_once)
    assert result.scores["performance"] == 100
    assert (result.attempts, result.errors, len(calls)) == (2, ["NO_NAVSTART"], 2)
    assert result.retries_text() == "2 runs (NO_NAVSTART)"


def test_a_page_measured_at_once_is_run_once():
    run_once, calls = _runs((0, OK), (0, OK))
    result = with_retries(run_once)
    assert (result.attempts, result.retries_text(), len(calls)) == (1, "", 1)


def test_a_page_failing_every_attempt_is_reported_failed_after_a_bounded_number():
    run_once, calls = _runs(
        (1, _with_runtime_error("NO_NAVSTART")), (1, NO_FCP), (1, _with_runtime_error("NO_NAVSTART"))
    )
    result = with_retries(run_once, attempts=3)
    assert result.scores is None and len(calls) == 3
    assert result.retries_text() == "failed 3 runs (NO_NAVSTART x2, NO_FCP)"
