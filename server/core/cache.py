"""Read-mostly rows held in memory, invalidated on every write — on every management server.

A write bumps a row of `cache_version` in its own transaction and clears the local copy after the
commit; each server polls the versions (one small query per second) and clears what others changed.
"""

from collections.abc import Iterable

from sqlalchemy import Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from .db import Base

# Cache names: "auth" (keys, users, accounts, roles, rules), "config" (global settings), "domains",
# "zones" (zone-wide facts such as whether any zone has security groups), "simulator" (which agent
# commands have simulator mocks).
NAMES = ("auth", "config", "domains", "zones", "simulator")


class CacheVersion(Base):
    __tablename__ = "cache_version"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class Caches:
    def __init__(self) -> None:
        self.data: dict[str, dict] = {name: {} for name in NAMES}
        self.versions: dict[str, int] = {}

    def get(self, name: str) -> dict:
        return self.data[name]

    def clear(self, names: Iterable[str]) -> None:
        for name in names:
            self.data[name] = {}

    @staticmethod
    def bump(db: Session, names: Iterable[str]) -> None:
        for name in names:
            db.execute(update(CacheVersion).where(CacheVersion.name == name)
                       .values(version=CacheVersion.version + 1))

    @staticmethod
    def seed(db: Session) -> None:
        present = set(db.scalars(select(CacheVersion.name)))
        for name in NAMES:
            if name not in present:
                db.add(CacheVersion(name=name, version=0))

    def poll(self, db: Session) -> None:
        """Clear every cache whose version moved since the last poll."""
        current = dict(db.execute(select(CacheVersion.name, CacheVersion.version)).all())
        changed = [name for name, version in current.items()
                   if name in self.data and self.versions.get(name) not in (None, version)]
        self.clear(changed)
        self.versions = current
