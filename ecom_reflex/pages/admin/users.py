"""Admin: users, with enable/disable and admin rights."""

import reflex as rx

from ecom_reflex.components.admin import admin_list, admin_shell, confirmed_button
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
            rx.cond(
                user.is_active,
                rx.badge("active", high_contrast=True, color_scheme="green"),
                rx.badge("disabled", high_contrast=True, color_scheme="red"),
            )
        ),
        rx.table.cell(rx.cond(user.is_admin, rx.badge("admin", high_contrast=True, color_scheme="indigo"), "")),
        rx.table.cell(
            rx.hstack(
                rx.cond(
                    user.is_active,
                    confirmed_button(
                        "Disable",
                        "Disable " + user.username + "?",
                        "They are logged out everywhere at once and cannot log in until an admin enables them"
                        " again. Their orders stay as they are.",
                        "Disable " + user.username,
                        AdminUsersState.set_user_active(user.id, False),
                        disabled=is_me,
                        size="1",
                        variant="soft",
                    ),
                    # Enabling takes nothing away: no question asked.
                    rx.button(
                        "Enable",
                        size="1",
                        variant="soft",
                        color_scheme="green",
                        high_contrast=True,
                        disabled=is_me,
                        on_click=AdminUsersState.set_user_active(user.id, True),
                    ),
                ),
                confirmed_button(
                    rx.cond(user.is_admin, "Revoke admin", "Make admin"),
                    rx.cond(
                        user.is_admin,
                        "Revoke " + user.username + "'s admin rights?",
                        "Make " + user.username + " an admin?",
                    ),
                    rx.cond(
                        user.is_admin,
                        "They keep their account and orders but can no longer open the admin pages.",
                        "They can then change products, prices and stock, move and cancel orders, and disable or"
                        " promote other users.",
                    ),
                    rx.cond(user.is_admin, "Revoke admin rights", "Make admin"),
                    AdminUsersState.set_user_admin(user.id, ~user.is_admin),
                    danger=user.is_admin,
                    disabled=is_me,
                    size="1",
                    variant="soft",
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
        "Users",
        search_box(state.search_users, state.user_query, "Username or e-mail…"),
        admin_list(state, "users", ("User", "E-mail", "Joined", "Status", "Role", "Actions"), state.user_rows, _row),
    )
