"""Capacity of zones, pods, clusters and hosts: listCapacity, the `capacity` of zone and cluster views,
and the allocation primitives (`reserve`/`release`) that VM placement uses.

Host capacity lives in op_host_capacity rows (CPU in MHz, memory and local storage in bytes, CPU cores);
`total` is the raw hardware figure and the overprovisioning factors are applied when reading or
allocating, as upstream does, so changing a factor takes effect at once without rewriting rows.
Everything else (storage pools, IP addresses, VLANs, image stores) is counted from its own table.
"""

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import Float, and_, bindparam, case, func, select, update

from ..core.config import ConfigurationValue
from ..core.db import core, prebuilt
from ..core.listing import paged_list
from ..core.params import BOOLEAN, INTEGER, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..core.responses import describe
from ..storage.models import ImageStore, StoragePool
from .models import (
    CAPACITY_CPU,
    CAPACITY_CPU_CORE,
    CAPACITY_DIRECT_ATTACHED_PUBLIC_IP,
    CAPACITY_LOCAL_STORAGE,
    CAPACITY_MEMORY,
    CAPACITY_PRIVATE_IP,
    CAPACITY_PUBLIC_IP,
    CAPACITY_SECONDARY_STORAGE,
    CAPACITY_STORAGE,
    CAPACITY_STORAGE_ALLOCATED,
    CAPACITY_VLAN,
    Capacity,
    Cluster,
    DataCenter,
    GuestVnet,
    Host,
    HostPod,
    HostTag,
    PrivateIp,
    PublicIp,
    Vlan,
)

# Names as 4.22's listCapacity reports them (CapacityResponse `name`).
NAMES = {
    CAPACITY_MEMORY: "MEMORY", CAPACITY_CPU: "CPU", CAPACITY_STORAGE: "STORAGE",
    CAPACITY_STORAGE_ALLOCATED: "STORAGE_ALLOCATED", CAPACITY_PUBLIC_IP: "VIRTUAL_NETWORK_PUBLIC_IP",
    CAPACITY_PRIVATE_IP: "PRIVATE_IP", CAPACITY_SECONDARY_STORAGE: "SECONDARY_STORAGE", CAPACITY_VLAN: "VLAN",
    CAPACITY_DIRECT_ATTACHED_PUBLIC_IP: "DIRECT_ATTACHED_PUBLIC_IP", CAPACITY_LOCAL_STORAGE: "LOCAL_STORAGE",
    CAPACITY_CPU_CORE: "CPU_CORE",
}
HOST_TYPES = (CAPACITY_MEMORY, CAPACITY_CPU, CAPACITY_LOCAL_STORAGE, CAPACITY_CPU_CORE)
# Zone-wide figures: meaningless for a single pod or cluster, so left out when one is asked for.
ZONE_TYPES = (CAPACITY_PUBLIC_IP, CAPACITY_SECONDARY_STORAGE, CAPACITY_VLAN, CAPACITY_DIRECT_ATTACHED_PUBLIC_IP)
FACTOR_SETTINGS = {
    CAPACITY_CPU: "cpu.overprovisioning.factor",
    CAPACITY_MEMORY: "mem.overprovisioning.factor",
    CAPACITY_STORAGE_ALLOCATED: "storage.overprovisioning.factor",
}


# ---- overprovisioning -----------------------------------------------------------------------------

def factor(ctx, capacity_type: int, cluster_id: int | None = None) -> float:
    """The overprovisioning factor of a capacity type, a cluster's own value first (cluster scope)."""
    name = FACTOR_SETTINGS.get(capacity_type)
    if name is None:
        return 1.0
    if cluster_id is not None:
        scoped = cluster_factors(ctx, name).get(cluster_id)
        if scoped is not None:
            return scoped
    return float(ctx.setting(name) or 1.0)


def cluster_factors(ctx, name: str) -> dict[int, float]:
    """Cluster-scoped values of a factor setting (configuration rows with scope `cluster`), cached with
    the settings: every host in a listHosts page needs them."""
    cache = ctx.server.caches.get("config").setdefault("cluster_factors", {})
    if name not in cache:
        rows = ctx.db.execute(select(ConfigurationValue.scope_id, ConfigurationValue.value).where(
            ConfigurationValue.name == name, ConfigurationValue.scope == "cluster"))
        found = {}
        for cluster_id, value in rows:
            try:
                found[cluster_id] = float(value)
            except (TypeError, ValueError):
                continue
        cache[name] = found
    return cache[name]


# ---- host capacity rows and allocation --------------------------------------------------------------

def create_host_capacity(ctx, host: Host) -> None:
    """The op_host_capacity rows of a newly added routing host."""
    totals = {CAPACITY_CPU: host.cpus * host.speed, CAPACITY_MEMORY: host.ram, CAPACITY_CPU_CORE: host.cpus,
              CAPACITY_LOCAL_STORAGE: host.local_storage}
    for capacity_type, total in totals.items():
        ctx.db.add(Capacity(host_id=host.id, zone_id=host.zone_id, pod_id=host.pod_id, cluster_id=host.cluster_id,
                            capacity_type=capacity_type, total=total, used=0, reserved=0,
                            enabled=host.resource_state == "Enabled"))


def host_capacity_query(host_id: int):
    return select(Capacity).where(Capacity.host_id == host_id, Capacity.capacity_type.in_(HOST_TYPES))


def set_host_capacity_enabled(ctx, host: Host, enabled: bool) -> None:
    """Capacity of a host that is not Enabled is not offered to allocation (upstream capacity_state)."""
    ctx.db.execute(update(Capacity).where(Capacity.host_id == host.id, Capacity.capacity_type.in_(HOST_TYPES))
                   .values(enabled=enabled).execution_options(synchronize_session=False))


def remove_host_capacity(ctx, host: Host) -> None:
    for row in ctx.db.scalars(host_capacity_query(host.id)):
        ctx.db.delete(row)


def _take(ctx, host_id: int, capacity_type: int, amount: int, limit: float | None) -> bool:
    """used += amount on one row, only while it stays within total × factor; answers whether it did.

    One conditional UPDATE, so two management servers allocating at once can never overcommit.
    """
    statement = prebuilt(("capacity.take", limit is None), lambda: _take_statement(limit is None))
    params = {"host": host_id, "type": capacity_type, "amount": amount, "factor": limit}
    return core(ctx.db, statement, params).rowcount == 1


def _take_statement(unbounded: bool):
    amount = bindparam("amount")
    condition = [Capacity.host_id == bindparam("host"), Capacity.capacity_type == bindparam("type")]
    if not unbounded:
        condition.append(Capacity.used + amount <= Capacity.total * bindparam("factor", type_=Float))
    return update(Capacity).where(*condition).values(used=Capacity.used + amount)


def _give_back(ctx, host_id: int, capacity_type: int, amount: int) -> None:
    statement = prebuilt("capacity.give_back", lambda: update(Capacity).where(
        Capacity.host_id == bindparam("host"), Capacity.capacity_type == bindparam("type"))
        .values(used=case((Capacity.used - bindparam("amount") < 0, 0),
                          else_=Capacity.used - bindparam("amount"))))
    core(ctx.db, statement, {"host": host_id, "type": capacity_type, "amount": amount})


def reserve(ctx, host: Host, cpu_mhz: int, ram_bytes: int, cores: int = 0) -> bool:
    """Allocate CPU and memory on a host, all or nothing; False when the host lacks either.

    Cores are counted but not bounded: upstream limits vCPUs per VM, not their sum per host.
    """
    if not _take(ctx, host.id, CAPACITY_CPU, cpu_mhz, factor(ctx, CAPACITY_CPU, host.cluster_id)):
        return False
    if not _take(ctx, host.id, CAPACITY_MEMORY, ram_bytes, factor(ctx, CAPACITY_MEMORY, host.cluster_id)):
        _give_back(ctx, host.id, CAPACITY_CPU, cpu_mhz)
        return False
    if cores:
        _take(ctx, host.id, CAPACITY_CPU_CORE, cores, None)
    return True


def fits(ctx, host: Host, cpu_mhz: int, ram_bytes: int) -> bool:
    """Would `reserve` succeed now? (A hint only: the conditional UPDATE is what decides.)"""
    figures = host_figures(ctx, host)
    for capacity_type, amount in ((CAPACITY_CPU, cpu_mhz), (CAPACITY_MEMORY, ram_bytes)):
        total, used = figures.get(capacity_type, (0, 0))
        if used + amount > total * factor(ctx, capacity_type, host.cluster_id):
            return False
    return True


def release(ctx, host: Host, cpu_mhz: int, ram_bytes: int, cores: int = 0) -> None:
    """Give back what `reserve` took (never below zero)."""
    _give_back(ctx, host.id, CAPACITY_CPU, cpu_mhz)
    _give_back(ctx, host.id, CAPACITY_MEMORY, ram_bytes)
    if cores:
        _give_back(ctx, host.id, CAPACITY_CPU_CORE, cores)


def host_figures(ctx, host: Host) -> dict[int, tuple[int, int]]:
    """{capacity type: (total, used)} of one host, raw (no factor)."""
    rows = ctx.db.execute(select(Capacity.capacity_type, Capacity.total, Capacity.used + Capacity.reserved)
                          .where(Capacity.host_id == host.id, Capacity.capacity_type.in_(HOST_TYPES)))
    return {row[0]: (row[1] or 0, row[2] or 0) for row in rows}


# ---- tallies: every capacity figure, summed per zone / pod / cluster --------------------------------

@dataclass(slots=True)
class Scope:
    """What to count: filters of listCapacity (ids), and the level items are grouped at."""

    zone_id: int | None = None
    pod_id: int | None = None
    cluster_id: int | None = None
    capacity_type: int | None = None
    tag: str | None = None

    @property
    def level(self) -> str:
        return "cluster" if self.cluster_id else "pod" if self.pod_id else "zone"

    def wants(self, capacity_type: int) -> bool:
        if self.capacity_type is not None and capacity_type != self.capacity_type:
            return False
        if self.tag and capacity_type not in HOST_TYPES:
            return False
        if self.level != "zone" and capacity_type in ZONE_TYPES:
            return False
        return not (self.level == "cluster" and capacity_type == CAPACITY_PRIVATE_IP)


def _located(query, scope: Scope, zone_col, pod_col=None, cluster_col=None):
    if scope.zone_id is not None:
        query = query.where(zone_col == scope.zone_id)
    if scope.pod_id is not None and pod_col is not None:
        query = query.where(pod_col == scope.pod_id)
    if scope.cluster_id is not None and cluster_col is not None:
        query = query.where(cluster_col == scope.cluster_id)
    return query


def _host_rows(ctx, scope: Scope):
    query = (select(Capacity.zone_id, Capacity.pod_id, Capacity.cluster_id, Capacity.capacity_type,
                    func.sum(Capacity.total), func.sum(Capacity.used + Capacity.reserved))
             .join(Host, Host.id == Capacity.host_id)
             .where(Capacity.capacity_type.in_(HOST_TYPES), Host.removed.is_(None), Host.type == "Routing")
             .group_by(Capacity.zone_id, Capacity.pod_id, Capacity.cluster_id, Capacity.capacity_type))
    if scope.tag:
        query = query.where(Host.id.in_(select(HostTag.host_id).where(HostTag.tag == scope.tag)))
    yield from ctx.db.execute(_located(query, scope, Capacity.zone_id, Capacity.pod_id, Capacity.cluster_id))


def _pool_rows(ctx, scope: Scope):
    allocated = func.coalesce(func.sum(Capacity.used), 0)
    query = (select(StoragePool.zone_id, StoragePool.pod_id, StoragePool.cluster_id,
                    func.sum(StoragePool.capacity_bytes), func.sum(StoragePool.used_bytes), allocated)
             .outerjoin(Capacity, and_(Capacity.host_id == StoragePool.id,
                                       Capacity.capacity_type == CAPACITY_STORAGE_ALLOCATED))
             .where(StoragePool.removed.is_(None))
             .group_by(StoragePool.zone_id, StoragePool.pod_id, StoragePool.cluster_id))
    query = _located(query, scope, StoragePool.zone_id, StoragePool.pod_id, StoragePool.cluster_id)
    for zone_id, pod_id, cluster_id, total, used, taken in ctx.db.execute(query):
        yield zone_id, pod_id, cluster_id, CAPACITY_STORAGE, total, used
        yield zone_id, pod_id, cluster_id, CAPACITY_STORAGE_ALLOCATED, total, taken


def _private_ip_rows(ctx, scope: Scope):
    query = (select(PrivateIp.zone_id, PrivateIp.pod_id, func.count(), func.count(PrivateIp.taken))
             .group_by(PrivateIp.zone_id, PrivateIp.pod_id))
    for zone_id, pod_id, total, used in ctx.db.execute(_located(query, scope, PrivateIp.zone_id, PrivateIp.pod_id)):
        yield zone_id, pod_id, None, CAPACITY_PRIVATE_IP, total, used


def _public_ip_rows(ctx, scope: Scope):
    used = func.sum(case((PublicIp.state != "Free", 1), else_=0))
    query = (select(PublicIp.zone_id, Vlan.vlan_type, func.count(), used)
             .join(Vlan, Vlan.id == PublicIp.vlan_id)
             .where(PublicIp.removed.is_(None), Vlan.removed.is_(None))
             .group_by(PublicIp.zone_id, Vlan.vlan_type))
    for zone_id, vlan_type, total, taken in ctx.db.execute(_located(query, scope, PublicIp.zone_id)):
        kind = CAPACITY_PUBLIC_IP if vlan_type == "VirtualNetwork" else CAPACITY_DIRECT_ATTACHED_PUBLIC_IP
        yield zone_id, None, None, kind, total, taken


def _vlan_rows(ctx, scope: Scope):
    query = select(GuestVnet.zone_id, func.count(), func.count(GuestVnet.taken)).group_by(GuestVnet.zone_id)
    for zone_id, total, used in ctx.db.execute(_located(query, scope, GuestVnet.zone_id)):
        yield zone_id, None, None, CAPACITY_VLAN, total, used


def _image_store_rows(ctx, scope: Scope):
    query = (select(ImageStore.zone_id, func.sum(func.coalesce(ImageStore.total_size, 0)),
                    func.sum(func.coalesce(ImageStore.used_bytes, 0)))
             .where(ImageStore.removed.is_(None), ImageStore.role == "Image", ImageStore.zone_id.is_not(None))
             .group_by(ImageStore.zone_id))
    for zone_id, total, used in ctx.db.execute(_located(query, scope, ImageStore.zone_id)):
        yield zone_id, None, None, CAPACITY_SECONDARY_STORAGE, total, used


SOURCES = (_host_rows, _pool_rows, _private_ip_rows, _public_ip_rows, _vlan_rows, _image_store_rows)


def tally(ctx, scope: Scope) -> dict[tuple, list[float]]:
    """{(zone, pod, cluster, type): [total × factor, used]} grouped at the scope's level."""
    sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for source in SOURCES:
        for zone_id, pod_id, cluster_id, capacity_type, total, used in source(ctx, scope):
            if not scope.wants(capacity_type):
                continue
            key = (zone_id, pod_id if scope.level != "zone" else None,
                   cluster_id if scope.level == "cluster" else None, capacity_type)
            figures = sums[key]
            # MariaDB answers SUM() as Decimal: sum as float like the SQLite path.
            figures[0] += float(total or 0) * factor(ctx, capacity_type, cluster_id)
            figures[1] += float(used or 0)
    return sums


def percent(used: float, total: float) -> str:
    """Upstream's DecimalFormat("##.##"): at most two decimals, no trailing zeros ("12.5", "0")."""
    value = used * 100 / total if total else 0
    return f"{value:.2f}".rstrip("0").rstrip(".")


def capacity_view(ctx, key: tuple, figures: list[float], tag: str | None = None) -> dict:
    zone_id, pod_id, cluster_id, capacity_type = key
    zone = ctx.db.get(DataCenter, zone_id)
    pod = ctx.db.get(HostPod, pod_id) if pod_id else None
    cluster = ctx.db.get(Cluster, cluster_id) if cluster_id else None
    total, used = int(figures[0]), int(figures[1])
    return {
        "type": capacity_type, "name": NAMES.get(capacity_type), "zoneid": zone.uuid if zone else None,
        "zonename": zone.name if zone else None, "podid": pod.uuid if pod else None,
        "podname": pod.name if pod else None, "clusterid": cluster.uuid if cluster else None,
        "clustername": cluster.name if cluster else None, "capacitytotal": total,
        "capacityallocated": used if capacity_type in HOST_TYPES else None, "capacityused": used,
        "percentused": percent(used, total), "tag": tag,
    }


def capacities(ctx, scope: Scope, sort_by_usage: bool = False) -> list[dict]:
    sums = tally(ctx, scope)
    # Zone-level IP and VLAN figures with nothing configured are noise: upstream has no row for them.
    keys = [k for k in sums if sums[k][0] or k[3] not in ZONE_TYPES + (CAPACITY_PRIVATE_IP,)]
    if sort_by_usage:
        keys.sort(key=lambda k: -(sums[k][1] / sums[k][0] if sums[k][0] else 0))
    else:
        keys.sort(key=lambda k: (k[0], k[1] or 0, k[2] or 0, k[3]))
    return [capacity_view(ctx, k, sums[k], scope.tag) for k in keys]


def zone_capacities(ctx, zone) -> list[dict]:
    return capacities(ctx, Scope(zone_id=zone.id))


def pod_capacities(ctx, pod) -> list[dict]:
    """For the pod view's `capacity` (listPods showcapacities=true)."""
    return capacities(ctx, Scope(zone_id=pod.zone_id, pod_id=pod.id))


def cluster_capacities(ctx, cluster) -> list[dict]:
    return capacities(ctx, Scope(zone_id=cluster.zone_id, pod_id=cluster.pod_id, cluster_id=cluster.id))


@command("listCapacity", response="capacity", listing="list", roles=ROOT_ONLY, params=[
    Param("zoneid", UUID, entity=DataCenter, description="lists capacity by the Zone ID"),
    Param("podid", UUID, entity=HostPod, description="lists capacity by the Pod ID"),
    Param("clusterid", UUID, entity=Cluster, description="lists capacity by the Cluster ID"),
    Param("type", INTEGER, description="lists capacity by type* CAPACITY_TYPE_MEMORY = 0* CAPACITY_TYPE_CPU = 1* "
                                       "CAPACITY_TYPE_STORAGE = 2* CAPACITY_TYPE_STORAGE_ALLOCATED = 3* "
                                       "CAPACITY_TYPE_VIRTUAL_NETWORK_PUBLIC_IP = 4* CAPACITY_TYPE_PRIVATE_IP = 5* "
                                       "CAPACITY_TYPE_SECONDARY_STORAGE = 6* CAPACITY_TYPE_VLAN = 7* "
                                       "CAPACITY_TYPE_DIRECT_ATTACHED_PUBLIC_IP = 8* "
                                       "CAPACITY_TYPE_LOCAL_STORAGE = 9* CAPACITY_TYPE_CPU_CORE = 90."),
    Param("fetchlatest", BOOLEAN, description="recalculate capacities and fetch the latest", since="3.0.0"),
    Param("sortby", STRING, description="Sort the results. Available values: Usage", since="3.0.0"),
    Param("tag", STRING, description="Tag for the resource type", since="4.20.0"),
])
def list_capacity(ctx, p):
    """Lists all the system wide capacities."""
    # Capacities are computed from the rows on every call, so `fetchlatest` needs no work.
    cluster, pod = p.clusterid, p.podid
    scope = Scope(zone_id=p.zoneid.id if p.zoneid else None, pod_id=pod.id if pod else None,
                  cluster_id=cluster.id if cluster else None, capacity_type=p.type, tag=p.tag or None)
    if cluster is not None and scope.pod_id is None:
        scope.pod_id = cluster.pod_id
    items = capacities(ctx, scope, sort_by_usage=(p.sortby or "").lower() == "usage")
    return paged_list(ctx, p, items)


describe("capacity", {
    "type": "the capacity type", "name": "the capacity name", "zoneid": "the Zone ID", "zonename": "the Zone name",
    "podid": "the Pod ID", "podname": "the Pod name", "clusterid": "the Cluster ID",
    "clustername": "the Cluster name", "capacityallocated": "the capacity currently in allocated",
    "capacityused": "the capacity currently in use", "capacitytotal": "the total capacity available",
    "percentused": "the percentage of capacity currently in use", "tag": "The tag for the capacity type",
})
