"""Alembic environment: the shop's own engine and SQLModel metadata."""

import contextlib
from collections.abc import Iterator
from logging.config import fileConfig

from alembic import context
from sqlmodel import SQLModel

import ecom_reflex.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from ecom_reflex.db import get_engine

config = context.config
# Programmatic callers (ecom_reflex.cli) configure logging themselves.
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata
# Search structures made by hand in migration 0004, which SQLModel does not describe: the
# SQLite FTS5 table (and its shadow tables) and PostgreSQL's trigram (GIN) indexes.
SEARCH_INDEX_TABLES = "products_fts"
SEARCH_INDEXES = {"ix_products_name_trgm", "ix_products_description_trgm"}


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    if type_ == "table":
        return not (name or "").startswith(SEARCH_INDEX_TABLES)
    return not (type_ == "index" and name in SEARCH_INDEXES)


def run_migrations_offline() -> None:
    context.configure(
        url=str(get_engine().url),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


@contextlib.contextmanager
def foreign_keys_off(connection) -> Iterator[None]:
    """SQLite: foreign keys off while migrating, as SQLite's own recipe for altering a table says.
    A table is altered by copying it and dropping the original, and with foreign keys on that drop
    deletes every row first: it would cascade to the tables that refer to it, or be refused by
    them. The pragma only takes effect outside a transaction, so it is set on the driver's
    connection before the migration's transaction begins, and set back on before the connection
    goes back to the pool; the migration is checked to leave no dangling reference."""
    if connection.dialect.name != "sqlite":
        yield
        return
    driver = connection.connection.driver_connection
    driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
        dangling = driver.execute("PRAGMA foreign_key_check").fetchall()
        if dangling:
            raise RuntimeError(f"the migration left references to missing rows: {dangling[:5]}")
    finally:
        driver.execute("PRAGMA foreign_keys=ON")


def run_migrations_online() -> None:
    with get_engine().connect() as connection, foreign_keys_off(connection):
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            # SQLite can only ALTER by copying tables; batch mode does that.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            include_name=include_name,
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
