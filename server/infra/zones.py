"""Zones: create (Basic or Advanced), list, update (incl. enable/disable), delete."""

import ipaddress
import json
import secrets

from sqlalchemy import select

from ..core.db import now
from ..core.errors import InvalidParameter, ResourceInUse
from ..core.listing import paged
from ..core.params import BOOLEAN, MAP, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..iam.models import Domain
from . import views
from .models import DISABLED, ENABLED, Cluster, DataCenter, Host, HostPod, PhysicalNetwork, Vlan

NETWORK_TYPES = ("Basic", "Advanced")


def check_ipv4(name: str, value: str | None) -> None:
    if value:
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise InvalidParameter(f"Please enter a valid IPv4 address for {name}: {value}") from None


def check_ipv6(name: str, value: str | None) -> None:
    if value:
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise InvalidParameter(f"Please enter a valid IPv6 address for {name}: {value}") from None


def check_cidr(name: str, value: str | None) -> None:
    if value:
        try:
            ipaddress.IPv4Network(value, strict=True)
        except ValueError:
            raise InvalidParameter(f"Please enter a valid CIDR for {name}: {value}") from None


def check_allocation_state(value: str | None) -> str | None:
    if value is None:
        return None
    for state in (ENABLED, DISABLED):
        if value.lower() == state.lower():
            return state
    raise InvalidParameter(f"Invalid value {value} for parameter allocationstate; valid values are Enabled, "
                           "Disabled")


def name_taken(ctx, name: str, exclude: int | None = None) -> bool:
    query = select(DataCenter.id).where(DataCenter.name == name, DataCenter.removed.is_(None))
    if exclude is not None:
        query = query.where(DataCenter.id != exclude)
    return ctx.db.scalar(query) is not None


ZONE_FIELDS = [
    Param("dns1", STRING, description="the first DNS for the Zone"),
    Param("dns2", STRING, description="the second DNS for the Zone"),
    Param("ip6dns1", STRING, description="the first DNS for IPv6 network in the Zone"),
    Param("ip6dns2", STRING, description="the second DNS for IPv6 network in the Zone"),
    Param("internaldns1", STRING, description="the first internal DNS for the Zone"),
    Param("internaldns2", STRING, description="the second internal DNS for the Zone"),
    Param("guestcidraddress", STRING, description="the guest CIDR address for the Zone"),
    Param("domain", STRING, description="Network domain name for the networks in the zone"),
    Param("localstorageenabled", BOOLEAN, description="true if local storage offering enabled, false otherwise"),
]


def apply_zone_fields(zone: DataCenter, p) -> None:
    for name in ("dns1", "dns2", "internaldns1", "internaldns2"):
        check_ipv4(name, p.get(name))
    for name in ("ip6dns1", "ip6dns2"):
        check_ipv6(name, p.get(name))
    check_cidr("guestcidraddress", p.guestcidraddress)
    columns = {"dns1": "dns1", "dns2": "dns2", "ip6dns1": "ip6_dns1", "ip6dns2": "ip6_dns2",
               "internaldns1": "internal_dns1", "internaldns2": "internal_dns2",
               "guestcidraddress": "guest_network_cidr", "domain": "network_domain"}
    for param, column in columns.items():
        if p.get(param) is not None:
            setattr(zone, column, p.get(param) or None)
    if p.localstorageenabled is not None:
        zone.local_storage_enabled = p.localstorageenabled


@command("createZone", response="zone", roles=ROOT_ONLY, params=[
    Param("name", STRING, required=True, description="the name of the Zone"),
    Param("networktype", STRING, required=True, description="network type of the zone, can be Basic or "
                                                            "Advanced"),
    Param("domainid", UUID, entity=Domain, description="the ID of the containing domain, null for public zones"),
    Param("securitygroupenabled", BOOLEAN, description="true if network is security group enabled, false "
                                                       "otherwise"),
    Param("allocationstate", STRING, description="Allocation state of this Zone for allocation of new "
                                                 "resources"),
    Param("isedge", BOOLEAN, description="true if the zone is an edge zone, false otherwise", since="4.18.0"),
    *ZONE_FIELDS,
])
def create_zone(ctx, p):
    """Creates a Zone."""
    networktype = next((t for t in NETWORK_TYPES if t.lower() == p.networktype.lower()), None)
    if networktype is None:
        raise InvalidParameter(f"Invalid network type {p.networktype}; valid types are Basic, Advanced")
    if name_taken(ctx, p.name):
        raise InvalidParameter(f"A zone with name {p.name} already exists")
    if not p.isedge and not p.dns1:
        raise InvalidParameter("dns1 is required for zones that are not edge zones")
    if not p.isedge and not p.internaldns1:
        raise InvalidParameter("internaldns1 is required for zones that are not edge zones")
    if networktype == "Basic" and p.guestcidraddress:
        raise InvalidParameter("guestcidraddress can't be set for a zone of network type Basic")
    zone = DataCenter(name=p.name, networktype=networktype, zone_token=secrets.token_hex(16),
                      security_group_enabled=bool(p.securitygroupenabled),
                      allocation_state=check_allocation_state(p.allocationstate) or DISABLED,
                      domain_id=p.domainid.id if p.domainid else None, is_edge=bool(p.isedge))
    if networktype == "Advanced" and not p.securitygroupenabled and not p.guestcidraddress:
        zone.guest_network_cidr = "10.1.1.0/24"
    apply_zone_fields(zone, p)
    ctx.db.add(zone)
    ctx.db.flush()
    ctx.touch("zones")
    ctx.event("ZONE.CREATE", f"Zone {zone.name} created", resource_type="Zone", resource_id=zone.uuid)
    return views.zone(ctx, zone)


@command("updateZone", response="zone", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=DataCenter, required=True, description="the ID of the Zone"),
    Param("name", STRING, description="the name of the Zone"),
    Param("allocationstate", STRING, description="Allocation state of this cluster for allocation of new "
                                                 "resources"),
    Param("ispublic", BOOLEAN, description="updates a private zone to public if set, but not vice-versa"),
    Param("dhcpprovider", STRING, description="the dhcp Provider for the Zone"),
    Param("details", MAP, description="the details for the Zone"),
    Param("sortkey", "integer", description="sort key of the zone for listing"),
    *ZONE_FIELDS,
])
def update_zone(ctx, p):
    """Updates a Zone."""
    zone = p.id
    if p.name and p.name != zone.name:
        if name_taken(ctx, p.name, exclude=zone.id):
            raise InvalidParameter(f"A zone with name {p.name} already exists")
        zone.name = p.name
    if zone.networktype == "Basic" and p.guestcidraddress:
        raise InvalidParameter("guestcidraddress can't be set for a zone of network type Basic")
    apply_zone_fields(zone, p)
    state = check_allocation_state(p.allocationstate)
    if state and state != zone.allocation_state:
        zone.allocation_state = state
        ctx.event("ZONE.ENABLE" if state == ENABLED else "ZONE.DISABLE", f"Zone {zone.name} {state.lower()}",
                  resource_type="Zone", resource_id=zone.uuid)
    if p.ispublic:
        zone.domain_id = None
    if p.dhcpprovider:
        zone.dhcp_provider = p.dhcpprovider
    if p.details is not None:
        from ..core.params import map_to_dict

        details = json.loads(zone.details) if zone.details else {}
        details.update(map_to_dict(p.details))
        zone.details = json.dumps(details)
    ctx.touch("zones")
    ctx.event("ZONE.EDIT", f"Zone {zone.name} updated", resource_type="Zone", resource_id=zone.uuid)
    ctx.db.flush()
    if state == ENABLED:
        from .system_vms import zone_enabled

        zone_enabled(ctx, zone)
    return views.zone(ctx, zone)


def zone_in_use(ctx, zone: DataCenter) -> str | None:
    """What still lives in the zone, named for the error text (None when empty)."""
    checks = (("pods", HostPod, HostPod.zone_id), ("physical networks", PhysicalNetwork, PhysicalNetwork.zone_id),
              ("clusters", Cluster, Cluster.zone_id), ("hosts", Host, Host.zone_id), ("IP ranges", Vlan, Vlan.zone_id))
    for label, model, column in checks:
        if ctx.db.scalar(select(model.id).where(column == zone.id, model.removed.is_(None)).limit(1)):
            return label
    return None


@command("deleteZone", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=DataCenter, required=True, description="the ID of the Zone"),
])
def delete_zone(ctx, p):
    """Deletes a Zone."""
    zone = p.id
    busy = zone_in_use(ctx, zone)
    if busy:
        raise ResourceInUse(f"The zone is not deletable because there are {busy} in this zone")
    zone.removed = now()
    ctx.touch("zones")
    ctx.event("ZONE.DELETE", f"Zone {zone.name} deleted", resource_type="Zone", resource_id=zone.uuid)
    return {"success": True}


@command("listZones", response="zone", listing="list", params=[
    Param("id", UUID, entity=DataCenter, description="the ID of the zone"),
    Param("ids", "list", of=UUID, entity=DataCenter, description="the IDs of the zones, mutually exclusive "
                                                                 "with id"),
    Param("name", STRING, description="the name of the zone"),
    Param("available", BOOLEAN, description="true if you want to retrieve all available Zones. False if you only "
                                            "want to return the Zones from which you have at least one VM. "
                                            "Default is false."),
    Param("domainid", UUID, entity=Domain, description="the ID of the domain associated with the zone"),
    Param("networktype", STRING, description="the network type of the zone that the virtual machine belongs "
                                             "to"),
    Param("securitygroupenabled", BOOLEAN, description="flag to display the resource image for the zones"),
    Param("showcapacities", BOOLEAN, description="flag to display the capacity of the zones"),
    Param("tags", MAP, description="List zones by resource tags (key/value pairs)"),
])
def list_zones(ctx, p):
    """Lists zones"""
    query = select(DataCenter).where(DataCenter.removed.is_(None))
    caller = ctx.caller
    if not (caller.is_root_admin or caller.is_system):
        # Users see public zones, and zones dedicated to their domain (or a parent of it).
        from ..core.listing import domain_paths

        paths = domain_paths(ctx)
        mine = caller.domain_path
        allowed = [d for d, (path, _) in paths.items() if mine.startswith(path)]
        query = query.where((DataCenter.domain_id.is_(None)) | DataCenter.domain_id.in_(allowed))
        query = query.where(DataCenter.allocation_state == ENABLED)
    if p.id is not None:
        query = query.where(DataCenter.id == p.id.id)
    if p.ids:
        query = query.where(DataCenter.id.in_([z.id for z in p.ids]))
    if p.name:
        query = query.where(DataCenter.name == p.name)
    if p.domainid is not None:
        query = query.where(DataCenter.domain_id == p.domainid.id)
    if p.networktype:
        query = query.where(DataCenter.networktype == p.networktype)
    if p.securitygroupenabled is not None:
        query = query.where(DataCenter.security_group_enabled.is_(p.securitygroupenabled))
    from ..platform.tags import fill_tags, tag_filter

    if p.tags:
        query = tag_filter(ctx, query, DataCenter, "Zone", p.tags)
    result = paged(ctx, p, query, lambda zone: views.zone(ctx, zone, capacities=bool(p.showcapacities)),
                   keyword_columns=(DataCenter.name, DataCenter.description), order_by=DataCenter.id)
    return fill_tags(ctx, "Zone", result)
