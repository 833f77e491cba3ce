"""Resource tags: key/value pairs on any taggable resource (resource_tags)."""

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, Entity


class ResourceTag(Entity, Base):
    __tablename__ = "resource_tags"
    key: Mapped[str] = mapped_column(String(255), index=True)
    value: Mapped[str | None] = mapped_column(String(255), nullable=True)
    resource_type: Mapped[str] = mapped_column(String(64), index=True)  # UserVm, Volume, Template, ...
    resource_id: Mapped[int] = mapped_column(Integer, index=True)  # the resource's internal id
    resource_uuid: Mapped[str] = mapped_column(String(40), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    customer: Mapped[str | None] = mapped_column(String(255), nullable=True)
