"""VLAN IP ranges of a zone: public ranges (VirtualNetwork) and guest/direct ranges (DirectAttached).

Every IPv4 address of a range is a `user_ip_address` row, Free until something allocates it; a range
can't be deleted while one of its addresses is in use.
"""

import ipaddress

from sqlalchemy import delete, false, insert, select, update

from ..core.db import now
from ..core.errors import InvalidParameter, ResourceInUse
from ..core.listing import paged
from ..core.params import BOOLEAN, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..iam.models import Account, Domain
from ..iam.service import find_account
from . import network_views as views
from .models import DataCenter, GuestVnet, HostPod, PhysicalNetwork, PublicIp, Vlan
from .physical_networks import VXLAN_BOUNDS, zone_carriers, zone_networks
from .pods import parse_ip

VIRTUAL, DIRECT = "VirtualNetwork", "DirectAttached"
UNTAGGED = "untagged"
FREE = "Free"
MAX_ADDRESSES = 65536  # a range larger than a /16 is a typo, not a plan


# ---- validation -------------------------------------------------------------------------------


def vlan_tag(value: str | None) -> str:
    """The stored broadcast URI of a range's VLAN: "50" and "vlan://50" → "vlan://50"; none → "untagged"."""
    raw = (value or "").strip()
    scheme, _, tag = raw.rpartition("://")
    scheme = scheme.lower() or "vlan"
    if not tag or tag.lower() == UNTAGGED:
        return UNTAGGED
    high = VXLAN_BOUNDS[1] if scheme == "vxlan" else 4094
    if scheme not in ("vlan", "vxlan") or not tag.isdigit() or not 1 <= int(tag) <= high:
        raise InvalidParameter(f"Invalid value {value} for parameter vlan: it must be untagged or a VLAN id "
                               f"between 1 and {high}")
    return f"{scheme}://{int(tag)}"


def ipv4_range(p) -> tuple[ipaddress.IPv4Network, ipaddress.IPv4Address, ipaddress.IPv4Address] | None:
    """(CIDR, start, end) of the request's IPv4 range, checked; None for an IPv6-only range."""
    if not p.startip:
        if p.endip:
            raise InvalidParameter("Please specify the startip of the IP range together with its endip")
        return None
    if not p.gateway or not p.netmask:
        raise InvalidParameter("The gateway and netmask parameters are required with startip")
    start = parse_ip("startip", p.startip)
    end = parse_ip("endip", p.endip) if p.endip else start
    gateway = parse_ip("gateway", p.gateway)
    try:
        cidr = ipaddress.IPv4Network(f"{gateway}/{p.netmask}", strict=False)
    except ValueError:
        raise InvalidParameter(f"Please specify a valid netmask: {p.netmask}") from None
    if end < start:
        raise InvalidParameter(f"Please specify a valid IP range: the startip {start} is greater than the "
                               f"endip {end}")
    for name, address in (("startip", start), ("endip", end)):
        if address not in cidr:
            raise InvalidParameter(f"The {name} {address} is not in the CIDR {cidr} defined by the gateway "
                                   f"{gateway} and netmask {p.netmask}")
    if start <= gateway <= end:
        raise InvalidParameter(f"The gateway {gateway} should not be part of the IP range {start}-{end}")
    if int(end) - int(start) + 1 > MAX_ADDRESSES:
        raise InvalidParameter(f"The IP range {start}-{end} is larger than {MAX_ADDRESSES} addresses")
    return cidr, start, end


def ipv6_range(p) -> str | None:
    """"start-end" of the request's IPv6 range, checked against ip6cidr; None without one."""
    if not p.startipv6:
        return None
    if not p.ip6gateway or not p.ip6cidr:
        raise InvalidParameter("The ip6gateway and ip6cidr parameters are required with startipv6")
    try:
        cidr = ipaddress.IPv6Network(p.ip6cidr, strict=False)
    except ValueError:
        raise InvalidParameter(f"Please specify a valid IPv6 CIDR for ip6cidr: {p.ip6cidr}") from None
    addresses = {}
    for name in ("startipv6", "endipv6", "ip6gateway"):
        value = p.get(name) or p.startipv6
        try:
            addresses[name] = ipaddress.IPv6Address(value)
        except ValueError:
            raise InvalidParameter(f"Please specify a valid IPv6 address for {name}: {value}") from None
        if addresses[name] not in cidr:
            raise InvalidParameter(f"The {name} {value} is not in the ip6cidr {cidr}")
    if addresses["endipv6"] < addresses["startipv6"]:
        raise InvalidParameter(f"Please specify a valid IPv6 range: the startipv6 {p.startipv6} is greater "
                               f"than the endipv6 {p.endipv6}")
    return f"{addresses['startipv6']}-{addresses['endipv6']}"


def address_range(row) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    return ipaddress.IPv4Address(row.start_ip), ipaddress.IPv4Address(row.end_ip)


def check_zone_ranges(ctx, zone: DataCenter, cidr, start, end, tag: str) -> None:
    """No address may be in two ranges, and one subnet belongs to one VLAN."""
    ranges = ctx.db.scalars(select(Vlan).where(Vlan.zone_id == zone.id, Vlan.removed.is_(None),
                                               Vlan.start_ip.is_not(None)))
    for other in ranges:
        other_start, other_end = address_range(other)
        if start <= other_end and other_start <= end:
            raise InvalidParameter(f"The IP range {start}-{end} overlaps the IP range {other_start}-"
                                   f"{other_end} ({other.vlan_id}) already in zone {zone.name}")
        other_cidr = ipaddress.IPv4Network(f"{other.gateway}/{other.netmask}", strict=False)
        if other.vlan_id != tag and cidr.overlaps(other_cidr):
            raise InvalidParameter(f"The IP range with tag {tag} in zone {zone.name} overlaps the subnet "
                                   f"{other_cidr} of the range {other_start}-{other_end} with tag "
                                   f"{other.vlan_id}; please specify a different gateway/netmask")


def check_pod_system_ranges(ctx, zone: DataCenter, start, end) -> None:
    """The pods' reserved system ranges belong to system VMs: no public or guest range may take them."""
    for pod in ctx.db.scalars(select(HostPod).where(HostPod.zone_id == zone.id, HostPod.removed.is_(None))):
        for part in (pod.description or "").split(","):
            if "-" not in part:
                continue
            first, last = (ipaddress.IPv4Address(ip) for ip in part.split("-", 1))
            if start <= last and first <= end:
                raise InvalidParameter(f"The IP range {start}-{end} overlaps the reserved system IP range "
                                       f"{first}-{last} of pod {pod.name}")


def check_guest_vnets(ctx, zone: DataCenter, tag: str) -> None:
    if tag == UNTAGGED:
        return
    number = int(tag.rpartition("://")[2])
    guest = select(GuestVnet.id).where(GuestVnet.zone_id == zone.id, GuestVnet.vnet == number)
    if ctx.db.scalar(guest.limit(1)):
        raise InvalidParameter(f"The VLAN tag {number} is already being used for dynamic vlan allocation for "
                               f"the guest network in zone {zone.name}")


def check_zone_rules(ctx, zone: DataCenter, pod: HostPod | None, public: bool, networkid: str | None) -> None:
    """Basic zones: public ranges only with Elastic IP (a Public traffic type), guest ranges per pod.
    Advanced zones: public ranges are zone-wide."""
    if networkid and public:
        raise InvalidParameter("The networkid parameter can only be given for a guest IP range "
                               "(forvirtualnetwork=false)")
    if zone.networktype == "Basic":
        if public and not zone_carriers(ctx, zone.id, "Public"):
            raise InvalidParameter(f"Public IP ranges can be added to the Basic zone {zone.name} only when "
                                   "one of its physical networks carries Public traffic (Elastic IP / "
                                   "Elastic LB)")
        if not public and pod is None:
            raise InvalidParameter("The podid parameter is required for a guest IP range in a Basic zone")
    elif public and pod is not None:
        raise InvalidParameter("The podid parameter can't be specified for a public IP range in an Advanced "
                               "zone")


def check_guest_network(zone: DataCenter, network, p) -> None:
    """A Basic zone's pod ranges belong to its shared guest network; a range of a network inherits its
    VLAN, gateway and netmask unless given."""
    if network is None:
        if zone.networktype == "Basic":
            raise InvalidParameter("A guest IP range in a Basic zone needs the networkid of the zone's "
                                   "shared "
                                   "guest network")
        return
    if network.zone_id != zone.id:
        raise InvalidParameter(f"The network {network.name} doesn't belong to the zone {zone.name}")
    if network.guest_type != "Shared" and not network.specify_ip_ranges:
        raise InvalidParameter(f"The network {network.name} is not a Shared network; guest IP ranges can be "
                               "added only to Shared networks")
    if p.vlan is None and network.broadcast_uri:
        p["vlan"] = network.broadcast_uri
    if not p.gateway and not p.netmask and network.gateway:
        p["gateway"], p["netmask"] = network.gateway, network.netmask


# ---- resolution of the request ----------------------------------------------------------------


def range_zone(p) -> tuple[DataCenter, HostPod | None]:
    pod = p.podid
    zone = p.zoneid
    if zone is None and pod is None:
        raise InvalidParameter("Please specify the zoneid (or the podid) of the IP range")
    if pod is not None and zone is not None and pod.zone_id != zone.id:
        raise InvalidParameter(f"The pod {pod.name} doesn't belong to the zone {zone.name}")
    return zone, pod


def range_physical_network(ctx, zone: DataCenter, network: PhysicalNetwork | None, public: bool):
    """The physical network named, else the zone's carrier of the range's traffic, else its only one."""
    if network is not None:
        if network.zone_id != zone.id:
            raise InvalidParameter(f"The physical network {network.name} doesn't belong to the zone "
                                   f"{zone.name}")
        return network
    carriers = zone_carriers(ctx, zone.id, "Public" if public else "Guest")
    if carriers:
        return carriers[0]
    networks = zone_networks(ctx, zone.id)
    return networks[0] if len(networks) == 1 else None


def range_owner(ctx, account_name: str | None, domain: Domain | None) -> tuple[Account | None, Domain | None]:
    """The account (or only the domain) a range is dedicated to."""
    if not account_name:
        return None, domain
    domain = domain or ctx.db.get(Domain, ctx.caller.domain_id)
    account = find_account(ctx, account_name, domain)
    if account is None:
        raise InvalidParameter(f"Unable to find account {account_name} in domain {domain.uuid}")
    return account, domain


def add_public_ips(ctx, vlan: Vlan, start, end) -> None:
    ctx.db.execute(insert(PublicIp), [
        {"public_ip_address": str(ipaddress.IPv4Address(i)), "zone_id": vlan.zone_id, "vlan_id": vlan.id,
         "physical_network_id": vlan.physical_network_id, "state": FREE}
        for i in range(int(start), int(end) + 1)])


def range_text(vlan: Vlan) -> str:
    return f"{vlan.start_ip}-{vlan.end_ip}" if vlan.start_ip else vlan.ip6_range or ""


# ---- commands ---------------------------------------------------------------------------------


@command("createVlanIpRange", response="vlan", roles=ROOT_ONLY, params=[
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID of the VLAN IP range"),
    Param("podid", UUID, entity=HostPod, description="optional parameter. Have to be specified for Direct "
                                                     "Untagged vlan only."),
    # The shared guest network a guest (DirectAttached) range belongs to: Basic and SG zones' pod ranges.
    Param("networkid", UUID, entity="Network", description="the network id"),
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, description="the physical network id"),
    Param("startip", STRING, description="the beginning IP address in the VLAN IP range"),
    Param("endip", STRING, description="the ending IP address in the VLAN IP range"),
    Param("gateway", STRING, description="the gateway of the VLAN IP range"),
    Param("netmask", STRING, description="the netmask of the VLAN IP range"),
    Param("vlan", STRING, description="the ID or VID of the VLAN. If not specified, will be defaulted to the "
                                      "vlan of the network or if vlan of the network is null - to Untagged"),
    Param("forvirtualnetwork", BOOLEAN, description="true if VLAN is of Virtual type, false if Direct"),
    Param("forsystemvms", BOOLEAN, description="true if IP range is set to system vms, false if not"),
    Param("account", STRING, description="account who will own the VLAN. If VLAN is Zone wide, this "
                                         "parameter should be omitted"),
    Param("domainid", UUID, entity=Domain, description="domain ID of the account owning a VLAN"),
    Param("startipv6", STRING, description="the beginning IPv6 address in the IPv6 network range"),
    Param("endipv6", STRING, description="the ending IPv6 address in the IPv6 network range"),
    Param("ip6gateway", STRING, description="the gateway of the IPv6 network. Required for Shared networks "
                                            "and Isolated networks when it belongs to VPC"),
    Param("ip6cidr", STRING, description="the CIDR of IPv6 network, must be at least /64"),
])
def create_vlan_ip_range(ctx, p):
    """Creates a VLAN IP range."""
    guest_network = p.networkid
    if guest_network is not None and p.zoneid is None and p.podid is None:
        p["zoneid"] = ctx.db.get(DataCenter, guest_network.zone_id)
    zone, pod = range_zone(p)
    zone = zone or ctx.db.get(DataCenter, pod.zone_id)
    # Upstream defaults to a public range; in a Basic zone the only range without Elastic IP is a guest one.
    public = p.forvirtualnetwork if p.forvirtualnetwork is not None else zone.networktype == "Advanced"
    check_zone_rules(ctx, zone, pod, public, guest_network)
    if not public:
        check_guest_network(zone, guest_network, p)
    if (p.account or p.domainid) and not public:
        raise InvalidParameter("Only public IP ranges (forvirtualnetwork=true) can be dedicated to an "
                               "account or a domain")
    account, domain = range_owner(ctx, p.account, p.domainid)
    tag = vlan_tag(p.vlan)
    ipv4, ipv6 = ipv4_range(p), ipv6_range(p)
    if ipv4 is None and ipv6 is None:
        raise InvalidParameter("Please specify an IPv4 range (startip) or an IPv6 range (startipv6)")
    if ipv4:
        check_zone_ranges(ctx, zone, *ipv4, tag)
        check_pod_system_ranges(ctx, zone, *ipv4[1:])
    check_guest_vnets(ctx, zone, tag)
    network = range_physical_network(ctx, zone, p.physicalnetworkid, public)
    vlan = Vlan(vlan_id=tag, zone_id=zone.id, pod_id=pod.id if pod else None,
                vlan_type=VIRTUAL if public else DIRECT, for_system_vms=bool(p.forsystemvms),
                physical_network_id=network.id if network else None,
                gateway=p.gateway if ipv4 else None, netmask=p.netmask if ipv4 else None,
                start_ip=str(ipv4[1]) if ipv4 else None, end_ip=str(ipv4[2]) if ipv4 else None,
                ip6_gateway=p.ip6gateway if ipv6 else None, ip6_cidr=p.ip6cidr if ipv6 else None,
                ip6_range=ipv6, account_id=account.id if account else None,
                domain_id=domain.id if domain else None)
    ctx.db.add(vlan)
    ctx.db.flush()
    if guest_network is not None and not public:
        vlan.network_id = guest_network.id
    if ipv4:
        add_public_ips(ctx, vlan, *ipv4[1:])
        if vlan.network_id is not None:
            ctx.db.execute(update(PublicIp).where(PublicIp.vlan_id == vlan.id).values(
                source_network_id=vlan.network_id).execution_options(synchronize_session=False))
    ctx.event("VLAN.IP.RANGE.CREATE", f"IP range {range_text(vlan)} ({tag}) created in zone {zone.name}",
              resource_type="VlanIpRange", resource_id=vlan.uuid)
    return views.vlan_range(ctx, vlan)


@command("deleteVlanIpRange", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Vlan, required=True, description="the id of the VLAN IP range"),
])
def delete_vlan_ip_range(ctx, p):
    """Deletes a VLAN IP range."""
    vlan = p.id
    if ctx.db.scalar(select(PublicIp.id).where(PublicIp.vlan_id == vlan.id, PublicIp.state != FREE).limit(1)):
        raise ResourceInUse(f"The IP range {range_text(vlan)} can't be deleted because some of its IP "
                            "addresses are allocated")
    ctx.db.execute(delete(PublicIp).where(PublicIp.vlan_id == vlan.id))
    vlan.removed = now()
    ctx.event("VLAN.IP.RANGE.DELETE", f"IP range {range_text(vlan)} deleted", resource_type="VlanIpRange",
              resource_id=vlan.uuid)
    return {"success": True}


@command("listVlanIpRanges", response="vlaniprange", listing="list", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Vlan, description="the ID of the VLAN IP range"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID of the VLAN IP range"),
    Param("podid", UUID, entity=HostPod, description="the Pod ID of the VLAN IP range"),
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, description="physical network id of the VLAN IP "
                                                                         "range"),
    Param("vlan", STRING, description="the ID or VID of the VLAN. Default is an \"untagged\" VLAN."),
    Param("forvirtualnetwork", BOOLEAN, description="true if VLAN is of Virtual type, false if Direct"),
    Param("account", STRING, description="the account with which the VLAN IP range is associated. Must be "
                                         "used with the domainId parameter."),
    Param("domainid", UUID, entity=Domain, description="the domain ID with which the VLAN IP range is "
                                                       "associated.  If used with the account parameter, "
                                                       "returns all VLAN IP ranges for that account in the "
                                                       "specified domain."),
    Param("networkid", STRING, description="network id of the VLAN IP range"),
])
def list_vlan_ip_ranges(ctx, p):
    """Lists all VLAN IP ranges."""
    query = select(Vlan).where(Vlan.removed.is_(None))
    equal = ((p.id, Vlan.id), (p.zoneid, Vlan.zone_id), (p.podid, Vlan.pod_id),
             (p.physicalnetworkid, Vlan.physical_network_id))
    for row, column in equal:
        if row is not None:
            query = query.where(column == row.id)
    if p.vlan:
        query = query.where(Vlan.vlan_id == vlan_tag(p.vlan))
    if p.forvirtualnetwork is not None:
        query = query.where(Vlan.vlan_type == (VIRTUAL if p.forvirtualnetwork else DIRECT))
    if p.account:
        account, _ = range_owner(ctx, p.account, p.domainid)
        query = query.where(Vlan.account_id == account.id)
    elif p.domainid is not None:
        query = query.where(Vlan.domain_id == p.domainid.id)
    if p.networkid:
        from ..network.models import Network

        network = ctx.db.scalar(select(Network.id).where(Network.uuid == p.networkid))
        query = query.where(Vlan.network_id == network) if network else query.where(false())
    return paged(ctx, p, query, lambda vlan: views.vlan_range(ctx, vlan), keyword_columns=(Vlan.vlan_id,),
                 order_by=Vlan.id)


@command("dedicatePublicIpRange", response="vlan", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Vlan, required=True, description="the id of the VLAN IP range"),
    Param("account", STRING, description="account who will own the VLAN"),
    Param("domainid", UUID, entity=Domain, required=True,
          description="domain ID of the account owning a VLAN"),
])
def dedicate_public_ip_range(ctx, p):
    """Dedicates a Public IP range to an account"""
    vlan = p.id
    if vlan.vlan_type != VIRTUAL:
        raise InvalidParameter(f"The IP range {range_text(vlan)} is not a public IP range; only public IP "
                               "ranges can be dedicated")
    if vlan.account_id or vlan.domain_id:
        raise InvalidParameter(f"The public IP range {range_text(vlan)} is already dedicated")
    account, domain = range_owner(ctx, p.account, p.domainid)
    others = select(PublicIp.id).where(PublicIp.vlan_id == vlan.id, PublicIp.state != FREE)
    others = others.where(PublicIp.account_id != account.id) if account else others.where(
        PublicIp.domain_id != domain.id)
    if ctx.db.scalar(others.limit(1)):
        raise InvalidParameter(f"Public IP addresses of the range {range_text(vlan)} are allocated to "
                               "another account")
    vlan.account_id, vlan.domain_id = (account.id if account else None), domain.id
    ctx.event("VLAN.IP.RANGE.DEDICATE", f"Public IP range {range_text(vlan)} dedicated to "
                                        f"{account.account_name if account else 'domain ' + domain.name}",
              resource_type="VlanIpRange", resource_id=vlan.uuid)
    return views.vlan_range(ctx, vlan)


@command("releasePublicIpRange", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Vlan, required=True, description="the id of the Public IP range"),
])
def release_public_ip_range(ctx, p):
    """Releases a Public IP range back to the system pool"""
    vlan = p.id
    if not (vlan.account_id or vlan.domain_id):
        raise InvalidParameter(f"Can't release the public IP range {range_text(vlan)} as it is not dedicated "
                               "to any domain and any account")
    vlan.account_id = vlan.domain_id = None
    ctx.event("VLAN.IP.RANGE.RELEASE", f"Public IP range {range_text(vlan)} released",
              resource_type="VlanIpRange", resource_id=vlan.uuid)
    return {"success": True}
