"""Guest network commands: create, list, update, delete, restart (the logic lives in guest.py)."""

import ipaddress
from types import SimpleNamespace

from sqlalchemy import and_, exists, false, func, or_, select

from ..core.errors import InvalidParameter, PermissionDenied
from ..core.listing import can_access_domain, check_owner, domain_paths, owner_filter, paged, subtree_ids
from ..core.params import BOOLEAN, LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..iam.models import Account, Domain
from ..iam.service import find_account
from ..infra.models import DataCenter, PhysicalNetwork, PublicIp, Vlan
from ..platform.tags import fill_tags, tag_filter
from ..usage.models import record_usage
from . import guest, guest_creation
from . import network_views as views
from .models import Network, NetworkOffering, NetworkOfferingService, Nic

NETWORK_ID = Param("id", UUID, entity=Network, required=True, description="the ID of the network")


# ---- createNetwork --------------------------------------------------------------------------------

def resolve_owner(ctx, p, offering: NetworkOffering) -> tuple[Account, Domain, str]:
    """(owning account, domain, acl type) of a new network, from acltype/account/domainid."""
    caller = ctx.caller
    acl = p.acltype.capitalize() if p.acltype else None
    if acl not in (None, "Account", "Domain"):
        raise InvalidParameter(f"Invalid acltype {p.acltype}; valid values are Account, Domain")
    if acl is None:
        acl = "Domain" if offering.guest_type == guest.SHARED and not p.account else "Account"
    domain = p.domainid or ctx.db.get(Domain, caller.domain_id)
    if acl == "Domain":
        if not caller.is_admin and not caller.is_system:
            raise PermissionDenied("Only admins can create domain level networks (acltype Domain)")
        if not can_access_domain(ctx, domain.id):
            raise PermissionDenied(f"Account {caller.account_name} does not have permission to access domain "
                                   f"{domain.uuid}")
        return ctx.db.get(Account, caller.account_id), domain, acl
    if p.account:
        account = find_account(ctx, p.account, domain)
        if account is None:
            raise InvalidParameter(f"Unable to find account {p.account} in domain {domain.uuid}")
        check_owner(ctx, account.id, account.domain_id)
    elif p.domainid is not None and p.domainid.id != caller.domain_id:
        raise InvalidParameter("The account must be specified together with domainid for an account network")
    else:
        account = ctx.db.get(Account, caller.account_id)
    return account, ctx.db.get(Domain, account.domain_id), acl


def check_creator(ctx, offering: NetworkOffering, zone: DataCenter) -> None:
    caller = ctx.caller
    if offering.guest_type == guest.SHARED and not (caller.is_admin or caller.is_system):
        raise PermissionDenied("Only admins can create Shared networks")
    if zone.allocation_state != "Enabled" and not (caller.is_root_admin or caller.is_system):
        raise PermissionDenied(f"Cannot perform this operation, zone {zone.name} is currently disabled")


@command("createNetwork", response="network", params=[
    Param("name", STRING, required=True, description="the name of the network"),
    Param("displaytext", STRING, description="the display text of the network"),
    Param("networkofferingid", UUID, entity=NetworkOffering, required=True, description="the network "
                                                                                        "offering ID"),
    Param("zoneid", UUID, entity=DataCenter, required=True, description="the zone ID for the network"),
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, description="the physical network ID the "
                                                                         "network belongs to"),
    Param("gateway", STRING, description="the gateway of the network. Required for shared networks and "
                                         "isolated networks when it belongs to VPC"),
    Param("netmask", STRING, description="the netmask of the network. Required for shared networks and "
                                         "isolated networks when it belongs to VPC"),
    Param("startip", STRING, description="the beginning IP address in the network IP range"),
    Param("endip", STRING, description="the ending IP address in the network IP range. If not specified, "
                                       "will be defaulted to startIP"),
    Param("vlan", STRING, description="the ID or VID of the network"),
    Param("bypassvlanoverlapcheck", BOOLEAN, description="when true bypasses VLAN id/range overlap check "
                                                         "during network creation for shared and L2 "
                                                         "networks"),
    Param("isolatedpvlan", STRING, description="the isolated private VLAN for this network"),
    Param("isolatedpvlantype", STRING, description="the isolated private VLAN type for this network"),
    Param("networkdomain", STRING, description="network domain"),
    Param("acltype", STRING, description="Access control type; supported values are account and domain. In "
                                         "3.0 all shared networks should have aclType=Domain, and all "
                                         "isolated networks - Account. Account means that only the account "
                                         "owner can use the network, domain - all accounts in the domain can "
                                         "use the network"),
    Param("account", STRING, description="account that will own the network. Account should be under the "
                                         "selected domain"),
    Param("domainid", UUID, entity=Domain, description="domain ID of the account owning a network. If the "
                                                       "account is not specified, but the acltype is Domain, "
                                                       "the network will be created for the specified "
                                                       "domain."),
    Param("projectid", STRING, description="an optional project for the network"),
    Param("subdomainaccess", BOOLEAN, description="Defines whether to allow subdomains to use networks "
                                                  "dedicated to their parent domain(s). Should be used with "
                                                  "aclType=Domain, defaulted to "
                                                  "allow.subdomain.network.access global config if not "
                                                  "specified"),
    Param("vpcid", STRING, description="the VPC network belongs to"),
    Param("aclid", STRING, description="Network ACL ID associated for the network"),
    Param("ip6gateway", STRING, description="the gateway of the IPv6 network. Required for Shared networks"),
    Param("ip6cidr", STRING, description="the CIDR of IPv6 network, must be at least /64"),
    Param("startipv6", STRING, description="the beginning IPv6 address in the IPv6 network range"),
    Param("endipv6", STRING, description="the ending IPv6 address in the IPv6 network range"),
    Param("displaynetwork", BOOLEAN, description="an optional field, whether to the display the network to "
                                                 "the end user or not."),
    Param("externalid", STRING, description="ID of the network in an external system."),
    Param("hideipaddressusage", BOOLEAN, description="when true ip address usage for the network will not be "
                                                     "exported by the listUsageRecords API"),
    Param("dns1", STRING, description="the first IPv4 DNS for the network. Empty string will update the "
                                      "first IPv4 DNS with the value from the zone"),
    Param("dns2", STRING, description="the second IPv4 DNS for the network."),
    Param("sourcenatipaddress", STRING, description="IPV4 address to be assigned to the public interface of "
                                                    "the network router"),
])
async def create_network(ctx, p):
    """Creates a network"""
    offering, zone = p.networkofferingid, p.zoneid
    check_creator(ctx, offering, zone)
    account, domain, acl = resolve_owner(ctx, p, offering)
    network = guest.create_network(ctx, p, offering, zone, account, domain, acl, p.physicalnetworkid)
    if p.dns1:
        network.dns1, network.dns2 = p.dns1, p.dns2 or network.dns2
    if offering.persistent and network.guest_type != guest.SHARED:
        # Persistent networks are implemented at creation, without any VM (spec §6.20).
        ctx.commit()
        await guest.implement(ctx, network)
    return views.network(ctx, network)


# ---- listNetworks ---------------------------------------------------------------------------------

def ancestors(ctx, domain_id: int) -> list[int]:
    paths = domain_paths(ctx)
    own = paths.get(domain_id, ("",))[0]
    return [d for d, (path, _) in paths.items() if own.startswith(path) and d != domain_id]


def usable_domain_networks(ctx, domain_ids: list[int]):
    """Domain networks usable from these domains: theirs, and their ancestors' granting subdomain access."""
    above = {a for d in domain_ids for a in ancestors(ctx, d)} - set(domain_ids)
    return and_(Network.acl_type == "Domain", or_(Network.domain_id.in_(domain_ids), and_(
        Network.domain_id.in_(above), Network.subdomain_access.is_not(False))))


def domain_scope(ctx, p) -> list[int] | None:
    """Domains whose domain networks the listing covers (None: every domain)."""
    caller = ctx.caller
    if p.account:
        domain = p.domainid or ctx.db.get(Domain, caller.domain_id)
        account = find_account(ctx, p.account, domain)
        return [account.domain_id] if account else [domain.id]
    if p.domainid is not None:
        return subtree_ids(ctx, p.domainid.id) if p.isrecursive or p.listall else [p.domainid.id]
    if p.listall and (caller.is_root_admin or caller.is_system):
        return None
    if p.listall and caller.is_domain_admin:
        return subtree_ids(ctx, caller.domain_id)
    return [caller.domain_id]


def visible(ctx, p):
    account_networks = owner_filter(ctx, p, select(Network.id).where(Network.acl_type == "Account"), Network)
    scope = domain_scope(ctx, p)
    domain_networks = Network.acl_type == "Domain" if scope is None else usable_domain_networks(ctx, scope)
    return or_(Network.id.in_(account_networks), domain_networks)


def offering_filters(p, query):
    if p.forvpc is not None:
        query = query.where(NetworkOffering.for_vpc.is_(p.forvpc))
    if p.isdefault is not None:
        query = query.where(NetworkOffering.is_default.is_(p.isdefault))
    for service in p.supportedservices or ():
        query = query.where(exists().where(NetworkOfferingService.offering_id == NetworkOffering.id,
                                           func.lower(NetworkOfferingService.service) == service.lower()))
    if p.networkofferingid is not None:
        query = query.where(NetworkOffering.id == p.networkofferingid.id)
    return query


def deployable():
    ranges = exists().where(Vlan.network_id == Network.id, Vlan.removed.is_(None))
    free = exists().where(PublicIp.vlan_id == Vlan.id, Vlan.network_id == Network.id, Vlan.removed.is_(None),
                          PublicIp.state == "Free")
    return and_(Network.traffic_type == "Guest", or_(~ranges, free))


@command("listNetworks", response="network", listing="owned", params=[
    Param("id", UUID, entity=Network, check_access=False, description="list networks by ID"),
    Param("name", STRING, description="list networks by name"),
    Param("zoneid", UUID, entity=DataCenter, description="the zone ID of the network"),
    Param("type", STRING, description="the type of the network. Supported values are: isolated, l2, shared "
                                      "and all"),
    Param("isdefault", BOOLEAN, description="true if network is default, false otherwise"),
    Param("traffictype", STRING, description="type of the traffic"),
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, description="list networks by physical network "
                                                                         "id"),
    Param("acltype", STRING, description="list networks by ACL (access control list) type. Supported values "
                                         "are account and domain"),
    Param("issystem", BOOLEAN, description="true if network is system, false otherwise"),
    Param("canusefordeploy", BOOLEAN, description="list networks available for VM deployment"),
    Param("forvpc", BOOLEAN, description="the network belongs to VPC"),
    Param("vpcid", STRING, description="List networks by VPC"),
    Param("restartrequired", BOOLEAN, description="list networks by restartRequired"),
    Param("specifyipranges", BOOLEAN, description="true if need to list only networks which support "
                                                  "specifying IP ranges"),
    Param("supportedservices", LIST, description="list networks supporting certain services"),
    Param("networkofferingid", UUID, entity=NetworkOffering, description="list networks by network offering "
                                                                         "ID"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
    Param("displaynetwork", BOOLEAN, description="list resources by display flag; only ROOT admin is "
                                                 "eligible to pass this parameter"),
    Param("projectid", STRING, description="list objects by project"),
    Param("networkfilter", STRING, description="possible values are Account, Domain, AccountDomain, Shared "
                                               "and All"),
])
def list_networks(ctx, p):
    """Lists all available networks."""
    privileged = ctx.caller.is_root_admin or ctx.caller.is_system
    query = select(Network).join(NetworkOffering, NetworkOffering.id == Network.network_offering_id).where(
        Network.removed.is_(None), NetworkOffering.is_system.is_(bool(p.issystem and privileged)))
    if p.id is None or not privileged:
        query = query.where(visible(ctx, p))
    equal = ((p.id, Network.id), (p.zoneid, Network.zone_id),
             (p.physicalnetworkid, Network.physical_network_id))
    for row, column in equal:
        if row is not None:
            query = query.where(column == row.id)
    if p.name:
        query = query.where(func.lower(Network.name) == p.name.lower())
    if p.type and p.type.lower() != "all":
        query = query.where(func.lower(Network.guest_type) == p.type.lower())
    for value, column in ((p.traffictype, Network.traffic_type), (p.acltype, Network.acl_type)):
        if value:
            query = query.where(func.lower(column) == value.lower())
    for value, column in ((p.restartrequired, Network.restart_required),
                          (p.displaynetwork, Network.display_network),
                          (p.specifyipranges, Network.specify_ip_ranges)):
        if value is not None:
            query = query.where(column.is_(value))
    if p.vpcid:
        query = query.where(false())  # no VPC exists yet
    if p.canusefordeploy is not None:
        query = query.where(deployable() if p.canusefordeploy else ~deployable())
    query = tag_filter(ctx, offering_filters(p, query), Network, "Network", p.tags)
    page = paged(ctx, p, query, lambda row: row, keyword_columns=(Network.name, Network.display_text),
                 order_by=Network.id)
    page.items = views.networks(ctx, page.items)
    return fill_tags(ctx, "Network", page)


# ---- updateNetwork --------------------------------------------------------------------------------

def reservation_for(network: Network, value: str) -> str | None:
    """The reserved ranges text for a guest VM CIDR (None: the whole CIDR is for VMs)."""
    try:
        full = ipaddress.IPv4Network(network.cidr, strict=False)
        wanted = ipaddress.IPv4Network(value, strict=False)
    except (TypeError, ValueError):
        raise InvalidParameter(f"Invalid guestvmcidr {value}") from None
    if not wanted.subnet_of(full):
        raise InvalidParameter(f"The guestvmcidr {wanted} is not a subset of the network CIDR {full}")
    if wanted == full:
        return None
    parts = []
    if wanted.network_address > full.network_address:
        parts.append(f"{full.network_address}-{wanted.network_address - 1}")
    if wanted.broadcast_address < full.broadcast_address:
        parts.append(f"{wanted.broadcast_address + 1}-{full.broadcast_address}")
    return ",".join(parts)


def apply_guest_vm_cidr(ctx, network: Network, value: str) -> None:
    if network.guest_type != guest.ISOLATED or not network.cidr:
        raise InvalidParameter("guestvmcidr can be set only for Isolated networks")
    reservation = reservation_for(network, value)
    wanted = ipaddress.IPv4Network(value, strict=False)
    outside = [ip for ip in ctx.db.scalars(select(Nic.ip4_address).where(
        Nic.network_id == network.id, Nic.ip4_address.is_not(None), Nic.ip4_address != network.gateway))
        if ipaddress.IPv4Address(ip) not in wanted]
    if outside:
        raise InvalidParameter(f"The guestvmcidr {wanted} doesn't contain the addresses of existing NICs "
                               f"({', '.join(outside[:5])})")
    network.reservation_range = reservation


def change_offering(ctx, network: Network, offering: NetworkOffering) -> None:
    current = ctx.db.get(NetworkOffering, network.network_offering_id)
    if offering.id == current.id:
        return
    if offering.state != "Enabled" or offering.is_system:
        raise InvalidParameter(f"Network offering {offering.name} is not Enabled")
    if offering.guest_type != current.guest_type or offering.for_vpc != current.for_vpc:
        raise InvalidParameter(f"Can't change network {network.name} to offering {offering.name}: the guest "
                               f"type {offering.guest_type} differs from {current.guest_type}")
    for nic in ctx.db.scalars(select(Nic).where(Nic.network_id == network.id, Nic.vm_type == "User")):
        for kind, offering_id in (("REMOVE", current.id), ("ASSIGN", offering.id)):
            record_usage(ctx, f"NETWORK.OFFERING.{kind}", account_id=network.account_id,
                         domain_id=network.domain_id, zone_id=network.zone_id, offering_id=offering_id,
                         resource=SimpleNamespace(id=nic.instance_id, uuid=None, name=str(nic.id)),
                         size=int(nic.is_default))
    network.network_offering_id = offering.id
    network.restart_required = network.state == "Implemented"


@command("updateNetwork", isasync=True, response="network", instance_type="Network", params=[
    NETWORK_ID,
    Param("name", STRING, description="the new name for the network"),
    Param("displaytext", STRING, description="the new display text for the network"),
    Param("networkdomain", STRING, description="network domain"),
    Param("networkofferingid", UUID, entity=NetworkOffering, description="network offering ID"),
    Param("guestvmcidr", STRING, description="CIDR for guest VMs, CloudStack allocates IPs to guest VMs only "
                                             "from this CIDR"),
    Param("changecidr", BOOLEAN, description="Force update even if CIDR type is different"),
    Param("forced", BOOLEAN, description="Setting this to true will cause a forced network update"),
    Param("displaynetwork", BOOLEAN, description="an optional field, whether to the display the network to "
                                                 "the end user or not."),
    Param("customid", STRING, description="an optional field, in case you want to set a custom id to the "
                                          "resource. Allowed to Root Admins only"),
    Param("hideipaddressusage", BOOLEAN, description="when true ip address usage for the network will not be "
                                                     "exported by the listUsageRecords API"),
    Param("updateinsequence", BOOLEAN, description="if true, we will update the routers one after the other"),
    Param("dns1", STRING, description="the first IPv4 DNS for the network"),
    Param("dns2", STRING, description="the second IPv4 DNS for the network"),
])
async def update_network(ctx, p):
    """Updates a network"""
    network = p.id
    if p.name:
        network.name = p.name
    if p.displaytext:
        network.display_text = p.displaytext
    if p.networkdomain and p.networkdomain != network.network_domain:
        if not guest_creation.DOMAIN_NAME.match(p.networkdomain):
            raise InvalidParameter(f"Invalid network domain {p.networkdomain}: it must be a valid host name")
        network.network_domain = p.networkdomain
        network.restart_required = network.state == "Implemented"
    if p.displaynetwork is not None:
        network.display_network = p.displaynetwork
    if p.dns1:
        network.dns1, network.restart_required = p.dns1, network.state == "Implemented"
    if p.dns2:
        network.dns2 = p.dns2
    if p.guestvmcidr:
        apply_guest_vm_cidr(ctx, network, p.guestvmcidr)
    if p.networkofferingid is not None:
        change_offering(ctx, network, p.networkofferingid)
        if p.networkofferingid.persistent and network.guest_type != guest.SHARED:
            ctx.commit()
            await guest.implement(ctx, network)
    ctx.event("NETWORK.UPDATE", f"Network {network.name} updated", resource_type="Network",
              resource_id=network.uuid, account_id=network.account_id, domain_id=network.domain_id)
    return views.network(ctx, network)


# ---- deleteNetwork / restartNetwork -------------------------------------------------------------

@command("deleteNetwork", isasync=True, instance_type="Network", params=[
    NETWORK_ID,
    Param("forced", BOOLEAN, description="Force delete a network. Network will be marked as 'Destroy' even "
                                         "when commands to shutdown and cleanup to the backend fails."),
])
async def delete_network(ctx, p):
    """Deletes a network"""
    if p.forced and not (ctx.caller.is_root_admin or ctx.caller.is_system):
        raise PermissionDenied("Only root admins can force the deletion of a network")
    await guest.delete_network(ctx, p.id)
    return {"success": True}


@command("restartNetwork", isasync=True, instance_type="Network", params=[
    NETWORK_ID,
    Param("cleanup", BOOLEAN, description="If cleanup old network elements"),
    Param("makeredundant", BOOLEAN, description="Turn the network into a network with redundant routers."),
    Param("livepatch", BOOLEAN, description="Live patches the router software before restarting it. This "
                                            "parameter will only work when 'cleanup' is false."),
])
async def restart_network(ctx, p):
    """Restarts the network; includes 1) restarting network elements - virtual routers, DHCP servers 2)
    reapplying all ip addresses 3) reapplying all firewall/port forwarding rules"""
    network = p.id
    if p.makeredundant:
        offering = ctx.db.get(NetworkOffering, network.network_offering_id)
        if not offering.redundant_router:
            raise InvalidParameter(f"Network {network.name} can't be made redundant: its offering "
                                   f"{offering.name} doesn't support redundant routers")
    await guest.restart(ctx, network, bool(p.cleanup))
    return {"success": True}

