"""Admin: users, with enable/disable and admin rights."""

import reflex as rx

from ecom_reflex.components.admin import admin_list, admin_shell
from ecom_reflex.components.listing import search_box
from ecom_reflex.services.users import UserRow
from ecom_reflex.state.admin.users import AdminUsersState


def _row(user: rx.Var[UserRow]) -> rx.Component:
    is_me = user.username == AdminUsersState.username
    return rx.table.row(
        rx.table.cell(rx.text(user.username, weight="medium"), rx.cond(is_me, rx.badge("you", margin_left="0.5em"))),
        rx.table.cell(user.email),
        rx.table.cell(user.created_at),
        rx.table.cell(
            rx.cond(user.is_active, rx.badge("active", color_scheme="green"), rx.badge("disabled", color_scheme="red"))
        ),
        rx.table.cell(rx.cond(user.is_admin, rx.badge("admin", color_scheme="indigo"), "")),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    rx.cond(user.is_active, "Disable", "Enable"),
                    size="1",
                    variant="soft",
                    color_scheme=rx.cond(user.is_active, "red", "green"),
                    disabled=is_me,
                    on_click=AdminUsersState.set_user_active(user.id, ~user.is_active),
                ),
                rx.button(
                    rx.cond(user.is_admin, "Revoke admin", "Make admin"),
                    size="1",
                    variant="soft",
                    disabled=is_me,
                    on_click=AdminUsersState.set_user_admin(user.id, ~user.is_admin),
                ),
                spacing="2",
            )
        ),
        data_testid="admin-user-row",
    )


def users_page() -> rx.Component:
    state = AdminUsersState
    return admin_shell(
        "Users",
        search_box(state.search_users, state.user_query, "Username or e-mail…"),
        admin_list(state, "users", ("User", "E-mail", "Joined", "Status", "Role", ""), state.user_rows, _row),
    )
