"""What the log keeps when an error repeats, and how much of it any one client can cause.

An anonymous client once rotated the whole kept log away (60 MB, the admin audit trail with
it) with 2,000 requests that each wrote a 6.8 KB traceback. Two filters, shared by every
handler (stdout and the file drop the same lines), make that impossible:

- `RepeatedErrors`: an ERROR (or worse) identical to one written within the last minute (same
  logger, message template, exception type, and where it was raised and logged) is not written
  again. Once that minute is over, one WARNING line of `ecom_reflex.log` says how many repeats
  were left out (`repeats`, `repeated_logger`, `repeated_message`); the next one is written
  again. This holds for all clients together: the floor when nothing says who caused a line.
- `ClientLogBudget`: each line written while serving a client is charged to that client, its
  estimated size in bytes, at most CLIENT_LOG_BYTES_PER_MINUTE a client (a sliding window of
  the `limits` library). The client is the address the app binds for each HTTP request and
  websocket (`bind_client`, after trusted proxies), else the tab of the websocket event being
  handled. Past its budget a client's lines are dropped, and one line a minute per client
  (the client's address hashed, never written) says so.

What either leaves out is counted in `log_records_suppressed_total{reason}` (`repeat`,
`client_budget`). Lines written outside any client (the sender, the reconciler, start-up)
are never charged.
"""

from __future__ import annotations

import contextvars
import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter

from ecom_reflex.observability import metrics
from ecom_reflex.observability.client_noise import current_tab

REPEAT_WINDOW_S = 60.0
CLIENT_LOG_BYTES_PER_MINUTE = 64 * 1024
CLIENT_LOG_BUDGET = parse(f"{CLIENT_LOG_BYTES_PER_MINUTE} per minute")
OVER_BUDGET_NOTICES = parse("1 per minute")
# What a JSON line carries besides its message and extra fields (timestamp, level, logger, service,
# pid, trace and span ids, event, user): counted generously, so the budget bounds what is written.
LINE_OVERHEAD_BYTES = 320
# Distinct errors tracked at once; past this, new ones are written (and not tracked) until the oldest expire.
MAX_TRACKED_ERRORS = 10_000
MAX_REPEATED_MESSAGE_CHARS = 300

logger = logging.getLogger("ecom_reflex.log")

# The client an HTTP request or websocket serves: its address (set by the app, see security.py).
current_client: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_client", default=None)

_STANDARD_FIELDS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


def bind_client(address: str | None) -> contextvars.Token:
    """The client whose request or websocket this context serves; its lines count against its budget."""
    return current_client.set(address)


def client_of_this_context() -> str | None:
    """The client a line written now is charged to: the bound address, else the websocket tab, else None."""
    if (address := current_client.get()) is not None:
        return f"address:{address}"
    tab = current_tab()
    return f"tab:{tab}" if tab is not None else None


def _unbound(log: Callable[..., None], *args, **kwargs) -> None:
    """Log from a fresh context: no span, event, user or client of whatever is running now is attached."""
    contextvars.Context().run(log, *args, **kwargs)


def estimated_bytes(record: logging.LogRecord) -> int:
    """About what the JSON line of `record` takes, never much less: message, traceback, extra fields."""
    size = LINE_OVERHEAD_BYTES + len(record.getMessage())
    if record.exc_info and record.exc_info[1] is not None:
        if not record.exc_text:  # formatted once; every handler's formatter reuses it
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        size += len(record.exc_text)
    elif record.exc_text:
        size += len(record.exc_text)
    for name, value in record.__dict__.items():
        if name not in _STANDARD_FIELDS and not name.startswith("_"):
            size += len(name) + len(str(value)) + 6
    return size


def _origin(record: logging.LogRecord) -> tuple[str, str, int]:
    """(exception type, file, line where it was raised), or where the line was logged without one."""
    error = record.exc_info[1] if record.exc_info else None
    if error is None:
        return "", record.pathname, record.lineno
    traceback = error.__traceback__
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    if traceback is None:
        return type(error).__qualname__, record.pathname, record.lineno
    return type(error).__qualname__, traceback.tb_frame.f_code.co_filename, traceback.tb_lineno


@dataclass
class _Repeat:
    until: float
    logger: str
    level: int
    message: str
    suppressed: int = 0


class RepeatedErrors(logging.Filter):
    """Writes an error once per window, then one line with how many identical ones were left out."""

    def __init__(self, window_s: float = REPEAT_WINDOW_S, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.window_s, self.clock = window_s, clock
        self._seen: dict[tuple, _Repeat] = {}
        self._lock = threading.Lock()
        self._next_sweep = float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "_repeat_keep"):  # decided once per record, for every handler alike
            return record._repeat_keep
        now = self.clock()
        with self._lock:
            finished = self._sweep(now)
            keep = self._decide(record, now) if record.levelno >= logging.ERROR else True
        record._repeat_keep = keep
        for repeat in finished:
            self._report(repeat)
        if not keep:
            metrics.count_suppressed_log_record("repeat")
        return keep

    def flush(self) -> None:
        """Reports every window that has repeats now, over or not (when the process stops)."""
        with self._lock:
            finished = [repeat for repeat in self._seen.values() if repeat.suppressed]
            self._seen.clear()
        for repeat in finished:
            self._report(repeat)

    def _decide(self, record: logging.LogRecord, now: float) -> bool:
        key = (record.name, str(record.msg), *_origin(record))
        repeat = self._seen.get(key)
        if repeat is not None and now < repeat.until:
            repeat.suppressed += 1
            return False
        if len(self._seen) < MAX_TRACKED_ERRORS:
            message = record.getMessage()[:MAX_REPEATED_MESSAGE_CHARS]
            self._seen[key] = _Repeat(now + self.window_s, record.name, record.levelno, message)
        return True

    def _sweep(self, now: float) -> list[_Repeat]:
        """Forgets the windows that are over (at most once a second); returns those with repeats to report."""
        if now < self._next_sweep:
            return []
        self._next_sweep = now + 1.0
        over = [key for key, repeat in self._seen.items() if now >= repeat.until]
        return [repeat for repeat in (self._seen.pop(key) for key in over) if repeat.suppressed]

    def _report(self, repeat: _Repeat) -> None:
        _unbound(
            logger.warning,
            "%d more of this error within %ds were not logged: %s",
            repeat.suppressed,
            round(self.window_s),
            repeat.message,
            extra={
                "repeats": repeat.suppressed,
                "repeated_logger": repeat.logger,
                "repeated_level": logging.getLevelName(repeat.level),
                "repeated_message": repeat.message,
            },
        )


class ClientLogBudget(logging.Filter):
    """Drops the lines a client causes past its bytes a minute, and says so once a minute per client."""

    def __init__(
        self,
        budget: RateLimitItem = CLIENT_LOG_BUDGET,
        client: Callable[[], str | None] = client_of_this_context,
    ):
        super().__init__()
        self.budget, self.client = budget, client
        self._bytes = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._notices = MovingWindowRateLimiter(MemoryStorage())

    def filter(self, record: logging.LogRecord) -> bool:
        if hasattr(record, "_budget_keep"):  # decided once per record, for every handler alike
            return record._budget_keep
        client = self.client()
        keep = client is None or self._bytes.hit(self.budget, "log-bytes", client, cost=estimated_bytes(record))
        record._budget_keep = keep
        if not keep:
            metrics.count_suppressed_log_record("client_budget")
            if self._notices.hit(OVER_BUDGET_NOTICES, "log-budget", client):
                _unbound(
                    logger.warning,
                    "a client went over its log budget (%s bytes): its further lines are dropped"
                    " until it is back under (counted in log_records_suppressed_total)",
                    self.budget,
                    extra={"client": hashlib.sha256(client.encode()).hexdigest()[:16]},
                )
        return keep
