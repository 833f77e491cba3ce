"""The database: engine creation, the declarative base every domain's models share, sessions.

SQLite (embedded, the default) and MariaDB/MySQL use the same models and migrations. Handlers run
synchronously on the event loop with short transactions: a local SQLite read costs tens of
microseconds, far less than any hop to a thread or an async driver would (spec/performance.md).
"""

import datetime as dt
import uuid as uuidlib

from sqlalchemy import DateTime, Integer, String, bindparam, create_engine, event, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value


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
    maker = sessionmaker(engine, expire_on_commit=False, autoflush=True)
    event.listen(maker, "before_commit", _insert_deferred)
    return maker


# ---- hot paths ------------------------------------------------------------------------------------
# Session.execute routes even Core statements through the ORM, and building a statement costs more than
# running it on SQLite: a select built per call and run through the session takes ~100 µs, the same
# statement built once (with bindparam) and run on the session's connection ~15 µs. Hot paths (VM
# deployment, list pages, job polling) use `prebuilt` statements and `core`.

def core(session: Session, statement, params=None):
    """Run a Core statement on the session's connection, in its transaction, after flushing what the
    session holds (as autoflush would)."""
    session.flush()
    return session.connection().execute(statement, params)


def update_row(session: Session, row, where: dict, **values) -> bool:
    """One conditional UPDATE of a loaded row — only while its columns still hold `where` — whose new
    values are then set on the object as already saved (no flush, no refresh): for a job's last step
    after an agent command (`state` Starting → Running). False, and nothing changed, if the row moved."""
    table = type(row).__table__
    key = ("update_row", table.name, tuple(sorted(where)), tuple(sorted(values)))
    statement = prebuilt(key, lambda: update(table).where(
        table.c.id == bindparam("row_id"), *(table.c[k] == bindparam(f"was_{k}") for k in sorted(where)))
        .values({k: bindparam(f"new_{k}") for k in sorted(values)}))
    params = {"row_id": row.id, **{f"was_{k}": v for k, v in where.items()},
              **{f"new_{k}": v for k, v in values.items()}}
    if core(session, statement, params).rowcount != 1:
        return False
    for name, value in values.items():
        set_committed_value(row, name, value)
    return True


_PREBUILT: dict = {}


def prebuilt(key, build):
    """The statement `build()` makes, built once per key (use bindparam for the values)."""
    statement = _PREBUILT.get(key)
    if statement is None:
        statement = _PREBUILT[key] = build()
    return statement


def defer_insert(session: Session, table, row: dict) -> None:
    """Queue a row (every column given, the same keys for every row of a table) to be inserted with the
    others of its table in one executemany just before the session's transaction commits — for rows
    written many times per request and never read back in it (events, usage records). A rolled back
    transaction drops them: they are kept only if the changes they describe are."""
    session.connection()  # the transaction they belong to
    root = session.get_transaction()
    queued = session.info.get("deferred")
    if queued is None or queued[0] is not root:
        queued = session.info["deferred"] = (root, {})
    queued[1].setdefault(table, []).append(row)


def _insert_deferred(session: Session) -> None:
    if session.in_nested_transaction():
        return
    queued = session.info.pop("deferred", None)
    if not queued or queued[0] is not session.get_transaction():
        return
    session.flush()  # rows they name (a new account) first
    connection = session.connection()
    for table, rows in queued[1].items():
        connection.execute(table.insert(), rows)


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"
