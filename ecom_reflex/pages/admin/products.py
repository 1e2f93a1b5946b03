"""Admin: the product table and the product form (with image upload)."""

import reflex as rx

from ecom_reflex.components.admin import admin_list, admin_shell, admin_toolbar, confirmed_button, filter_select
from ecom_reflex.components.layout import MUTED, field_error, form_error, form_field, not_found
from ecom_reflex.components.listing import search_box
from ecom_reflex.components.product_card import image_src
from ecom_reflex.services.images import MAX_IMAGE_BYTES
from ecom_reflex.services.products import AdminProductRow
from ecom_reflex.state.admin.products import AdminProductFormState, AdminProductsState

UPLOAD_ID = "product_image"


def _row(product: rx.Var[AdminProductRow]) -> rx.Component:
    return rx.table.row(
        # Decorative: the product's name is in the next cell.
        rx.table.cell(rx.image(src=image_src(product.image), alt="", width="40px")),
        rx.table.cell(rx.link(product.name, href="/admin/products/" + product.id.to_string(), weight="medium")),
        rx.table.cell(product.category_name),
        rx.table.cell(product.price),
        rx.table.cell(product.stock),
        rx.table.cell(
            rx.cond(
                product.is_active,
                rx.badge("active", high_contrast=True, color_scheme="green"),
                rx.badge("hidden", high_contrast=True, color_scheme="gray"),
            )
        ),
        rx.table.cell(
            rx.hstack(
                rx.button(
                    rx.cond(product.is_active, "Deactivate", "Reactivate"),
                    size="1",
                    variant="soft",
                    on_click=AdminProductsState.set_product_active(product.id, ~product.is_active),
                ),
                confirmed_button(
                    "Delete",
                    "Delete " + product.name + "?",
                    "It is removed from the shop for good: this cannot be undone. Products that were ordered or"
                    " are in someone's cart can only be deactivated.",
                    "Delete",
                    AdminProductsState.delete_product(product.id),
                    size="1",
                    variant="soft",
                ),
                spacing="2",
            )
        ),
        data_testid="admin-product-row",
    )


def products_page() -> rx.Component:
    state = AdminProductsState
    return admin_shell(
        "Products",
        "Products",
        admin_toolbar(
            search_box(state.search_products, state.product_query, "Search name or description…"),
            filter_select(
                "Category",
                "All categories",
                [rx.foreach(state.category_options, lambda c: rx.select.item(c.name, value=c.id.to_string()))],
                state.product_category,
                state.filter_category,
            ),
            rx.link(rx.button(rx.icon("plus", size=16), "New product"), href="/admin/products/new"),
        ),
        admin_list(
            state,
            "products",
            ("Image", "Name", "Category", "Price", "Stock", "Status", "Actions"),
            state.product_rows,
            _row,
        ),
    )


def _image_field() -> rx.Component:
    state = AdminProductFormState
    return rx.vstack(
        rx.text("Image", size="2", weight="medium"),
        rx.hstack(
            rx.image(
                src=image_src(state.image),
                alt="The product's current image",
                width="120px",
                height="120px",
                border_radius="8px",
                data_testid="image-preview",
            ),
            rx.vstack(
                # A label around the drop zone names its file input (which Reflex renders without an id);
                # a click on it opens the file dialog natively, so the zone's own click is off.
                rx.el.label(
                    rx.upload(
                        rx.vstack(
                            rx.icon("image-up", size=20, aria_hidden="true"),
                            rx.text("Drop a PNG, JPEG or WebP here, or click to choose one", size="2"),
                            rx.text(f"at most {MAX_IMAGE_BYTES // (1024 * 1024)} MB", size="1"),
                            rx.foreach(
                                rx.selected_files(UPLOAD_ID), lambda name: rx.text(name, size="1", weight="bold")
                            ),
                            align="center",
                            spacing="1",
                        ),
                        id=UPLOAD_ID,
                        accept={"image/png": [".png"], "image/jpeg": [".jpg", ".jpeg"], "image/webp": [".webp"]},
                        max_files=1,
                        border=f"1px dashed {rx.color('gray', 7)}",
                        padding="1em",
                        border_radius="8px",
                        cursor="pointer",
                        no_click=True,
                        # One step: the image goes up as soon as it is dropped or chosen.
                        on_drop=state.upload_image(
                            rx.upload_files(upload_id=UPLOAD_ID, on_upload_progress=state.upload_progress)
                        ),
                    ),
                    display="block",
                ),
                rx.cond(
                    state.upload_percent >= 0,
                    rx.vstack(
                        rx.progress(value=state.upload_percent, max=100, width="100%", aria_label="Upload progress"),
                        rx.text("Uploading… ", state.upload_percent, "%", size="1", data_testid="upload-progress"),
                        spacing="1",
                        width="100%",
                    ),
                ),
                rx.hstack(
                    rx.cond(
                        state.image != "",
                        rx.button("Remove image", type="button", variant="ghost", on_click=state.remove_image),
                    ),
                    spacing="2",
                ),
                field_error(state.errors, "image"),
                spacing="2",
            ),
            spacing="4",
            align="start",
            wrap="wrap",
        ),
        spacing="2",
        width="100%",
    )


def _product_form() -> rx.Component:
    state = AdminProductFormState
    errors = state.errors
    return rx.form(
        rx.vstack(
            form_error(
                state.form_error,
                rx.button(
                    "Reload the product",
                    type="button",
                    variant="soft",
                    color_scheme="red",
                    on_click=rx.call_script("window.location.reload()"),
                ),
                testid="product-form-error",
            ),
            form_field("Name", "name", errors, default_value=state.values["name"], max_length=200),
            rx.vstack(
                rx.el.label(rx.text("Description", size="2", weight="medium"), html_for="description"),
                rx.text_area(
                    id="description",
                    name="description",
                    default_value=state.values["description"],
                    rows="4",
                    width="100%",
                ),
                field_error(errors, "description"),
                spacing="1",
                width="100%",
            ),
            rx.grid(
                form_field(
                    "Price ($)",
                    "price",
                    errors,
                    default_value=state.values["price"],
                    input_mode="decimal",
                    placeholder="12.50",
                ),
                form_field("Stock", "stock", errors, default_value=state.values["stock"], input_mode="numeric"),
                columns=rx.breakpoints(initial="1", sm="2"),
                spacing="3",
                width="100%",
            ),
            rx.vstack(
                rx.el.label(rx.text("Category", size="2", weight="medium"), html_for="category_id"),
                rx.el.select(
                    rx.el.option("Choose a category", value=""),
                    rx.foreach(state.form_categories, lambda c: rx.el.option(c.name, value=c.id.to_string())),
                    id="category_id",
                    name="category_id",
                    default_value=state.values["category_id"],
                    style={"padding": "0.5em", "border_radius": "6px", "width": "100%"},
                ),
                field_error(errors, "category_id"),
                spacing="1",
                width="100%",
            ),
            _image_field(),
            rx.hstack(
                rx.link(
                    rx.button("Cancel", type="button", variant="soft", color_scheme="gray"), href="/admin/products"
                ),
                rx.button("Save product", type="submit", size="3", data_testid="save-product"),
                spacing="3",
                justify="end",
                width="100%",
            ),
            spacing="4",
            width="100%",
            max_width="720px",
        ),
        on_submit=state.save_product,
        no_validate=True,
        # Re-created when another product is loaded, so the inputs show its values.
        key=state.editing_id.to_string() + "-" + state.values["name"],
    )


def product_form_page() -> rx.Component:
    state = AdminProductFormState
    return admin_shell(
        "Products",
        # Named after the product being edited, once it has loaded.
        rx.cond(
            state.editing_id == 0,
            "New product",
            rx.cond(state.values["name"] != "", "Edit: " + state.values["name"], "Product"),
        ),
        rx.cond(
            state.form_missing,
            not_found(
                "Product not found", "It may have been deleted.", ("All products", "/admin/products"), heading="h2"
            ),
            rx.vstack(
                rx.cond(
                    state.editing_id != 0,
                    rx.hstack(
                        rx.text("Product #" + state.editing_id.to_string(), color=MUTED),
                        rx.link(
                            "View in store",
                            rx.icon("external-link", size=14, aria_hidden="true"),
                            href="/product/" + state.editing_id.to_string(),
                            data_testid="view-in-store",
                        ),
                        spacing="3",
                        align="center",
                    ),
                ),
                _product_form(),
                width="100%",
            ),
        ),
    )
