"""Pods: their management network (gateway/netmask) and reserved system IP ranges."""

import ipaddress

from sqlalchemy import delete, insert, select

from ..core.db import now
from ..core.errors import InvalidParameter, ResourceInUse
from ..core.listing import paged
from ..core.params import STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from . import views
from .models import Cluster, DataCenter, Host, HostPod, PrivateIp
from .zones import check_allocation_state

MAX_RANGE = 65536  # a pod range larger than a /16 is a typo, not a plan


def parse_ip(name: str, value: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise InvalidParameter(f"Please enter a valid IPv4 address for {name}: {value}") from None


def pod_network(gateway: str, netmask: str) -> ipaddress.IPv4Network:
    parse_ip("gateway", gateway)
    try:
        return ipaddress.IPv4Network(f"{gateway}/{netmask}", strict=False)
    except ValueError:
        raise InvalidParameter(f"Please enter a valid netmask: {netmask}") from None


def system_range(network, gateway: str, startip: str, endip: str | None) -> tuple[str, str]:
    start = parse_ip("startip", startip)
    end = parse_ip("endip", endip) if endip else network.broadcast_address - 1
    if start not in network:
        raise InvalidParameter(f"The start address of the IP range {start} is not in the CIDR subnet {network}")
    if end not in network:
        raise InvalidParameter(f"The end address of the IP range {end} is not in the CIDR subnet {network}")
    if end < start:
        raise InvalidParameter(f"The end IP {end} is lower than the start IP {start}")
    if start <= ipaddress.IPv4Address(gateway) <= end:
        raise InvalidParameter(f"The gateway {gateway} shouldn't overlap the start and end IP addresses")
    if int(end) - int(start) + 1 > MAX_RANGE:
        raise InvalidParameter(f"The IP range {start}-{end} is larger than {MAX_RANGE} addresses")
    return str(start), str(end)


def check_overlaps(ctx, zone: DataCenter, network, exclude: int | None = None) -> None:
    if zone.guest_network_cidr and network.overlaps(ipaddress.IPv4Network(zone.guest_network_cidr)):
        raise InvalidParameter(f"The pod CIDR {network} overlaps the guest CIDR {zone.guest_network_cidr} of the "
                               f"zone {zone.name}")
    if not ctx.setting("check.pod.cidrs"):
        return
    for other in ctx.db.scalars(select(HostPod).where(HostPod.zone_id == zone.id, HostPod.removed.is_(None))):
        if other.id == exclude:
            continue
        if network.overlaps(ipaddress.IPv4Network(f"{other.cidr_address}/{other.cidr_size}")):
            raise InvalidParameter(f"The pod CIDR {network} overlaps the CIDR of pod {other.name} in zone "
                                   f"{zone.name}")


def add_private_ips(ctx, pod: HostPod, start: str, end: str) -> None:
    first, last = int(ipaddress.IPv4Address(start)), int(ipaddress.IPv4Address(end))
    ctx.db.execute(insert(PrivateIp), [
        {"ip_address": str(ipaddress.IPv4Address(i)), "zone_id": pod.zone_id, "pod_id": pod.id}
        for i in range(first, last + 1)])


@command("createPod", response="pod", roles=ROOT_ONLY, params=[
    Param("zoneid", UUID, entity=DataCenter, required=True, description="the Zone ID in which the Pod will be "
                                                                        "created"),
    Param("name", STRING, required=True, description="the name of the Pod"),
    Param("gateway", STRING, required=True, description="the gateway for the Pod"),
    Param("netmask", STRING, required=True, description="the netmask for the Pod"),
    Param("startip", STRING, required=True, description="the starting IP address for the Pod"),
    Param("endip", STRING, description="the ending IP address for the Pod"),
    Param("allocationstate", STRING, description="Allocation state of this Pod for allocation of new resources"),
])
def create_pod(ctx, p):
    """Creates a new Pod."""
    zone = p.zoneid
    if ctx.db.scalar(select(HostPod.id).where(HostPod.zone_id == zone.id, HostPod.name == p.name,
                                              HostPod.removed.is_(None))):
        raise InvalidParameter(f"A pod with name {p.name} already exists in zone {zone.name}")
    network = pod_network(p.gateway, p.netmask)
    start, end = system_range(network, p.gateway, p.startip, p.endip)
    check_overlaps(ctx, zone, network)
    pod = HostPod(zone_id=zone.id, name=p.name, gateway=p.gateway, cidr_address=str(network.network_address),
                  cidr_size=network.prefixlen, description=f"{start}-{end}",
                  allocation_state=check_allocation_state(p.allocationstate) or "Enabled")
    ctx.db.add(pod)
    ctx.db.flush()
    add_private_ips(ctx, pod, start, end)
    ctx.event("POD.CREATE", f"Pod {pod.name} created in zone {zone.name}", resource_type="Pod",
              resource_id=pod.uuid)
    return views.pod(ctx, pod)


@command("updatePod", response="pod", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=HostPod, required=True, description="the ID of the Pod"),
    Param("name", STRING, description="the name of the Pod"),
    Param("gateway", STRING, description="the gateway for the Pod"),
    Param("netmask", STRING, description="the netmask of the Pod"),
    Param("startip", STRING, description="the starting IP address for the Pod"),
    Param("endip", STRING, description="the ending IP address for the Pod"),
    Param("allocationstate", STRING, description="Allocation state of this cluster for allocation of new "
                                                 "resources"),
])
def update_pod(ctx, p):
    """Updates a Pod."""
    pod = p.id
    zone = ctx.db.get(DataCenter, pod.zone_id)
    if p.name and p.name != pod.name:
        if ctx.db.scalar(select(HostPod.id).where(HostPod.zone_id == zone.id, HostPod.name == p.name,
                                                  HostPod.removed.is_(None))):
            raise InvalidParameter(f"A pod with name {p.name} already exists in zone {zone.name}")
        pod.name = p.name
    if any(p.get(k) for k in ("gateway", "netmask", "startip", "endip")):
        if taken_private_ip(ctx, pod):
            raise ResourceInUse(f"The pod {pod.name}'s network can't change while its system IPs are in use")
        gateway = p.gateway or pod.gateway
        network = pod_network(gateway, p.netmask or views.netmask(pod.cidr_size))
        old_start, old_end = (pod.description or "-").split(",")[0].split("-")
        start, end = system_range(network, gateway, p.startip or old_start, p.endip or old_end)
        check_overlaps(ctx, zone, network, exclude=pod.id)
        pod.gateway, pod.cidr_address, pod.cidr_size = gateway, str(network.network_address), network.prefixlen
        pod.description = f"{start}-{end}"
        ctx.db.execute(delete(PrivateIp).where(PrivateIp.pod_id == pod.id))
        add_private_ips(ctx, pod, start, end)
    state = check_allocation_state(p.allocationstate)
    if state:
        pod.allocation_state = state
    ctx.event("POD.EDIT", f"Pod {pod.name} updated", resource_type="Pod", resource_id=pod.uuid)
    return views.pod(ctx, pod)


def taken_private_ip(ctx, pod: HostPod) -> bool:
    return ctx.db.scalar(select(PrivateIp.id).where(PrivateIp.pod_id == pod.id, PrivateIp.taken.is_not(None))
                         .limit(1)) is not None


@command("deletePod", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=HostPod, required=True, description="the ID of the Pod"),
])
def delete_pod(ctx, p):
    """Deletes a Pod."""
    pod = p.id
    for label, model, column in (("hosts", Host, Host.pod_id), ("clusters", Cluster, Cluster.pod_id)):
        if ctx.db.scalar(select(model.id).where(column == pod.id, model.removed.is_(None)).limit(1)):
            raise ResourceInUse(f"The pod {pod.name} is not deletable because there are {label} in this pod")
    if taken_private_ip(ctx, pod):
        raise ResourceInUse(f"The pod {pod.name} is not deletable because there are private IPs in use in it")
    ctx.db.execute(delete(PrivateIp).where(PrivateIp.pod_id == pod.id))
    pod.removed = now()
    ctx.event("POD.DELETE", f"Pod {pod.name} deleted", resource_type="Pod", resource_id=pod.uuid)
    return {"success": True}


@command("listPods", response="pod", listing="list", params=[
    Param("id", UUID, entity=HostPod, description="list Pods by ID"),
    Param("name", STRING, description="list Pods by name"),
    Param("zoneid", UUID, entity=DataCenter, description="list Pods by Zone ID"),
    Param("allocationstate", STRING, description="list pods by allocation state"),
    Param("showcapacities", "boolean", description="flag to display the capacity of the pods"),
], roles=ROOT_ONLY)
def list_pods(ctx, p):
    """Lists all Pods."""
    query = select(HostPod).where(HostPod.removed.is_(None))
    if p.id is not None:
        query = query.where(HostPod.id == p.id.id)
    if p.name:
        query = query.where(HostPod.name == p.name)
    if p.zoneid is not None:
        query = query.where(HostPod.zone_id == p.zoneid.id)
    if p.allocationstate:
        query = query.where(HostPod.allocation_state == p.allocationstate)
    return paged(ctx, p, query, lambda pod: views.pod(ctx, pod), keyword_columns=(HostPod.name,),
                 order_by=HostPod.id)
