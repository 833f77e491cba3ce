"""Infrastructure tables, named after CloudStack's own (data_center, host_pod_ref, cluster, host, ...)."""

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, Entity, now

ENABLED, DISABLED = "Enabled", "Disabled"


class Region(Base):
    """Regions have operator-chosen numeric ids (addRegion id=...)."""

    __tablename__ = "region"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    end_point: Mapped[str] = mapped_column(String(255))
    gslb_service_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    portableip_service_enabled: Mapped[bool] = mapped_column(Boolean, default=False)


class DataCenter(Entity, Base):
    """A zone."""

    __tablename__ = "data_center"
    name: Mapped[str] = mapped_column(String(255), index=True)
    description: Mapped[str | None] = mapped_column(String(255), nullable=True)
    networktype: Mapped[str] = mapped_column(String(16))  # Basic | Advanced
    dns1: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dns2: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip6_dns1: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip6_dns2: Mapped[str | None] = mapped_column(String(64), nullable=True)
    internal_dns1: Mapped[str | None] = mapped_column(String(64), nullable=True)
    internal_dns2: Mapped[str | None] = mapped_column(String(64), nullable=True)
    guest_network_cidr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    network_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Dedicated to a domain (createZone domainid=...), or public when NULL.
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"), nullable=True)
    security_group_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    local_storage_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    allocation_state: Mapped[str] = mapped_column(String(32), default=DISABLED)
    zone_token: Mapped[str] = mapped_column(String(255))
    dhcp_provider: Mapped[str] = mapped_column(String(64), default="VirtualRouter")
    is_edge: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON object of zone details


class PhysicalNetwork(Entity, Base):
    __tablename__ = "physical_network"
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    isolation_methods: Mapped[str] = mapped_column(String(255), default="VLAN")  # comma-separated
    vnet: Mapped[str | None] = mapped_column(String(255), nullable=True)  # "100-200,300-310"
    speed: Mapped[str | None] = mapped_column(String(32), nullable=True)
    tags: Mapped[str | None] = mapped_column(String(255), nullable=True)
    broadcast_domain_range: Mapped[str] = mapped_column(String(32), default="ZONE")
    state: Mapped[str] = mapped_column(String(32), default=DISABLED)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"), nullable=True)


class TrafficType(Entity, Base):
    __tablename__ = "physical_network_traffic_types"
    physical_network_id: Mapped[int] = mapped_column(ForeignKey("physical_network.id"), index=True)
    traffic_type: Mapped[str] = mapped_column(String(32))  # Guest | Public | Management | Storage
    kvm_network_label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    xen_network_label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vmware_network_label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    hyperv_network_label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ovm3_network_label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    simulator_network_label: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vlan: Mapped[str | None] = mapped_column(String(255), nullable=True)
    isolation_method: Mapped[str | None] = mapped_column(String(32), nullable=True)


class NetworkServiceProvider(Entity, Base):
    __tablename__ = "physical_network_service_providers"
    physical_network_id: Mapped[int] = mapped_column(ForeignKey("physical_network.id"), index=True)
    provider_name: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32), default=DISABLED)  # Disabled | Enabled | Shutdown
    destination_physical_network_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    services: Mapped[str] = mapped_column(Text, default="")  # comma-separated service names


class VirtualRouterElement(Entity, Base):
    """The element of a router-type provider (VirtualRouter, VpcVirtualRouter, InternalLbVm)."""

    __tablename__ = "virtual_router_providers"
    nsp_id: Mapped[int] = mapped_column(ForeignKey("physical_network_service_providers.id"), index=True)
    type: Mapped[str] = mapped_column(String(32))  # VirtualRouter | VPCVirtualRouter | InternalLbVm
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)


class GuestVnet(Base):
    """One guest VLAN/VNI of a physical network's range, taken by a network or free."""

    __tablename__ = "op_dc_vnet_alloc"
    __table_args__ = (UniqueConstraint("physical_network_id", "vnet"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    physical_network_id: Mapped[int] = mapped_column(ForeignKey("physical_network.id"), index=True)
    vnet: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    reservation_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    taken: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class HostPod(Entity, Base):
    __tablename__ = "host_pod_ref"
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    gateway: Mapped[str] = mapped_column(String(64))
    cidr_address: Mapped[str] = mapped_column(String(64))
    cidr_size: Mapped[int] = mapped_column(Integer)
    # The reserved system (management) ranges: "start-end[,start-end...]".
    description: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    allocation_state: Mapped[str] = mapped_column(String(32), default=ENABLED)


class PrivateIp(Base):
    """One address of a pod's reserved system range (op_dc_ip_address_alloc)."""

    __tablename__ = "op_dc_ip_address_alloc"
    __table_args__ = (UniqueConstraint("pod_id", "ip_address"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ip_address: Mapped[str] = mapped_column(String(64))
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int] = mapped_column(ForeignKey("host_pod_ref.id"), index=True)
    instance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reservation_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    taken: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Vlan(Entity, Base):
    """An IP range on a VLAN: public (VirtualNetwork) or guest/direct (DirectAttached)."""

    __tablename__ = "vlan"
    vlan_id: Mapped[str] = mapped_column(String(255))  # "vlan://50" or "untagged"
    gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)
    netmask: Mapped[str | None] = mapped_column(String(64), nullable=True)
    start_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    end_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip6_gateway: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ip6_cidr: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ip6_range: Mapped[str | None] = mapped_column(String(255), nullable=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int | None] = mapped_column(ForeignKey("host_pod_ref.id"), nullable=True)
    network_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    physical_network_id: Mapped[int | None] = mapped_column(ForeignKey("physical_network.id"), nullable=True)
    vlan_type: Mapped[str] = mapped_column(String(32))  # VirtualNetwork | DirectAttached
    for_system_vms: Mapped[bool] = mapped_column(Boolean, default=False)
    # Dedication (upstream account_vlan_map / domain_vlan_map).
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"), nullable=True)


class PublicIp(Entity, Base):
    """One address of a public (or direct) range (user_ip_address)."""

    __tablename__ = "user_ip_address"
    __table_args__ = (UniqueConstraint("zone_id", "public_ip_address", "vlan_id"),)
    public_ip_address: Mapped[str] = mapped_column(String(64), index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    vlan_id: Mapped[int] = mapped_column(ForeignKey("vlan.id"), index=True)
    physical_network_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(32), default="Free")  # Free|Allocating|Allocated|Releasing
    allocated: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id"), nullable=True, index=True)
    domain_id: Mapped[int | None] = mapped_column(ForeignKey("domain.id"), nullable=True)
    network_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    vpc_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source_network_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_source_nat: Mapped[bool] = mapped_column(Boolean, default=False)
    is_static_nat: Mapped[bool] = mapped_column(Boolean, default=False)
    vm_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    for_display: Mapped[bool] = mapped_column(Boolean, default=True)


class Cluster(Entity, Base):
    __tablename__ = "cluster"
    name: Mapped[str] = mapped_column(String(255))
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int] = mapped_column(ForeignKey("host_pod_ref.id"), index=True)
    hypervisor_type: Mapped[str] = mapped_column(String(32))
    cluster_type: Mapped[str] = mapped_column(String(32), default="CloudManaged")
    allocation_state: Mapped[str] = mapped_column(String(32), default=ENABLED)
    managed_state: Mapped[str] = mapped_column(String(32), default="Managed")
    arch: Mapped[str] = mapped_column(String(16), default="x86_64")
    url: Mapped[str | None] = mapped_column(String(255), nullable=True)


class Host(Entity, Base):
    __tablename__ = "host"
    name: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(32), default="Routing")
    status: Mapped[str] = mapped_column(String(32), default="Connecting")  # Up|Down|Disconnected|Alert|...
    resource_state: Mapped[str] = mapped_column(String(32), default=ENABLED)
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int | None] = mapped_column(ForeignKey("host_pod_ref.id"), nullable=True, index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("cluster.id"), nullable=True, index=True)
    hypervisor_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    hypervisor_version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    private_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    public_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    storage_ip_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cpus: Mapped[int] = mapped_column(Integer, default=0)
    cpu_sockets: Mapped[int] = mapped_column(Integer, default=1)
    speed: Mapped[int] = mapped_column(Integer, default=0)  # MHz per core
    ram: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes
    local_storage: Mapped[int] = mapped_column(BigInteger, default=0)  # bytes
    arch: Mapped[str] = mapped_column(String(16), default="x86_64")
    url: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    guid: Mapped[str | None] = mapped_column(String(255), nullable=True)
    capabilities: Mapped[str | None] = mapped_column(String(255), nullable=True)
    version: Mapped[str | None] = mapped_column(String(32), nullable=True)
    last_ping: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    disconnected: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    mgmt_server_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    annotation: Mapped[str | None] = mapped_column(Text, nullable=True)


class HostTag(Base):
    __tablename__ = "host_tags"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    host_id: Mapped[int] = mapped_column(ForeignKey("host.id"), index=True)
    tag: Mapped[str] = mapped_column(String(255))


class Capacity(Base):
    """Allocatable capacity of a host or storage pool (op_host_capacity). Allocation is a conditional
    UPDATE of `used`, so it stays exact when several servers allocate at once."""

    __tablename__ = "op_host_capacity"
    __table_args__ = (UniqueConstraint("host_id", "capacity_type"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # A host id for CPU/memory/local storage, a storage pool id for storage types.
    host_id: Mapped[int] = mapped_column(Integer, index=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    pod_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cluster_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    capacity_type: Mapped[int] = mapped_column(Integer)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    total: Mapped[int] = mapped_column(BigInteger, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated: Mapped[dt.datetime] = mapped_column(DateTime, default=now, onupdate=now)


# Capacity types (upstream Capacity.CAPACITY_TYPE_*).
CAPACITY_MEMORY = 0
CAPACITY_CPU = 1
CAPACITY_STORAGE = 2
CAPACITY_STORAGE_ALLOCATED = 3
CAPACITY_PUBLIC_IP = 4
CAPACITY_PRIVATE_IP = 5
CAPACITY_SECONDARY_STORAGE = 6
CAPACITY_VLAN = 7
CAPACITY_DIRECT_ATTACHED_PUBLIC_IP = 8
CAPACITY_LOCAL_STORAGE = 9
CAPACITY_CPU_CORE = 90
