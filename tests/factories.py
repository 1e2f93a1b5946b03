"""Small builders for test data, written through the real services and tables."""

from datetime import timedelta

from sqlmodel import Session

from ecom_reflex.models import Category, Order, Product, User
from ecom_reflex.services.passwords import hash_password
from ecom_reflex.services.payment_client import CardSummary, Charge, ChargeOutcome

# bcrypt at cost 12 takes a quarter second; tests that only need *a* user share one hash.
_FAST_HASH = hash_password("password123")
# What the payment service says of an approved 4242 card: all the shop keeps of it.
VISA_4242 = CardSummary("visa", "4242", 12, 2034)
HOLD = timedelta(minutes=15)


def make_user(session: Session, username: str = "shopper", *, verified: bool = True, **fields) -> User:
    """A user whose address <username>@example.com is confirmed (order e-mails go to it), unless not `verified`."""
    email = f"{username.lower()}@example.com"
    user = User(username=username, email=email, verified_email=email if verified else None, password_hash=_FAST_HASH,
                **fields)  # fmt: skip
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


def settle(order_id: int, user_id: int, charge: Charge) -> Order:
    """A payment attempt of the order's owner and the outcome `charge` recorded, as the checkout does
    (order_payments.start_attempt, then record_charge) but without calling the payment service."""
    from ecom_reflex.db import transaction
    from ecom_reflex.services import order_payments

    attempt = transaction(lambda s: order_payments.start_attempt(s, order_id, user_id, HOLD), write=True)
    return transaction(
        lambda s: order_payments.record_charge(s, order_id, attempt.number, charge, actor_id=user_id).order,
        write=True,
    )


def pay(order_id: int, user_id: int, card: CardSummary = VISA_4242) -> Order:
    """The order paid by card, as an approved charge records it (payment reference pi_test_<id>)."""
    return settle(order_id, user_id, Charge(ChargeOutcome.APPROVED, reference=f"pi_test_{order_id}", card=card))


def decline(order_id: int, user_id: int, message: str = "Your card was declined: insufficient funds.") -> Order:
    """The order's card declined, as the service's decline is recorded (payment_failed, stock back)."""
    return settle(order_id, user_id, Charge(ChargeOutcome.DECLINED, message=message, decline_code="insufficient_funds"))


class Captured:
    """A mail transport that keeps what it was given to send, as the SMTP server would receive it."""

    outcome = "sent"

    def __init__(self) -> None:
        self.sent: list = []

    async def send(self, email) -> None:
        self.sent.append(email)


def send_due(transport=None) -> list:
    """What the sender sends now (every due e-mail, until none is left), as `transport` (by default a
    Captured one) received it."""
    import asyncio

    from ecom_reflex import mailer
    from ecom_reflex.settings import get_settings

    transport = transport or Captured()
    settings = get_settings()
    while asyncio.run(mailer.deliver_due(transport, settings)):
        pass
    return getattr(transport, "sent", [])
