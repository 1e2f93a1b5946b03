"""No event handler blocks the event loop on the database: every one that touches it runs in a thread.

Found by walking every State subclass, so a handler added later is checked without
touching this file. A plain `def` handler runs on the event loop itself (Reflex 0.10),
so one that reaches the database must be wrapped by `offload.in_db_thread` (directly
or through the admin guard), which makes it a coroutine function that awaits a thread.
"""

from __future__ import annotations

import inspect
import re

import pytest
from reflex.state import State

import ecom_reflex.ecom_reflex  # noqa: F401  (imports every state)

# What a handler's own source says when it reaches the database, itself or through a helper.
DATABASE = re.compile(r"session_scope|transaction\(|_current_user|self\._load\w*\(|self\._add\(|self\._change\(")


def all_states(base=State) -> list[type]:
    found = []
    for cls in base.__subclasses__():
        if cls.__module__.startswith("ecom_reflex."):
            found.append(cls)
        found += all_states(cls)
    return found


HANDLERS = sorted(
    {(cls.__name__, name, cls.event_handlers[name].fn) for cls in all_states() for name in cls.event_handlers
     if name != "setvar" and cls.event_handlers[name].fn.__module__.startswith("ecom_reflex.")},
    key=lambda row: row[:2],
)  # fmt: skip


def test_handlers_were_found():
    names = {name for _, name, _ in HANDLERS}
    assert {
        "load_cart",
        "add_to_cart",
        "log_in",
        "register",
        "place_order",
        "pay_order_again",
        "load_listing",
        "save_product",
        "open_checkout",
    } <= names


@pytest.mark.parametrize(("state", "name", "handler"), HANDLERS, ids=[f"{s}.{n}" for s, n, _ in HANDLERS])
def test_a_handler_that_reaches_the_database_does_not_run_on_the_event_loop(state, name, handler):
    source = inspect.getsource(inspect.unwrap(handler))
    if DATABASE.search(source):
        assert inspect.iscoroutinefunction(handler) or inspect.isasyncgenfunction(handler), (
            f"{state}.{name} touches the database on the event loop: wrap it with offload.in_db_thread"
        )
