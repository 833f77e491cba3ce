"""Infrastructure rows → response objects (zones, pods; each area adds its own)."""

import json

from ..core.responses import describe
from ..iam.models import Domain


def zone(ctx, row, capacities: bool = False) -> dict:
    domain = ctx.db.get(Domain, row.domain_id) if row.domain_id else None
    answer = {
        "id": row.uuid, "name": row.name, "description": row.description, "networktype": row.networktype,
        "dns1": row.dns1, "dns2": row.dns2, "ip6dns1": row.ip6_dns1, "ip6dns2": row.ip6_dns2,
        "internaldns1": row.internal_dns1, "internaldns2": row.internal_dns2,
        "guestcidraddress": row.guest_network_cidr, "domain": row.network_domain,
        "domainid": domain.uuid if domain else None, "domainname": domain.name if domain else None,
        "securitygroupsenabled": row.security_group_enabled, "localstorageenabled": row.local_storage_enabled,
        "allocationstate": row.allocation_state, "zonetoken": row.zone_token, "dhcpprovider": row.dhcp_provider,
        "isedge": row.is_edge, "type": "Edge" if row.is_edge else "Core", "created": row.created,
        "tags": [], "details": json.loads(row.details) if row.details else None,
    }
    if capacities:
        from .capacity import zone_capacities

        answer["capacity"] = zone_capacities(ctx, row)
    return answer


def pod(ctx, row) -> dict:
    from .models import DataCenter

    zone_row = ctx.db.get(DataCenter, row.zone_id)
    starts, ends, system = [], [], []
    for part in (row.description or "").split(","):
        if "-" in part:
            start, end = part.split("-", 1)
            starts.append(start)
            ends.append(end)
            system.append({"startip": start, "endip": end, "forsystemvms": "1", "vlanid": None})
    return {
        "id": row.uuid, "name": row.name, "zoneid": zone_row.uuid, "zonename": zone_row.name,
        "gateway": row.gateway, "netmask": netmask(row.cidr_size), "startip": starts, "endip": ends,
        "forsystemvms": ["1"] * len(starts), "vlanid": [None] * len(starts), "ipranges": system,
        "allocationstate": row.allocation_state,
    }


def netmask(prefix: int) -> str:
    import ipaddress

    return str(ipaddress.IPv4Network(f"0.0.0.0/{prefix}").netmask)


describe("zone", {
    "id": "Zone id", "name": "Zone name", "description": "Zone description", "networktype": "the network type "
    "of the zone; can be Basic or Advanced", "dns1": "the first DNS for the Zone", "dns2": "the second DNS for "
    "the Zone", "ip6dns1": "the first IPv6 DNS for the Zone", "ip6dns2": "the second IPv6 DNS for the Zone",
    "internaldns1": "the first internal DNS for the Zone", "internaldns2": "the second internal DNS for the Zone",
    "guestcidraddress": "the guest CIDR address for the Zone", "domain": "Network domain name for the networks "
    "in the zone", "domainid": "the UUID of the containing domain, null for public zones", "domainname": "the "
    "name of the containing domain, null for public zones", "securitygroupsenabled": "true if security groups "
    "support is enabled, false otherwise", "localstorageenabled": "true if local storage offering enabled, false "
    "otherwise", "allocationstate": "the allocation state of the cluster", "zonetoken": "Zone Token",
    "dhcpprovider": "the dhcp Provider for the Zone", "isedge": "true, if zone is NSX enabled", "type": "The type "
    "of the zone; can be Core or Edge", "created": "the date this zone was created", "capacity": "the capacity "
    "of the Zone", "tags": "the list of resource tags associated with zone.", "details": "Zone details in key/value "
    "pairs.",
})
describe("pod", {
    "id": "the ID of the Pod", "name": "the name of the Pod", "zoneid": "the Zone ID of the Pod",
    "zonename": "the Zone name of the Pod", "gateway": "the gateway of the Pod", "netmask": "the netmask of the "
    "Pod", "startip": "the starting IP for the Pod", "endip": "the ending IP for the Pod", "ipranges": "the IP "
    "ranges for the Pod", "allocationstate": "the allocation state of the Pod",
})
