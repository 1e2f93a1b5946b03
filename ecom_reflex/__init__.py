"""The shop: a Reflex storefront and admin over SQLModel.

The app module (ecom_reflex.py) wires pages, states, HTTP routes and the lifespan. The
layers, each importing only those below it: pages -> components -> state -> services ->
models/db, with settings, money, offload and observability beside them for everyone.
The package is imported by the Reflex runtime (rxconfig.py), alembic, tests, e2e and bench.
"""

__version__ = "0.1.0"
# In page titles, the header and every e-mail.
SHOP_NAME = "Reflex Shop"
