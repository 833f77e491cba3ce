"""Physical networks of a zone: isolation, guest VLAN/VNI ranges, state; and their traffic types."""

from sqlalchemy import delete, insert, select

from ..core.db import now
from ..core.errors import ApiError, InvalidParameter, PermissionDenied, ResourceInUse
from ..core.listing import paged
from ..core.params import LIST, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..iam.models import Domain
from . import network_views as views
from .models import (
    DISABLED,
    ENABLED,
    DataCenter,
    GuestVnet,
    NetworkServiceProvider,
    PhysicalNetwork,
    TrafficType,
    Vlan,
)
from .providers import add_default_providers, canonical, remove_provider

ISOLATION_METHODS = ("VLAN", "L3", "GRE", "STT", "VXLAN", "VSP", "VNS", "BCF_SEGMENT", "SSP", "ODL", "L3VPN",
                     "VCS", "TF", "NSX", "NETRIS")
VLAN_BOUNDS = (1, 4094)  # 0 and 4095 are reserved by IEEE 802.1Q
VXLAN_BOUNDS = (1, 16777214)
GRE_BOUNDS = (1, 2**31 - 1)  # upstream allows 32-bit keys; op_dc_vnet_alloc.vnet is a signed INT here
# Every vnet is a row (as upstream's op_dc_vnet_alloc): bound what one physical network may hold.
MAX_VNETS = 100_000


# ---- guest VLAN / VNI ranges ------------------------------------------------------------------


def vnet_bounds(network: PhysicalNetwork) -> tuple[int, int]:
    methods = set(network.isolation_methods.upper().split(","))
    if "GRE" in methods:
        return GRE_BOUNDS
    if "VXLAN" in methods:
        return VXLAN_BOUNDS
    return VLAN_BOUNDS


def parse_vnet_ranges(value: str, bounds: tuple[int, int]) -> list[tuple[int, int]]:
    """"500-599,700-710" → [(500, 599), (700, 710)], each within the isolation method's bounds."""
    low, high = bounds
    between = f" between {low} and {high}"
    ranges = []
    for part in (piece.strip() for piece in value.split(",")):
        if not part:
            continue
        pieces = part.split("-")
        if len(pieces) != 2:
            raise InvalidParameter("Please provide valid vnet range. vnet range should be a comma separated "
                                   f"list of vlan ranges. example 500-500,600-601{between}")
        try:
            start, end = int(pieces[0]), int(pieces[1])
        except ValueError:
            raise InvalidParameter("Please provide valid vnet range. The vnet range should be a comma "
                                   f"separated list example 2001-2012,3000-3005.{between}") from None
        if start < low or end > high:
            raise InvalidParameter(f"Vnet range has to be{between}")
        if start > end:
            raise InvalidParameter(f"Vnet range has to be{between} and start range should be lesser than or "
                                   "equal to stop range")
        ranges.append((start, end))
    return ranges


def expand(ranges: list[tuple[int, int]]) -> set[int]:
    total = sum(end - start + 1 for start, end in ranges)
    if total > MAX_VNETS:
        raise InvalidParameter(f"The vnet range holds {total} vnets; at most {MAX_VNETS} are allowed per "
                               "physical network")
    return {vnet for start, end in ranges for vnet in range(start, end + 1)}


def compress(vnets) -> list[tuple[int, int]]:
    """Vnets → the fewest sorted ranges covering them ({1, 2, 3, 7} → [(1, 3), (7, 7)])."""
    ranges: list[tuple[int, int]] = []
    for vnet in sorted(vnets):
        if ranges and vnet == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], vnet)
        else:
            ranges.append((vnet, vnet))
    return ranges


def range_text(ranges: list[tuple[int, int]]) -> str:
    return ",".join(f"{start}-{end}" for start, end in ranges)


def current_vnets(network: PhysicalNetwork) -> set[int]:
    return expand(parse_vnet_ranges(network.vnet or "", (0, 2**32)))


def check_unique_in_zone(ctx, network: PhysicalNetwork, start: int, end: int) -> None:
    clash = ctx.db.execute(
        select(GuestVnet.vnet, PhysicalNetwork.name)
        .join(PhysicalNetwork, PhysicalNetwork.id == GuestVnet.physical_network_id)
        .where(GuestVnet.zone_id == network.zone_id, GuestVnet.physical_network_id != network.id,
               GuestVnet.vnet.between(start, end)).limit(1)).first()
    if clash:
        raise InvalidParameter(f"The vnet range {start}-{end} overlaps the vnet {clash.vnet} of physical "
                               f"network {clash.name} in the same zone; please specify a unique range")


def set_vnets(ctx, network: PhysicalNetwork, wanted: set[int]) -> None:
    """Make the guest vnets of `network` exactly `wanted`: add the new ones, free the dropped ones."""
    current = current_vnets(network)
    added, dropped = compress(wanted - current), compress(current - wanted)
    for start, end in added:
        check_unique_in_zone(ctx, network, start, end)
    for start, end in dropped:
        in_range = (GuestVnet.physical_network_id == network.id, GuestVnet.vnet.between(start, end))
        if ctx.db.scalar(select(GuestVnet.id).where(*in_range, GuestVnet.taken.is_not(None)).limit(1)):
            raise ResourceInUse(f"The vnet range {start}-{end} of physical network {network.name} can't be "
                                "removed because some of its vnets are in use")
        ctx.db.execute(delete(GuestVnet).where(*in_range))
    rows = [{"zone_id": network.zone_id, "physical_network_id": network.id, "vnet": vnet}
            for start, end in added for vnet in range(start, end + 1)]
    if rows:
        ctx.db.execute(insert(GuestVnet), rows)
    network.vnet = range_text(compress(wanted)) or None


# ---- physical networks ------------------------------------------------------------------------


def isolation_methods(values: list[str] | None) -> list[str]:
    methods = []
    for value in values or ():
        method = canonical(value, ISOLATION_METHODS)
        if method is None:
            raise InvalidParameter(f"Invalid isolation method {value} for parameter isolationmethods; valid "
                                   f"values are {', '.join(ISOLATION_METHODS)}")
        methods.append(method)
    if len(methods) > 1:
        raise InvalidParameter("Only one isolationMethod can be specified for a physical network at this "
                               "time")
    return methods


def broadcast_domain_range(zone: DataCenter, value: str | None) -> str:
    """Basic zones span pods (POD), Advanced zones the zone (ZONE); only those are accepted."""
    expected = "POD" if zone.networktype == "Basic" else "ZONE"
    if not value:
        return expected
    if value.upper() not in ("POD", "ZONE"):
        raise InvalidParameter(f"Unable to resolve broadcastDomainRange '{value}' to a supported value "
                               "{Pod or Zone}")
    if value.upper() != expected:
        kind = "Basic" if expected == "POD" else "Advance"
        raise InvalidParameter(f"{kind} zone can have broadcast domain type of value {expected} only")
    return expected


def single_tag(tags: list[str] | None, text: str) -> str | None:
    if tags and len(tags) > 1:
        raise InvalidParameter(text)
    return tags[0] if tags else None


def zone_networks(ctx, zone_id: int) -> list[PhysicalNetwork]:
    return list(ctx.db.scalars(select(PhysicalNetwork).where(
        PhysicalNetwork.zone_id == zone_id, PhysicalNetwork.removed.is_(None)).order_by(PhysicalNetwork.id)))


def create_physical_network_row(ctx, p) -> PhysicalNetwork:
    zone = p.zoneid
    if zone.allocation_state == ENABLED:
        raise PermissionDenied("Cannot create PhysicalNetwork since the Zone is currently enabled, zone Id: "
                               f"{zone.uuid}")
    if zone.networktype == "Basic" and zone_networks(ctx, zone.id):
        raise ApiError(f"Cannot add the physical network to basic zone id: {zone.uuid}, there is a physical "
                       "network already existing in this basic Zone")
    tag = single_tag(p.tags, "Only one tag can be specified for a physical network at this time")
    methods = isolation_methods(p.isolationmethods)
    if p.vlan and zone.networktype == "Basic":
        raise InvalidParameter("Can't add vnet range to the physical network in the Basic zone")
    network = PhysicalNetwork(zone_id=zone.id, name=p.name, isolation_methods=",".join(methods), tags=tag,
                              speed=p.networkspeed, state=DISABLED,
                              broadcast_domain_range=broadcast_domain_range(zone, p.broadcastdomainrange),
                              domain_id=p.domainid.id if p.domainid else None)
    ctx.db.add(network)
    ctx.db.flush()
    if p.vlan:
        set_vnets(ctx, network, expand(parse_vnet_ranges(p.vlan, vnet_bounds(network))))
    add_default_providers(ctx, network)
    ctx.event("PHYSICAL.NETWORK.CREATE", f"Physical network {network.name} created in zone {zone.name}",
              resource_type="PhysicalNetwork", resource_id=network.uuid)
    return network


def network_view(ctx, network: PhysicalNetwork) -> dict:
    return views.physical_network(ctx, network, ctx.db.get(DataCenter, network.zone_id))


def network_event(ctx, kind: str, network: PhysicalNetwork, text: str) -> None:
    ctx.event(f"PHYSICAL.NETWORK.{kind}", text, resource_type="PhysicalNetwork", resource_id=network.uuid)


@command("createPhysicalNetwork", isasync=True, create=create_physical_network_row,
         response="physicalnetwork", roles=ROOT_ONLY, instance_type="PhysicalNetwork", params=[
    Param("zoneid", UUID, entity=DataCenter, required=True,
          description="the Zone ID for the physical network"),
    Param("name", STRING, required=True, description="the name of the physical network"),
    Param("isolationmethods", LIST, description="the isolation method for the physical network[VLAN/L3/GRE]"),
    Param("vlan", STRING, description="the VLAN for the physical network"),
    Param("tags", LIST, description="Tag the physical network"),
    Param("broadcastdomainrange", STRING, description="the broadcast domain range for the physical "
                                                      "network[Pod or Zone]. In Acton release it can be Zone "
                                                      "only in Advance zone, and Pod in Basic"),
    Param("networkspeed", STRING, description="the speed for the physical network[1G/10G]"),
    Param("domainid", UUID, entity=Domain, description="domain ID of the account owning a physical network"),
])
def create_physical_network(ctx, p):
    """Creates a physical network"""
    return network_view(ctx, ctx.created)


def parse_network_state(value: str) -> str:
    state = canonical(value, (ENABLED, DISABLED))
    if state is None:
        raise InvalidParameter(f"Unable to resolve state '{value}' to a supported value "
                               "{Enabled or Disabled}")
    return state


def wanted_vnets(network: PhysicalNetwork, vlan: str | None, removevlan: str | None) -> set[int]:
    """The vnets after an update: `vlan` replaces the range ("" empties it), `removevlan` cuts from it."""
    bounds = vnet_bounds(network)
    wanted = expand(parse_vnet_ranges(vlan, bounds)) if vlan is not None else current_vnets(network)
    if removevlan:
        wanted -= expand(parse_vnet_ranges(removevlan, bounds))
    return wanted


@command("updatePhysicalNetwork", isasync=True, response="physicalnetwork", roles=ROOT_ONLY,
         instance_type="PhysicalNetwork", params=[
    Param("id", UUID, entity=PhysicalNetwork, required=True, description="physical network id"),
    Param("state", STRING, description="Enabled/Disabled"),
    Param("vlan", STRING, description="the VLAN for the physical network"),
    Param("removevlan", STRING, description="The vlan range we want to remove"),
    Param("tags", LIST, description="Tag the physical network"),
    Param("networkspeed", STRING, description="the speed for the physical network[1G/10G]"),
])
def update_physical_network(ctx, p):
    """Updates a physical network"""
    network = p.id
    zone = ctx.db.get(DataCenter, network.zone_id)
    changes_vnets = p.vlan is not None or bool(p.removevlan)
    if changes_vnets and zone.networktype == "Basic":
        raise InvalidParameter("Can't add vnet range to the physical network in the Basic zone")
    tag = single_tag(p.tags, "Unable to support more than one tag on network yet")
    state = parse_network_state(p.state) if p.state else None
    if changes_vnets:
        set_vnets(ctx, network, wanted_vnets(network, p.vlan, p.removevlan))
    if state:
        network.state = state
    if tag:
        network.tags = tag
    if p.networkspeed:
        network.speed = p.networkspeed
    network_event(ctx, "UPDATE", network, f"Physical network {network.name} updated")
    return network_view(ctx, network)


def check_deletable(ctx, network: PhysicalNetwork) -> None:
    if ctx.db.scalar(select(Vlan.id).where(Vlan.physical_network_id == network.id, Vlan.removed.is_(None))
                     .limit(1)):
        raise ResourceInUse("The Physical Network is not deletable because there are IP ranges associated "
                            "with this physical network")
    if ctx.db.scalar(select(GuestVnet.id).where(GuestVnet.physical_network_id == network.id,
                                                GuestVnet.taken.is_not(None)).limit(1)):
        raise ResourceInUse("The Physical Network is not deletable because there are allocated vnets for "
                            "this physical network")


@command("deletePhysicalNetwork", isasync=True, roles=ROOT_ONLY, instance_type="PhysicalNetwork", params=[
    Param("id", UUID, entity=PhysicalNetwork, required=True, description="the ID of the Physical network"),
])
def delete_physical_network(ctx, p):
    """Deletes a Physical Network."""
    network = p.id
    check_deletable(ctx, network)
    # As upstream, what only describes the network (vnets, providers, traffic types) goes with it.
    ctx.db.execute(delete(GuestVnet).where(GuestVnet.physical_network_id == network.id))
    providers = ctx.db.scalars(select(NetworkServiceProvider).where(
        NetworkServiceProvider.physical_network_id == network.id, NetworkServiceProvider.removed.is_(None)))
    for nsp in providers.all():
        remove_provider(ctx, nsp)
    stamp = now()
    for traffic in network_traffic_types(ctx, network.id):
        traffic.removed = stamp
    network.state, network.vnet, network.removed = DISABLED, None, stamp
    network_event(ctx, "DELETE", network, f"Physical network {network.name} deleted")
    return {"success": True}


@command("listPhysicalNetworks", response="physicalnetwork", listing="list", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=PhysicalNetwork, description="list physical network by id"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID for the physical network"),
    Param("name", STRING, description="search by name"),
])
def list_physical_networks(ctx, p):
    """Lists physical networks"""
    query = select(PhysicalNetwork).where(PhysicalNetwork.removed.is_(None))
    if p.id is not None:
        query = query.where(PhysicalNetwork.id == p.id.id)
    if p.zoneid is not None:
        query = query.where(PhysicalNetwork.zone_id == p.zoneid.id)
    if p.name:
        query = query.where(PhysicalNetwork.name.like(f"%{p.name}%"))
    return paged(ctx, p, query, lambda network: network_view(ctx, network),
                 keyword_columns=(PhysicalNetwork.name,), order_by=PhysicalNetwork.id)


# ---- traffic types ----------------------------------------------------------------------------

TRAFFIC_TYPES = ("Guest", "Public", "Management", "Storage")
# System traffic has one home per zone: its physical network is where system VMs plug in.
ONE_PER_ZONE = ("Public", "Management", "Storage")
LABELS = {"xennetworklabel": "xen_network_label", "kvmnetworklabel": "kvm_network_label",
          "vmwarenetworklabel": "vmware_network_label", "hypervnetworklabel": "hyperv_network_label",
          "ovm3networklabel": "ovm3_network_label", "simulatorlabel": "simulator_network_label"}
_DEDICATED = "The network name label of the physical device dedicated to this traffic on a"
LABEL_PARAMS = [
    Param("xennetworklabel", STRING, description=f"{_DEDICATED} XenServer host"),
    Param("kvmnetworklabel", STRING, description=f"{_DEDICATED} KVM host"),
    Param("vmwarenetworklabel", STRING, description=f"{_DEDICATED} VMware host"),
    Param("hypervnetworklabel", STRING, description=f"{_DEDICATED} Hyperv host"),
    Param("ovm3networklabel", STRING, description="The network name of the physical device dedicated to this "
                                                  "traffic on an OVM3 host"),
]


def network_traffic_types(ctx, network_id: int) -> list[TrafficType]:
    return list(ctx.db.scalars(select(TrafficType).where(TrafficType.physical_network_id == network_id,
                                                         TrafficType.removed.is_(None))))


def zone_carriers(ctx, zone_id: int, traffic: str) -> list[PhysicalNetwork]:
    """The zone's physical networks carrying a traffic type."""
    return list(ctx.db.scalars(
        select(PhysicalNetwork).join(TrafficType, TrafficType.physical_network_id == PhysicalNetwork.id)
        .where(PhysicalNetwork.zone_id == zone_id, PhysicalNetwork.removed.is_(None),
               TrafficType.removed.is_(None), TrafficType.traffic_type == traffic)
        .order_by(PhysicalNetwork.id)))


def check_traffic_type_free(ctx, network: PhysicalNetwork, traffic: str) -> None:
    if any(t.traffic_type == traffic for t in network_traffic_types(ctx, network.id)):
        raise ApiError(f"This physical network already supports the traffic type: {traffic}")
    carriers = zone_carriers(ctx, network.zone_id, traffic)
    if traffic in ONE_PER_ZONE and carriers:
        raise ApiError("Fail to add the traffic type to physical network because Zone already has a physical "
                       f"network with this traffic type: {traffic}")
    # Guest traffic is placed by physical network tags: two untagged carriers would be ambiguous.
    if not network.tags and any(not other.tags for other in carriers):
        zone = ctx.db.get(DataCenter, network.zone_id)
        raise ApiError(f"There are more than 1 physical network without tags in the zone= {zone.uuid}")


def create_traffic_type_row(ctx, p) -> TrafficType:
    network = p.physicalnetworkid
    traffic = canonical(p.traffictype, TRAFFIC_TYPES)
    if traffic is None:
        raise InvalidParameter(f"Unable to resolve trafficType '{p.traffictype}' to a supported value "
                               f"({', '.join(TRAFFIC_TYPES)})")
    check_traffic_type_free(ctx, network, traffic)
    row = TrafficType(physical_network_id=network.id, traffic_type=traffic, vlan=p.vlan,
                      isolation_method=p.isolationmethod,
                      **{column: p.get(param) for param, column in LABELS.items()})
    ctx.db.add(row)
    ctx.db.flush()
    traffic_event(ctx, "CREATE", row, f"Traffic type {traffic} added to physical network {network.name}")
    return row


def traffic_view(ctx, row: TrafficType) -> dict:
    return views.traffic_type(row, ctx.db.get(PhysicalNetwork, row.physical_network_id))


def traffic_event(ctx, kind: str, row: TrafficType, text: str) -> None:
    ctx.event(f"TRAFFIC.TYPE.{kind}", text, resource_type="TrafficType", resource_id=row.uuid)


@command("addTrafficType", isasync=True, create=create_traffic_type_row, response="traffictype",
         roles=ROOT_ONLY, instance_type="TrafficType", params=[
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, required=True,
          description="the Physical Network ID"),
    Param("traffictype", STRING, required=True, description="the trafficType to be added to the physical "
                                                            "network"),
    *LABEL_PARAMS,
    # Not upstream's (its simulator has no labels), but Marvin's deployer sends it: kept, not answered.
    Param("simulatorlabel", STRING, description=f"{_DEDICATED} Simulator host"),
    Param("vlan", STRING, description="The VLAN id to be used for Management traffic by VMware host"),
    Param("isolationmethod", STRING, description="Used if physical network has multiple isolation types "
                                                 "and traffic type is public. Choose which isolation method. "
                                                 "Valid options currently 'vlan' or 'vxlan', defaults to "
                                                 "'vlan'."),
])
def add_traffic_type(ctx, p):
    """Adds traffic type to a physical network"""
    return traffic_view(ctx, ctx.created)


@command("updateTrafficType", isasync=True, response="traffictype", roles=ROOT_ONLY,
         instance_type="TrafficType", params=[
    Param("id", UUID, entity=TrafficType, required=True, description="traffic type id"),
    *LABEL_PARAMS,
])
def update_traffic_type(ctx, p):
    """Updates traffic type of a physical network"""
    row = p.id
    for param, column in LABELS.items():
        if p.get(param) is not None:
            setattr(row, column, p.get(param) or None)  # an empty label clears it
    traffic_event(ctx, "UPDATE", row, f"Traffic type {row.traffic_type} updated")
    return traffic_view(ctx, row)


@command("deleteTrafficType", isasync=True, roles=ROOT_ONLY, instance_type="TrafficType", params=[
    Param("id", UUID, entity=TrafficType, required=True, description="traffic type id"),
])
def delete_traffic_type(ctx, p):
    """Deletes traffic type of a physical network"""
    # Guest networks and storage IPs do not exist yet, so nothing can be using the traffic type.
    p.id.removed = now()
    traffic_event(ctx, "DELETE", p.id, f"Traffic type {p.id.traffic_type} deleted")
    return {"success": True}


@command("listTrafficTypes", response="traffictype", listing="list", roles=ROOT_ONLY, params=[
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, required=True,
          description="the Physical Network ID"),
])
def list_traffic_types(ctx, p):
    """Lists traffic types of a given physical network."""
    query = select(TrafficType).where(TrafficType.physical_network_id == p.physicalnetworkid.id,
                                      TrafficType.removed.is_(None))
    return paged(ctx, p, query, lambda row: views.traffic_type(row, p.physicalnetworkid),
                 keyword_columns=(TrafficType.traffic_type,), order_by=TrafficType.id)
