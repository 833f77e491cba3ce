"""Network tables: offerings (services × providers), guest networks, NICs."""

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..core.db import Base, Entity


class NetworkOffering(Entity, Base):
    __tablename__ = "network_offerings"
    name: Mapped[str] = mapped_column(String(255), index=True)
    unique_name: Mapped[str] = mapped_column(String(255))
    display_text: Mapped[str] = mapped_column(String(255))
    guest_type: Mapped[str | None] = mapped_column(String(32), nullable=True)  # Isolated | Shared | L2
    traffic_type: Mapped[str] = mapped_column(String(32), default="Guest")
    state: Mapped[str] = mapped_column(String(32), default="Disabled")  # Enabled | Disabled
    availability: Mapped[str] = mapped_column(String(32), default="Optional")  # Required | Optional
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)
    specify_vlan: Mapped[bool] = mapped_column(Boolean, default=False)
    specify_ip_ranges: Mapped[bool] = mapped_column(Boolean, default=False)
    conserve_mode: Mapped[bool] = mapped_column(Boolean, default=True)
    persistent: Mapped[bool] = mapped_column(Boolean, default=False)
    egress_default_policy: Mapped[bool] = mapped_column(Boolean, default=False)  # true: allow egress
    for_vpc: Mapped[bool] = mapped_column(Boolean, default=False)
    internal_lb: Mapped[bool] = mapped_column(Boolean, default=False)
    public_lb: Mapped[bool] = mapped_column(Boolean, default=False)
    redundant_router: Mapped[bool] = mapped_column(Boolean, default=False)
    elastic_ip: Mapped[bool] = mapped_column(Boolean, default=False)
    elastic_lb: Mapped[bool] = mapped_column(Boolean, default=False)
    associate_public_ip: Mapped[bool] = mapped_column(Boolean, default=False)
    source_nat_type: Mapped[str | None] = mapped_column(String(32), nullable=True)  # peraccount | perzone
    supports_strechted_l2: Mapped[bool] = mapped_column(Boolean, default=False)
    supports_public_access: Mapped[bool] = mapped_column(Boolean, default=False)
    network_rate: Mapped[int | None] = mapped_column(Integer, nullable=True)
    service_offering_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # router offering
    tags: Mapped[str | None] = mapped_column(Text, nullable=True)
    max_connections: Mapped[int | None] = mapped_column(Integer, nullable=True)
    internet_protocol: Mapped[str] = mapped_column(String(16), default="IPv4")  # IPv4 | DualStack
    domain_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    zone_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    sort_key: Mapped[int] = mapped_column(Integer, default=0)


class NetworkOfferingService(Base):
    """One service of an offering and the provider that implements it (ntwk_offering_service_map)."""

    __tablename__ = "ntwk_offering_service_map"
    __table_args__ = (UniqueConstraint("offering_id", "service", "provider"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    offering_id: Mapped[int] = mapped_column(ForeignKey("network_offerings.id"), index=True)
    service: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
    # Capabilities as JSON (e.g. {"SupportedSourceNatTypes": "peraccount", "ElasticIp": "true"}).
    capabilities: Mapped[str | None] = mapped_column(Text, nullable=True)


class Network(Entity, Base):
    __tablename__ = "networks"
    name: Mapped[str] = mapped_column(String(255), index=True)
    display_text: Mapped[str | None] = mapped_column(String(255), nullable=True)
    traffic_type: Mapped[str] = mapped_column(String(32), default="Guest")
    guest_type: Mapped[str | None] = mapped_column(String(32), nullable=True)  # Isolated | Shared | L2
    broadcast_domain_type: Mapped[str] = mapped_column(String(32), default="Vlan")  # Vlan|Vxlan|Native|...
    broadcast_uri: Mapped[str | None] = mapped_column(String(255), nullable=True)  # vlan://100
    gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cidr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    netmask: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip6_gateway: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ip6_cidr: Mapped[str | None] = mapped_column(String(255), nullable=True)
    network_domain: Mapped[str | None] = mapped_column(String(255), nullable=True)
    network_offering_id: Mapped[int] = mapped_column(ForeignKey("network_offerings.id"))
    physical_network_id: Mapped[int | None] = mapped_column(ForeignKey("physical_network.id"), nullable=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"), index=True)
    # Allocated | Setup | Implementing | Implemented | Shutdown | Destroy
    state: Mapped[str] = mapped_column(String(32), default="Allocated")
    acl_type: Mapped[str] = mapped_column(String(16), default="Account")  # Account | Domain
    subdomain_access: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    vpc_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    acl_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    restart_required: Mapped[bool] = mapped_column(Boolean, default=False)
    specify_ip_ranges: Mapped[bool] = mapped_column(Boolean, default=False)
    redundant: Mapped[bool] = mapped_column(Boolean, default=False)
    external_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    display_network: Mapped[bool] = mapped_column(Boolean, default=True)
    # Addresses of the guest CIDR kept out of VM allocation (e.g. "10.1.1.200-10.1.1.254").
    reservation_range: Mapped[str | None] = mapped_column(String(255), nullable=True)
    dns1: Mapped[str | None] = mapped_column(String(64), nullable=True)
    dns2: Mapped[str | None] = mapped_column(String(64), nullable=True)
    implemented: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Nic(Entity, Base):
    """A VM's (or router's) interface on a network, with its addresses (nics)."""

    __tablename__ = "nics"
    __table_args__ = (UniqueConstraint("network_id", "ip4_address"),)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    mac_address: Mapped[str] = mapped_column(String(32))
    ip4_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    netmask: Mapped[str | None] = mapped_column(String(64), nullable=True)
    gateway: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip6_address: Mapped[str | None] = mapped_column(String(255), nullable=True)
    broadcast_uri: Mapped[str | None] = mapped_column(String(255), nullable=True)
    isolation_uri: Mapped[str | None] = mapped_column(String(255), nullable=True)
    device_id: Mapped[int] = mapped_column(Integer, default=0)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(16), default="Dhcp")  # Dhcp | Static
    state: Mapped[str] = mapped_column(String(32), default="Allocated")  # Allocated | Reserved | Released
    reserver_name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    vm_type: Mapped[str | None] = mapped_column(String(32), nullable=True)


class NicSecondaryIp(Entity, Base):
    __tablename__ = "nic_secondary_ips"
    nic_id: Mapped[int] = mapped_column(ForeignKey("nics.id"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"))
    ip4_address: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ip6_address: Mapped[str | None] = mapped_column(String(255), nullable=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"))
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))


class MacAddressCounter(Base):
    """The next MAC address suffix of a zone (upstream data_center.mac_address)."""

    __tablename__ = "op_dc_mac_address"
    zone_id: Mapped[int] = mapped_column(ForeignKey("data_center.id"), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger, default=1)


class VpcOffering(Entity, Base):
    """What a VPC offers (vpc_offerings): its services come from VpcOfferingService rows."""

    __tablename__ = "vpc_offerings"
    name: Mapped[str] = mapped_column(String(255), index=True)
    unique_name: Mapped[str] = mapped_column(String(255))
    display_text: Mapped[str] = mapped_column(String(255))
    state: Mapped[str] = mapped_column(String(32), default="Disabled")  # Enabled | Disabled
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    service_offering_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # VPC router offering
    distributed_router: Mapped[bool] = mapped_column(Boolean, default=False)
    region_level_vpc: Mapped[bool] = mapped_column(Boolean, default=False)
    redundant_router: Mapped[bool] = mapped_column(Boolean, default=False)
    internet_protocol: Mapped[str] = mapped_column(String(16), default="IPv4")
    domain_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    zone_ids: Mapped[str | None] = mapped_column(Text, nullable=True)
    sort_key: Mapped[int] = mapped_column(Integer, default=0)


class VpcOfferingService(Base):
    """One service of a VPC offering and its provider (vpc_offering_service_map)."""

    __tablename__ = "vpc_offering_service_map"
    __table_args__ = (UniqueConstraint("vpc_offering_id", "service", "provider"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    vpc_offering_id: Mapped[int] = mapped_column(ForeignKey("vpc_offerings.id"), index=True)
    service: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))
