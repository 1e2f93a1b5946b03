"""order payments: the money of an order, held stock with a deadline

New order columns for the payment flow (services/order_payments.py): what the shop knows of
the payment, until when the stock is held, the attempts, the service's reference, the card's
brand, last 4 digits and expiry (never its number or CVC).

Orders that were "pending" under the old rules (stock taken, nothing paid) become "awaiting
payment" with the deadline their hold would have had; the first reconciler run expires
those whose deadline is gone and gives their stock back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 21:00:00
"""

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# PAYMENT_HOLD_MINUTES' default: the deadline a legacy pending order is given.
LEGACY_HOLD = timedelta(minutes=15)


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("payment_status", sa.String(length=16), nullable=False, server_default="none"))
        batch.add_column(sa.Column("payment_due_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("payment_attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("payment_started_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("payment_reference", sa.String(length=64), nullable=False, server_default=""))
        batch.add_column(sa.Column("payment_error", sa.String(length=200), nullable=False, server_default=""))
        batch.add_column(sa.Column("card_brand", sa.String(length=16), nullable=False, server_default=""))
        batch.add_column(sa.Column("card_last4", sa.String(length=4), nullable=False, server_default=""))
        batch.add_column(sa.Column("card_exp_month", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("card_exp_year", sa.Integer(), nullable=True))
    op.create_index("ix_orders_payment_status", "orders", ["payment_status"])
    op.create_index("ix_orders_payment_due_at", "orders", ["payment_due_at"])
    orders = sa.table(
        "orders",
        sa.column("id", sa.Integer()),
        sa.column("status", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("payment_due_at", sa.DateTime(timezone=True)),
    )
    connection = op.get_bind()
    pending = connection.execute(sa.select(orders.c.id, orders.c.created_at).where(orders.c.status == "pending")).all()
    for order_id, created_at in pending:
        connection.execute(
            orders.update()
            .where(orders.c.id == order_id)
            .values(status="awaiting_payment", payment_due_at=created_at + LEGACY_HOLD)
        )
    # Orders that were marked paid by hand keep "paid"; the money of those was never seen by the service.


def downgrade() -> None:
    # Only an order that still holds its stock was "pending"; the others' stock is back (or refunding).
    op.execute("UPDATE orders SET status = 'pending' WHERE status = 'awaiting_payment'")
    op.execute("UPDATE orders SET status = 'cancelled' WHERE status IN ('payment_failed', 'expired', 'refund_pending')")
    op.drop_index("ix_orders_payment_due_at", table_name="orders")
    op.drop_index("ix_orders_payment_status", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        for column in (
            "card_exp_year", "card_exp_month", "card_last4", "card_brand", "payment_error", "payment_reference",
            "payment_started_at", "payment_attempts", "payment_due_at", "payment_status",
        ):  # fmt: skip
            batch.drop_column(column)
