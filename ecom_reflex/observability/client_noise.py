"""What a client can make the server log, bounded: no client may flood the log or read its secrets into it.

Any websocket client can send any event. Two kinds reach the log without an event handler
of ours in between:
- events the shop does not have (unknown names, undecodable payloads): Reflex logs each at
  ERROR with the whole event, router data included (the client token, socket id, every
  request header). `ClientNoiseFilter` turns the first of a client's in a minute into one
  WARNING naming only the event, and drops the rest;
- events for a handler the shop has, with arguments that do not fit it (Python's own
  TypeError for calling an event handler with the wrong arguments):
  `refused_malformed_event` logs them like unknown events instead of as an ERROR with a
  traceback;
- Reflex's built-in frontend-exception event, whose text the client writes:
  `frontend_exception` keeps at most MAX_FRONTEND_EXCEPTION_CHARS of it, five a minute per
  client.
Data that is not an event at all is logged the same way (one line a minute, for all clients:
Socket.IO does not say which sent it). Refused lines are counted
(`reflex_client_events_refused_total{kind}`), so a flood shows in
metrics even though the log stays quiet. Clients are told apart by their token, which is
kept hashed, in memory, and never written anywhere.
"""

from __future__ import annotations

import hashlib
import logging
import re

from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from ecom_reflex.observability import metrics

logger = logging.getLogger("ecom_reflex.client")

MAX_FRONTEND_EXCEPTION_CHARS = 2_000
MAX_EVENT_NAME_CHARS = 120
UNKNOWN_EVENTS = parse("1 per minute")
FRONTEND_EXCEPTIONS = parse("5 per minute")
# Reflex's line for an event it could not route: "Error processing event queue entry for Event(name='...', ...".
_QUEUE_ERROR = re.compile(r"^Error processing event queue entry for Event\(name='(?P<name>[^']*)'")
_TOKEN = re.compile(r"'token': '(?P<token>[^']*)'")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

_limiter = MovingWindowRateLimiter(MemoryStorage())


def _client_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:24]


def _bounded(text: str, limit: int) -> str:
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text) - limit} more characters not logged)"


def current_tab() -> str | None:
    """The tab whose websocket event is being handled (its token, hashed), or None outside an event."""
    try:
        from reflex_base.event.context import EventContext

        return _client_key(EventContext.get().token)
    except LookupError:  # outside an event
        return None


def _current_client() -> str:
    return current_tab() or "unknown"


def frontend_exception(exception: Exception) -> None:
    """App.frontend_exception_handler: a browser's error report, bounded and rate-limited per client."""
    if not _limiter.hit(FRONTEND_EXCEPTIONS, "frontend-exception", _current_client()):
        metrics.count_refused_client_event("frontend_exception")
        return
    logger.warning("frontend exception: %s", _bounded(str(exception), MAX_FRONTEND_EXCEPTION_CHARS))


# Python's words for a call whose arguments do not fit, naming an event handler (SomeState.public_name).
_ARGUMENTS_DO_NOT_FIT = re.compile(
    r"^\w+State\.[a-z]\w*\(\) (got an unexpected keyword argument|missing \d+ required|"
    r"takes \d+ positional argument|got multiple values for argument)"
)


# Reflex answers a built-in `setvar` event on every state by calling set_<name>; the shop has no
# automatic setters, so a client's setvar of any var ends here, having set nothing.
_NO_SUCH_SETTER = re.compile(r"^'\w+State' object has no attribute 'set_\w*'$")


def refused_malformed_event(exception: Exception) -> bool:
    """True, after logging it as a refusal, when `exception` says a client's event did not fit its handler
    (arguments that do not fit, or a `setvar` of a var that has no setter)."""
    fits = isinstance(exception, TypeError) and _ARGUMENTS_DO_NOT_FIT.match(str(exception))
    no_setter = isinstance(exception, AttributeError) and _NO_SUCH_SETTER.match(str(exception))
    if not (fits or no_setter):
        return False
    if _limiter.hit(UNKNOWN_EVENTS, "malformed_event", _current_client()):
        logger.warning("refused an event whose arguments do not fit its handler")
    else:
        metrics.count_refused_client_event("malformed_event")
    return True


class ClientNoiseFilter(logging.Filter):
    """Rewrites the server's lines about events it cannot use, keeping one a minute per client and kind."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(("reflex", "engineio", "socketio")):
            return True
        if hasattr(record, "_client_noise_keep"):  # decided once per record, for every handler alike
            return record._client_noise_keep
        refusal = self._refusal(record)
        if refusal is None:
            record._client_noise_keep = True
            return True
        kind, client, message = refusal
        keep = _limiter.hit(UNKNOWN_EVENTS, kind, client)
        if not keep:
            metrics.count_refused_client_event(kind)
        # What the client sent stays out of the line: no router data, no headers, no traceback.
        record.msg, record.args = message, ()
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        record._client_noise_keep = keep
        return keep

    @staticmethod
    def _refusal(record: logging.LogRecord) -> tuple[str, str, str] | None:
        """(kind, client, what to log instead) for a line about an event a client sent that the shop cannot use."""
        message = record.getMessage()
        if unknown := _QUEUE_ERROR.match(message):
            token = _TOKEN.search(message)
            name = _bounded(unknown.group("name"), MAX_EVENT_NAME_CHARS).replace("%", "%%")
            return (
                "unknown_event",
                _client_key(token.group("token")) if token else "unknown",
                (f"refused an event the shop does not have: {name}"),
            )
        undecodable = message.startswith(("Received event data as a string", "Received event from session")) or (
            record.exc_info is not None and type(record.exc_info[1]).__name__ == "EventDeserializationError"
        )
        if undecodable:
            # Socket.IO's handler does not say which client: these are limited together.
            return "undecodable_event", "any", "refused data that is not an event"
        return None
