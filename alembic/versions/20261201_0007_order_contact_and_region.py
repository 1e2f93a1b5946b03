"""order contact and region

Orders keep the e-mail and (optional) phone the shopper gave at checkout, and the region
(state, province) of the shipping address. Orders placed before have them empty.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 22:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("shipping_region", 100), ("shipping_email", 254), ("shipping_phone", 32))


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch rebuild of orders on SQLite).
    for name, length in COLUMNS:
        op.add_column("orders", sa.Column(name, sa.String(length=length), server_default="", nullable=False))


def downgrade() -> None:
    for name, _ in reversed(COLUMNS):
        op.execute(f"ALTER TABLE orders DROP COLUMN {name}")
