"""The shop's tables, as SQLModel classes (rx.Model is deprecated since Reflex 0.9.2).

Money is integer cents. Timestamps are UTC. Indexes cover what lists filter,
sort and join by; uniqueness that must ignore case uses an index on lower().
"""

from __future__ import annotations

import enum
import warnings
from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint, func
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp(*, index: bool = False) -> object:
    return Field(
        default_factory=utcnow,
        sa_type=DateTime(timezone=True),
        nullable=False,
        index=index,
    )


def _foreign_key(target: str, *, ondelete: str, nullable: bool = False, index: bool = True) -> object:
    return Field(
        default=None if nullable else ...,
        sa_column_args=[ForeignKey(target, ondelete=ondelete)],
        sa_type=Integer,
        nullable=nullable,
        index=index,
    )


class OrderStatus(enum.StrEnum):
    """Where an order is; README "Money flow" draws the moves (services/orders.py and order_payments.py make them)."""

    # Its stock is held until payment_due_at while a payment can still come.
    AWAITING_PAYMENT = "awaiting_payment"
    # The last card was declined; the stock is back, another card may pay until payment_due_at.
    PAYMENT_FAILED = "payment_failed"
    # Nobody paid before payment_due_at (or a newer checkout replaced it): the stock is back.
    EXPIRED = "expired"
    PAID = "paid"
    SHIPPED = "shipped"
    DELIVERED = "delivered"
    # Cancelled after payment: the refund has not gone through yet (retried); the stock is still out.
    REFUND_PENDING = "refund_pending"
    CANCELLED = "cancelled"


class PaymentStatus(enum.StrEnum):
    """What the shop knows of an order's money at the payment service."""

    NONE = "none"  # no payment tried yet
    PROCESSING = "processing"  # a call is running (since payment_started_at)
    UNKNOWN = "unknown"  # the call ended without an answer: the reconciler asks the service
    DECLINED = "declined"  # the last attempt took no money (declined, or never reached the service)
    CAPTURED = "captured"
    REFUNDED = "refunded"


class User(SQLModel, table=True):
    __tablename__ = "users"
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=32, nullable=False)
    # The address the account gives (typed at registration or when changed), lower-cased. Not
    # unique: registering with an address another account has confirmed answers like any other
    # registration (nothing enumerates accounts), and the new account keeps it as a claim that
    # can never be confirmed (services/email_verification.py).
    email: str = Field(max_length=254, nullable=False, index=True)
    # The address a link proved, or None: the only one order e-mails go to. It stays while a
    # changed `email` waits for its own link. Unique (uq_users_verified_email; NULLs are distinct on
    # SQLite and PostgreSQL alike): one account per confirmed address.
    verified_email: str | None = Field(default=None, max_length=254, nullable=True)
    # When the last confirmation link was made for the account: one a minute (a conditional UPDATE).
    email_link_sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
    password_hash: str = Field(max_length=100, nullable=False)
    is_admin: bool = Field(default=False, nullable=False, index=True)
    is_active: bool = Field(default=True, nullable=False, index=True)
    created_at: datetime = _timestamp(index=True)

    @property
    def email_verified(self) -> bool:
        return self.verified_email is not None and self.verified_email == self.email


# Usernames keep the case the user typed but are unique ignoring it. The initial
# migration creates this index by hand: Alembic cannot compare expression indexes
# and says so on every schema check (Reflex runs one at start-up), hence the filter.
Index("uq_users_username_lower", func.lower(User.__table__.c.username), unique=True)
warnings.filterwarnings("ignore", message=r".*expression-based index.*uq_users_username_lower")
Index("uq_users_verified_email", User.__table__.c.verified_email, unique=True)


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_sessions"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _foreign_key("users.id", ondelete="CASCADE")
    # SHA-256 hex of the token; the token itself is never stored.
    token_hash: str = Field(max_length=64, nullable=False, unique=True)
    created_at: datetime = _timestamp()
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False, index=True)


class Category(SQLModel, table=True):
    __tablename__ = "categories"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80, nullable=False, unique=True)
    slug: str = Field(max_length=80, nullable=False, unique=True)
    description: str = Field(default="", max_length=500, nullable=False)


class Product(SQLModel, table=True):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents >= 0", name="ck_products_price_nonnegative"),
        CheckConstraint("stock >= 0", name="ck_products_stock_nonnegative"),
        Index("ix_products_category_active", "category_id", "is_active"),
        # The listing orders (newest, by price) within active products, so pages are read in
        # index order instead of sorting the catalogue (bench/catalogue.py measures it).
        Index("ix_products_active_newest", "is_active", "created_at", "id"),
        Index("ix_products_active_price", "is_active", "price_cents", "id"),
        Index("ix_products_category_active_newest", "category_id", "is_active", "created_at", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200, nullable=False, index=True)
    description: str = Field(default="", nullable=False)
    price_cents: int = Field(nullable=False, index=True)
    stock: int = Field(default=0, nullable=False)
    # Path under assets/ (e.g. "/products/x.svg") or an uploaded file's public path.
    image: str = Field(default="", max_length=300, nullable=False)
    # Indexed by ix_products_category_active (category_id first).
    category_id: int = _foreign_key("categories.id", ondelete="RESTRICT", index=False)
    is_active: bool = Field(default=True, nullable=False, index=True)
    created_at: datetime = _timestamp(index=True)
    # Counts the saves of the admin form (name, description, price, category, image): a save made
    # from an older version is refused instead of overwriting one made since. Stock is not in it:
    # sales change it all day, and an admin's edit of it applies as a difference.
    version: int = Field(default=1, nullable=False, sa_column_kwargs={"server_default": "1"})


class CartItem(SQLModel, table=True):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("user_id", "product_id", name="uq_cart_items_user_product"),
        CheckConstraint("quantity > 0", name="ck_cart_items_quantity_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _foreign_key("users.id", ondelete="CASCADE")
    product_id: int = _foreign_key("products.id", ondelete="CASCADE")
    quantity: int = Field(nullable=False)
    added_at: datetime = _timestamp()


class Order(SQLModel, table=True):
    __tablename__ = "orders"
    __table_args__ = (CheckConstraint("total_cents >= 0", name="ck_orders_total_nonnegative"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _foreign_key("users.id", ondelete="RESTRICT")
    status: str = Field(default=OrderStatus.AWAITING_PAYMENT.value, sa_type=String(16), nullable=False, index=True)
    total_cents: int = Field(nullable=False)
    shipping_name: str = Field(max_length=120, nullable=False)
    shipping_line1: str = Field(max_length=200, nullable=False)
    shipping_line2: str = Field(default="", max_length=200, nullable=False)
    shipping_city: str = Field(max_length=100, nullable=False)
    shipping_postal_code: str = Field(max_length=20, nullable=False)
    shipping_country: str = Field(max_length=60, nullable=False)
    shipping_region: str = Field(default="", max_length=100, nullable=False)
    shipping_email: str = Field(default="", max_length=254, nullable=False)
    shipping_phone: str = Field(default="", max_length=32, nullable=False)
    # One order per checkout attempt, however often it is submitted.
    idempotency_key: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = _timestamp(index=True)
    updated_at: datetime = _timestamp()
    # The money (services/order_payments.py). No card number or CVC is ever kept: the brand, the
    # last 4 digits and the expiry are what a receipt shows.
    payment_status: str = Field(
        default=PaymentStatus.NONE.value, sa_type=String(16), nullable=False, index=True,
        sa_column_kwargs={"server_default": PaymentStatus.NONE.value},
    )  # fmt: skip
    # Until when the held stock waits for a payment (PAYMENT_HOLD_MINUTES after the checkout).
    payment_due_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True, index=True)
    # Payment attempts so far: attempt N uses the idempotency key <order key>-N at the service.
    payment_attempts: int = Field(default=0, nullable=False, sa_column_kwargs={"server_default": "0"})
    payment_started_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
    # The payment service's id of the captured payment (pi_...).
    payment_reference: str = Field(default="", max_length=64, nullable=False, sa_column_kwargs={"server_default": ""})
    # Why the last attempt took no money, as the shopper is told.
    payment_error: str = Field(default="", max_length=200, nullable=False, sa_column_kwargs={"server_default": ""})
    card_brand: str = Field(default="", max_length=16, nullable=False, sa_column_kwargs={"server_default": ""})
    card_last4: str = Field(default="", max_length=4, nullable=False, sa_column_kwargs={"server_default": ""})
    card_exp_month: int | None = Field(default=None, nullable=True)
    card_exp_year: int | None = Field(default=None, nullable=True)


class OrderItem(SQLModel, table=True):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="ck_order_items_quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="ck_order_items_price_nonnegative"),
    )

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = _foreign_key("orders.id", ondelete="CASCADE")
    product_id: int = _foreign_key("products.id", ondelete="RESTRICT")
    product_name: str = Field(max_length=200, nullable=False)
    unit_price_cents: int = Field(nullable=False)
    quantity: int = Field(nullable=False)


class OrderStatusChange(SQLModel, table=True):
    __tablename__ = "order_status_changes"

    id: int | None = Field(default=None, primary_key=True)
    order_id: int = _foreign_key("orders.id", ondelete="CASCADE")
    from_status: str | None = Field(default=None, sa_type=String(16), nullable=True)
    to_status: str = Field(sa_type=String(16), nullable=False)
    changed_at: datetime = _timestamp()
    changed_by_id: int | None = _foreign_key("users.id", ondelete="SET NULL", nullable=True)


class EmailStatus(enum.StrEnum):
    QUEUED = "queued"  # waiting for its next attempt (next_attempt_at)
    SENDING = "sending"  # claimed by a sender until claimed_until
    SENT = "sent"
    FAILED = "failed"  # every attempt failed: given up
    # Over its recipient's EMAIL_PER_RECIPIENT_PER_HOUR when its turn came: never sent, never tried again.
    CAPPED = "capped"


class OutboxEmail(SQLModel, table=True):
    """An e-mail to send, written in the transaction of the change that causes it (the outbox)."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        # The senders' one query: what is due, oldest first.
        Index("ix_email_outbox_due", "status", "next_attempt_at", "id"),
        # What a recipient was sent within the last hour (the per-recipient cap, services/outbox.py).
        Index("ix_email_outbox_recipient_sent", "recipient", "sent_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # services/mail.py's KINDS: order_placed (once paid), order_shipped, order_refunded, password_reset,
    # password_changed, verify_email, email_in_use
    kind: str = Field(sa_type=String(32), nullable=False)
    recipient: str = Field(max_length=254, nullable=False)
    subject: str = Field(max_length=200, nullable=False)
    text_body: str = Field(sa_type=Text, nullable=False)
    html_body: str = Field(sa_type=Text, nullable=False)
    status: str = Field(default=EmailStatus.QUEUED.value, sa_type=String(16), nullable=False)
    attempts: int = Field(default=0, nullable=False)
    next_attempt_at: datetime = _timestamp()
    # A claim: the sender that holds the row, and until when (after that another sender may take it).
    claim_token: str | None = Field(default=None, max_length=32)
    claimed_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
    last_error: str = Field(default="", max_length=500, nullable=False)
    # The W3C traceparent of the request that queued it: the send's span links to that trace.
    traceparent: str = Field(default="", max_length=64, nullable=False)
    order_id: int | None = _foreign_key("orders.id", ondelete="SET NULL", nullable=True, index=False)
    user_id: int | None = _foreign_key("users.id", ondelete="SET NULL", nullable=True, index=False)
    created_at: datetime = _timestamp()
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)


class PasswordReset(SQLModel, table=True):
    """A password-reset link: only the SHA-256 of its random token is kept."""

    __tablename__ = "password_resets"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _foreign_key("users.id", ondelete="CASCADE")
    token_hash: str = Field(max_length=64, nullable=False, unique=True)
    created_at: datetime = _timestamp()
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)


class EmailVerification(SQLModel, table=True):
    """A link that confirms an account's address, asked for at `created_at`: only the SHA-256 of its
    random token is kept."""

    __tablename__ = "email_verifications"

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = _foreign_key("users.id", ondelete="CASCADE")
    # The address the link was asked for: it confirms that one only, and only while the account still gives it.
    email: str = Field(max_length=254, nullable=False)
    # Set by the sender as it writes the e-mail out (a new token each try): None until then, and for
    # an address another account has confirmed, whose link is never sent.
    token_hash: str | None = Field(default=None, max_length=64, nullable=True, unique=True)
    created_at: datetime = _timestamp()
    expires_at: datetime = Field(sa_type=DateTime(timezone=True), nullable=False)
    used_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True), nullable=True)
