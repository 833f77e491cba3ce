"""Simulator fault injection: mocks configured with `configureSimulator` (upstream `mockconfiguration`)."""

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, Entity


class SimulatorMock(Entity, Base):
    __tablename__ = "mockconfiguration"
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("data_center.id"), nullable=True)
    pod_id: Mapped[int | None] = mapped_column(ForeignKey("host_pod_ref.id"), nullable=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("cluster.id"), nullable=True)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("host.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(255), index=True)  # agent command: StartCommand, ...
    values: Mapped[str] = mapped_column(Text)  # "result:fail;wait:500"
    count: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: until cleaned up
    json_response: Mapped[str | None] = mapped_column(Text, nullable=True)
