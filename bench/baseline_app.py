"""The cold-start baseline: aiohttp + SQLAlchemy (sync ORM), one table created on a fresh SQLite file,
then the first request answered with a read of that table — the least a database-backed server does."""

import argparse

from aiohttp import web
from sqlalchemy import String, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "item"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))


def make_app(db_path: str) -> web.Application:
    engine = create_engine(f"sqlite:///{db_path}")
    Base.metadata.create_all(engine)
    with Session(engine) as db:
        db.add(Item(name="first"))
        db.commit()

    async def first(request: web.Request) -> web.Response:
        with Session(engine) as db:
            names = db.scalars(select(Item.name)).all()
        return web.json_response({"items": names})

    app = web.Application()
    app.router.add_get("/{tail:.*}", first)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True, help="path of a SQLite file that does not exist yet")
    args = parser.parse_args()
    web.run_app(make_app(args.db), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
