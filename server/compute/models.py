"""The vm_instance table: user VMs, routers and system VMs alike, told apart by `type`."""

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
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
    # listVirtualMachines counts and pages `type = 'User' AND removed IS NULL` from this index alone (in id
    # order), instead of visiting every row: ~3 ms instead of ~20 at 100,000 VMs on SQLite.
    __table_args__ = (Index("ix_vm_instance_type_removed", "type", "removed"),)
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
    # User VMs (upstream's user_vm and vm_instance details).
    service_offering_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # user VMs
    iso_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_data: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_data_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    keypairs: Mapped[str | None] = mapped_column(Text, nullable=True)  # comma-separated names
    password: Mapped[str | None] = mapped_column(String(255), nullable=True)
    display_vm: Mapped[bool] = mapped_column(Boolean, default=True)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON object
    destroyed: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class ServiceOffering(Entity, Base):
    """Compute offerings: fixed, or custom (constrained by min/max, or unconstrained); system ones too."""

    __tablename__ = "service_offering"
    name: Mapped[str] = mapped_column(String(255), index=True)
    display_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    cpu: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: chosen at deploy (custom)
    speed: Mapped[int | None] = mapped_column(Integer, nullable=True)  # MHz
    ram_size: Mapped[int | None] = mapped_column(Integer, nullable=True)  # MiB
    min_cpu: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_cpu: Mapped[int | None] = mapped_column(Integer, nullable=True)
    min_memory: Mapped[int | None] = mapped_column(Integer, nullable=True)
    max_memory: Mapped[int | None] = mapped_column(Integer, nullable=True)
    customized: Mapped[bool] = mapped_column(Boolean, default=False)
    ha_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    limit_cpu_use: Mapped[bool] = mapped_column(Boolean, default=False)
    dynamic_scaling_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    host_tag: Mapped[str | None] = mapped_column(String(255), nullable=True)
    storage_tags: Mapped[str | None] = mapped_column(Text, nullable=True)
    storage_type: Mapped[str] = mapped_column(String(16), default="shared")  # shared | local
    provisioning_type: Mapped[str] = mapped_column(String(16), default="thin")  # thin | sparse | fat
    network_rate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deployment_planner: Mapped[str | None] = mapped_column(String(255), nullable=True)
    root_disk_size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # bytes
    disk_offering_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    system_vm_type: Mapped[str | None] = mapped_column(String(64), nullable=True)  # domainrouter, ...
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="Active")  # Active | Inactive
    sort_key: Mapped[int] = mapped_column(Integer, default=0)
    # Visibility: comma-separated internal ids; None means public / every zone.
    domain_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    zone_ids: Mapped[str | None] = mapped_column(Text, nullable=True)


class DiskOffering(Entity, Base):
    __tablename__ = "disk_offering"
    name: Mapped[str] = mapped_column(String(255), index=True)
    display_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    disk_size: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes; 0 when customized
    customized: Mapped[bool] = mapped_column(Boolean, default=False)
    customized_iops: Mapped[bool] = mapped_column(Boolean, default=False)
    min_iops: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    max_iops: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes_read_rate: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    bytes_write_rate: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    iops_read_rate: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    iops_write_rate: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    tags: Mapped[str | None] = mapped_column(Text, nullable=True)  # storage tags
    storage_type: Mapped[str] = mapped_column(String(16), default="shared")
    provisioning_type: Mapped[str] = mapped_column(String(16), default="thin")
    disk_size_strictness: Mapped[bool] = mapped_column(Boolean, default=False)
    encrypt: Mapped[bool] = mapped_column(Boolean, default=False)
    # Service offerings own a hidden disk offering for the root disk, as upstream (compute_only).
    compute_only: Mapped[bool] = mapped_column(Boolean, default=False)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="Active")
    sort_key: Mapped[int] = mapped_column(Integer, default=0)
    domain_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    zone_ids: Mapped[str | None] = mapped_column(Text, nullable=True)


class SSHKeyPair(Entity, Base):
    __tablename__ = "ssh_keypairs"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    name: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(128))
    public_key: Mapped[str] = mapped_column(Text)


class UserData(Entity, Base):
    """Registered user data (registerUserData), linkable to templates and VMs."""

    __tablename__ = "user_data"
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    name: Mapped[str] = mapped_column(String(255))
    user_data: Mapped[str] = mapped_column(Text)  # base64, as received
    params: Mapped[str | None] = mapped_column(Text, nullable=True)  # comma-separated names


class AffinityGroup(Entity, Base):
    """host affinity / host anti-affinity (and explicit dedication) groups of an account."""

    __tablename__ = "affinity_group"
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64))  # host affinity | host anti-affinity | ExplicitDedication
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    acl_type: Mapped[str] = mapped_column(String(16), default="Account")


class AffinityGroupVm(Base):
    __tablename__ = "affinity_group_vm_map"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    affinity_group_id: Mapped[int] = mapped_column(ForeignKey("affinity_group.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)


class InstanceGroup(Entity, Base):
    __tablename__ = "instance_group"
    name: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))


class InstanceGroupVm(Base):
    __tablename__ = "instance_group_vm_map"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("instance_group.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)
