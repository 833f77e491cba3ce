"""Creating guest networks: upstream's rules (zone type, physical network, VLAN, CIDR, ranges, owner).

`services_of` and `has_ranges` live here too: guest.py (implementation, NICs) builds on this module.
"""

import ipaddress
import re

from sqlalchemy import bindparam, select, update

from ..core.db import core, prebuilt
from ..core.errors import InvalidParameter, PermissionDenied
from ..iam.models import Account, Domain
from ..infra.ipranges import add_public_ips, check_pod_system_ranges, check_zone_ranges, vlan_tag
from ..infra.models import DataCenter, GuestVnet, PhysicalNetwork, PublicIp, Vlan
from ..infra.physical_networks import zone_carriers
from . import addresses
from .models import Network, NetworkOffering, NetworkOfferingService

ISOLATED, SHARED, L2 = "Isolated", "Shared", "L2"
# Domain-level networks belong to the SYSTEM account (upstream), their users are found by domain.
SYSTEM_ACCOUNT = 1
_LABEL = r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
DOMAIN_NAME = re.compile(rf"^(?=.{{1,190}}$){_LABEL}(\.{_LABEL})*$")


# ---- offerings' services --------------------------------------------------------------------------

def services_of(ctx, offering_id: int) -> dict[str, list[str]]:
    """{service: [providers]} of a network offering. An offering's services never change once it is
    created, so they are read once per server (every VM start asks)."""
    known = ctx.server.caches.get("zones").setdefault("offering_services", {})
    if offering_id not in known:
        row = NetworkOfferingService
        found: dict[str, list[str]] = {}
        query = select(row.service, row.provider).where(row.offering_id == offering_id).order_by(row.id)
        for service, provider in ctx.db.execute(query):
            found.setdefault(service, []).append(provider)
        if not found:
            return found  # not committed yet, perhaps: not remembered
        known[offering_id] = found
    return {service: list(providers) for service, providers in known[offering_id].items()}


def has_ranges(ctx, network: Network) -> bool:
    query = prebuilt("network.has_ranges", lambda: select(Vlan.id).where(
        Vlan.network_id == bindparam("network"), Vlan.removed.is_(None)).limit(1))
    return core(ctx.db, query, {"network": network.id}).first() is not None


# ---- creation ------------------------------------------------------------------------------------

def guest_physical_network(ctx, zone: DataCenter, offering: NetworkOffering,
                           given: PhysicalNetwork | None) -> PhysicalNetwork:
    if given is not None:
        if given.zone_id != zone.id:
            raise InvalidParameter(f"Physical network {given.name} doesn't belong to zone {zone.name}")
        return given
    carriers = zone_carriers(ctx, zone.id, "Guest")
    if offering.tags:
        carriers = [c for c in carriers if c.tags and offering.tags.lower() in c.tags.lower().split(",")]
    if not carriers:
        raise InvalidParameter("Unable to find a physical network with Guest traffic type in zone "
                               f"{zone.name}"
                               + (f" tagged {offering.tags}" if offering.tags else ""))
    return carriers[0]


def check_zone_fits(ctx, zone: DataCenter, offering: NetworkOffering, services: dict) -> None:
    if zone.networktype == "Basic":
        if offering.guest_type != SHARED:
            raise InvalidParameter(f"Only Shared networks can be created in the Basic zone {zone.name}")
        existing = select(Network.id).where(Network.zone_id == zone.id, Network.traffic_type == "Guest",
                                            Network.guest_type == SHARED, Network.removed.is_(None))
        if ctx.db.scalar(existing.limit(1)):
            raise InvalidParameter(f"Only one guest network is supported in the Basic zone {zone.name}")
    elif offering.guest_type == ISOLATED and zone.security_group_enabled:
        raise InvalidParameter("Isolated networks can't be created in the security group enabled zone "
                               f"{zone.name}")
    if "SecurityGroup" in services and not (zone.networktype == "Basic" or zone.security_group_enabled):
        raise InvalidParameter("Networks with the SecurityGroup service can be created only in zones with "
                               f"security groups enabled; zone {zone.name} has none")


def default_network_domain(ctx, account: Account, zone: DataCenter) -> str:
    """Upstream's "cs<account id in hex><guest.domain.suffix>", unless the owner or zone names one."""
    domain = ctx.db.get(Domain, account.domain_id)
    chosen = account.network_domain or (domain.network_domain if domain else None) or zone.network_domain
    if chosen:
        return chosen
    return f"cs{account.id:x}{ctx.setting('guest.domain.suffix') or 'cloud.internal'}"


def check_vlan_free(ctx, pnet: PhysicalNetwork, tag: str, bypass: bool) -> None:
    if tag == "untagged":
        return
    taken = select(Network.name).where(Network.physical_network_id == pnet.id, Network.broadcast_uri == tag,
                                       Network.removed.is_(None))
    other = ctx.db.scalar(taken.limit(1))
    if other:
        raise InvalidParameter(f"Network with vlan {tag.rpartition('://')[2]} already exists or overlaps "
                               f"with other network vlans in physical network {pnet.name} (network {other})")
    number = int(tag.rpartition("://")[2])
    dynamic = select(GuestVnet.id).where(GuestVnet.physical_network_id == pnet.id, GuestVnet.vnet == number)
    if not bypass and ctx.db.scalar(dynamic.limit(1)):
        raise InvalidParameter(f"The VLAN tag {number} is already being used for dynamic vlan allocation for "
                               f"the guest network in physical network {pnet.name}")


def guest_cidr(p, zone: DataCenter, offering: NetworkOffering) -> tuple[str | None, str | None, str | None]:
    """(gateway, netmask, cidr) of a new network: as given, else the zone's guest CIDR for isolated ones."""
    if p.gateway or p.netmask:
        if not (p.gateway and p.netmask):
            raise InvalidParameter("gateway and netmask must be specified together")
        try:
            cidr = ipaddress.IPv4Network(f"{p.gateway}/{p.netmask}", strict=False)
            gateway = ipaddress.IPv4Address(p.gateway)
        except ValueError:
            raise InvalidParameter(f"Invalid gateway {p.gateway} or netmask {p.netmask}") from None
        if gateway in (cidr.network_address, cidr.broadcast_address) or cidr.prefixlen > 30:
            raise InvalidParameter(f"Invalid gateway {p.gateway} for netmask {p.netmask}")
        return str(gateway), str(cidr.netmask), str(cidr)
    if offering.guest_type == ISOLATED:
        if not zone.guest_network_cidr:
            raise InvalidParameter(f"Zone {zone.name} has no guest CIDR; specify the gateway and netmask")
        cidr = ipaddress.IPv4Network(zone.guest_network_cidr, strict=False)
        return str(cidr.network_address + 1), str(cidr.netmask), str(cidr)
    return None, None, None


def shared_range(p, gateway: str | None, cidr: str | None) -> tuple | None:
    """(network, start, end) of the IP range a network is created with, when startip is given (more
    ranges can be added to the network later with createVlanIpRange networkid=...)."""
    if not p.startip:
        if p.endip:
            raise InvalidParameter("Please specify the startip of the IP range together with its endip")
        return None
    if not cidr:
        raise InvalidParameter("The gateway and netmask parameters are required with startip")
    network = ipaddress.IPv4Network(cidr)
    try:
        start = ipaddress.IPv4Address(p.startip)
        end = ipaddress.IPv4Address(p.endip) if p.endip else start
    except ValueError:
        raise InvalidParameter(f"Invalid startip {p.startip} or endip {p.endip}") from None
    gw = ipaddress.IPv4Address(gateway)
    if start not in network or end not in network or end < start:
        raise InvalidParameter(f"The IP range {start}-{end} is not a range of the network {cidr}")
    if start <= gw <= end:
        raise InvalidParameter(f"The gateway {gw} should not be part of the IP range {start}-{end}")
    return network, start, end


def create_network(ctx, p, offering: NetworkOffering, zone: DataCenter, account: Account, domain: Domain,
                   acl_type: str, pnet: PhysicalNetwork | None = None) -> Network:
    """Rows of a new guest network (and of its IP range): the rules of upstream's createGuestNetwork."""
    if offering.state != "Enabled" or offering.is_system or offering.traffic_type != "Guest":
        raise InvalidParameter(f"Network offering {offering.name} is not an Enabled guest network offering")
    services = services_of(ctx, offering.id)
    check_zone_fits(ctx, zone, offering, services)
    pnet = guest_physical_network(ctx, zone, offering, pnet)
    if offering.for_vpc != bool(p.vpcid):
        usage = "can be used only for VPC tiers; specify vpcid" if offering.for_vpc else \
            "can't be used for VPC tiers"
        raise InvalidParameter(f"Network offering {offering.name} {usage}")
    if acl_type == "Domain" and offering.guest_type == ISOLATED:
        raise InvalidParameter("Isolated networks can only be created with acltype Account")
    tag = network_vlan(ctx, p, zone, offering, pnet)
    gateway, netmask, cidr = (None, None, None) if offering.guest_type == L2 else \
        guest_cidr(p, zone, offering)
    advanced_shared = offering.guest_type == SHARED and zone.networktype != "Basic"
    if advanced_shared and offering.specify_ip_ranges and not cidr:
        raise InvalidParameter("gateway and netmask are required to create a Shared network in an "
                               "Advanced zone")
    if p.networkdomain and not DOMAIN_NAME.match(p.networkdomain):
        raise InvalidParameter(f"Invalid network domain {p.networkdomain}: it must be a valid host name")
    ip_range = shared_range(p, gateway, cidr) if offering.specify_ip_ranges else None
    network = Network(
        name=p.name, display_text=p.displaytext or p.name, traffic_type="Guest",
        guest_type=offering.guest_type,
        broadcast_domain_type=broadcast_type(zone, pnet), broadcast_uri=tag if tag != "untagged" else None,
        gateway=gateway, netmask=netmask, cidr=cidr, network_offering_id=offering.id,
        physical_network_id=pnet.id,
        zone_id=zone.id, account_id=account.id if acl_type == "Account" else SYSTEM_ACCOUNT,
        domain_id=domain.id, acl_type=acl_type, specify_ip_ranges=offering.specify_ip_ranges,
        subdomain_access=(p.subdomainaccess is not False) if acl_type == "Domain" else None,
        vpc_id=getattr(p.vpcid, "id", None), acl_id=getattr(p.aclid, "id", None),
        redundant=offering.redundant_router,
        external_id=p.externalid, display_network=p.displaynetwork is not False, dns1=zone.dns1,
        dns2=zone.dns2,
        ip6_gateway=p.ip6gateway, ip6_cidr=p.ip6cidr, state=initial_state(offering, tag),
        network_domain=p.networkdomain or (default_network_domain(ctx, account, zone) if "Dns" in services
                                           else None))
    ctx.db.add(network)
    ctx.db.flush()
    if ip_range:
        add_guest_range(ctx, network, zone, *ip_range, tag)
    ctx.event("NETWORK.CREATE", f"Network {network.name} created in zone {zone.name}",
              resource_type="Network",
              resource_id=network.uuid, account_id=network.account_id, domain_id=network.domain_id)
    return network


def broadcast_type(zone: DataCenter, pnet: PhysicalNetwork) -> str:
    if zone.networktype == "Basic":
        return "Native"
    return "Vxlan" if addresses.broadcast_scheme(pnet) == "vxlan" else "Vlan"


def initial_state(offering: NetworkOffering, tag: str | None) -> str:
    # Shared networks and networks whose VLAN the admin chose are ready to use at once (upstream "Setup").
    return "Setup" if offering.guest_type == SHARED or tag else "Allocated"


def network_vlan(ctx, p, zone: DataCenter, offering: NetworkOffering, pnet: PhysicalNetwork) -> str | None:
    """The VLAN a network is created on ("vlan://N" or "untagged"), or None when one is allocated later."""
    if zone.networktype == "Basic":
        return None
    if p.vlan is None:
        if offering.specify_vlan:
            raise InvalidParameter(f"vlan is required: network offering {offering.name} has specifyvlan=true")
        return None
    if not offering.specify_vlan:
        raise InvalidParameter(f"Can't specify vlan; network offering {offering.name} has specifyvlan=false")
    if not ctx.caller.is_root_admin and not ctx.caller.is_system:
        raise PermissionDenied("Only ROOT admin is allowed to specify vlan")
    tag = vlan_tag(p.vlan)
    if tag.startswith("vxlan") != (addresses.broadcast_scheme(pnet) == "vxlan") and tag != "untagged":
        tag = f"{addresses.broadcast_scheme(pnet)}://{tag.rpartition('://')[2]}"
    check_vlan_free(ctx, pnet, tag, bool(p.bypassvlanoverlapcheck))
    return tag


def add_guest_range(ctx, network: Network, zone: DataCenter, cidr, start, end, tag: str | None,
                    pod_id: int | None = None) -> Vlan:
    """A DirectAttached range of the network; its addresses are user_ip_address rows (as upstream)."""
    tag = tag or "untagged"
    check_zone_ranges(ctx, zone, cidr, start, end, tag)
    check_pod_system_ranges(ctx, zone, start, end)
    vlan = Vlan(vlan_id=tag, zone_id=zone.id, pod_id=pod_id, network_id=network.id,
                vlan_type=addresses.DIRECT,
                physical_network_id=network.physical_network_id, gateway=network.gateway,
                netmask=network.netmask, start_ip=str(start), end_ip=str(end))
    ctx.db.add(vlan)
    ctx.db.flush()
    add_public_ips(ctx, vlan, start, end)
    ctx.db.execute(update(PublicIp).where(PublicIp.vlan_id == vlan.id).values(source_network_id=network.id)
                   .execution_options(synchronize_session=False))
    return vlan
