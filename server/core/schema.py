"""Keep the database at the code's schema revision.

A fresh database gets every table at once and is stamped with the head revision (Alembic's own
recipe), which costs milliseconds; an older one is upgraded through the Alembic migrations. Alembic is
imported only when there is something to migrate, to keep start-up fast.
"""

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from .db import Base

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def head_revision() -> str:
    """The newest revision: the `revision` of the file named first in migrations/HEAD."""
    return (MIGRATIONS / "HEAD").read_text().strip()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure(engine: Engine) -> None:
    revision = current_revision(engine)
    head = head_revision()
    if revision == head:
        return
    if revision is None and not _has_tables(engine):
        Base.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS alembic_version "
                              "(version_num VARCHAR(32) NOT NULL PRIMARY KEY)"))
            conn.execute(text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head})
        return
    upgrade(str(engine.url.render_as_string(hide_password=False)))


def _has_tables(engine: Engine) -> bool:
    with engine.connect() as conn:
        return bool(inspect(conn).get_table_names())


def alembic_config(url: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(alembic_config(url), revision)
