"""e-mail verification: an account's address is confirmed by a link before the shop mails it

`users.email` is the address an account gives, no longer unique: registering with an address
another account has confirmed answers like any registration (issue 26: nothing enumerates
accounts), and the new account keeps the address as a claim it can never confirm.
`users.verified_email` is the address a link proved, unique (NULLs are distinct on SQLite and
PostgreSQL alike: one account per confirmed address); order e-mails go there only.
`users.email_link_sent_at` paces the links (one a minute per account). `email_verifications`
holds the links by the hash of their token only, which the sender sets as it writes the e-mail out
(the token itself is never stored, as with password resets). `ix_email_outbox_recipient_sent` serves the
senders' per-recipient cap.

Existing accounts: admins (the account `cli setup` ensures from ADMIN_EMAIL, and anyone an admin
made one) are confirmed with the address they have; shoppers are not, since nothing ever proved
their address: their order e-mails stop until they confirm it from their account page (/account),
which says so, as does the checkout. No link is mailed to them unasked.

SQLite drops a UNIQUE constraint only by copying the table: alembic/env.py runs migrations on
SQLite with foreign keys off, so the copy neither cascades to nor is refused by the tables that
refer to users; the expression index on lower(username), which the copy cannot reflect, is made
again by hand.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# How the copy names the unnamed UNIQUE(email) of migration 0001 on SQLite, so it can be dropped.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _email_unique_constraint() -> str | None:
    """PostgreSQL's name for migration 0001's UNIQUE(email) (users_email_key)."""
    for constraint in sa.inspect(op.get_bind()).get_unique_constraints("users"):
        if constraint["column_names"] == ["email"]:
            return constraint["name"]
    return None


def _drop_email_uniqueness() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("uq_users_username_lower", table_name="users")
        with op.batch_alter_table("users", recreate="always", naming_convention=NAMING) as batch:
            batch.drop_constraint("uq_users_email", type_="unique")
        op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    elif name := _email_unique_constraint():
        op.drop_constraint(name, "users", type_="unique")


def upgrade() -> None:
    _drop_email_uniqueness()
    op.create_index("ix_users_email", "users", ["email"])
    op.add_column("users", sa.Column("verified_email", sa.String(length=254), nullable=True))
    op.add_column("users", sa.Column("email_link_sent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("uq_users_verified_email", "users", ["verified_email"], unique=True)
    users = sa.table(
        "users", sa.column("email", sa.String()), sa.column("verified_email", sa.String()), sa.column("is_admin")
    )
    # Addresses were unique until now, so no two admins share one.
    op.execute(users.update().where(users.c.is_admin == sa.true()).values(verified_email=users.c.email))

    op.create_table(
        "email_verifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_email_verifications_user_id", "email_verifications", ["user_id"])
    op.create_index("ix_email_outbox_recipient_sent", "email_outbox", ["recipient", "sent_at"])


def downgrade() -> None:
    """Back to one account per address: fails (the unique constraint) while two accounts give one address."""
    op.drop_index("ix_email_outbox_recipient_sent", table_name="email_outbox")
    op.drop_index("ix_email_verifications_user_id", table_name="email_verifications")
    op.drop_table("email_verifications")
    op.drop_index("uq_users_verified_email", table_name="users")
    op.drop_index("ix_users_email", table_name="users")
    if op.get_bind().dialect.name == "sqlite":
        op.drop_index("uq_users_username_lower", table_name="users")
        with op.batch_alter_table("users", recreate="always") as batch:
            batch.drop_column("email_link_sent_at")
            batch.drop_column("verified_email")
            batch.create_unique_constraint("uq_users_email", ["email"])
        op.create_index("uq_users_username_lower", "users", [sa.text("lower(username)")], unique=True)
    else:
        op.drop_column("users", "email_link_sent_at")
        op.drop_column("users", "verified_email")
        op.create_unique_constraint("users_email_key", "users", ["email"])
