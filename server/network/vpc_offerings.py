"""VPC offerings: the three defaults (spec/ecosystem-defaults.md §5) and the commands managing them.

`listVPCOfferings name=` matches a substring, as upstream (the Ansible test container disables every
offering matching `Nuage` that way); clients wanting one offering compare names exactly themselves.
"""

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..compute.models import ServiceOffering
from ..core.db import now
from ..core.errors import InvalidParameter
from ..core.listing import paged_list
from ..core.params import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..iam.models import Domain
from ..infra.models import DataCenter
from . import capabilities as caps
from . import network_views as views
from .models import VpcOffering, VpcOfferingService
from .offerings import canonical_choice, internet_protocol, parse_scope, scope_ids, visible_to_domain

_VPC = "VpcVirtualRouter"
_COMMON = {s: [_VPC] for s in ("Dhcp", "Dns", "UserData", "NetworkACL", "PortForwarding", "SourceNat",
                               "StaticNat", "Gateway", "Vpn")}
DEFAULT_VPC_OFFERINGS = (
    ("Default VPC offering", {**_COMMON, "Lb": [_VPC, "InternalLbVm"]}, False),
    ("Default VPC  offering with Netscaler", {**_COMMON, "Lb": ["Netscaler", "InternalLbVm"]}, False),
    ("Redundant VPC offering", {**_COMMON, "Lb": [_VPC, "InternalLbVm"]}, True),
)


def seed_vpc_offerings(db: Session) -> None:
    """Create the default VPC offerings (idempotent, by unique name); the first is the default."""
    existing = set(db.scalars(select(VpcOffering.unique_name).where(VpcOffering.removed.is_(None))))
    for name, services, redundant in DEFAULT_VPC_OFFERINGS:
        if name in existing:
            continue
        offering = VpcOffering(name=name, unique_name=name, display_text=name, state="Enabled",
                               is_default=name == "Default VPC offering", redundant_router=redundant)
        db.add(offering)
        db.flush()
        db.add_all(VpcOfferingService(vpc_offering_id=offering.id, service=s, provider=p)
                   for s, providers in services.items() for p in providers)
    db.flush()


def service_names(ctx, offering_id: int) -> set[str]:
    return set(ctx.db.scalars(select(VpcOfferingService.service).where(
        VpcOfferingService.vpc_offering_id == offering_id)))


@command("listVPCOfferings", response="vpcoffering", listing="list", params=[
    Param("id", UUID, entity=VpcOffering, description="list VPC offerings by id"),
    Param("name", STRING, description="list VPC offerings by name"),
    Param("displaytext", STRING, description="list VPC offerings by display text"),
    Param("isdefault", BOOLEAN, description="true if need to list only default VPC offerings. Default value "
                                            "is false"),
    Param("supportedservices", LIST, description="list VPC offerings supporting certain services"),
    Param("state", STRING, description="list VPC offerings by state"),
    Param("domainid", UUID, entity=Domain, description="list VPC offerings available for VPC creation in "
                                                       "specific domain"),
    Param("zoneid", UUID, entity=DataCenter, description="id of zone VPC offering is associated with"),
])
def list_vpc_offerings(ctx, p):
    """Lists VPC offerings"""
    query = select(VpcOffering).where(VpcOffering.removed.is_(None))
    if p.id is not None:
        query = query.where(VpcOffering.id == p.id.id)
    if p.name:
        query = query.where(VpcOffering.name.like(f"%{p.name}%"))
    if p.displaytext:
        query = query.where(VpcOffering.display_text.like(f"%{p.displaytext}%"))
    if p.keyword:
        pattern = f"%{p.keyword}%"
        query = query.where(VpcOffering.name.like(pattern) | VpcOffering.display_text.like(pattern))
    if p.isdefault is not None:
        query = query.where(VpcOffering.is_default.is_(p.isdefault))
    if p.state:
        query = query.where(func.lower(VpcOffering.state) == p.state.lower())
    privileged = ctx.caller.is_root_admin or ctx.caller.is_system
    wanted = {caps.canonical(s, caps.SERVICES, "Network Service") for s in p.supportedservices or ()}
    kept = []
    for offering in ctx.db.scalars(query.order_by(VpcOffering.sort_key, VpcOffering.id)):
        hidden = offering.state != "Enabled" or not visible_to_domain(ctx, offering, ctx.caller.domain_id)
        if not privileged and hidden:
            continue
        if p.domainid is not None and not visible_to_domain(ctx, offering, p.domainid.id):
            continue
        zones = [int(i) for i in (offering.zone_ids or "").split(",") if i]
        if p.zoneid is not None and zones and p.zoneid.id not in zones:
            continue
        if wanted and not wanted <= service_names(ctx, offering.id):
            continue
        kept.append(offering)
    page = paged_list(ctx, p, kept)
    page.items = [views.vpc_offering(ctx, o) for o in page.items]
    return page


def create_row(ctx, p) -> VpcOffering:
    if ctx.db.scalar(select(VpcOffering.id).where(func.lower(VpcOffering.unique_name) == p.name.lower(),
                                                  VpcOffering.removed.is_(None)).limit(1)):
        raise InvalidParameter(f"VPC offering with name {p.name} already exists")
    chosen = caps.service_map(p.supportedservices, p.serviceproviderlist, for_vpc=True)
    caps.check_providers(chosen, for_vpc=True, vpc_offering=True)
    if "SecurityGroup" in chosen or "Firewall" in chosen:
        raise InvalidParameter("Services SecurityGroup and Firewall are not supported by VPC offerings")
    values = caps.capability_map(p.servicecapabilitylist, chosen)
    redundant = "true" in (values.get("SourceNat", {}).get("RedundantRouter"),
                           values.get("Gateway", {}).get("RedundantRouter"))
    offering = VpcOffering(
        name=p.name, unique_name=p.name, display_text=p.displaytext or p.name,
        state="Enabled" if p.enable else "Disabled", redundant_router=redundant,
        distributed_router=values.get("Connectivity", {}).get("DistributedRouter") == "true",
        region_level_vpc=values.get("Connectivity", {}).get("RegionLevelVpc") == "true",
        service_offering_id=p.serviceofferingid.id if p.serviceofferingid else None,
        internet_protocol=internet_protocol(p.internetprotocol),
        domain_ids=scope_ids(p.domainid), zone_ids=scope_ids(p.zoneid))
    ctx.db.add(offering)
    ctx.db.flush()
    ctx.db.add_all(VpcOfferingService(vpc_offering_id=offering.id, service=s, provider=provider)
                   for s, providers in chosen.items() for provider in providers)
    return offering


@command("createVPCOffering", isasync=True, response="vpcoffering", roles=ROOT_ONLY, create=create_row,
         instance_type="VpcOffering", params=[
             Param("name", STRING, required=True, description="the name of the vpc offering"),
             Param("displaytext", STRING, description="the display text of the vpc offering, defaults to the "
                                                      "'name'"),
             Param("supportedservices", LIST, description="services supported by the vpc offering"),
             Param("serviceproviderlist", MAP, description="provider to service mapping. If not specified, "
                                                           "the provider for the service will be mapped to "
                                                           "the default provider on the physical network"),
             Param("servicecapabilitylist", MAP, description="desired service capabilities as part of vpc "
                                                             "offering"),
             Param("serviceofferingid", UUID, entity=ServiceOffering, description="the ID of the service "
                                                                                  "offering for the VPC "
                                                                                  "router appliance"),
             Param("domainid", LIST, of=UUID, entity=Domain, description="the ID of the containing "
                                                                         "domain(s), null for public "
                                                                         "offerings"),
             Param("zoneid", LIST, of=UUID, entity=DataCenter, description="the ID of the containing "
                                                                           "zone(s), null for public "
                                                                           "offerings"),
             Param("enable", BOOLEAN, description="set to true if the offering is to be enabled during "
                                                  "creation. Default is false"),
             Param("internetprotocol", STRING, description="The internet protocol of the offering. Options "
                                                           "are ipv4 and dualstack. Default is ipv4."),
         ])
def create_vpc_offering(ctx, p):
    """Creates VPC offering"""
    offering = ctx.created
    ctx.event("VPC.OFFERING.CREATE", f"VPC offering {offering.name} created", resource_type="VpcOffering",
              resource_id=offering.uuid)
    return views.vpc_offering(ctx, offering)


@command("updateVPCOffering", isasync=True, response="vpcoffering", roles=ROOT_ONLY,
         instance_type="VpcOffering",
         params=[
             Param("id", UUID, entity=VpcOffering, required=True, description="the id of the VPC offering"),
             Param("name", STRING, description="the name of the VPC offering"),
             Param("displaytext", STRING, description="the display text of the VPC offering"),
             Param("state", STRING, description="update state for the VPC offering; supported states - "
                                                "Enabled/Disabled"),
             Param("sortkey", INTEGER, description="sort key of the VPC offering, integer"),
             Param("domainid", STRING, description="the ID of the containing domain(s) as comma separated "
                                                   "string, public for public offerings"),
             Param("zoneid", STRING, description="the ID of the containing zone(s) as comma separated "
                                                 "string, all for all zones offerings"),
         ])
def update_vpc_offering(ctx, p):
    """Updates VPC offering"""
    offering = p.id
    if p.name:
        offering.name = p.name
    if p.displaytext:
        offering.display_text = p.displaytext
    if p.state:
        offering.state = canonical_choice(p.state, ("Enabled", "Disabled"), "state")
    if p.sortkey is not None:
        offering.sort_key = p.sortkey
    if p.domainid is not None:
        offering.domain_ids = parse_scope(ctx, p.domainid, Domain, "public")
    if p.zoneid is not None:
        offering.zone_ids = parse_scope(ctx, p.zoneid, DataCenter, "all")
    ctx.event("VPC.OFFERING.UPDATE", f"VPC offering {offering.name} updated", resource_type="VpcOffering",
              resource_id=offering.uuid)
    return views.vpc_offering(ctx, offering)


@command("deleteVPCOffering", isasync=True, roles=ROOT_ONLY, instance_type="VpcOffering", params=[
    Param("id", UUID, entity=VpcOffering, required=True, description="the ID of the VPC offering"),
])
def delete_vpc_offering(ctx, p):
    """Deletes VPC offering"""
    offering = p.id
    if offering.is_default:
        raise InvalidParameter(f"Default VPC offering {offering.name} can't be deleted")
    offering.removed, offering.state = now(), "Disabled"
    ctx.event("VPC.OFFERING.DELETE", f"VPC offering {offering.name} deleted", resource_type="VpcOffering",
              resource_id=offering.uuid)
    return {"success": True}
