"""Network offerings: the defaults every cloud starts with, and the commands that manage them.

Names and display texts are what clients match (spec/ecosystem-defaults.md §4): Terraform by name, the
Ansible modules also by display text, Marvin's deployer by name.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..compute.models import ServiceOffering
from ..core.db import now
from ..core.errors import InvalidParameter, ResourceInUse
from ..core.listing import domain_paths, paged_list
from ..core.params import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..iam.models import Domain
from ..infra.models import DataCenter, NetworkServiceProvider, PhysicalNetwork
from . import capabilities as caps
from . import network_views as views
from .models import Network, NetworkOffering, NetworkOfferingService

VR, SGP, NS, CD = "VirtualRouter", "SecurityGroupProvider", "Netscaler", "ConfigDrive"
VPC_VR, ILB = "VpcVirtualRouter", "InternalLbVm"
_BASIC_VR = {"Dhcp": VR, "Dns": VR, "UserData": VR}
_ISOLATED_VR = {s: VR for s in ("Dhcp", "Dns", "UserData", "Firewall", "Gateway", "Lb", "SourceNat",
                                "StaticNat", "PortForwarding", "Vpn")}
_VPC_TIER = {s: VPC_VR for s in ("Dhcp", "Dns", "UserData", "NetworkACL", "Gateway", "Lb", "SourceNat",
                                 "StaticNat", "PortForwarding", "Vpn")}
_SHARED_RANGES = {"specify_vlan": True, "specify_ip_ranges": True}

# (name, display text, guest type, {service: provider}, flags) — ecosystem-defaults.md §4, upstream order.
DEFAULT_OFFERINGS = (
    ("DefaultSharedNetworkOfferingWithSGService", "Offering for Shared Security group enabled networks",
     "Shared", {**_BASIC_VR, "SecurityGroup": SGP}, _SHARED_RANGES),
    ("DefaultSharedNetworkOffering", "Offering for Shared networks", "Shared", _BASIC_VR, _SHARED_RANGES),
    ("DefaultIsolatedNetworkOfferingWithSourceNatService",
     "Offering for Isolated networks with Source Nat service enabled", "Isolated", _ISOLATED_VR,
     {"availability": "Required", "public_lb": True}),
    ("DefaultIsolatedNetworkOffering", "Offering for Isolated networks with no Source Nat service",
     "Isolated", _BASIC_VR, _SHARED_RANGES),
    ("DefaultSharedNetscalerEIPandELBNetworkOffering",
     "Offering for Shared networks with Elastic IP and Elastic LB capabilities", "Shared",
     {**_BASIC_VR, "SecurityGroup": SGP, "StaticNat": NS, "Lb": NS},
     {**_SHARED_RANGES, "elastic_ip": True, "elastic_lb": True, "associate_public_ip": True,
      "public_lb": True}),
    ("DefaultIsolatedNetworkOfferingForVpcNetworks",
     "Offering for Isolated Vpc networks with Source Nat service enabled", "Isolated", _VPC_TIER,
     {"for_vpc": True, "public_lb": True, "conserve_mode": False}),
    ("DefaultIsolatedNetworkOfferingForVpcNetworksNoLB",
     "Offering for Isolated Vpc networks with Source Nat service enabled and LB service Disabled", "Isolated",
     {k: v for k, v in _VPC_TIER.items() if k != "Lb"}, {"for_vpc": True, "conserve_mode": False}),
    ("DefaultIsolatedNetworkOfferingForVpcNetworksWithInternalLB",
     "Offering for Isolated Vpc networks with Internal LB support", "Isolated",
     {**{s: VPC_VR for s in ("Dhcp", "Dns", "UserData", "NetworkACL", "Gateway", "SourceNat")}, "Lb": ILB},
     {"for_vpc": True, "internal_lb": True, "conserve_mode": False}),
    ("QuickCloudNoServices", "Offering for QuickCloud with no services", "Shared", {}, _SHARED_RANGES),
    ("DefaultL2NetworkOffering", "Offering for L2 networks", "L2", {}, {}),
    ("DefaultL2NetworkOfferingVlan", "Offering for L2 networks VLAN", "L2", {}, {"specify_vlan": True}),
    ("DefaultL2NetworkOfferingConfigDrive", "Offering for L2 networks with config drive user data", "L2",
     {"UserData": CD}, {}),
    ("DefaultL2NetworkOfferingConfigDriveVlan", "Offering for L2 networks with config drive user data VLAN",
     "L2", {"UserData": CD}, {"specify_vlan": True}),
)
# System offerings: the networks of system traffic types (not listed unless issystem=true).
SYSTEM_OFFERINGS = (
    ("System-Public-Network", "Public"), ("System-Management-Network", "Management"),
    ("System-Control-Network", "Control"), ("System-Storage-Network", "Storage"),
    ("System-Private-Gateway-Network-Offering", "Guest"),
    ("System-Private-Gateway-Network-Offering-Without-Vlan", "Guest"),
)


def seed_network_offerings(db: Session) -> None:
    """Create the default and system network offerings a fresh cloud has (idempotent, by unique name)."""
    existing = set(db.scalars(select(NetworkOffering.unique_name).where(NetworkOffering.removed.is_(None))))
    for name, text, guest_type, services, flags in DEFAULT_OFFERINGS:
        if name in existing:
            continue
        offering = NetworkOffering(name=name, unique_name=name, display_text=text, guest_type=guest_type,
                                   state="Enabled", is_default=True, conserve_mode=True,
                                   egress_default_policy=False,
                                   source_nat_type="peraccount" if "SourceNat" in services else None)
        for key, value in flags.items():
            setattr(offering, key, value)
        db.add(offering)
        db.flush()
        db.add_all(NetworkOfferingService(offering_id=offering.id, service=s, provider=p)
                   for s, p in services.items())
    for name, traffic in SYSTEM_OFFERINGS:
        if name in existing:
            continue
        private_gateway = traffic == "Guest"
        db.add(NetworkOffering(name=name, unique_name=name, display_text=name if private_gateway else
                               f"System Offering for {name}", traffic_type=traffic, state="Enabled",
                               is_system=True, is_default=True, availability="Required",
                               guest_type="Isolated" if private_gateway else None,
                               specify_vlan=private_gateway and not name.endswith("Without-Vlan")))
    db.flush()


# ---- createNetworkOffering -----------------------------------------------------------------------

def canonical_choice(value: str | None, choices: tuple[str, ...], name: str, default: str | None = None):
    if value is None:
        return default
    found = next((c for c in choices if c.lower() == value.lower()), None)
    if found is None:
        raise InvalidParameter(f"Invalid value {value} for parameter {name}; valid values are "
                               f"{', '.join(choices)}")
    return found


def check_flags(guest_type: str, chosen: dict, specify_ip_ranges: bool, specify_vlan: bool,
                persistent: bool) -> None:
    """upstream's rules on specifyipranges, specifyvlan and persistence per guest type."""
    if specify_ip_ranges and guest_type == "Isolated" and "SourceNat" in chosen:
        raise InvalidParameter("SpecifyIpRanges can only be true for Shared network offerings and Isolated "
                               "ones with no SourceNat service")
    if not specify_ip_ranges and guest_type == "Shared":
        raise InvalidParameter("SpecifyIpRanges should always be true for Shared network offerings")
    if guest_type == "Shared" and not specify_vlan and "Connectivity" not in chosen:
        raise InvalidParameter("SpecifyVlan should be true if network offering's type is Shared")
    if persistent and guest_type == "Shared":
        raise InvalidParameter("Persistent network offerings can be created only for Isolated and L2 "
                               "networks")


def check_required(ctx, availability: str, guest_type: str | None, chosen: dict, exclude: int | None = None):
    """Availability Required: one isolated offering with source NAT (the one VMs get by default)."""
    if availability != "Required":
        return
    if guest_type != "Isolated" or "SourceNat" not in chosen:
        raise InvalidParameter("Availability can be Required only for network offerings of type Isolated "
                               "with the SourceNat service")
    other = ctx.db.scalar(select(NetworkOffering.name).where(
        NetworkOffering.availability == "Required", NetworkOffering.guest_type == "Isolated",
        NetworkOffering.is_system.is_(False), NetworkOffering.removed.is_(None),
        NetworkOffering.id != (exclude or 0)).limit(1))
    if other:
        raise InvalidParameter(f"Network offering {other} already has availability Required; only one can")


def internet_protocol(value: str | None) -> str:
    return canonical_choice(value, ("IPv4", "DualStack"), "internetprotocol", "IPv4")


def scope_ids(rows: list | None) -> str | None:
    return ",".join(str(r.id) for r in rows) if rows else None


def apply_capabilities(offering: NetworkOffering, chosen: dict, values: dict[str, dict[str, str]]) -> None:
    source_nat = values.get("SourceNat", {})
    offering.source_nat_type = (source_nat.get("SupportedSourceNatTypes", "peraccount")
                                if "SourceNat" in chosen else None)
    redundant = source_nat.get("RedundantRouter") or values.get("Gateway", {}).get("RedundantRouter")
    offering.redundant_router = redundant == "true"
    lb = values.get("Lb", {})
    offering.elastic_lb = lb.get("ElasticLb") == "true"
    schemes = lb.get("LbSchemes", "public")
    offering.internal_lb, offering.public_lb = ("Lb" in chosen and schemes == "internal",
                                                "Lb" in chosen and schemes == "public")
    static_nat = values.get("StaticNat", {})
    offering.elastic_ip = static_nat.get("ElasticIp") == "true"
    offering.associate_public_ip = static_nat.get("AssociatePublicIP") == "true"
    connectivity = values.get("Connectivity", {})
    offering.supports_strechted_l2 = connectivity.get("StretchedL2Subnet") == "true"
    offering.supports_public_access = connectivity.get("PublicAccess") == "true"


def name_taken(ctx, name: str, exclude: int | None = None) -> bool:
    return ctx.db.scalar(select(NetworkOffering.id).where(
        func.lower(NetworkOffering.unique_name) == name.lower(), NetworkOffering.removed.is_(None),
        NetworkOffering.id != (exclude or 0)).limit(1)) is not None


CREATE_PARAMS = [
    Param("name", STRING, required=True, description="the name of the network offering"),
    Param("displaytext", STRING, description="the display text of the network offering, defaults to the "
                                             "value of 'name'."),
    Param("guestiptype", STRING, required=True, description="guest type of the network offering: Shared or "
                                                            "Isolated"),
    Param("traffictype", STRING, required=True, description="the traffic type for the network offering. "
                                                            "Supported type in current release is GUEST "
                                                            "only"),
    Param("supportedservices", LIST, description="services supported by the network offering"),
    Param("serviceproviderlist", MAP, description="provider to service mapping. If not specified, the "
                                                  "provider for the service will be mapped to the default "
                                                  "provider on the physical network"),
    Param("servicecapabilitylist", MAP, description="desired service capabilities as part of network "
                                                    "offering"),
    Param("specifyvlan", BOOLEAN, description="true if network offering supports vlans"),
    Param("specifyipranges", BOOLEAN, description="true if network offering supports specifying ip ranges; "
                                                  "defaulted to false if not specified"),
    Param("conservemode", BOOLEAN, description="true if the network offering is IP conserve mode enabled"),
    Param("ispersistent", BOOLEAN, description="true if network offering supports persistent networks; "
                                               "defaulted to false if not specified"),
    Param("egressdefaultpolicy", BOOLEAN, description="true if guest network default egress policy is allow; "
                                                      "false if default egress policy is deny"),
    Param("availability", STRING, description="the availability of network offering. The default value is "
                                              "Optional.  Another value is Required, which will make it as "
                                              "the default network offering for new networks"),
    Param("networkrate", INTEGER, description="data transfer rate in megabits per second allowed"),
    Param("tags", STRING, length=4096, description="the tags for the network offering."),
    Param("forvpc", BOOLEAN, description="true if network offering is meant to be used for VPC, false "
                                         "otherwise."),
    Param("domainid", LIST, of=UUID, entity=Domain, description="the ID of the containing domain(s), null "
                                                                "for public offerings"),
    Param("zoneid", LIST, of=UUID, entity=DataCenter, description="the ID of the containing zone(s), null "
                                                                  "for public offerings"),
    Param("enable", BOOLEAN, since="4.16", description="set to true if the offering is to be enabled during "
                                                       "creation. Default is false"),
    Param("internetprotocol", STRING, description="The internet protocol of network offering. Options are "
                                                  "ipv4 and dualstack. Default is ipv4."),
    Param("serviceofferingid", UUID, entity=ServiceOffering, description="the service offering ID used by "
                                                                         "virtual router provider"),
    Param("maxconnections", INTEGER, description="maximum number of concurrent connections supported by the "
                                                 "network offering"),
    Param("keepaliveenabled", BOOLEAN,
          description="if true keepalive will be turned on in the loadbalancer."),
    Param("details", MAP, description="Network offering details in key/value pairs."),
]


@command("createNetworkOffering", response="networkoffering", roles=ROOT_ONLY, params=CREATE_PARAMS)
def create_network_offering(ctx, p):
    """Creates a network offering."""
    guest_type = canonical_choice(p.guestiptype, ("Isolated", "Shared", "L2"), "guestiptype")
    if p.traffictype.lower() != "guest":
        raise InvalidParameter("Only traffic type Guest is supported for network offerings, got "
                               f"{p.traffictype}")
    if name_taken(ctx, p.name):
        raise InvalidParameter(f"Network offering with name {p.name} already exists")
    for_vpc = bool(p.forvpc)
    chosen = caps.service_map(p.supportedservices, p.serviceproviderlist, for_vpc)
    caps.check_providers(chosen, for_vpc)
    caps.check_guest_type(guest_type, chosen, for_vpc)
    values = caps.capability_map(p.servicecapabilitylist, chosen)
    check_flags(guest_type, chosen, bool(p.specifyipranges), bool(p.specifyvlan), bool(p.ispersistent))
    availability = canonical_choice(p.availability, ("Required", "Optional"), "availability", "Optional")
    check_required(ctx, availability, guest_type, chosen)
    offering = NetworkOffering(
        name=p.name, unique_name=p.name, display_text=p.displaytext or p.name, guest_type=guest_type,
        state="Enabled" if p.enable else "Disabled", availability=availability,
        specify_vlan=bool(p.specifyvlan),
        specify_ip_ranges=bool(p.specifyipranges), conserve_mode=p.conservemode is not False,
        persistent=bool(p.ispersistent), egress_default_policy=p.egressdefaultpolicy is not False,
        for_vpc=for_vpc,
        network_rate=p.networkrate, tags=p.tags or None, max_connections=p.maxconnections,
        internet_protocol=internet_protocol(p.internetprotocol),
        service_offering_id=p.serviceofferingid.id if p.serviceofferingid else None,
        domain_ids=scope_ids(p.domainid), zone_ids=scope_ids(p.zoneid))
    apply_capabilities(offering, chosen, values)
    ctx.db.add(offering)
    ctx.db.flush()
    for service, providers in chosen.items():
        ctx.db.add_all(NetworkOfferingService(offering_id=offering.id, service=service, provider=provider,
                                              capabilities=caps.capabilities_json(values.get(service)))
                       for provider in providers)
    ctx.db.flush()
    ctx.event("NETWORK.OFFERING.CREATE", f"Network offering {offering.name} created",
              resource_type="NetworkOffering", resource_id=offering.uuid)
    return views.network_offering(ctx, offering)


# ---- update / delete -----------------------------------------------------------------------------

def parse_scope(ctx, value: str | None, model, public_word: str) -> str | None:
    """"public"/"all" → None; a comma list of UUIDs → internal ids."""
    if value is None or value.strip().lower() == public_word:
        return None
    ids = []
    for part in (v.strip() for v in value.split(",") if v.strip()):
        ids.append(ctx.get(model, part, model.__name__.lower() + "id").id)
    return ",".join(map(str, ids))


def editable(offering: NetworkOffering) -> NetworkOffering:
    if offering.is_system or offering.removed is not None:
        raise InvalidParameter(f"Network offering {offering.name} is a system offering and can't be changed")
    return offering


@command("updateNetworkOffering", response="networkoffering", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=NetworkOffering, description="the id of the network offering"),
    Param("name", STRING, description="the name of the network offering"),
    Param("displaytext", STRING, description="the display text of the network offering"),
    Param("availability", STRING, description="the availability of network offering. The value is Required "
                                              "makes this network offering default for Guest Virtual "
                                              "Networks. Only one network offering can have the value "
                                              "Required"),
    Param("state", STRING, description="update state for the network offering"),
    Param("sortkey", INTEGER, description="sort key of the network offering, integer"),
    Param("tags", STRING, length=4096, description="the tags for the network offering."),
    Param("domainid", STRING, description="the ID of the containing domain(s) as comma separated string, "
                                          "public for public offerings"),
    Param("zoneid", STRING, description="the ID of the containing zone(s) as comma separated string, all for "
                                        "all zones offerings"),
    Param("maxconnections", INTEGER, description="maximum number of concurrent connections supported by the "
                                                 "network offering"),
    Param("keepaliveenabled", BOOLEAN,
          description="if true keepalive will be turned on in the loadbalancer."),
])
def update_network_offering(ctx, p):
    """Updates a network offering."""
    if p.id is None:
        raise InvalidParameter("Please specify the id of the network offering")
    offering = editable(p.id)
    if p.name and p.name != offering.name:
        if name_taken(ctx, p.name, exclude=offering.id):
            raise InvalidParameter(f"Network offering with name {p.name} already exists")
        offering.name = p.name
    if p.displaytext:
        offering.display_text = p.displaytext
    if p.availability:
        availability = canonical_choice(p.availability, ("Required", "Optional"), "availability")
        services = offering_services(ctx, [offering.id])[offering.id]
        check_required(ctx, availability, offering.guest_type, services,
                       exclude=offering.id)
        offering.availability = availability
    if p.state:
        offering.state = canonical_choice(p.state, ("Enabled", "Disabled"), "state")
    if p.sortkey is not None:
        offering.sort_key = p.sortkey
    if p.tags is not None:
        offering.tags = p.tags or None
    if p.maxconnections is not None:
        offering.max_connections = p.maxconnections
    if p.domainid is not None:
        offering.domain_ids = parse_scope(ctx, p.domainid, Domain, "public")
    if p.zoneid is not None:
        offering.zone_ids = parse_scope(ctx, p.zoneid, DataCenter, "all")
    ctx.event("NETWORK.OFFERING.EDIT", f"Network offering {offering.name} updated",
              resource_type="NetworkOffering",
              resource_id=offering.uuid)
    return views.network_offering(ctx, offering)


@command("deleteNetworkOffering", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=NetworkOffering, required=True, description="the ID of the network offering"),
])
def delete_network_offering(ctx, p):
    """Deletes a network offering."""
    offering = editable(p.id)
    if offering.is_default:
        raise InvalidParameter(f"Default network offering {offering.name} can't be deleted")
    used = ctx.db.scalar(select(func.count()).select_from(Network).where(
        Network.network_offering_id == offering.id, Network.removed.is_(None)))
    if used:
        raise ResourceInUse(f"Can't delete network offering {offering.name} as it is used by {used} "
                            "networks. To make the network offering unavailable, disable it")
    offering.removed = now()
    offering.state = "Disabled"
    ctx.event("NETWORK.OFFERING.DELETE", f"Network offering {offering.name} deleted",
              resource_type="NetworkOffering", resource_id=offering.uuid)
    return {"success": True}


# ---- listNetworkOfferings ------------------------------------------------------------------------

def visible_to_domain(ctx, offering, domain_id: int) -> bool:
    """Public offerings, and those of the domain or of one of its ancestors."""
    ids = [int(i) for i in (offering.domain_ids or "").split(",") if i]
    if not ids:
        return True
    paths = domain_paths(ctx)
    own = paths.get(domain_id, ("",))[0]
    return any(i in paths and own.startswith(paths[i][0]) for i in ids)


def zone_providers(ctx, zone: DataCenter) -> set[str] | None:
    """Providers on the zone's physical networks (None when it has none yet: nothing to filter by)."""
    names = ctx.db.scalars(select(NetworkServiceProvider.provider_name).join(
        PhysicalNetwork, PhysicalNetwork.id == NetworkServiceProvider.physical_network_id).where(
        PhysicalNetwork.zone_id == zone.id, PhysicalNetwork.removed.is_(None),
        NetworkServiceProvider.removed.is_(None)))
    found = set(names)
    return found or None


def fits_zone(ctx, offering, services: dict, zone: DataCenter, providers: set[str] | None) -> bool:
    ids = [int(i) for i in (offering.zone_ids or "").split(",") if i]
    if ids and zone.id not in ids:
        return False
    if zone.networktype == "Basic" and (offering.guest_type != "Shared" or offering.for_vpc):
        return False
    sg = "SecurityGroup" in services
    if zone.networktype == "Advanced" and not zone.security_group_enabled and sg:
        return False
    if zone.security_group_enabled and offering.guest_type == "Isolated":
        return False
    return providers is None or all(p in providers for ps in services.values() for p in ps)


def offering_services(ctx, ids: list[int]) -> dict[int, dict[str, list[str]]]:
    found: dict[int, dict[str, list[str]]] = {i: {} for i in ids}
    row = NetworkOfferingService
    rows = ctx.db.execute(select(row.offering_id, row.service, row.provider).where(row.offering_id.in_(ids)))
    for offering_id, service, provider in rows:
        found[offering_id].setdefault(service, []).append(provider)
    return found


def base_query(p):
    query = select(NetworkOffering).where(NetworkOffering.removed.is_(None),
                                          NetworkOffering.is_system.is_(bool(p.issystem)))
    exact = ((p.id, NetworkOffering.id), (p.traffictype, NetworkOffering.traffic_type),
             (p.availability, NetworkOffering.availability), (p.isdefault, NetworkOffering.is_default),
             (p.specifyvlan, NetworkOffering.specify_vlan),
             (p.specifyipranges, NetworkOffering.specify_ip_ranges),
             (p.forvpc, NetworkOffering.for_vpc), (p.state, NetworkOffering.state))
    for value, column in exact:
        if value is not None:
            value = value.id if hasattr(value, "id") else value
            matches = func.lower(column) == value.lower() if isinstance(value, str) else column == value
            query = query.where(matches)
    if p.name:
        query = query.where(func.lower(NetworkOffering.name) == p.name.lower())
    if p.displaytext:
        query = query.where(func.lower(NetworkOffering.display_text) == p.displaytext.lower())
    if p.guestiptype:
        query = query.where(func.lower(NetworkOffering.guest_type) == p.guestiptype.lower())
    if p.keyword:
        pattern = f"%{p.keyword}%"
        query = query.where(NetworkOffering.name.like(pattern) | NetworkOffering.display_text.like(pattern))
    if p.istagged is not None:
        tags = NetworkOffering.tags
        query = query.where(tags.is_not(None) if p.istagged else tags.is_(None))
    if p.tags:
        query = query.where(NetworkOffering.tags == p.tags)
    return query.order_by(NetworkOffering.sort_key, NetworkOffering.id)


def keep(ctx, p, offering, services: dict, zone_filter) -> bool:
    caller = ctx.caller
    privileged = caller.is_root_admin or caller.is_system
    hidden = offering.state != "Enabled" or not visible_to_domain(ctx, offering, caller.domain_id)
    if not privileged and hidden:
        return False
    if p.domainid is not None and not visible_to_domain(ctx, offering, p.domainid.id):
        return False
    if p.supportedservices:
        wanted = {caps.canonical(s, caps.SERVICES, "Network Service") for s in p.supportedservices}
        if not wanted <= set(services):
            return False
    if p.sourcenatsupported is not None and ("SourceNat" in services) != p.sourcenatsupported:
        return False
    if p.networkid is not None:
        current = ctx.db.get(NetworkOffering, p.networkid.network_offering_id)
        if offering.guest_type != current.guest_type or offering.for_vpc != current.for_vpc:
            return False
        if offering.id != current.id and offering.state != "Enabled":
            return False
    return zone_filter is None or fits_zone(ctx, offering, services, *zone_filter)


@command("listNetworkOfferings", response="networkoffering", listing="list", params=[
    Param("id", UUID, entity=NetworkOffering, description="list network offerings by ID"),
    Param("name", STRING, description="list network offerings by name"),
    Param("displaytext", STRING, description="list network offerings by display text"),
    Param("traffictype", STRING, description="list by traffic type"),
    Param("isdefault", BOOLEAN, description="true if need to list only default network offerings. Default "
                                            "value is false"),
    Param("specifyvlan", BOOLEAN, description="the tags for the network offering."),
    Param("availability", STRING, description="the availability of network offering. Default value is "
                                              "required"),
    Param("zoneid", UUID, entity=DataCenter, description="list network offerings available for network "
                                                         "creation in specific zone"),
    Param("state", STRING, description="list network offerings by state"),
    Param("guestiptype", STRING, description="list network offerings by guest type: shared or isolated"),
    Param("supportedservices", LIST, description="list network offerings supporting certain services"),
    Param("sourcenatsupported", BOOLEAN, description="true if need to list only netwok offerings where "
                                                     "source NAT is supported, false otherwise"),
    Param("specifyipranges", BOOLEAN, description="true if need to list only network offerings which support "
                                                  "specifying ip ranges"),
    Param("forvpc", BOOLEAN, description="the network offering can be used only for network creation inside "
                                         "the VPC"),
    Param("istagged", BOOLEAN, description="true if offering has tags specified"),
    Param("tags", STRING, description="list network offerings by tags"),
    Param("networkid", UUID, entity=Network, description="the ID of the network. Pass this in if you want to "
                                                         "see the available network offering that a network "
                                                         "can be changed to."),
    Param("issystem", BOOLEAN, description="true if need to list only system network offerings"),
    Param("domainid", UUID, entity=Domain, description="list network offerings available for network "
                                                       "creation in specific domain"),
    Param("isrecursive", BOOLEAN, description="true if need to list only netwok offerings which are "
                                              "associated with the domain and its subdomains"),
])
def list_network_offerings(ctx, p):
    """Lists all available network offerings."""
    if p.issystem and not (ctx.caller.is_root_admin or ctx.caller.is_system):
        raise InvalidParameter("Only root admins can list system network offerings")
    offerings = list(ctx.db.scalars(base_query(p)))
    services = offering_services(ctx, [o.id for o in offerings])
    zone_filter = (p.zoneid, zone_providers(ctx, p.zoneid)) if p.zoneid is not None else None
    kept = [o for o in offerings if keep(ctx, p, o, services[o.id], zone_filter)]
    page = paged_list(ctx, p, kept)
    page.items = views.network_offerings(ctx, page.items)
    return page
