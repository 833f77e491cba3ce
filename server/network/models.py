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


# ---- network rules on public addresses and guest networks (firewall_rules and its details) --------

class FirewallRule(Entity, Base):
    """Every network rule, whatever its purpose: one row here (upstream firewall_rules), details for port
    forwarding and load balancing in their own tables keyed by the same id."""

    __tablename__ = "firewall_rules"
    # Firewall | PortForwarding | StaticNat | LoadBalancing | Vpn
    purpose: Mapped[str] = mapped_column(String(32), index=True)
    protocol: Mapped[str] = mapped_column(String(16), default="tcp")
    start_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    end_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    icmp_type: Mapped[int | None] = mapped_column(Integer, nullable=True)
    icmp_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source_cidrs: Mapped[str | None] = mapped_column(Text, nullable=True)  # comma-separated
    destination_cidrs: Mapped[str | None] = mapped_column(Text, nullable=True)  # comma-separated (egress)
    traffic_type: Mapped[str] = mapped_column(String(16), default="Ingress")  # Ingress | Egress
    state: Mapped[str] = mapped_column(String(16), default="Add")  # Add | Active | Revoke
    ip_address_id: Mapped[int | None] = mapped_column(ForeignKey("user_ip_address.id"), nullable=True,
                                                      index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))
    # The rule this one was opened for (a port forwarding or load balancing rule's firewall rule).
    related_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    type: Mapped[str] = mapped_column(String(16), default="User")  # User | System
    for_display: Mapped[bool] = mapped_column(Boolean, default=True)


class PortForwardingRule(Base):
    """Where a port forwarding rule sends its traffic (port_forwarding_rules)."""

    __tablename__ = "port_forwarding_rules"
    id: Mapped[int] = mapped_column(ForeignKey("firewall_rules.id", ondelete="CASCADE"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)
    dest_ip_address: Mapped[str] = mapped_column(String(64))
    dest_port_start: Mapped[int] = mapped_column(Integer)
    dest_port_end: Mapped[int] = mapped_column(Integer)


class LoadBalancerRule(Base):
    """A load balancing rule's own fields (load_balancing_rules); public port and protocol are on the
    firewall_rules row of the same id."""

    __tablename__ = "load_balancing_rules"
    id: Mapped[int] = mapped_column(ForeignKey("firewall_rules.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    algorithm: Mapped[str] = mapped_column(String(32))  # roundrobin | leastconn | source
    default_port_start: Mapped[int] = mapped_column(Integer)  # the private port
    default_port_end: Mapped[int] = mapped_column(Integer)
    lb_protocol: Mapped[str | None] = mapped_column(String(16), nullable=True)  # tcp | udp | tcp-proxy
    scheme: Mapped[str] = mapped_column(String(16), default="Public")


class LoadBalancerVmMap(Base):
    """A VM (and the guest address) behind a load balancing rule (load_balancer_vm_map)."""

    __tablename__ = "load_balancer_vm_map"
    __table_args__ = (UniqueConstraint("load_balancer_id", "instance_id", "instance_ip"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    load_balancer_id: Mapped[int] = mapped_column(ForeignKey("firewall_rules.id", ondelete="CASCADE"),
                                                  index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)
    instance_ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="Add")  # Add | Active | Revoke


class LBStickinessPolicy(Entity, Base):
    __tablename__ = "load_balancer_stickiness_policies"
    load_balancer_id: Mapped[int] = mapped_column(ForeignKey("firewall_rules.id", ondelete="CASCADE"),
                                                  index=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    method_name: Mapped[str] = mapped_column(String(32))  # LbCookie | AppCookie | SourceBased
    params: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON object
    state: Mapped[str] = mapped_column(String(16), default="Add")  # Add | Active | Revoke
    for_display: Mapped[bool] = mapped_column(Boolean, default=True)


class LBHealthCheckPolicy(Entity, Base):
    __tablename__ = "load_balancer_healthcheck_policies"
    load_balancer_id: Mapped[int] = mapped_column(ForeignKey("firewall_rules.id", ondelete="CASCADE"),
                                                  index=True)
    ping_path: Mapped[str] = mapped_column(String(255), default="/")
    description: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    response_time: Mapped[int] = mapped_column(Integer, default=2)  # seconds
    interval: Mapped[int] = mapped_column(Integer, default=5)  # seconds
    healthy_threshold: Mapped[int] = mapped_column(Integer, default=2)
    unhealthy_threshold: Mapped[int] = mapped_column(Integer, default=10)
    state: Mapped[str] = mapped_column(String(16), default="Add")  # Add | Active | Revoke
    for_display: Mapped[bool] = mapped_column(Boolean, default=True)


# ---- security groups ----------------------------------------------------------------------------

class SecurityGroup(Entity, Base):
    __tablename__ = "security_group"
    __table_args__ = (UniqueConstraint("account_id", "name"),)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(4096), nullable=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id"), index=True)
    domain_id: Mapped[int] = mapped_column(ForeignKey("domain.id"))


class SecurityGroupRule(Entity, Base):
    """An ingress or egress rule: by CIDR, or by another group (allowed_group_id)."""

    __tablename__ = "security_group_rule"
    security_group_id: Mapped[int] = mapped_column(ForeignKey("security_group.id", ondelete="CASCADE"),
                                                   index=True)
    type: Mapped[str] = mapped_column(String(16))  # ingress | egress
    protocol: Mapped[str] = mapped_column(String(16))  # tcp | udp | icmp | all | a protocol number
    # Upstream keeps an ICMP rule's type in start_port and its code in end_port.
    start_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    end_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    allowed_ip_cidr: Mapped[str | None] = mapped_column(String(64), nullable=True)
    allowed_group_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="Add")  # Add | Active | Revoke


class SecurityGroupVmMap(Base):
    __tablename__ = "security_group_vm_map"
    __table_args__ = (UniqueConstraint("security_group_id", "instance_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    security_group_id: Mapped[int] = mapped_column(ForeignKey("security_group.id"), index=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)


class StaticNat(Base):
    """The guest address a static NAT public address maps to (upstream keeps it as user_ip_address.vm_ip);
    the address row itself carries is_static_nat and vm_id."""

    __tablename__ = "static_nat"
    __table_args__ = (UniqueConstraint("network_id", "guest_ip"),)
    ip_address_id: Mapped[int] = mapped_column(ForeignKey("user_ip_address.id"), primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("vm_instance.id"), index=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("networks.id"), index=True)
    guest_ip: Mapped[str] = mapped_column(String(64))
