"""Offering details (service_offering_details, disk_offering_details): free key/value pairs of an offering.

They live beside compute/models.py rather than in it so the offering commands could add them without
touching the shared model file; a migration creating both tables is still to be written.
"""

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base


class ServiceOfferingDetail(Base):
    """Includes the bounds of a constrained custom offering (mincpunumber, maxmemory, ...), as upstream."""

    __tablename__ = "service_offering_details"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offering_id: Mapped[int] = mapped_column(ForeignKey("service_offering.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)


class DiskOfferingDetail(Base):
    __tablename__ = "disk_offering_details"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offering_id: Mapped[int] = mapped_column(ForeignKey("disk_offering.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
