"""What one Lighthouse run gave, and running a page again while its runs fail (`make audit`).

Lighthouse sometimes loses its own trace of a page load on this shared machine: the run
ends with a `runtimeError` (NO_NAVSTART, NO_FCP, ...), every score null and exit code 1,
and running the same page again works. Such a run, any other failed run (no report, a
non-zero exit, a score missing) and a run that timed out are tried again, up to ATTEMPTS
times in all; the pages that needed it are named in the report, and a page whose every
attempt failed is reported as failed instead of losing everybody else's scores.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

ATTEMPTS = 3
# The lab metrics of Lighthouse 12's performance score, by audit id.
METRICS = ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time", "speed-index",
           "cumulative-layout-shift")  # fmt: skip
# What Lighthouse's CLI writes on stderr for a LighthouseError, its code last in brackets.
RUNTIME_ERROR = re.compile(r"^Runtime error encountered: .*\(([A-Z_]+)\)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class RunOutcome:
    """One Lighthouse run: its scores (0-100 per category), or why it gave none worth keeping."""

    scores: dict[str, int] | None = None
    error: str | None = None
    # What the performance score is made of (METRICS: milliseconds, CLS unitless), where measured.
    metrics: dict[str, float] = field(default_factory=dict)


def read_run(returncode: int, stdout: str, stderr: str, categories: Iterable[str]) -> RunOutcome:
    """The outcome of a `lighthouse --output=json` process from its exit code and output.

    A runtime error is named by Lighthouse's code: from the report (printed with every score null,
    as for NO_FCP), or from stderr when it ended the run before a report (as NO_NAVSTART does);
    any other run with no report by its exit code and the last line it wrote on stderr.
    """
    try:
        report = json.loads(stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        # A trace lost while gathering (NO_NAVSTART) ends the run before any report, with its code on stderr.
        if codes := RUNTIME_ERROR.findall(stderr):
            return RunOutcome(error=codes[-1])
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        return RunOutcome(error=f"exit {returncode}, no report: {last[0][:200]}")
    if runtime_error := report.get("runtimeError"):
        return RunOutcome(error=str(runtime_error.get("code") or "runtime error"))
    if returncode != 0:
        return RunOutcome(error=f"exit {returncode}")
    scores = {}
    for name in categories:
        score = (report.get("categories") or {}).get(name, {}).get("score")
        if not isinstance(score, int | float):
            return RunOutcome(error=f"no {name} score")
        scores[name] = round(100 * score)
    audits = report.get("audits") or {}
    metrics = {
        name: float(value)
        for name in METRICS
        if isinstance(value := (audits.get(name) or {}).get("numericValue"), int | float)
    }
    return RunOutcome(scores=scores, metrics=metrics)


@dataclass(frozen=True)
class PageResult:
    """A page's scores from its first usable run (None when every attempt failed), and the
    errors of the attempts before it."""

    scores: dict[str, int] | None
    errors: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def attempts(self) -> int:
        return len(self.errors) + (0 if self.scores is None else 1)

    def retries_text(self) -> str:
        """'' for a page measured at its first run; else how many runs it took and why, e.g.
        '2 runs (NO_NAVSTART)' or 'failed 3 runs (NO_NAVSTART x2, NO_FCP)'."""
        if not self.errors:
            return ""
        counts = ", ".join(f"{error} x{n}" if n > 1 else error for error, n in Counter(self.errors).items())
        return f"{'failed ' if self.scores is None else ''}{self.attempts} runs ({counts})"


def with_retries(run_once: Callable[[], RunOutcome], attempts: int = ATTEMPTS) -> PageResult:
    """Runs `run_once` until it gives scores, at most `attempts` times."""
    errors: list[str] = []
    for _ in range(attempts):
        outcome = run_once()
        if outcome.error is None:
            return PageResult(outcome.scores, errors, outcome.metrics)
        errors.append(outcome.error)
    return PageResult(None, errors)
