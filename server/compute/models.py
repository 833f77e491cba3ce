"""The vm_instance table: user VMs, routers and system VMs alike, told apart by `type`."""

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, Entity

# VM types (upstream VirtualMachine.Type) and the instance-name prefix the simulator classifies by.
USER_VM = "User"
ROUTER = "DomainRouter"
CONSOLE_PROXY = "ConsoleProxy"
SECONDARY_STORAGE_VM = "SecondaryStorageVm"
INTERNAL_LB_VM = "InternalLoadBalancerVm"


class VMInstance(Entity, Base):
    __tablename__ = "vm_instance"
    name: Mapped[str] = mapped_column(String(255), index=True)  # instance name: i-2-3-VM, s-1-VM, v-2-VM
    display_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    type: Mapped[str] = mapped_column(String(32), index=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int | None] = mapped_column(ForeignKey("host_pod_ref.id"), nullable=True)
    host_id: Mapped[int | None] = mapped_column(ForeignKey("host.id"), nullable=True, index=True)
    last_host_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    template_id: Mapped[int | None] = mapped_column(ForeignKey("vm_template.id"), nullable=True)
    guest_os_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    hypervisor_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"), index=True)
    cpus: Mapped[int] = mapped_column(Integer, default=1)
    speed: Mapped[int] = mapped_column(Integer, default=500)
    ram: Mapped[int] = mapped_column(BigInteger, default=512 * 1024 * 1024)  # bytes
    ha_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    private_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    public_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    link_local_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    update_count: Mapped[int] = mapped_column(Integer, default=0)
    last_started: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
