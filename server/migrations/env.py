"""Alembic environment: migrations run against the URL given by `sandstack db upgrade`."""

from alembic import context
from sandstack.core import registry
from sandstack.core.db import Base
from sqlalchemy import create_engine, pool

registry.load()  # imports every domain's models
target_metadata = Base.metadata


def run() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if context.is_offline_mode():
        context.configure(url=url, target_metadata=target_metadata, literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata,
                          render_as_batch=connection.dialect.name == "sqlite")
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
