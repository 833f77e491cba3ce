"""Clusters: groups of hosts of one hypervisor inside a pod, sharing primary storage."""

from sqlalchemy import delete, func, select

from ..core.db import now
from ..core.errors import InvalidParameter, ResourceInUse
from ..core.listing import paged
from ..core.params import BOOLEAN, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..core.render import ListResult
from ..storage.models import StoragePool
from . import host_views
from .models import DISABLED, ENABLED, Capacity, Cluster, DataCenter, Host, HostPod

CLUSTER_TYPES = ("CloudManaged", "ExternalManaged")
MANAGED_STATES = ("Managed", "Unmanaged")
ARCHES = ("x86_64", "aarch64", "s390x")
# Hypervisors an Advanced zone with security groups can run (upstream discoverCluster).
SECURITY_GROUP_HYPERVISORS = ("KVM", "XenServer", "LXC", "Simulator")


def resolve_hypervisor(ctx, name: str | None) -> str:
    """The hypervisor's canonical spelling from `hypervisor.list` ("simulator" → "Simulator")."""
    if not name:
        raise InvalidParameter("Please specify a hypervisor")
    known = [h.strip() for h in str(ctx.setting("hypervisor.list") or "").split(",") if h.strip()]
    for hypervisor in known:
        if hypervisor.lower() == name.lower():
            return hypervisor
    raise InvalidParameter(f"Unable to resolve {name} to a supported hypervisor type; supported: "
                           f"{', '.join(known)}")


def pick(name: str, value: str | None, choices: tuple[str, ...]) -> str | None:
    """A choice matched case-insensitively, in its canonical spelling."""
    if value is None or value == "":
        return None
    for choice in choices:
        if choice.lower() == value.lower():
            return choice
    raise InvalidParameter(f"Unable to resolve {name} '{value}' to a supported value: {', '.join(choices)}")


def check_pod_in_zone(pod: HostPod, zone: DataCenter) -> None:
    if pod.zone_id != zone.id:
        raise InvalidParameter(f"Pod with specified id {pod.uuid} doesn't belong to the zone {zone.uuid}")


def name_taken(ctx, pod_id: int, name: str, exclude: int | None = None) -> bool:
    query = select(Cluster.id).where(Cluster.pod_id == pod_id, Cluster.name == name, Cluster.removed.is_(None))
    if exclude is not None:
        query = query.where(Cluster.id != exclude)
    return ctx.db.scalar(query) is not None


def create_cluster(ctx, zone: DataCenter, pod: HostPod, name: str, hypervisor: str, *,
                   cluster_type: str = "CloudManaged", allocation_state: str = ENABLED,
                   arch: str = "x86_64", url: str | None = None) -> Cluster:
    """Add a cluster row (addCluster, and addHost with a new `clustername`)."""
    if name_taken(ctx, pod.id, name):
        raise InvalidParameter(f"Unable to create cluster {name} in pod and data center with specified ids: a "
                               f"cluster with this name already exists in pod {pod.name}")
    if zone.security_group_enabled and zone.networktype == "Advanced" \
            and hypervisor not in SECURITY_GROUP_HYPERVISORS:
        raise InvalidParameter(f"Don't support hypervisor type {hypervisor} in advanced security enabled zone")
    row = Cluster(name=name, zone_id=zone.id, pod_id=pod.id, hypervisor_type=hypervisor, cluster_type=cluster_type,
                  allocation_state=allocation_state, arch=arch, url=url)
    ctx.db.add(row)
    ctx.db.flush()
    ctx.event("CLUSTER.CREATE", f"Cluster {name} added to pod {pod.name}", resource_type="Cluster",
              resource_id=row.uuid)
    return row


@command("addCluster", response="cluster", roles=ROOT_ONLY, params=[
    Param("zoneid", UUID, entity=DataCenter, required=True, description="the Zone ID for the cluster"),
    Param("podid", UUID, entity=HostPod, required=True, description="the Pod ID for the host"),
    Param("clustername", STRING, required=True, description="the cluster name"),
    Param("clustertype", STRING, required=True, description="type of the cluster: CloudManaged, ExternalManaged"),
    Param("hypervisor", STRING, required=True, description="hypervisor type of the cluster: XenServer,KVM,VMware,"
                                                           "Hyperv,BareMetal,Simulator,Ovm3"),
    Param("allocationstate", STRING, description="Allocation state of this cluster for allocation of new "
                                                 "resources"),
    Param("url", STRING, description="the URL"),
    Param("username", STRING, description="the username for the cluster"),
    Param("password", STRING, description="the password for the host"),
    Param("arch", STRING, description="the CPU arch of the cluster. Valid options are: x86_64, aarch64",
          since="4.20"),
])
def add_cluster(ctx, p):
    """Adds a new cluster"""
    zone, pod = p.zoneid, p.podid
    check_pod_in_zone(pod, zone)
    hypervisor = resolve_hypervisor(ctx, p.hypervisor)
    cluster_type = pick("cluster type", p.clustertype, CLUSTER_TYPES) or "CloudManaged"
    if cluster_type == "ExternalManaged" and not p.url:
        raise InvalidParameter("Please specify the url of an ExternalManaged cluster, e.g. http://<vcenter>/<dc>/"
                               "<cluster>")
    row = create_cluster(ctx, zone, pod, p.clustername, hypervisor, cluster_type=cluster_type,
                         allocation_state=pick("Allocation State", p.allocationstate, (ENABLED, DISABLED)) or ENABLED,
                         arch=pick("arch", p.arch, ARCHES) or "x86_64", url=p.url or None)
    # Upstream answers addCluster as a list of the clusters it discovered (always one here).
    return ListResult([host_views.cluster(ctx, row)], 1)


@command("updateCluster", response="cluster", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Cluster, required=True, description="the ID of the Cluster"),
    Param("clustername", STRING, description="the cluster name"),
    Param("allocationstate", STRING, description="Allocation state of this cluster for allocation of new "
                                                 "resources"),
    Param("managedstate", STRING, description="whether this cluster is managed by cloudstack"),
    Param("clustertype", STRING, description="hypervisor type of the cluster"),
    Param("hypervisor", STRING, description="hypervisor type of the cluster"),
    Param("arch", STRING, description="the CPU arch of the cluster. Valid options are: x86_64, aarch64",
          since="4.20"),
])
def update_cluster(ctx, p):
    """Updates an existing cluster"""
    row = p.id
    if p.clustername:
        if row.hypervisor_type == "VMware":
            raise InvalidParameter("Renaming VMware cluster is not supported as it could cause problems if the "
                                   "updated  cluster name is not mapped on VCenter.")
        if name_taken(ctx, row.pod_id, p.clustername, exclude=row.id):
            raise InvalidParameter(f"A cluster with name {p.clustername} already exists in the pod")
        row.name = p.clustername
    if p.hypervisor:
        row.hypervisor_type = resolve_hypervisor(ctx, p.hypervisor)
    row.cluster_type = pick("cluster type", p.clustertype, CLUSTER_TYPES) or row.cluster_type
    row.allocation_state = pick("Allocation State", p.allocationstate, (ENABLED, DISABLED)) or row.allocation_state
    row.managed_state = pick("Managed State", p.managedstate, MANAGED_STATES) or row.managed_state
    row.arch = pick("arch", p.arch, ARCHES) or row.arch
    ctx.event("CLUSTER.UPDATE", f"Cluster {row.name} updated", resource_type="Cluster", resource_id=row.uuid)
    return host_views.cluster(ctx, row)


@command("deleteCluster", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Cluster, required=True, description="the cluster ID"),
])
def delete_cluster(ctx, p):
    """Deletes a cluster."""
    row = p.id
    if ctx.db.scalar(select(Host.id).where(Host.cluster_id == row.id, Host.removed.is_(None)).limit(1)):
        raise ResourceInUse(f"Cluster: {row.uuid} cannot be removed. Cluster still has hosts")
    if ctx.db.scalar(select(StoragePool.id).where(StoragePool.cluster_id == row.id, StoragePool.removed.is_(None))
                     .limit(1)):
        raise ResourceInUse(f"Cluster: {row.uuid} cannot be removed. Cluster still has storage pools")
    ctx.db.execute(delete(Capacity).where(Capacity.cluster_id == row.id).execution_options(
        synchronize_session=False))
    row.removed = now()
    ctx.event("CLUSTER.DELETE", f"Cluster {row.name} deleted", resource_type="Cluster", resource_id=row.uuid)
    return {"success": True}


@command("listClusters", response="cluster", listing="list", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=Cluster, description="lists clusters by the cluster ID"),
    Param("name", STRING, description="lists clusters by the cluster name"),
    Param("zoneid", UUID, entity=DataCenter, description="lists clusters by Zone ID"),
    Param("podid", UUID, entity=HostPod, description="lists clusters by Pod ID"),
    Param("hypervisor", STRING, description="lists clusters by hypervisor type"),
    Param("clustertype", STRING, description="lists clusters by cluster type"),
    Param("allocationstate", STRING, description="lists clusters by allocation state"),
    Param("managedstate", STRING, description="whether this cluster is managed by cloudstack"),
    Param("showcapacities", BOOLEAN, description="flag to display the capacity of the clusters"),
    Param("arch", STRING, description="CPU arch of the clusters", since="4.20.1"),
])
def list_clusters(ctx, p):
    """Lists clusters."""
    query = select(Cluster).where(Cluster.removed.is_(None))
    for value, column in ((p.id, Cluster.id), (p.zoneid, Cluster.zone_id), (p.podid, Cluster.pod_id)):
        if value is not None:
            query = query.where(column == value.id)
    for value, column in ((p.name, Cluster.name), (p.clustertype, Cluster.cluster_type),
                          (p.allocationstate, Cluster.allocation_state), (p.managedstate, Cluster.managed_state),
                          (p.arch, Cluster.arch)):
        if value:
            query = query.where(column == value)
    if p.hypervisor:
        query = query.where(func.lower(Cluster.hypervisor_type) == p.hypervisor.lower())
    return paged(ctx, p, query, lambda row: host_views.cluster(ctx, row, capacities=bool(p.showcapacities)),
                 keyword_columns=(Cluster.name,), order_by=Cluster.id)
