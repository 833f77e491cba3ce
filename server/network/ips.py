"""Public IP addresses of accounts: associateIpAddress, disassociateIpAddress, listPublicIpAddresses.

Acquiring takes a Free address of the zone with a conditional UPDATE (never handed out twice, even by
several management servers), counts it against the account's public_ip limit and bills NET.IPASSIGN;
the job then tells the network's router (IpAssocCommand) and marks it Allocated. Releasing revokes every
rule on the address first, as upstream does, then gives it back.
"""

from types import SimpleNamespace

from sqlalchemy import and_, delete, false, or_, select, update

from ..core.db import now
from ..core.errors import InsufficientCapacity, InvalidParameter, PermissionDenied
from ..core.listing import check_owner, owner_filter, paged
from ..core.params import BOOLEAN, MAP, STRING, UUID, Param
from ..core.registry import command
from ..iam import limits
from ..iam.models import Account, Domain
from ..iam.owners import finalize_owner
from ..infra.models import DataCenter, PhysicalNetwork, PublicIp, Vlan
from ..platform.tags import tag_filter
from ..usage.models import record_usage
from . import addresses, rules
from . import rule_views as views
from .guest import check_network_use
from .guest_creation import ISOLATED, services_of
from .models import FirewallRule, Network, StaticNat

RULE_SERVICES = ("SourceNat", "StaticNat", "PortForwarding", "Lb")
ALLOCATING, ALLOCATED, RELEASING = "Allocating", "Allocated", "Releasing"


# ---- acquiring ------------------------------------------------------------------------------------

def target_network(ctx, p, owner: Account) -> Network:
    """The network the address is for: the one named, else the owner's one isolated network of the zone."""
    if p.vpcid:
        raise InvalidParameter(f"Unable to find VPC by id={p.vpcid}: VPCs are not available on this server")
    if p.networkid is not None:
        return p.networkid
    if p.zoneid is None:
        raise InvalidParameter("Either networkid, vpcid or zoneid must be specified to associate an IP "
                               "address")
    owned = list(ctx.db.scalars(select(Network).where(
        Network.zone_id == p.zoneid.id, Network.account_id == owner.id, Network.guest_type == ISOLATED,
        Network.vpc_id.is_(None), Network.removed.is_(None)).order_by(Network.id)))
    if len(owned) != 1:
        raise InvalidParameter(f"Unable to figure out the network to associate the IP address with in zone "
                               f"{p.zoneid.name}: account {owner.account_name} has {len(owned)} isolated "
                               "networks there; specify networkid")
    return owned[0]


def check_network(ctx, network: Network, owner: Account, p) -> DataCenter:
    check_network_use(ctx, network, owner)
    zone = ctx.db.get(DataCenter, network.zone_id)
    if p.zoneid is not None and p.zoneid.id != zone.id:
        raise InvalidParameter(f"Network {network.name} doesn't belong to zone {p.zoneid.name}")
    if zone.allocation_state != "Enabled" and not (ctx.caller.is_root_admin or ctx.caller.is_system):
        raise PermissionDenied(f"Cannot perform this operation, Zone is currently disabled: {zone.uuid}")
    services = services_of(ctx, network.network_offering_id)
    if not any(service in services for service in RULE_SERVICES):
        raise InvalidParameter(f"Network {network.name} supports none of the services "
                               f"{', '.join(RULE_SERVICES)}; public IP addresses can't be associated with it")
    return zone


def claim(ctx, network: Network, owner: Account, wanted: str | None) -> PublicIp:
    """Take a Free address of the zone for the owner (Allocating until the router knows it)."""
    base = select(PublicIp.id).join(Vlan, PublicIp.vlan_id == Vlan.id).where(
        PublicIp.zone_id == network.zone_id, PublicIp.state == addresses.FREE,
        addresses.usable_public_ranges(network))
    if wanted:
        base = base.where(PublicIp.public_ip_address == wanted)
    for _ in range(addresses.RETRIES):
        candidate = ctx.db.scalar(base.order_by(Vlan.account_id.is_(None), PublicIp.id).limit(1))
        if candidate is None and wanted:
            raise InvalidParameter(f"The requested IP address {wanted} is not free in the public ranges of "
                                   "the zone usable by the account")
        if candidate is None:
            raise InsufficientCapacity("Insufficient address capacity: no free public IP address in zone "
                                       f"for network {network.name}")
        claim_it = update(PublicIp).where(PublicIp.id == candidate, PublicIp.state == addresses.FREE)
        taken = ctx.db.execute(claim_it.values(state=ALLOCATING, allocated=now(), account_id=owner.id,
                                       domain_id=owner.domain_id, network_id=network.id)
                               .execution_options(synchronize_session=False)).rowcount
        if taken == 1:
            ip = ctx.db.get(PublicIp, candidate)
            ctx.db.refresh(ip)
            return ip
    raise InsufficientCapacity("Insufficient address capacity: concurrent allocations kept winning")


def address_owner(ctx, p) -> Account:
    """The account named, else the owner of the account network named (upstream's entity owner), else
    the caller."""
    network = p.networkid
    if p.account is None and p.domainid is None and network is not None and network.acl_type == "Account":
        check_owner(ctx, network.account_id, network.domain_id)
        return ctx.db.get(Account, network.account_id)
    return finalize_owner(ctx, p.account, p.domainid)


def take_address(ctx, p) -> PublicIp:
    """associateIpAddress's create step: checks, limit, the address claimed (sync errors: 431/531/532/533)."""
    if p.isportable:
        raise InvalidParameter("Portable IP addresses are not available: no portable IP range is defined")
    owner = address_owner(ctx, p)
    network = target_network(ctx, p, owner)
    check_network(ctx, network, owner, p)
    limits.reserve(ctx, owner.id, "public_ip")
    ip = claim(ctx, network, owner, p.ipaddress)
    ip.for_display = p.fordisplay is not False
    # Upstream: a network with source NAT but no source NAT address yet takes this one as its own.
    if "SourceNat" in services_of(ctx, network.network_offering_id) and \
            addresses.source_nat_ip(ctx, network) is None:
        ip.is_source_nat = True
    record_usage(ctx, "NET.IPASSIGN", account_id=owner.id, domain_id=owner.domain_id, zone_id=ip.zone_id,
                 resource=addresses.ip_resource(ip), resource_type=addresses.VIRTUAL,
                 size=int(ip.is_source_nat))
    ctx.event("NET.IPASSIGN", f"IP {ip.public_ip_address} associated with network {network.name}",
              resource_type="IpAddress", resource_id=ip.uuid, account_id=owner.id, domain_id=owner.domain_id)
    return ip


def give_back(ctx, ip: PublicIp, network_name: str) -> None:
    """Free an address (release, or a failed association): usage, limit and event follow."""
    account_id, domain_id = ip.account_id, ip.domain_id
    record_usage(ctx, "NET.IPRELEASE", account_id=account_id, domain_id=domain_id, zone_id=ip.zone_id,
                 resource=addresses.ip_resource(ip), resource_type=addresses.VIRTUAL,
                 size=int(ip.is_source_nat))
    ctx.event("NET.IPRELEASE", f"IP {ip.public_ip_address} released from network {network_name}",
              resource_type="IpAddress", resource_id=ip.uuid, account_id=account_id, domain_id=domain_id)
    ctx.db.execute(delete(StaticNat).where(StaticNat.ip_address_id == ip.id))
    addresses.free_public_ip(ip)
    ip.network_id = None
    limits.release(ctx, account_id, "public_ip")


def router_service(ctx, network: Network) -> str | None:
    """A service of the network served by its router (the router then holds the network's addresses)."""
    services = services_of(ctx, network.network_offering_id)
    return next((s for s in RULE_SERVICES + ("Firewall",)
                 if any(p in rules.ROUTER_PROVIDERS for p in services.get(s, ()))), None)


async def tell_router(ctx, network: Network, ip: PublicIp, add: bool) -> None:
    service = router_service(ctx, network)
    if service is None:
        return
    await rules.send(ctx, network, service, "IpAssocCommand", "IP association",
                     ips=[{"publicip": ip.public_ip_address, "add": add, "sourcenat": ip.is_source_nat}])


IP_PARAMS = [
    Param("zoneid", UUID, entity=DataCenter,
          description="the ID of the availability zone you want to acquire an public IP address from"),
    Param("networkid", UUID, entity=Network, check_access=False, description="The network this IP address "
                                                                             "should be associated to."),
    Param("vpcid", STRING, description="the VPC you want the IP address to be associated with"),
    Param("ipaddress", STRING, description="IP Address to be associated"),
    Param("account", STRING, description="the account to associate with this IP address"),
    Param("domainid", UUID, entity=Domain, description="the ID of the domain to associate with this IP "
                                                       "address"),
    Param("projectid", STRING, description="Deploy vm for the project"),
    Param("isportable", BOOLEAN, description="should be set to true if public IP is required to be "
                                             "transferable across zones, if not specified defaults to false"),
    Param("fordisplay", BOOLEAN, description="an optional field, whether to the display the IP to the end "
                                             "user or not"),
]


@command("associateIpAddress", isasync=True, response="ipaddress", create=take_address,
         instance_type="IpAddress", params=IP_PARAMS)
async def associate_ip_address(ctx, p):
    """Acquires and associates a public IP to an account."""
    ip = ctx.created
    network = ctx.db.get(Network, ip.network_id)
    try:
        await tell_router(ctx, network, ip, add=True)
    except Exception:
        ctx.db.refresh(ip)
        give_back(ctx, ip, network.name)
        ctx.commit()
        raise
    ctx.db.refresh(ip)
    ip.state = ALLOCATED
    return views.public_ips(ctx, [ip])[0]


# ---- releasing ------------------------------------------------------------------------------------

def check_releasable(ip: PublicIp) -> None:
    if ip.state not in (ALLOCATED, ALLOCATING) or ip.account_id is None:
        raise InvalidParameter(f"IP address {ip.public_ip_address} is not allocated; it can't be released")
    if ip.is_system or (ip.vm_id is not None and not ip.is_static_nat):
        raise InvalidParameter(f"IP address {ip.public_ip_address} is used by a virtual machine or a system "
                               "VM and can't be released")
    if ip.is_source_nat:
        raise InvalidParameter(f"IP address {ip.public_ip_address} is a source nat ip address and can't be "
                               "released; it is released with its network")


async def revoke_all(ctx, ip: PublicIp, network: Network) -> None:
    """Every rule on the address, its static NAT too, revoked and applied (upstream's release does this)."""
    found = list(ctx.db.scalars(select(FirewallRule).where(FirewallRule.ip_address_id == ip.id,
                                                           FirewallRule.removed.is_(None))))
    rules.mark_revoked(ctx, found)
    if ip.is_static_nat:
        ctx.db.execute(delete(StaticNat).where(StaticNat.ip_address_id == ip.id))
        ip.is_static_nat, ip.vm_id = False, None
        found.append(SimpleNamespace(purpose=rules.STATIC_NAT, traffic_type=rules.INGRESS))
    for purpose in dict.fromkeys(rule.purpose for rule in found):
        if purpose in rules.COMMAND:
            await rules.apply(ctx, network, purpose)


@command("disassociateIpAddress", isasync=True, instance_type="IpAddress", params=[
    Param("id", UUID, entity=PublicIp, description="the ID of the public IP address to disassociate"),
    Param("ipaddress", STRING, since="4.19", description="IP Address to be disassociated. Mutually exclusive "
                                                         "with the id parameter"),
])
async def disassociate_ip_address(ctx, p):
    """Disassociates an IP address from the network."""
    ip = address_of(ctx, p)
    check_releasable(ip)
    network = ctx.db.get(Network, ip.network_id) if ip.network_id else None
    ip.state = RELEASING
    try:
        if network is not None:
            await revoke_all(ctx, ip, network)
            await tell_router(ctx, network, ip, add=False)
    except Exception:
        ctx.db.refresh(ip)
        ip.state = ALLOCATED
        ctx.commit()
        raise
    ctx.db.refresh(ip)
    give_back(ctx, ip, network.name if network else "-")
    return {"success": True}


def address_of(ctx, p) -> PublicIp:
    if (p.id is None) == (p.ipaddress is None):
        raise InvalidParameter("Either id or ipaddress must be specified (not both)")
    if p.id is not None:
        return p.id
    ip = ctx.db.scalars(select(PublicIp).where(PublicIp.public_ip_address == p.ipaddress,
                                               PublicIp.state != addresses.FREE)).first()
    if ip is None:
        raise InvalidParameter(f"Unable to find an allocated IP address {p.ipaddress}")
    check_owner(ctx, ip.account_id, ip.domain_id)
    return ip


# ---- listing --------------------------------------------------------------------------------------

def filters(p, query):
    checks = [(p.id, lambda v: PublicIp.id == v.id), (p.ipaddress, lambda v: PublicIp.public_ip_address == v),
              (p.zoneid, lambda v: PublicIp.zone_id == v.id), (p.vlanid, lambda v: PublicIp.vlan_id == v.id),
              (p.associatednetworkid, lambda v: PublicIp.network_id == v.id),
              (p.networkid, lambda v: or_(PublicIp.network_id == v.id, PublicIp.source_network_id == v.id)),
              (p.isstaticnat, lambda v: PublicIp.is_static_nat.is_(v)),
              (p.issourcenat, lambda v: PublicIp.is_source_nat.is_(v)),
              (p.state, lambda v: PublicIp.state == v), (p.fordisplay, lambda v: PublicIp.for_display.is_(v)),
              (p.forvirtualnetwork,
               lambda v: Vlan.vlan_type == ("VirtualNetwork" if v else "DirectAttached")),
              (p.physicalnetworkid, lambda v: or_(PublicIp.physical_network_id == v.id,
                                                  Vlan.physical_network_id == v.id))]
    for value, condition in checks:
        if value is not None:
            query = query.where(condition(value))
    if p.vpcid:
        query = query.where(false())
    if p.forloadbalancing:
        query = query.where(PublicIp.id.in_(select(FirewallRule.ip_address_id).where(
            FirewallRule.purpose == rules.LOAD_BALANCING)))
    return query


@command("listPublicIpAddresses", response="publicipaddress", listing="owned", params=[
    Param("id", UUID, entity=PublicIp, check_access=False, description="lists IP address by ID"),
    Param("ipaddress", STRING, description="lists the specified IP address"),
    Param("allocatedonly", BOOLEAN, description="limits search results to allocated public IP addresses"),
    Param("associatednetworkid", UUID, entity=Network, check_access=False,
          description="lists all public IP addresses associated to the network specified"),
    Param("networkid", UUID, entity=Network, check_access=False,
          description="lists all public IP addresses by source network ID"),
    Param("zoneid", UUID, entity=DataCenter, description="lists all public IP addresses by zone ID"),
    Param("vlanid", UUID, entity=Vlan, description="lists all public IP addresses by VLAN ID"),
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, description="lists all public IP addresses by "
                                                                         "physical network ID"),
    Param("isstaticnat", BOOLEAN, description="list only static NAT IP addresses"),
    Param("issourcenat", BOOLEAN, description="list only source NAT IP addresses"),
    Param("forvirtualnetwork", BOOLEAN, description="the virtual network for the IP address"),
    Param("forloadbalancing", BOOLEAN, description="list only IPs used for load balancing"),
    Param("state", STRING, description="lists all public IP addresses by state"),
    Param("vpcid", STRING, description="List IPs belonging to the VPC"),
    Param("fordisplay", BOOLEAN, description="list resources by display flag; only ROOT admin is eligible to "
                                             "pass this parameter"),
    Param("projectid", STRING, description="list objects by project"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
])
def list_public_ip_addresses(ctx, p):
    """Lists all public IP addresses"""
    query = select(PublicIp).join(Vlan, Vlan.id == PublicIp.vlan_id).where(PublicIp.removed.is_(None))
    owned = owner_filter(ctx, p, select(PublicIp.id).where(PublicIp.account_id.is_not(None)), PublicIp)
    mine = PublicIp.id.in_(owned)
    if p.allocatedonly is False and (ctx.caller.is_root_admin or ctx.caller.is_system):
        # Free addresses belong to nobody: admins see them when they ask for more than allocated ones.
        query = query.where(or_(mine, and_(PublicIp.state == addresses.FREE, PublicIp.account_id.is_(None))))
    else:
        query = query.where(mine, PublicIp.allocated.is_not(None))
    if p.tags:
        query = tag_filter(ctx, query, PublicIp, "PublicIpAddress", p.tags)
    query = filters(p, query)
    result = paged(ctx, p, query, lambda ip: ip, keyword_columns=(PublicIp.public_ip_address,),
                   order_by=PublicIp.id)
    result.items = views.public_ips(ctx, result.items)
    return result
