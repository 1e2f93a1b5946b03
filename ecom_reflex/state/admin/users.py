"""State of /admin/users: the user list, enable/disable and admin rights."""

from __future__ import annotations

from collections.abc import Callable

import reflex as rx

from ecom_reflex.db import transaction
from ecom_reflex.observability import business
from ecom_reflex.services import users
from ecom_reflex.services.errors import ServiceError
from ecom_reflex.services.users import UserRow
from ecom_reflex.state.admin import AdminListing, AdminState, admin_only, admin_url
from ecom_reflex.state.inputs import form_fields, parse_id


class AdminUsersState(AdminListing, AdminState):
    user_rows: list[UserRow] = []
    user_query: str = ""

    @rx.event
    @admin_only
    def load_users(self):
        self._load_users()

    def _load_users(self) -> None:
        self.user_query = self._query_param("q")
        self.user_rows = self._load_page(users.list_users, query=self.user_query)

    def _listing_url(self, page: int = 1) -> str:
        return admin_url("/admin/users", q=self.user_query, page=page)

    @rx.event
    @admin_only
    def search_users(self, form_data: dict):
        return rx.redirect(admin_url("/admin/users", q=form_fields(form_data, {"q": 100})["q"]))

    def _change(self, change: Callable, user_id: int, flag: bool, done: str):
        target, flag = parse_id(user_id), flag is True
        if target is None:
            return rx.toast.error("We could not find that user.")
        try:
            username = transaction(lambda session: change(session, self._admin_id, target, flag).username, write=True)
        except ServiceError as error:
            return rx.toast.error(str(error))
        business.admin_change(self._admin_id, f"user.{change.__name__}", target_user_id=target, value=flag)
        self._load_users()
        return rx.toast.success(done.format(username=username))

    @rx.event
    @admin_only
    def set_user_active(self, user_id: int, active: bool):
        done = "{username} is enabled." if active else "{username} is disabled and logged out everywhere."
        return self._change(users.set_active, user_id, active, done)

    @rx.event
    @admin_only
    def set_user_admin(self, user_id: int, admin: bool):
        done = "{username} is now an admin." if admin else "{username} is no longer an admin."
        return self._change(users.set_admin, user_id, admin, done)
