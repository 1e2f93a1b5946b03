from alembic import command
from alembic.config import Config
from sqlalchemy import inspect
from sqlmodel import SQLModel

from ecom_reflex.db import get_engine
from ecom_reflex.settings import PROJECT_ROOT


def alembic_config() -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.attributes["configure_logging"] = False
    return config


def test_first_migration_creates_every_table_and_index(migrated):
    assert set(SQLModel.metadata.tables) <= set(inspect(get_engine()).get_table_names())
    # Straight from the catalogue: SQLAlchemy does not reflect expression indexes everywhere.
    catalogue = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index'",
        "postgresql": "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
    }
    with get_engine().connect() as connection:
        created = set(connection.exec_driver_sql(catalogue[migrated]).scalars())
    declared = {index.name for table in SQLModel.metadata.tables.values() for index in table.indexes}
    assert "uq_users_username_lower" in declared
    assert declared <= created, f"missing indexes {declared - created}"


def test_models_and_migrations_agree(migrated):
    # Raises if autogenerate would produce any operation.
    command.check(alembic_config())


def test_downgrade_and_upgrade_again(migrated):
    command.downgrade(alembic_config(), "base")
    assert inspect(get_engine()).get_table_names() == ["alembic_version"]
    command.upgrade(alembic_config(), "head")
    assert "products" in inspect(get_engine()).get_table_names()
