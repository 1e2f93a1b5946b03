"""Business rules over a SQLModel Session: catalog, cart, orders, auth, users, products, analytics.

Nothing here imports Reflex, state, pages or components; services import models, db,
money, settings and each other. Imported by state (to act), pages and components (for
their row types and constants only), lifespan.py and cli.py.
"""
