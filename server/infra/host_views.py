"""Clusters and hosts → response objects (ClusterResponse, HostResponse)."""

from sqlalchemy import select

from .. import CLOUDSTACK_VERSION
from ..core.responses import describe
from ..core.server import ManagementServerHost
from . import capacity
from .models import (
    CAPACITY_CPU,
    CAPACITY_LOCAL_STORAGE,
    CAPACITY_MEMORY,
    Cluster,
    DataCenter,
    HostPod,
    HostTag,
)

# The status events a host in each status can take (upstream Status state machine), shown as `events`.
STATUS_EVENTS = {
    "Up": "AgentDisconnected; PingTimeout; ShutdownRequested; AgentConnected; Ping; HostDown; "
          "ManagementServerDown; Remove; StartAgentRebalance",
    "Connecting": "AgentDisconnected; PingTimeout; ShutdownRequested; Ready; HostDown; ManagementServerDown; "
                  "Remove",
    "Alert": "AgentDisconnected; PingTimeout; AgentConnected; Ping; HostDown; ManagementServerDown; Remove",
    "Disconnected": "AgentConnected; PingTimeout; HostDown; ManagementServerDown; Remove",
    "Down": "AgentConnected; PingTimeout; ManagementServerDown; Remove",
}


def percentage(part: float, whole: float) -> str:
    """Upstream's DecimalFormat("#.##") + "%": 12.5%, 0%, 33.33%."""
    return capacity.percent(part, whole) + "%"


def ratio(value: float) -> str:
    return str(float(value))


def cluster(ctx, row: Cluster, capacities: bool = False) -> dict:
    zone = ctx.db.get(DataCenter, row.zone_id)
    pod = ctx.db.get(HostPod, row.pod_id)
    answer = {
        "id": row.uuid, "name": row.name, "podid": pod.uuid, "podname": pod.name, "zoneid": zone.uuid,
        "zonename": zone.name, "hypervisortype": row.hypervisor_type, "clustertype": row.cluster_type,
        "allocationstate": row.allocation_state, "managedstate": row.managed_state, "arch": row.arch,
        "cpuovercommitratio": ratio(capacity.factor(ctx, CAPACITY_CPU, row.id)),
        "memoryovercommitratio": ratio(capacity.factor(ctx, CAPACITY_MEMORY, row.id)),
    }
    if capacities:
        answer["capacity"] = capacity.cluster_capacities(ctx, row)
    return answer


def host_tags(ctx, host_id: int) -> list[str]:
    return list(ctx.db.scalars(select(HostTag.tag).where(HostTag.host_id == host_id).order_by(HostTag.id)))


def management_server(ctx, msid: int | None):
    if msid is None:
        return None
    return ctx.db.scalars(select(ManagementServerHost).where(ManagementServerHost.msid == msid)).first()


def host(ctx, row) -> dict:
    zone = ctx.db.get(DataCenter, row.zone_id)
    pod = ctx.db.get(HostPod, row.pod_id) if row.pod_id else None
    owner = ctx.db.get(Cluster, row.cluster_id) if row.cluster_id else None
    tags = ",".join(host_tags(ctx, row.id)) or None
    ms = management_server(ctx, row.mgmt_server_id)
    answer = {
        "id": row.uuid, "name": row.name, "state": row.status, "resourcestate": row.resource_state,
        "type": row.type, "zoneid": zone.uuid, "zonename": zone.name,
        "podid": pod.uuid if pod else None, "podname": pod.name if pod else None,
        "clusterid": owner.uuid if owner else None, "clustername": owner.name if owner else None,
        "clustertype": owner.cluster_type if owner else None, "hypervisor": row.hypervisor_type,
        "hypervisorversion": row.hypervisor_version, "ipaddress": row.private_ip_address,
        "capabilities": row.capabilities, "version": row.version or CLOUDSTACK_VERSION, "arch": row.arch,
        "hosttags": tags, "explicithosttags": tags, "istagarule": False, "islocalstorageactive": False,
        "created": row.created, "lastpinged": row.last_ping, "disconnected": row.disconnected,
        "managementserverid": ms.uuid if ms else None, "managementservername": ms.name if ms else None,
        "events": STATUS_EVENTS.get(row.status), "hahost": False, "annotation": row.annotation,
        "removed": row.removed,
    }
    if row.type == "Routing":
        answer.update(compute_figures(ctx, row))
    return answer


def compute_figures(ctx, row) -> dict:
    """CPU, memory and disk figures of a routing host: raw, allocated, and with overprovisioning."""
    figures = capacity.host_figures(ctx, row)
    cpu_total, cpu_used = figures.get(CAPACITY_CPU, (row.cpus * row.speed, 0))
    mem_total, mem_used = figures.get(CAPACITY_MEMORY, (row.ram, 0))
    disk_total, disk_used = figures.get(CAPACITY_LOCAL_STORAGE, (row.local_storage, 0))
    cpu_factor = capacity.factor(ctx, CAPACITY_CPU, row.cluster_id)
    mem_factor = capacity.factor(ctx, CAPACITY_MEMORY, row.cluster_id)
    return {
        "cpusockets": row.cpu_sockets, "cpunumber": row.cpus, "cpuspeed": row.speed,
        "cpuallocated": percentage(cpu_used, cpu_total * cpu_factor), "cpuallocatedvalue": cpu_used,
        "cpuallocatedpercentage": percentage(cpu_used, cpu_total),
        "cpuallocatedwithoverprovisioning": percentage(cpu_used, cpu_total * cpu_factor),
        "cpuwithoverprovisioning": str(int(cpu_total * cpu_factor)),
        # A simulated guest keeps the host as busy as its allocation says.
        "cpuused": percentage(cpu_used, cpu_total), "cpuloadaverage": 0.0,
        "memorytotal": mem_total, "memorywithoverprovisioning": str(int(mem_total * mem_factor)),
        "memoryallocated": mem_used, "memoryallocatedbytes": mem_used,
        "memoryallocatedpercentage": percentage(mem_used, mem_total * mem_factor), "memoryused": mem_used,
        "disksizetotal": disk_total, "disksizeallocated": disk_used,
        "networkkbsread": 0, "networkkbswrite": 0,
    }


describe("cluster", {
    "id": "the cluster ID", "name": "the cluster name", "podid": "the Pod ID of the cluster",
    "podname": "the Pod name of the cluster", "zoneid": "the Zone ID of the cluster",
    "zonename": "the Zone name of the cluster", "hypervisortype": "the hypervisor type of the cluster",
    "clustertype": "the type of the cluster", "allocationstate": "the allocation state of the cluster",
    "managedstate": "whether this cluster is managed by cloudstack", "arch": "CPU Arch of the hosts in the cluster",
    "cpuovercommitratio": "The cpu overcommit ratio of the cluster",
    "memoryovercommitratio": "The memory overcommit ratio of the cluster",
    "capacity": "the capacity of the Cluster",
})
describe("host", {
    "id": "the ID of the host", "name": "the name of the host", "state": "the state of the host",
    "resourcestate": "the resource state of the host", "type": "the host type", "zoneid": "the Zone ID of the host",
    "zonename": "the Zone name of the host", "podid": "the Pod ID of the host", "podname": "the Pod name of the host",
    "clusterid": "the cluster ID of the host", "clustername": "the cluster name of the host",
    "clustertype": "the cluster type of the cluster that host belongs to", "hypervisor": "the host hypervisor",
    "hypervisorversion": "the hypervisor version", "ipaddress": "the IP address of the host",
    "capabilities": "capabilities of the host", "version": "the host version", "arch": "CPU Arch of the host",
    "hosttags": "comma-separated list of tags for the host", "explicithosttags": "comma-separated list of explicit "
    "host tags for the host", "istagarule": "true if the host has tag as a rule",
    "islocalstorageactive": "true if local storage is active, false otherwise", "created": "the date and time the "
    "host was created", "lastpinged": "the date and time the host was last pinged", "disconnected": "the date and "
    "time the host was disconnected", "managementserverid": "the management server ID of the host",
    "managementservername": "the management server name of the host", "events": "events available for the host",
    "hahost": "true if the host is Ha host (dedicated to vms started by HA process; false otherwise",
    "annotation": "the last annotation set on this host by an admin", "removed": "the date and time the host was "
    "removed", "cpusockets": "the number of CPU sockets on the host", "cpunumber": "the CPU number of the host",
    "cpuspeed": "the CPU speed of the host", "cpuallocated": "the amount of the host's CPU currently allocated",
    "cpuallocatedvalue": "the amount of the host's CPU currently allocated in MHz",
    "cpuallocatedpercentage": "the amount of the host's CPU currently allocated in percentage",
    "cpuallocatedwithoverprovisioning": "the amount of the host's CPU currently allocated after applying the "
    "cpu.overprovisioning.factor", "cpuwithoverprovisioning": "the amount of the host's CPU after applying the "
    "cpu.overprovisioning.factor", "cpuused": "the amount of the host's CPU currently used",
    "cpuloadaverage": "the cpu average load on the host", "memorytotal": "the memory total of the host, this "
    "parameter is deprecated use memorywithoverprovisioning", "memorywithoverprovisioning": "the amount of the "
    "host's memory after applying the mem.overprovisioning.factor", "memoryallocated": "the amount of the host's "
    "memory currently allocated", "memoryallocatedbytes": "the amount of the host's memory currently allocated in "
    "bytes", "memoryallocatedpercentage": "the amount of the host's memory currently allocated in percentage",
    "memoryused": "the amount of the host's memory currently used", "disksizetotal": "the total disk size of the "
    "host", "disksizeallocated": "the host's currently allocated disk size", "networkkbsread": "the incoming "
    "network traffic on the host", "networkkbswrite": "the outgoing network traffic on the host",
})
