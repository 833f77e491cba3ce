"""Network topology rows → response objects: regions, physical networks, traffic types, providers,
their elements and VLAN IP ranges."""

from ..core.responses import describe
from ..iam.models import Account, Domain
from .models import DataCenter, HostPod, PhysicalNetwork


def region(row) -> dict:
    return {"id": row.id, "name": row.name, "endpoint": row.end_point,
            "gslbserviceenabled": row.gslb_service_enabled,
            "portableipserviceenabled": row.portableip_service_enabled}


def physical_network(ctx, row, zone) -> dict:
    domain = ctx.db.get(Domain, row.domain_id) if row.domain_id else None
    return {
        "id": row.uuid, "name": row.name, "zoneid": zone.uuid, "zonename": zone.name, "state": row.state,
        # Upstream answers an empty string when no isolation method was chosen (VLAN is then implied).
        "isolationmethods": row.isolation_methods or None, "vlan": row.vnet, "tags": row.tags,
        "broadcastdomainrange": row.broadcast_domain_range, "networkspeed": row.speed,
        "domainid": domain.uuid if domain else None,
    }


def traffic_type(row, network) -> dict:
    return {
        "id": row.uuid, "traffictype": row.traffic_type, "physicalnetworkid": network.uuid,
        "kvmnetworklabel": row.kvm_network_label, "xennetworklabel": row.xen_network_label,
        "vmwarenetworklabel": row.vmware_network_label, "hypervnetworklabel": row.hyperv_network_label,
        "ovm3networklabel": row.ovm3_network_label, "vlan": row.vlan,
        "isolationmethods": row.isolation_method,
    }


def provider(ctx, row, network, individual: bool) -> dict:
    destination = (ctx.db.get(PhysicalNetwork, row.destination_physical_network_id)
                   if row.destination_physical_network_id else None)
    return {
        "id": row.uuid, "name": row.provider_name, "physicalnetworkid": network.uuid,
        "destinationphysicalnetworkid": destination.uuid if destination else None, "state": row.state,
        "servicelist": [s for s in row.services.split(",") if s], "canenableindividualservice": individual,
    }


def router_element(row, nsp) -> dict:
    return {"id": row.uuid, "nspid": nsp.uuid, "enabled": row.enabled}


def internal_lb_element(row, nsp) -> dict:
    return {"id": row.uuid, "nspid": nsp.uuid, "enabled": row.enabled}


def guest_network_uuid(ctx, network_id: int | None) -> str | None:
    from ..network.models import Network

    network = ctx.db.get(Network, network_id) if network_id else None
    return network.uuid if network else None


def vlan_range(ctx, row) -> dict:
    zone = ctx.db.get(DataCenter, row.zone_id)
    pod = ctx.db.get(HostPod, row.pod_id) if row.pod_id else None
    network = ctx.db.get(PhysicalNetwork, row.physical_network_id) if row.physical_network_id else None
    account = ctx.db.get(Account, row.account_id) if row.account_id else None
    domain = ctx.db.get(Domain, row.domain_id) if row.domain_id else None
    start6, _, end6 = (row.ip6_range or "").partition("-")
    return {
        "id": row.uuid, "forvirtualnetwork": row.vlan_type == "VirtualNetwork", "zoneid": zone.uuid,
        "vlan": row.vlan_id, "account": account.account_name if account else None,
        "domainid": domain.uuid if domain else None, "domain": domain.name if domain else None,
        "podid": pod.uuid if pod else None, "podname": pod.name if pod else None,
        "gateway": row.gateway, "netmask": row.netmask,
        "description": f"{row.start_ip}-{row.end_ip}" if row.start_ip else row.ip6_range,
        "startip": row.start_ip, "endip": row.end_ip, "ip6gateway": row.ip6_gateway, "ip6cidr": row.ip6_cidr,
        "startipv6": start6 or None, "endipv6": end6 or None, "forsystemvms": row.for_system_vms,
        "physicalnetworkid": network.uuid if network else None,
        "networkid": guest_network_uuid(ctx, row.network_id),
    }


describe("region", {
    "id": "the ID of the region", "name": "the name of the region", "endpoint": "the end point of the region",
    "gslbserviceenabled": "true if GSLB service is enabled in the region, false otherwise",
    "portableipserviceenabled": "true if security groups support is enabled, false otherwise",
})
describe("physicalnetwork", {
    "id": "the uuid of the physical network", "name": "name of the physical network",
    "zoneid": "zone id of the physical network", "zonename": "zone name of the physical network",
    "state": "state of the physical network", "isolationmethods": "isolation methods",
    "vlan": "the vlan of the physical network", "tags": "comma separated tag",
    "broadcastdomainrange": "Broadcast domain range of the physical network",
    "networkspeed": "the speed of the physical network",
    "domainid": "the domain id of the physical network owner",
})
_LABEL = "The network name label of the physical device dedicated to this traffic on a"
describe("traffictype", {
    "id": "id of the network provider", "traffictype": "the trafficType to be added to the physical network",
    "physicalnetworkid": "the physical network this belongs to",
    "kvmnetworklabel": f"{_LABEL} KVM host", "xennetworklabel": f"{_LABEL} XenServer host",
    "vmwarenetworklabel": f"{_LABEL} VMware host", "hypervnetworklabel": f"{_LABEL} HyperV host",
    "ovm3networklabel": "The network name of the physical device dedicated to this traffic on an OVM3 host",
    "vlan": "The VLAN id to be used for Management traffic by VMware host",
    "isolationmethods": "isolation methods for the traffic type",
})
describe("networkserviceprovider", {
    "id": "uuid of the network provider", "name": "the provider name",
    "physicalnetworkid": "the physical network this belongs to",
    "destinationphysicalnetworkid": "the destination physical network",
    "state": "state of the network provider", "servicelist": "services for this provider",
    "canenableindividualservice": "true if individual services can be enabled/disabled",
})
describe("virtualrouterelement", {
    "id": "the id of the router", "nspid": "the physical network service provider id of the provider",
    "enabled": "Enabled/Disabled the service provider",
})
describe("internalloadbalancerelement", {
    "id": "the id of the internal load balancer element",
    "nspid": "the physical network service provider id of the element",
    "enabled": "Enabled/Disabled the element",
})
VLAN_FIELDS = {
    "id": "the ID of the VLAN IP range", "forvirtualnetwork": "the virtual network for the VLAN IP range",
    "zoneid": "the Zone ID of the VLAN IP range", "vlan": "the ID or VID of the VLAN.",
    "account": "the account of the VLAN IP range", "domainid": "the domain ID of the VLAN IP range",
    "domain": "the domain name of the VLAN IP range", "podid": "the Pod ID for the VLAN IP range",
    "podname": "the Pod name for the VLAN IP range", "gateway": "the gateway of the VLAN IP range",
    "netmask": "the netmask of the VLAN IP range", "description": "the description of the VLAN IP range",
    "startip": "the start ip of the VLAN IP range", "endip": "the end ip of the VLAN IP range",
    "ip6gateway": "the gateway of IPv6 network", "ip6cidr": "the cidr of IPv6 network",
    "startipv6": "the start ipv6 of the VLAN IP range", "endipv6": "the end ipv6 of the VLAN IP range",
    "forsystemvms": "indicates whether VLAN IP range is dedicated to system vms or not",
    "physicalnetworkid": "the physical network this belongs to", "networkid": "the network id of vlan range",
}
describe("vlan", VLAN_FIELDS)
describe("vlaniprange", VLAN_FIELDS)
