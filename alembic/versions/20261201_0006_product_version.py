"""product version

Products.version counts the saves of the admin form, so that a save made from an older
version of the product is refused instead of overwriting one made since (services/products.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch rebuild: on SQLite the full-text search triggers of
    # migration 0004 stay on the table.
    op.add_column("products", sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade() -> None:
    # Native on PostgreSQL and on SQLite 3.35+, without rebuilding the table.
    op.execute("ALTER TABLE products DROP COLUMN version")
