"""The shell every page sits in: navbar (cart badge, account menu), content column, footer."""

import reflex as rx

from ecom_reflex.state.cart import CartState

SHOP_NAME = "Reflex Shop"
CONTENT_WIDTH = "1200px"
GUTTER = ["1em", "1.5em", "2em"]


def cart_button() -> rx.Component:
    return rx.link(
        rx.box(
            rx.icon("shopping-cart", size=22),
            rx.cond(
                CartState.item_count > 0,
                rx.badge(
                    CartState.item_count,
                    variant="solid",
                    radius="full",
                    size="1",
                    position="absolute",
                    top="-8px",
                    right="-12px",
                    data_testid="cart-count",
                ),
            ),
            position="relative",
            padding="4px",
        ),
        href="/cart",
        color=rx.color("gray", 12),
        aria_label="Cart",
        data_testid="cart-link",
    )


def account_links() -> rx.Component:
    """Desktop: account links inline."""
    return rx.cond(
        CartState.logged_in,
        rx.hstack(
            rx.cond(CartState.is_admin, rx.link("Admin", href="/admin", weight="medium")),
            rx.link("My orders", href="/orders", weight="medium"),
            rx.text(CartState.username, size="2", color=rx.color("gray", 11), data_testid="current-user"),
            rx.button("Log out", variant="soft", size="2", on_click=CartState.logout),
            align="center",
            spacing="4",
        ),
        rx.hstack(
            rx.link("Log in", href="/login", weight="medium"),
            rx.link(rx.button("Register", size="2"), href="/register"),
            align="center",
            spacing="4",
        ),
    )


def mobile_menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(rx.icon_button(rx.icon("menu"), variant="ghost", aria_label="Menu", data_testid="menu")),
        rx.menu.content(
            rx.menu.item("Shop", on_click=rx.redirect("/")),
            rx.menu.item("Cart", on_click=rx.redirect("/cart")),
            rx.cond(
                CartState.logged_in,
                rx.fragment(
                    rx.menu.item("My orders", on_click=rx.redirect("/orders")),
                    rx.cond(CartState.is_admin, rx.menu.item("Admin", on_click=rx.redirect("/admin"))),
                    rx.menu.separator(),
                    rx.menu.item("Log out", on_click=CartState.logout),
                ),
                rx.fragment(
                    rx.menu.separator(),
                    rx.menu.item("Log in", on_click=rx.redirect("/login")),
                    rx.menu.item("Register", on_click=rx.redirect("/register")),
                ),
            ),
        ),
    )


def navbar() -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.link(
                rx.hstack(rx.icon("shopping-bag", size=24), rx.heading(SHOP_NAME, size="5"), align="center"),
                href="/",
                underline="none",
                color=rx.color("gray", 12),
                data_testid="brand",
            ),
            rx.spacer(),
            rx.desktop_only(
                rx.hstack(rx.link("Shop", href="/", weight="medium"), account_links(), align="center", spacing="5")
            ),
            cart_button(),
            rx.mobile_and_tablet(mobile_menu()),
            rx.color_mode.button(size="2", variant="ghost"),
            align="center",
            spacing="5",
            max_width=CONTENT_WIDTH,
            margin_x="auto",
            padding_x=GUTTER,
            padding_y="0.9em",
        ),
        as_="nav",
        position="sticky",
        top="0",
        z_index="10",
        background=rx.color("gray", 1),
        border_bottom=f"1px solid {rx.color('gray', 5)}",
    )


def footer() -> rx.Component:
    return rx.box(
        rx.hstack(
            rx.text(f"© {SHOP_NAME}", size="2", color=rx.color("gray", 10)),
            rx.spacer(),
            rx.text("A demo shop: no real orders are shipped.", size="2", color=rx.color("gray", 10)),
            max_width=CONTENT_WIDTH,
            margin_x="auto",
            padding_x=GUTTER,
            padding_y="1.5em",
            wrap="wrap",
        ),
        as_="footer",
        border_top=f"1px solid {rx.color('gray', 5)}",
        margin_top="3em",
    )


def page_shell(*children: rx.Component) -> rx.Component:
    return rx.flex(
        navbar(),
        rx.box(
            *children,
            as_="main",
            width="100%",
            max_width=CONTENT_WIDTH,
            margin_x="auto",
            padding_x=GUTTER,
            padding_top="1.5em",
            flex="1",
        ),
        footer(),
        direction="column",
        min_height="100vh",
    )


def loading() -> rx.Component:
    """What a page shows until its on_load has answered."""
    return rx.center(rx.spinner(size="3"), padding_y="5em", data_testid="loading")


def centered_message(
    icon: str, title: str, text: str | rx.Var[str], action: tuple[str, str] | rx.Component, test_id: str
) -> rx.Component:
    """Empty states and not-found pages; `action` is a (label, href) button or any component."""
    if isinstance(action, tuple):
        label, href = action
        action = rx.link(rx.button(label), href=href)
    return rx.center(
        rx.vstack(
            rx.icon(icon, size=48, color=rx.color("gray", 9)),
            rx.heading(title, size="5"),
            rx.text(text, color=rx.color("gray", 10), text_align="center"),
            action,
            align="center",
            spacing="3",
        ),
        padding_y="4em",
        data_testid=test_id,
    )


def not_found(title: str, text: str, back: tuple[str, str]) -> rx.Component:
    """What a page shows for something that does not exist (or is not the caller's)."""
    return centered_message("search-x", title, text, back, "not-found")


def empty_cart(text: str) -> rx.Component:
    return centered_message("shopping-cart", "Your cart is empty", text, ("Continue shopping", "/"), "empty-cart")


def when_loaded(loaded: rx.Var[bool], empty: rx.Var[bool], empty_view: rx.Component, content: rx.Component):
    """A spinner until the page's data has arrived, then `empty_view` or `content`."""
    return rx.cond(~loaded, loading(), rx.cond(empty, empty_view, content))


def detail_or_missing(missing: rx.Var[bool], item: rx.Var, detail: rx.Component, missing_view: rx.Component):
    """One thing's page: `missing_view` when it does not exist, a spinner until it arrives, then `detail`."""
    return rx.cond(missing, missing_view, rx.cond(item, detail, loading()))


def form_error(message: rx.Var[str], *actions: rx.Component, testid: str = "form-error") -> rx.Component:
    """What went wrong with a whole form (not one field), above or beside it, with what to do about it."""
    return rx.cond(
        message != "",
        rx.callout.root(
            rx.callout.icon(rx.icon("triangle-alert")),
            rx.callout.text(message),
            *actions,
            color_scheme="red",
            width="100%",
            data_testid=testid,
            role="alert",
        ),
    )


def field_error(errors: rx.Var[dict[str, str]], name: str) -> rx.Component:
    return rx.cond(
        errors.contains(name),
        rx.text(errors[name], color=rx.color("red", 11), size="2", data_testid=f"error-{name}"),
    )


def form_field(label: str, name: str, errors: rx.Var[dict[str, str]], **input_props) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=name),
        rx.input(id=name, name=name, width="100%", size="3", **input_props),
        field_error(errors, name),
        spacing="1",
        width="100%",
    )
