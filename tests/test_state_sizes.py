"""States hold what a page shows, never whole tables: after every page loader runs against a shop
much bigger than a page, no list in any state is longer than a page (or its own fixed bound)."""

from __future__ import annotations

import asyncio
import inspect
import typing

import pytest
import reflex as rx
from reflex.state import State

from ecom_reflex.services import auth
from ecom_reflex.services.analytics import LOW_STOCK_SHOWN, PERIODS
from ecom_reflex.services.cart import MAX_LINES, UserCart, add_item
from ecom_reflex.services.catalog import MAX_CATEGORIES
from tests.factories import make_product, make_user
from tests.test_orders import place

PAGE = 20  # the largest page any list uses (admin tables)
# Lists bounded by something other than a page: a chart's days, the category bar, the low-stock list.
OWN_BOUNDS = {
    "daily_chart": max(PERIODS) + 1,
    "categories": MAX_CATEGORIES,
    "low_stock_rows": LOW_STOCK_SHOWN,
    "lines": MAX_LINES,
}


def app_states() -> list[type[rx.State]]:
    import ecom_reflex.ecom_reflex  # noqa: F401 - registers every state

    found, todo = [], [State]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("ecom_reflex."):
                found.append(sub)
            todo.append(sub)
    return found


def list_vars(cls) -> list[str]:
    hints = typing.get_type_hints(cls)
    return [
        name
        for name in cls.base_vars
        if typing.get_origin(hints.get(name)) is list and name in inspect.get_annotations(cls)
    ]


@pytest.fixture
def big_shop(session):
    admin = make_user(session, "boss", is_admin=True)
    for n in range(60):
        make_user(session, f"shopper{n:02d}")
    products = [make_product(session, f"Thing {n:03d}", stock=2 if n % 3 else 50) for n in range(150)]
    for n in range(25):
        add_item(session, UserCart(admin.id), products[n * 3].id, 1)
        session.commit()
        place(admin.id, key=f"big-{n}")
    for product in products[:30]:
        add_item(session, UserCart(admin.id), product.id, 1)
    token = auth.start_session(session, admin)
    session.commit()
    return token


def test_no_state_holds_more_than_a_page(big_shop):
    checked = 0
    for cls in app_states():
        names = list_vars(cls)
        if not names:
            continue
        state = State(_reflex_internal_init=True).get_substate(cls.get_full_name().split("."))
        state.auth_token = big_shop
        for handler_name, handler in cls.event_handlers.items():
            if handler_name.startswith(("load", "open")):
                result = handler.fn(state)
                if inspect.isawaitable(result):
                    asyncio.run(result)
        for name in names:
            length = len(getattr(state, name))
            assert length <= OWN_BOUNDS.get(name, PAGE), f"{cls.__name__}.{name} holds {length} items"
            checked += 1
    assert checked >= 8, "the loaders of the listing states ran"
