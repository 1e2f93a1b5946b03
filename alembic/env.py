"""Alembic environment: the shop's own engine and SQLModel metadata."""

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


def run_migrations_online() -> None:
    with get_engine().connect() as connection:
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
