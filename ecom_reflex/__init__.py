"""The shop: a Reflex storefront and admin over SQLModel."""

__version__ = "0.1.0"
