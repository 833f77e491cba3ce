"""The database: engine creation, the declarative base every domain's models share, sessions.

SQLite (embedded, the default) and MariaDB/MySQL use the same models and migrations. Handlers run
synchronously on the event loop with short transactions: a local SQLite read costs tens of
microseconds, far less than any hop to a thread or an async driver would (spec/performance.md).
"""

import datetime as dt
import uuid as uuidlib

from sqlalchemy import DateTime, Integer, String, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker


def now() -> dt.datetime:
    """Timestamps are stored naive, in UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def new_uuid() -> str:
    return str(uuidlib.uuid4())


class Base(DeclarativeBase):
    pass


class Entity:
    """Columns every API-visible row has: an internal numeric id and the UUID clients see."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uuid: Mapped[str] = mapped_column(String(40), unique=True, index=True, default=new_uuid)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=now)
    # Upstream never deletes rows that others may reference: it marks them removed.
    removed: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, default=None)


DEFAULT_SQLITE_URL = "sqlite:///sandstack.db"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("mysql") or url.startswith("mariadb"):
        return create_engine(url, pool_pre_ping=True, pool_recycle=3600,
                             isolation_level="READ COMMITTED")
    return create_engine(url)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL + synchronous=NORMAL: ~2x the commit rate of the default journal (spec/performance.md).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
