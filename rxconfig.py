import os

import reflex as rx

from ecom_reflex.frontend_build import FewerFrontendChunks
from ecom_reflex.observability.browser_bundle import browser_tracing_plugin
from ecom_reflex.settings import load_or_exit

settings = load_or_exit()
# Reflex serves uploads from this folder at /_upload/<name>.
os.environ["REFLEX_UPLOADED_FILES_DIR"] = str(settings.upload_dir)

config = rx.Config(
    app_name="ecom_reflex",
    # Reflex reads REFLEX_DB_URL only; the shop's DB_URL is handed over here.
    db_url=settings.db_url,
    redis_url=settings.redis_url,
    # One worker keeps tabs' states in memory: no state files. Several share them in Redis.
    state_manager_mode="redis" if settings.redis_url else "memory",
    # The longest a tab's state is kept after its last event (a signed-in tab's; ecom_reflex/state/store.py).
    redis_token_expiration=settings.state_idle_seconds,
    # How long one event may hold its tab's state in Redis (Reflex's default is 10 s). A login or
    # registration waits for a hashing thread while it holds it: 30 shoppers logging in at once on
    # 2 busy cores queued past 10 s and lost their event ("Something went wrong"; bench/journeys.py).
    redis_lock_expiration=30_000,
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[
        rx.plugins.RadixThemesPlugin(theme=rx.theme(accent_color="indigo", radius="medium")),
        FewerFrontendChunks(),
        # Browser spans and what the shopper felt, sent to the shop's own relay (observability/browser_bundle.py).
        browser_tracing_plugin(settings.service_name),
    ],
    disable_plugins=[rx.plugins.SitemapPlugin],
)
