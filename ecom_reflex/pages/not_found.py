"""The page for any URL the shop does not have."""

import reflex as rx

from ecom_reflex.components.layout import centered_message, page_shell


def not_found_page() -> rx.Component:
    return page_shell(
        centered_message(
            "map-pin-off",
            "Page not found",
            "The page you are looking for does not exist.",
            ("Back to the shop", "/"),
            "not-found",
            heading="h1",
        )
    )
