"""Events: every state change is recorded as a row, listed by `listEvents`."""

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .db import Base, Entity, defer_insert, new_uuid, now


class Event(Entity, Base):
    __tablename__ = "event"
    type: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(32), default="Completed")
    description: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16), default="INFO")
    user_id: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"), index=True)
    resource_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resource_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    start_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


def record(ctx, event_type: str, description: str, *, state: str = "Completed", level: str = "INFO",
           resource_type: str | None = None, resource_id: str | None = None,
           account_id: int | None = None, domain_id: int | None = None) -> None:
    """Add an event to the caller's transaction: it is kept only if the change it describes is. The
    transaction's events are inserted together when it commits (db.defer_insert)."""
    caller = ctx.caller
    defer_insert(ctx.db, Event.__table__, {
        "uuid": new_uuid(), "created": now(), "removed": None, "type": event_type, "state": state,
        "description": description, "level": level, "user_id": caller.user_id,
        "account_id": account_id or caller.account_id, "domain_id": domain_id or caller.domain_id,
        "resource_type": resource_type, "resource_id": resource_id, "start_id": None, "archived": False,
    })
