"""The shell every page sits in: header (brand, navigation, cart badge, account menu), main column, footer.

Landmarks are real elements (header, nav, main, footer), and each page has one h1: page_title()
for it, section_title() (h2) below it.
"""

import reflex as rx

from ecom_reflex import SHOP_NAME
from ecom_reflex.state.cart import CartState

# Every page's meta description, unless the page has its own (a product's).
SHOP_DESCRIPTION = "Books, clothing, electronics, home, outdoor gear and toys from a demo shop built in pure Python."
CONTENT_WIDTH = "1200px"
GUTTER = ["1em", "1.5em", "2em"]
# Secondary text: gray 11 is the lightest Radix step with AA contrast on the page background.
MUTED = rx.color("gray", 11)
MAIN_ID = "main"


def count_of(count: rx.Var[int], noun: str) -> rx.Var[str]:
    """ "1 product", "2 products": `noun` in the plural, its singular without the final s."""
    return count.to_string() + " " + rx.cond(count == 1, noun.removesuffix("s"), noun)


def local_time(iso: rx.Var[str], **props) -> rx.Component:
    """A moment (ISO 8601, UTC) in the reader's own time zone and words: "1 Dec 2026, 22:30", in a
    <time> element that keeps the exact instant."""
    return rx.moment(iso, format="D MMM YYYY, HH:mm", interval=0, **props)


def page_title(*text, size: str = "7", **props) -> rx.Component:
    """The page's one h1."""
    return rx.heading(*text, as_="h1", size=size, **props)


def section_title(*text, size: str = "4", **props) -> rx.Component:
    """A section of a page (h2)."""
    return rx.heading(*text, as_="h2", size=size, **props)


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
        # The name holds the visible count too (what a voice-control user says to click it).
        aria_label=rx.cond(
            CartState.item_count > 0,
            "Cart, " + count_of(CartState.item_count, "items"),
            "Cart",
        ),
        data_testid="cart-link",
    )


def account_links() -> rx.Component:
    """Desktop: account links inline."""
    return rx.cond(
        CartState.logged_in,
        rx.hstack(
            rx.cond(CartState.is_admin, rx.link("Admin", href="/admin", weight="medium")),
            rx.link("My orders", href="/orders", weight="medium"),
            rx.link(
                CartState.username,
                href="/account",
                size="2",
                color=MUTED,
                aria_label="Your account: " + CartState.username,
                data_testid="current-user",
            ),
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
                    rx.menu.item("Your account", on_click=rx.redirect("/account")),
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


def skip_link() -> rx.Component:
    """The first thing Tab reaches: straight to the page's content, past the navigation."""
    return rx.el.a(
        "Skip to content",
        href=f"#{MAIN_ID}",
        position="absolute",
        left="-10000px",
        top="0.5em",
        padding="0.5em 1em",
        z_index="20",
        background=rx.color("gray", 1),
        color=rx.color("gray", 12),
        border_radius="6px",
        _focus={"left": "0.5em"},
    )


def navbar() -> rx.Component:
    return rx.el.header(
        skip_link(),
        rx.hstack(
            rx.link(
                rx.hstack(
                    rx.icon("shopping-bag", size=24, aria_hidden="true"),
                    rx.text(SHOP_NAME, size="5", weight="bold"),
                    align="center",
                ),
                href="/",
                underline="none",
                color=rx.color("gray", 12),
                data_testid="brand",
            ),
            rx.spacer(),
            rx.desktop_only(
                rx.el.nav(
                    rx.hstack(rx.link("Shop", href="/", weight="medium"), account_links(), align="center", spacing="5"),
                    aria_label="Main",
                )
            ),
            cart_button(),
            rx.mobile_and_tablet(mobile_menu()),
            rx.color_mode.button(size="2", variant="ghost", aria_label="Switch between light and dark colours"),
            align="center",
            spacing="5",
            max_width=CONTENT_WIDTH,
            margin_x="auto",
            padding_x=GUTTER,
            padding_y="0.9em",
        ),
        position="sticky",
        top="0",
        z_index="10",
        background=rx.color("gray", 1),
        border_bottom=f"1px solid {rx.color('gray', 5)}",
    )


def footer() -> rx.Component:
    return rx.el.footer(
        rx.hstack(
            rx.text(f"© {SHOP_NAME}", size="2", color=MUTED),
            rx.spacer(),
            rx.text("A demo shop: no real orders are shipped.", size="2", color=MUTED),
            max_width=CONTENT_WIDTH,
            margin_x="auto",
            padding_x=GUTTER,
            padding_y="1.5em",
            wrap="wrap",
        ),
        border_top=f"1px solid {rx.color('gray', 5)}",
        margin_top="3em",
    )


def page_shell(*children: rx.Component) -> rx.Component:
    return rx.flex(
        navbar(),
        rx.el.main(
            *children,
            id=MAIN_ID,
            # The skip link's target: focusable by script, not by Tab.
            tab_index=-1,
            width="100%",
            outline="none",
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


def breadcrumbs(*trail: tuple[str | rx.Var[str], str | rx.Var[str]], current: str | rx.Var[str]) -> rx.Component:
    """Shop > Category > Product: where this page sits, each step a link but the last (this page)."""
    separator = rx.el.li(rx.icon("chevron-right", size=14, aria_hidden="true"), aria_hidden="true", display="flex")
    steps = []
    for label, href in trail:
        steps += [rx.el.li(rx.link(label, href=href, size="2")), separator]
    return rx.el.nav(
        rx.el.ol(
            *steps,
            rx.el.li(rx.text(current, size="2", color=MUTED), aria_current="page"),
            display="flex",
            flex_wrap="wrap",
            align_items="center",
            gap="0.4em",
            list_style="none",
            padding="0",
            margin="0",
        ),
        aria_label="Breadcrumb",
        data_testid="breadcrumbs",
        margin_bottom="1em",
    )


def loading() -> rx.Component:
    """What a page shows until its on_load has answered."""
    return rx.center(rx.spinner(size="3"), padding_y="5em", data_testid="loading")


def centered_message(
    icon: str,
    title: str,
    text: str | rx.Var[str],
    action: tuple[str, str] | rx.Component,
    test_id: str,
    heading: str = "h2",
) -> rx.Component:
    """Empty states and not-found pages; `action` is a (label, href) button or any component. `heading`
    is h1 where the message is all the page has (a page that does not exist), h2 under a page's title."""
    if isinstance(action, tuple):
        label, href = action
        action = rx.link(rx.button(label), href=href)
    return rx.center(
        rx.vstack(
            rx.icon(icon, size=48, color=rx.color("gray", 9), aria_hidden="true"),
            rx.heading(title, as_=heading, size="5"),
            rx.text(text, color=MUTED, text_align="center"),
            action,
            align="center",
            spacing="3",
        ),
        padding_y="4em",
        data_testid=test_id,
    )


def not_found(title: str, text: str, back: tuple[str, str], heading: str = "h1") -> rx.Component:
    """What a page shows for something that does not exist (or is not the caller's): the page's h1, or
    h2 under a title the page keeps (the admin pages')."""
    return centered_message("search-x", title, text, back, "not-found", heading=heading)


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
        rx.text(errors[name], color=rx.color("red", 11), size="2", id=f"error-{name}", data_testid=f"error-{name}"),
    )


def _invalid(errors: rx.Var[dict[str, str]], name: str) -> dict:
    """An input's link to its message: read out with it (aria-describedby) and marked invalid."""
    return {"aria_invalid": rx.cond(errors.contains(name), "true", "false"), "aria_describedby": f"error-{name}"}


def _labelled(label: str | rx.Var[str], name: str, errors: rx.Var[dict[str, str]], control: rx.Component):
    """A form control (its id is `name`) under its label, its message under it."""
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=name),
        control,
        field_error(errors, name),
        spacing="1",
        width="100%",
    )


def form_field(label: str, name: str, errors: rx.Var[dict[str, str]], **input_props) -> rx.Component:
    control = rx.input(id=name, name=name, width="100%", size="3", **_invalid(errors, name), **input_props)
    return _labelled(label, name, errors, control)


def select_field(
    label: str | rx.Var[str],
    name: str,
    errors: rx.Var[dict[str, str]],
    options: rx.Var[list] | tuple[tuple[str, str], ...],
    placeholder: str,
    **select_props,
) -> rx.Component:
    """A native select (autofill and phone pickers know it). `options`: a state list of values, or a fixed
    tuple of (value, text) pairs written into the page."""
    if isinstance(options, rx.Var):
        choices = rx.foreach(options, lambda item: rx.el.option(item, value=item))
    else:
        choices = rx.fragment(*[rx.el.option(text, value=value) for value, text in options])

    control = rx.el.select(
        rx.el.option(placeholder, value=""),
        choices,
        id=name,
        name=name,
        width="100%",
        height="var(--space-7)",
        padding_x="var(--space-2)",
        border_radius="var(--radius-2)",
        border=f"1px solid {rx.color('gray', 7)}",
        background=rx.color("gray", 1),
        color=rx.color("gray", 12),
        font_size="var(--font-size-3)",
        **_invalid(errors, name),
        **select_props,
    )
    return _labelled(label, name, errors, control)


def error_summary(errors: rx.Var[dict[str, str]], labels: dict[str, str], summary_id: str) -> rx.Component:
    """What to fix, at the top of a form, each a link to its field. Always in the page (empty when all
    is well), so the focus can move to it the moment a submit is refused."""
    return rx.box(
        rx.cond(
            errors.length() > 0,
            rx.callout.root(
                rx.callout.icon(rx.icon("triangle-alert")),
                rx.box(
                    rx.text("Please check ", count_of(errors.length(), "fields"), ":", weight="bold", size="2"),
                    rx.el.ul(
                        *[
                            rx.cond(
                                errors.contains(name),
                                rx.el.li(
                                    rx.link(label + ": " + errors[name], href=f"#{name}", color="inherit", size="2")
                                ),
                            )
                            for name, label in labels.items()
                        ],
                        margin="0.25em 0 0 1.25em",
                    ),
                ),
                color_scheme="red",
                role="alert",
                width="100%",
            ),
        ),
        id=summary_id,
        tab_index=-1,
        outline="none",
        width="100%",
        data_testid="error-summary",
    )
