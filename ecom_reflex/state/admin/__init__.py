"""Admin states, one module per admin page (mirrors pages/admin/); here what they all share.

Here: `AdminState` (the parent of every admin state), `admin_only` (the one guard),
`AdminListing` (paging of the admin lists) and `admin_url`. Imported by pages/admin,
components/admin and the app module; it imports services, db and the state base modules.

Every event handler of an admin state is wrapped by `admin_only`. Any websocket client
can send any event with any arguments, so the guard runs on the server before a handler
reads or changes anything: it resolves the caller's session afresh and refuses unless the
user is an active admin. The guard and a plain handler run together in a database thread,
off the event loop. tests/test_admin_security.py calls every handler of every AdminState
subclass as a shopper and as nobody, so a handler added without the guard fails there.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from urllib.parse import urlencode

import reflex as rx
from reflex.state import _override_base_method
from reflex.utils import format

from ecom_reflex.db import session_scope
from ecom_reflex.offload import in_db_thread, run_db
from ecom_reflex.state.inputs import clean_text, parse_page
from ecom_reflex.state.session import SessionState

DENIED = "Admins only."


def admin_only(handler: Callable) -> Callable:
    """Run `handler` only for an active admin; anyone else gets a refusal and nothing happens."""
    if inspect.iscoroutinefunction(handler):

        @functools.wraps(handler)
        async def guarded_async(self: AdminState, *args, **kwargs):
            if not await run_db(self._caller_is_admin):
                return rx.toast.error(DENIED)
            return await handler(self, *args, **kwargs)

        guarded_async.admin_guarded = True
        return guarded_async

    @functools.wraps(handler)
    def guarded(self: AdminState, *args, **kwargs):
        if not self._caller_is_admin():
            return rx.toast.error(DENIED)
        return handler(self, *args, **kwargs)

    guarded = in_db_thread(guarded)
    guarded.admin_guarded = True
    return guarded


def admin_url(path: str, **params) -> str:
    """`path` with the non-default parameters as its query: admin lists keep search, filter and page in the URL."""
    query = urlencode({key: value for key, value in params.items() if value not in ("", None, 0, 1)})
    return f"{path}?{query}" if query else path


class AdminState(SessionState):
    # "checking" until the first guarded event answers, then "granted" or "denied".
    access: str = "checking"
    # The admin's user id as the guard found it for the current event (server-side only).
    _admin_id: int = 0

    @classmethod
    @_override_base_method  # Reflex's own mark for a deliberate override of a State method
    def get_name(cls) -> str:
        # Reflex names a state after its module and class. Clients (the load generator,
        # operators' scripts) address admin events by the names they had when every admin
        # state lived in this one module, so they keep them.
        return format.to_snake_case(f"{__name__.replace('.', '___')}___{cls.__name__}")

    def _caller_is_admin(self) -> bool:
        with session_scope() as session:
            user = self._current_user(session)
            allowed = user is not None and user.is_admin and user.is_active
        self._admin_id = user.id if allowed else 0
        self.access = "granted" if allowed else "denied"
        return allowed

    def _query_param(self, name: str, max_length: int = 100) -> str:
        return clean_text(self.router.url.query_parameters.get(name, ""), max_length)


class AdminListing(rx.State, mixin=True):
    """A paged admin list whose search, filters and page live in the URL (`_listing_url`)."""

    page: int = 1
    pages: int = 1
    total: int = 0

    def _listing_url(self, page: int = 1) -> str:
        raise NotImplementedError

    def _load_page(self, list_page: Callable, **filters) -> list:
        """The page of `list_page(session, page=, **filters)` the URL asks for: keeps its numbers, returns its rows."""
        with session_scope() as session:
            result = list_page(session, page=parse_page(self._query_param("page")), **filters)
        self.page, self.pages, self.total = result.page, result.pages, result.total
        return result.items

    @rx.var
    def previous_url(self) -> str:
        return self._listing_url(self.page - 1)

    @rx.var
    def next_url(self) -> str:
        return self._listing_url(self.page + 1)
