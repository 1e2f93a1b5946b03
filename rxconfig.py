import os

import reflex as rx

from ecom_reflex.settings import load_or_exit

settings = load_or_exit()
# Reflex serves uploads from this folder at /_upload/<name>.
os.environ["REFLEX_UPLOADED_FILES_DIR"] = str(settings.upload_dir)

config = rx.Config(
    app_name="ecom_reflex",
    # Reflex reads REFLEX_DB_URL only; the shop's DB_URL is handed over here.
    db_url=settings.db_url,
    redis_url=settings.redis_url,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium"))],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
