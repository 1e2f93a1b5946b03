"""product search index

Substring search over product names and descriptions without scanning the table:
SQLite gets an FTS5 trigram table kept in step by triggers, PostgreSQL gets pg_trgm
GIN indexes on both columns, which serve the `ILIKE '%text%'` every list search compiles to.
Queried by ecom_reflex.services.catalog.product_text_match.

Careful: on SQLite a later batch-mode ALTER of `products` copies the table, and the
triggers below go with the old copy; such a migration must create them again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 18:30:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_UPGRADE = (
    # External content: the text lives once, in products; the FTS table holds only the index.
    "CREATE VIRTUAL TABLE products_fts USING fts5("
    "name, description, content='products', content_rowid='id', tokenize='trigram')",
    "INSERT INTO products_fts(products_fts) VALUES ('rebuild')",
    "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN "
    "INSERT INTO products_fts(rowid, name, description) VALUES (new.id, new.name, new.description); END",
    "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN "
    "INSERT INTO products_fts(products_fts, rowid, name, description) "
    "VALUES ('delete', old.id, old.name, old.description); END",
    # Only text edits: stock changes at checkout must not touch the search index.
    "CREATE TRIGGER products_fts_update AFTER UPDATE OF name, description ON products BEGIN "
    "INSERT INTO products_fts(products_fts, rowid, name, description) "
    "VALUES ('delete', old.id, old.name, old.description); "
    "INSERT INTO products_fts(rowid, name, description) VALUES (new.id, new.name, new.description); END",
)
SQLITE_DOWNGRADE = (
    "DROP TRIGGER products_fts_update",
    "DROP TRIGGER products_fts_delete",
    "DROP TRIGGER products_fts_insert",
    "DROP TABLE products_fts",
)
POSTGRESQL_UPGRADE = (
    # pg_trgm is a trusted extension: the database owner may create it.
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX ix_products_name_trgm ON products USING gin (name gin_trgm_ops)",
    "CREATE INDEX ix_products_description_trgm ON products USING gin (description gin_trgm_ops)",
)
POSTGRESQL_DOWNGRADE = (
    "DROP INDEX ix_products_description_trgm",
    "DROP INDEX ix_products_name_trgm",
)


def _run(statements: dict[str, tuple[str, ...]]) -> None:
    for statement in statements.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def upgrade() -> None:
    _run({"sqlite": SQLITE_UPGRADE, "postgresql": POSTGRESQL_UPGRADE})


def downgrade() -> None:
    _run({"sqlite": SQLITE_DOWNGRADE, "postgresql": POSTGRESQL_DOWNGRADE})
