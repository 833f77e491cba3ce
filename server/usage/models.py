"""Usage events (usage_event): written as billable things happen, in the same transaction."""

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, defer_insert, now


class UsageEvent(Base):
    __tablename__ = "usage_event"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(64), index=True)  # VM.CREATE, VOLUME.CREATE, NET.IPASSIGN, ...
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    zone_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resource_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resource_uuid: Mapped[str | None] = mapped_column(String(40), nullable=True)
    resource_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    offering_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    template_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    virtual_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created: Mapped[dt.datetime] = mapped_column(DateTime, default=now, index=True)
    processed: Mapped[bool] = mapped_column(Boolean, default=False)


def record_usage(ctx, event_type: str, *, account_id: int, domain_id: int, zone_id: int | None = None,
                 resource=None, resource_type: str | None = None, offering_id: int | None = None,
                 template_id: int | None = None, size: int | None = None) -> None:
    """Add a usage event to the caller's transaction: billed only if the change itself commits (the
    transaction's usage events are inserted together when it commits: db.defer_insert)."""
    defer_insert(ctx.db, UsageEvent.__table__, {
        "type": event_type, "account_id": account_id, "domain_id": domain_id, "zone_id": zone_id,
        "resource_id": getattr(resource, "id", None), "resource_uuid": getattr(resource, "uuid", None),
        "resource_name": getattr(resource, "name", None) or getattr(resource, "display_name", None),
        "resource_type": resource_type, "offering_id": offering_id, "template_id": template_id, "size": size,
        "virtual_size": None, "created": now(), "processed": False,
    })
