"""Every admin event handler refuses anyone but an active admin, and changes nothing.

The handlers are found by walking AdminState's subclasses, so a handler added
later is covered without touching this file; its arguments are chosen by
parameter name from ARGUMENTS, picked so that each call WOULD change something
if the guard let it through (test_the_same_calls_work_for_an_admin proves it).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import io
import pkgutil
from pathlib import Path

import pytest
from PIL import Image
from reflex.state import State
from sqlmodel import Session, SQLModel, select

from ecom_reflex.db import get_engine
from ecom_reflex.models import Product, User
from ecom_reflex.services import auth, orders
from ecom_reflex.services.demo_catalog import seed_demo_catalog
from ecom_reflex.settings import get_settings
from ecom_reflex.state import admin as admin_states
from ecom_reflex.state.admin import DENIED, AdminState
from ecom_reflex.state.admin.orders import AdminOrderState
from ecom_reflex.state.admin.products import AdminProductFormState, AdminProductsState
from tests.factories import make_product, make_user
from tests.test_orders import fill_cart, place

# Every admin page's state module, so a state added in a new module is walked too.
for module in pkgutil.iter_modules(admin_states.__path__):
    importlib.import_module(f"{admin_states.__name__}.{module.name}")


def admin_state_classes(base=AdminState) -> list[type]:
    found = []
    for cls in base.__subclasses__():
        found += [cls, *admin_state_classes(cls)]
    return found


HANDLERS = [
    (cls, name)
    for cls in admin_state_classes()
    for name in sorted(cls.event_handlers)
    if name != "setvar"  # Reflex's own; see test_setvar_cannot_set_anything
]


def png_upload():
    from reflex_components_core.core._upload import UploadFile

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (1, 2, 3)).save(buffer, format="PNG")
    buffer.seek(0)
    return [UploadFile(file=buffer, path=Path("evil.exe"))]


@pytest.fixture
def world(session, tmp_path, monkeypatch):
    """A seeded shop with an admin, a shopper, a victim account, an order and a never-ordered product."""
    monkeypatch.setenv("UPLOAD_DIR", str(tmp_path / "uploads"))
    get_settings.cache_clear()
    seed_demo_catalog(session)
    admin = make_user(session, "boss", is_admin=True)
    shopper = make_user(session, "shopper")
    victim = make_user(session, "victim")
    bought = session.exec(select(Product).where(Product.stock > 5)).first()
    fill_cart(session, shopper, (bought, 1))
    order = place(shopper.id, key="security")
    session.refresh(bought)  # as the admin's form would show it, after that order
    spare = make_product(session, "Never ordered", stock=3)
    tokens = {}
    for user in (admin, shopper):
        tokens[user.username] = auth.start_session(session, user)
    session.commit()
    return {
        "tokens": tokens,
        "arguments": {
            "product_id": spare.id,
            "user_id": victim.id,
            "active": False,
            "admin": True,
            "to_status": "cancelled",
            "kind": "users",
            "status": "paid",
            "days": "7",
            "category_id": "1",
            "files": None,  # built per call: an upload is read once
            "progress": {"progress": 0.5, "loaded": 50, "total": 100},
            "form_data": {
                "q": "x",
                "name": "Hacked",
                "description": "",
                "price": "0.01",
                "stock": "999",
                "category_id": "1",
            },
        },
        # State a page would have loaded before the call, so the handler has something to act on.
        "primed": {
            AdminOrderState: {"admin_order": orders.order_detail(session, order.id)},
            AdminProductFormState: {
                "editing_id": bought.id,
                "image": "/products/yoga-mat.svg",
                # What the form was opened with (after the order above took one).
                "_seen_version": bought.version,
                "_seen_stock": bought.stock,
            },
        },
        "upload_dir": tmp_path / "uploads",
    }


def snapshot() -> dict[str, list]:
    with Session(get_engine()) as session:
        return {
            name: [tuple(row) for row in session.execute(table.select().order_by(*table.primary_key.columns))]
            for name, table in SQLModel.metadata.tables.items()
        }


def call(cls, name, token, world):
    root = State(_reflex_internal_init=True)
    state = root.get_substate(cls.get_full_name().split("."))
    state.auth_token = token
    for var, value in world["primed"].get(cls, {}).items():
        setattr(state, var, value)
    handler = cls.event_handlers[name].fn
    params = list(inspect.signature(handler).parameters)[1:]
    missing = [p for p in params if p not in world["arguments"]]
    assert not missing, f"{cls.__name__}.{name}: add test arguments for {missing}"
    args = [png_upload() if p == "files" else world["arguments"][p] for p in params]
    result = handler(state, *args)
    if inspect.isawaitable(result):
        result = asyncio.run(result)
    return state, result


@pytest.mark.parametrize("caller", ["shopper", "nobody"])
@pytest.mark.parametrize(("cls", "name"), HANDLERS, ids=[f"{c.__name__}.{n}" for c, n in HANDLERS])
def test_every_admin_handler_refuses_non_admins_and_changes_nothing(world, cls, name, caller):
    token = world["tokens"].get(caller, "")
    before = snapshot()
    state, result = call(cls, name, token, world)
    assert DENIED in str(result)
    assert state.access == "denied"
    assert snapshot() == before
    assert not world["upload_dir"].exists() or not any(world["upload_dir"].iterdir())


def test_handlers_were_found():
    names = {name for _, name in HANDLERS}
    assert {"save_product", "delete_product", "set_user_active", "set_user_admin", "change_status"} <= names
    assert len(HANDLERS) >= 15


MUTATING = {
    "set_product_active",
    "delete_product",
    "save_product",
    "set_user_active",
    "set_user_admin",
    "change_status",
}


@pytest.mark.parametrize(("cls", "name"), HANDLERS, ids=[f"{c.__name__}.{n}" for c, n in HANDLERS])
def test_the_same_calls_work_for_an_admin(world, cls, name):
    before = snapshot()
    state, result = call(cls, name, world["tokens"]["boss"], world)
    assert DENIED not in str(result)
    assert state.access == "granted"
    if name in MUTATING:
        assert snapshot() != before, (
            f"{name} with these arguments changes nothing: the refusal test would prove nothing"
        )
    if name == "upload_image":
        assert len(list(world["upload_dir"].iterdir())) == 1


def test_a_disabled_admin_is_refused(world, session):
    boss = session.exec(select(User).where(User.username == "boss")).one()
    boss.is_active = False
    session.add(boss)
    session.commit()
    state, result = call(AdminProductsState, "load_products", world["tokens"]["boss"], world)
    assert DENIED in str(result) and state.access == "denied"


@pytest.mark.parametrize("cls", admin_state_classes(), ids=lambda c: c.__name__)
def test_setvar_cannot_set_anything(cls):
    root = State(_reflex_internal_init=True)
    state = root.get_substate(cls.get_full_name().split("."))
    with pytest.raises(AttributeError):
        cls.event_handlers["setvar"].fn(state, "access", "granted")
    assert state.access == "checking"
