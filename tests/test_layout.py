"""The layout's promises that no other test would notice breaking (README "Layout")."""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import ecom_reflex
from ecom_reflex.state import admin as admin_states

PACKAGE = Path(ecom_reflex.__file__).parent


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def test_observability_receives_values_and_imports_no_db_service_or_state():
    upward = ("ecom_reflex.db", "ecom_reflex.services", "ecom_reflex.state", "ecom_reflex.offload")
    for path in (PACKAGE / "observability").glob("*.py"):
        bad = sorted(name for name in _imports(path) if name.startswith(upward))
        assert not bad, f"{path.name} imports {bad}"


@pytest.mark.parametrize("layer", ["state", "services", "models", "db"])
def test_lower_layers_import_no_page_or_component(layer):
    paths = [PACKAGE / f"{layer}.py"] if (PACKAGE / f"{layer}.py").exists() else (PACKAGE / layer).rglob("*.py")
    for path in paths:
        ui = ("ecom_reflex.pages", "ecom_reflex.components")
        bad = sorted(name for name in _imports(path) if name.startswith(ui))
        assert not bad, f"{path} imports {bad}"


def test_every_package_says_what_lives_there_and_who_may_import_it():
    for init in PACKAGE.rglob("__init__.py"):
        docstring = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert "import" in docstring, f"{init.relative_to(PACKAGE.parent)}: say what may import this package"


def _admin_state_classes() -> list[type]:
    for module in pkgutil.iter_modules(admin_states.__path__):
        importlib.import_module(f"{admin_states.__name__}.{module.name}")
    found, todo = [], [admin_states.AdminState]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo += cls.__subclasses__()
    return found


def test_admin_states_keep_the_wire_names_clients_address_events_by():
    # Reflex names a state after its module; the admin states moved into a package per page
    # and keep the names they had in the one module ecom_reflex/state/admin.py.
    classes = {cls.__name__: cls for cls in _admin_state_classes()}
    assert set(classes) >= {
        "AdminState",
        "AdminProductsState",
        "AdminProductFormState",
        "AdminUsersState",
        "AdminOrdersState",
        "AdminOrderState",
        "AdminAnalyticsState",
    }
    parent = "reflex___state____state.ecom_reflex___state___session____session_state"
    admin = f"{parent}.ecom_reflex___state___admin____admin_state"
    assert classes["AdminState"].get_full_name() == admin
    for name in ("admin_products_state", "admin_order_state", "admin_analytics_state"):
        cls = classes["".join(part.capitalize() for part in name.split("_"))]
        assert cls.get_full_name() == f"{admin}.ecom_reflex___state___admin____{name}"
    assert len({cls.get_full_name() for cls in classes.values()}) == len(classes)


def test_an_admin_list_links_its_neighbour_pages_with_its_filters():
    from reflex.state import State

    from ecom_reflex.state.admin.orders import AdminOrdersState

    root = State(_reflex_internal_init=True)
    state = root.get_substate(AdminOrdersState.get_full_name().split("."))
    state.order_status_filter, state.order_search, state.page = "paid", "ada lovelace", 3
    assert state.previous_url == "/admin/orders?status=paid&q=ada+lovelace&page=2"
    assert state.next_url == "/admin/orders?status=paid&q=ada+lovelace&page=4"
    state.page = 2
    assert state.previous_url == "/admin/orders?status=paid&q=ada+lovelace"
