"""Small builders for test data, written through the real services and tables."""

from sqlmodel import Session

from ecom_reflex.models import Category, Product, User
from ecom_reflex.services.passwords import hash_password

# bcrypt at cost 12 takes a quarter second; tests that only need *a* user share one hash.
_FAST_HASH = hash_password("password123")


def make_user(session: Session, username: str = "shopper", **fields) -> User:
    user = User(username=username, email=f"{username.lower()}@example.com", password_hash=_FAST_HASH, **fields)
    session.add(user)
    session.commit()
    return user


def make_product(session: Session, name: str = "Widget", price_cents: int = 1000, stock: int = 10, **fields) -> Product:
    category = session.get(Category, 1)
    if category is None:
        category = Category(id=1, name="Things", slug="things")
        session.add(category)
        session.flush()
    product = Product(name=name, price_cents=price_cents, stock=stock, category_id=category.id, **fields)
    session.add(product)
    session.commit()
    return product


def shown_cart(user_id: int) -> str:
    """The fingerprint of the user's cart as a checkout page would show it now."""
    from ecom_reflex.db import session_scope
    from ecom_reflex.services import cart

    with session_scope() as session:
        return cart.view(session, cart.UserCart(user_id)).fingerprint
