"""Hosts: add (through the hypervisor driver), update, delete, list; maintenance and reconnection."""

from sqlalchemy import func, select

from ..core.errors import InvalidParameter
from ..core.listing import paged
from ..core.params import BOOLEAN, LIST, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..core.render import ListResult
from . import host_service as service
from . import host_views
from .clusters import check_pod_in_zone, create_cluster, pick, resolve_hypervisor
from .models import DISABLED, ENABLED, Cluster, DataCenter, Host, HostPod, HostTag


def cluster_for_host(ctx, p, zone: DataCenter, pod: HostPod, hypervisor: str) -> Cluster:
    """The cluster named by `clusterid`, or by `clustername` (created when new, as upstream does)."""
    if p.clusterid is not None and p.clustername:
        raise InvalidParameter("Can't specify cluster by both id and name")
    if p.clusterid is not None:
        cluster = p.clusterid
        if cluster.pod_id != pod.id:
            raise InvalidParameter(f"Cluster {cluster.uuid} does not belong to the pod with specified podId "
                                   f"{pod.uuid}")
    elif p.clustername:
        cluster = ctx.db.scalars(select(Cluster).where(Cluster.pod_id == pod.id, Cluster.name == p.clustername,
                                                       Cluster.removed.is_(None))).first()
        cluster = cluster or create_cluster(ctx, zone, pod, p.clustername, hypervisor)
    else:
        # The simulator discoverer's own words (upstream would first invent a "Standalone-<url>" cluster).
        raise InvalidParameter("must specify cluster Id when adding host")
    if cluster.hypervisor_type != hypervisor:
        raise InvalidParameter(f"Can't add a {hypervisor} host to cluster {cluster.name} of hypervisor type "
                               f"{cluster.hypervisor_type}")
    return cluster


@command("addHost", response="host", roles=ROOT_ONLY, params=[
    Param("zoneid", UUID, entity=DataCenter, required=True, description="the Zone ID for the host"),
    Param("podid", UUID, entity=HostPod, required=True, description="the Pod ID for the host"),
    Param("clusterid", UUID, entity=Cluster, description="the cluster ID for the host"),
    Param("clustername", STRING, description="the cluster name for the host"),
    Param("url", STRING, required=True, length=2048, description="the host URL"),
    Param("username", STRING, description="the username for the host; required to be passed for hypervisors "
                                          "other than VMWare"),
    Param("password", STRING, description="the password for the host; required to be passed for hypervisors "
                                          "other than VMWare"),
    Param("hypervisor", STRING, required=True, description="hypervisor type of the host"),
    Param("allocationstate", STRING, description="Allocation state of this Host for allocation of new resources"),
    Param("hosttags", LIST, description="list of tags to be added to the host"),
])
def add_host(ctx, p):
    """Adds a new host."""
    zone, pod = p.zoneid, p.podid
    check_pod_in_zone(pod, zone)
    hypervisor = resolve_hypervisor(ctx, p.hypervisor)
    service.check_credentials(hypervisor, p.username, p.password)
    cluster = cluster_for_host(ctx, p, zone, pod, hypervisor)
    state = pick("Allocation State", p.allocationstate, (ENABLED, DISABLED)) or ENABLED
    host = service.add_host(ctx, zone, pod, cluster, p.url, p.username, p.password, p.hosttags or [], state)
    # Upstream answers addHost as a list of the hosts it discovered (always one here).
    return ListResult([host_views.host(ctx, host)], 1)


@command("updateHost", response="host", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Host, required=True, description="the ID of the host to update"),
    Param("name", STRING, description="the new name of the host", since="4.19"),
    Param("allocationstate", STRING, description="Change resource state of host, valid values are [Enable, "
                                                 "Disable]. Operation may failed if host in states not allowing "
                                                 "Enable/Disable"),
    Param("hosttags", LIST, description="list of tags to be added to the host"),
    Param("istagarule", BOOLEAN, description="Whether the informed tag is a JS interpretable rule or not.",
          since="4.20.0"),
    Param("annotation", STRING, length=65535, description="Add an annotation to this host", since="4.11"),
    Param("oscategoryid", UUID, description="the id of Os category to update the host with"),
    Param("url", STRING, description="the new uri for the secondary storage: nfs://host/path"),
])
def update_host(ctx, p):
    """Updates a host."""
    host = p.id
    if p.allocationstate:
        service.change_allocation(ctx, host, p.allocationstate)
    if p.name:
        host.name = p.name
    if p.hosttags is not None:
        service.set_tags(ctx, host, p.hosttags)
    if p.annotation is not None:
        host.annotation = p.annotation or None
    # `url` only moves secondary storage hosts upstream, and `oscategoryid` only steers the allocator's
    # preference; neither changes a routing host here.
    ctx.event("HOST.UPDATE", f"Host {host.name} updated", resource_type="Host", resource_id=host.uuid)
    ctx.db.flush()
    return host_views.host(ctx, host)


@command("deleteHost", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Host, required=True, description="the host ID"),
    Param("forced", BOOLEAN, description="Force delete the host. All HA enabled vms running on the host will be "
                                         "put to HA; HA disabled ones will be stopped"),
    Param("forcedestroylocalstorage", BOOLEAN, description="Force destroy local storage on this host. All VMs "
                                                           "created on this local storage will be destroyed"),
])
def delete_host(ctx, p):
    """Deletes a host."""
    service.delete_host(ctx, p.id, bool(p.forced))
    return {"success": True}


@command("prepareHostForMaintenance", response="host", isasync=True, instance_type="Host", roles=ROOT_ONLY,
         params=[Param("id", UUID, entity=Host, required=True, description="the host ID")])
async def prepare_host_for_maintenance(ctx, p):
    """Prepares a host for maintenance."""
    return host_views.host(ctx, await service.prepare_for_maintenance(ctx, p.id))


@command("cancelHostMaintenance", response="host", isasync=True, instance_type="Host", roles=ROOT_ONLY,
         params=[Param("id", UUID, entity=Host, required=True, description="the host ID")])
def cancel_host_maintenance(ctx, p):
    """Cancels host maintenance."""
    return host_views.host(ctx, service.cancel_maintenance(ctx, p.id))


@command("reconnectHost", response="host", isasync=True, instance_type="Host", roles=ROOT_ONLY,
         params=[Param("id", UUID, entity=Host, required=True, description="the host ID")])
async def reconnect_host(ctx, p):
    """Reconnects a host."""
    return host_views.host(ctx, await service.reconnect(ctx, p.id))


def ci_equals(column, value: str):
    return func.lower(column) == value.lower()


@command("listHosts", response="host", listing="list", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Host, description="the id of the host"),
    Param("name", STRING, description="the name of the host"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID for the host"),
    Param("podid", UUID, entity=HostPod, description="the Pod ID for the host"),
    Param("clusterid", UUID, entity=Cluster, description="lists hosts existing in particular cluster"),
    Param("type", STRING, description="the host type"),
    Param("state", STRING, description="the state of the host"),
    Param("resourcestate", STRING, description="list hosts by resource state. Resource state represents "
                                               "current state determined by admin of host, value can be one of "
                                               "[Enabled, Disabled, Unmanaged, PrepareForMaintenance, "
                                               "ErrorInMaintenance, Maintenance, Error]"),
    Param("hypervisor", STRING, description="hypervisor type of host: XenServer,KVM,VMware,Hyperv,BareMetal,"
                                            "Simulator"),
    Param("hosttags", STRING, description="lists hosts with this tag"),
    Param("arch", STRING, description="CPU Arch of the host", since="4.20.1"),
    Param("details", LIST, description="comma separated list of host details requested, value can be a list of "
                                       "[ min, all, capacity, events, stats]"),
])
def list_hosts(ctx, p):
    """Lists hosts."""
    query = select(Host).where(Host.removed.is_(None))
    for value, column in ((p.id, Host.id), (p.zoneid, Host.zone_id), (p.podid, Host.pod_id),
                          (p.clusterid, Host.cluster_id)):
        if value is not None:
            query = query.where(column == value.id)
    if p.name:
        query = query.where(Host.name == p.name)
    for value, column in ((p.type, Host.type), (p.state, Host.status), (p.resourcestate, Host.resource_state),
                          (p.hypervisor, Host.hypervisor_type), (p.arch, Host.arch)):
        if value:
            query = query.where(ci_equals(column, value))
    if p.hosttags:
        query = query.where(Host.id.in_(select(HostTag.host_id).where(HostTag.tag == p.hosttags)))
    return paged(ctx, p, query, lambda row: host_views.host(ctx, row), keyword_columns=(Host.name,),
                 order_by=Host.id)
