"""Deployment planning: which host runs a VM and which primary storage pool holds each of its volumes.

Hosts are filtered in SQL (zone/pod/cluster, Up + Enabled, Routing, hypervisor, host tags, the VM's
existing volumes' reach), then by affinity groups, then ordered by `vm.allocation.algorithm`. Capacity is
taken with conditional UPDATEs (`capacity.reserve`, `reserve_storage`): the check and the take are one
statement, so concurrent deployments — on one or several management servers — never overcommit a host
or a pool; a candidate that lost the race is simply skipped.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import bindparam, case, func, select, update

from ..core.db import core, prebuilt
from ..core.errors import InsufficientCapacity
from ..infra import capacity
from ..infra.models import (
    CAPACITY_STORAGE_ALLOCATED,
    ENABLED,
    Capacity,
    Cluster,
    DataCenter,
    Host,
    HostPod,
    HostTag,
)
from ..storage.models import StoragePool, StoragePoolTag, Volume
from .models import AffinityGroup, AffinityGroupVm, VMInstance

HOST_AFFINITY, HOST_ANTI_AFFINITY = "host affinity", "host anti-affinity"
# VM states that hold a host (their host_id counts for affinity).
ON_A_HOST = ("Starting", "Running", "Stopping", "Migrating")
POOL_UP = "Up"


def split_tags(value: str | None) -> set[str]:
    return {tag.strip() for tag in (value or "").split(",") if tag.strip()}


@dataclass
class Placement:
    """What one start attempt took; `undo` gives it all back."""

    host: Host
    cpu_mhz: int
    ram: int
    cores: int
    # volume id → (pool, bytes reserved on it) for volumes this attempt put on a pool.
    volumes: dict[int, tuple[StoragePool, int]] = field(default_factory=dict)

    def undo(self, ctx) -> None:
        capacity.release(ctx, self.host, self.cpu_mhz, self.ram, self.cores)
        for pool, size in self.volumes.values():
            release_storage(ctx, pool, size)


# ---- storage capacity ---------------------------------------------------------------------------

def reserve_storage(ctx, pool: StoragePool, size: int) -> bool:
    """Allocate `size` bytes on a pool's STORAGE_ALLOCATED row (its total already holds the
    overprovisioning factor); one conditional UPDATE, False when the pool lacks the room."""
    statement = prebuilt("storage.take", lambda: update(Capacity).where(
        Capacity.host_id == bindparam("pool"), Capacity.capacity_type == CAPACITY_STORAGE_ALLOCATED,
        Capacity.used + bindparam("size") <= Capacity.total).values(used=Capacity.used + bindparam("size")))
    return core(ctx.db, statement, {"pool": pool.id, "size": size}).rowcount == 1


def release_storage(ctx, pool: StoragePool | None, size: int) -> None:
    if pool is None or not size:
        return
    statement = prebuilt("storage.give_back", lambda: update(Capacity).where(
        Capacity.host_id == bindparam("pool"), Capacity.capacity_type == CAPACITY_STORAGE_ALLOCATED)
        .values(used=case((Capacity.used - bindparam("size") < 0, 0),
                          else_=Capacity.used - bindparam("size"))))
    core(ctx.db, statement, {"pool": pool.id, "size": size})


def pools_for(ctx, zone_id: int, tags: set[str], *, cluster_id: int | None = None,
              hypervisor: str | None = None, exclude: int | None = None) -> list[StoragePool]:
    """Up pools of the zone a host of `cluster_id` reaches (its cluster's, or zone-wide) carrying `tags`."""
    params = {"zone": zone_id, **{f"tag{i}": tag for i, tag in enumerate(sorted(tags))}}
    for key, value in (("cluster", cluster_id), ("hypervisor", hypervisor or None), ("exclude", exclude)):
        if value is not None:
            params[key] = value
    shape = ("pools", "cluster" in params, "hypervisor" in params, "exclude" in params, len(tags))
    return list(ctx.db.scalars(prebuilt(shape, lambda: pools_query(*shape[1:])), params))


def pools_query(by_cluster: bool, by_hypervisor: bool, excluding: bool, tag_count: int):
    query = select(StoragePool).where(StoragePool.zone_id == bindparam("zone"), StoragePool.status == POOL_UP,
                                      StoragePool.removed.is_(None), StoragePool.scope != "HOST")
    if by_cluster:
        query = query.where((StoragePool.cluster_id == bindparam("cluster")) | (StoragePool.scope == "ZONE"))
    if by_hypervisor:
        query = query.where((StoragePool.scope != "ZONE") | StoragePool.hypervisor.is_(None)
                            | StoragePool.hypervisor.in_((bindparam("hypervisor"), "Any")))
    if excluding:
        query = query.where(StoragePool.id != bindparam("exclude"))
    for i in range(tag_count):
        tagged = select(StoragePoolTag.pool_id).where(StoragePoolTag.tag == bindparam(f"tag{i}"))
        query = query.where(StoragePool.id.in_(tagged))
    return query.order_by(StoragePool.id)


def take_pool(ctx, candidates: list[StoragePool], size: int) -> StoragePool | None:
    """The first candidate (in the allocation order) that still has `size` bytes; reserved."""
    for pool in order_pools(ctx, candidates):
        if reserve_storage(ctx, pool, size):
            return pool
    return None


def order_pools(ctx, pools: list[StoragePool]) -> list[StoragePool]:
    if (ctx.setting("vm.allocation.algorithm") or "random") in ("random", "userconcentratedpod_random"):
        pools = list(pools)
        random.shuffle(pools)
    return pools


# ---- hosts ----------------------------------------------------------------------------------------

@dataclass
class Request:
    """What a VM needs from a host, and where it may go."""

    vm: VMInstance
    host_tags: set[str]
    volumes: list[tuple[Volume, set[str]]]  # every volume of the VM with its storage tags
    host: Host | None = None  # a host the caller asked for (admin hostid, or migration target)
    pod_id: int | None = None
    cluster_id: int | None = None
    avoid: set[int] = field(default_factory=set)
    prefer: int | None = None  # tried first: the host a stopped VM last ran on (upstream considerlasthost)

    @property
    def need(self) -> tuple[int, int, int]:
        vm = self.vm
        return vm.cpus * vm.speed, vm.ram, vm.cpus


def candidate_hosts(ctx, req: Request) -> list[Host]:
    vm = req.vm
    # Volumes already on a cluster-wide pool tie the VM to that cluster.
    clusters = {pool.cluster_id for pool in placed_pools(ctx, req) if pool.scope == "CLUSTER"}
    if len(clusters) > 1:
        return []
    params = {"zone": vm.zone_id, **{f"tag{i}": tag for i, tag in enumerate(sorted(req.host_tags))}}
    for key, value in (("hypervisor", vm.hypervisor_type or None),
                       ("host", req.host.id if req.host else None), ("pod", req.pod_id),
                       ("cluster", req.cluster_id), ("placed", clusters.pop() if clusters else None)):
        if value is not None:
            params[key] = value
    shape = ("hosts", *(key in params for key in ("hypervisor", "host", "pod", "cluster", "placed")),
             len(req.host_tags))
    found = ctx.db.scalars(prebuilt(shape, lambda: hosts_query(*shape[1:])), params)
    hosts = [h for h in found if h.id not in req.avoid]
    return affinity_filter(ctx, vm, hosts)


def hosts_query(by_hypervisor: bool, by_host: bool, by_pod: bool, by_cluster: bool, by_placed: bool,
                tag_count: int):
    query = (select(Host).join(Cluster, Cluster.id == Host.cluster_id)
             .join(HostPod, HostPod.id == Host.pod_id)
             .where(Host.zone_id == bindparam("zone"), Host.type == "Routing", Host.status == "Up",
                    Host.resource_state == ENABLED, Host.removed.is_(None),
                    Cluster.allocation_state == ENABLED, HostPod.allocation_state == ENABLED))
    for wanted, column, key in ((by_hypervisor, Host.hypervisor_type, "hypervisor"),
                                (by_host, Host.id, "host"), (by_pod, Host.pod_id, "pod"),
                                (by_cluster, Host.cluster_id, "cluster"), (by_placed, Host.cluster_id, "placed")):
        if wanted:
            query = query.where(column == bindparam(key))
    for i in range(tag_count):
        query = query.where(Host.id.in_(select(HostTag.host_id).where(HostTag.tag == bindparam(f"tag{i}"))))
    return query.order_by(Host.id)


def placed_pools(ctx, req: Request) -> list[StoragePool]:
    ids = {v.pool_id for v, _ in req.volumes if v.pool_id is not None and v.state != "Allocated"}
    return list(ctx.db.scalars(select(StoragePool).where(StoragePool.id.in_(ids)))) if ids else []


def affinity_filter(ctx, vm: VMInstance, hosts: list[Host]) -> list[Host]:
    """Host affinity: only the host the group's other VMs run on; anti-affinity: none of theirs."""
    statement = prebuilt("affinity.hosts", lambda: select(AffinityGroup.type, VMInstance.host_id)
                         .join(AffinityGroupVm, AffinityGroupVm.affinity_group_id == AffinityGroup.id)
                         .join(VMInstance, VMInstance.id == AffinityGroupVm.instance_id)
                         .where(AffinityGroup.id.in_(select(AffinityGroupVm.affinity_group_id)
                                                     .where(AffinityGroupVm.instance_id == bindparam("vm"))),
                                VMInstance.id != bindparam("vm"), VMInstance.host_id.is_not(None),
                                VMInstance.state.in_(ON_A_HOST), VMInstance.removed.is_(None)))
    rows = core(ctx.db, statement, {"vm": vm.id}).all()
    avoid = {host_id for kind, host_id in rows if kind == HOST_ANTI_AFFINITY}
    required = {host_id for kind, host_id in rows if kind == HOST_AFFINITY}
    return [h for h in hosts if h.id not in avoid and (not required or h.id in required)]


def order_hosts(ctx, vm: VMInstance, hosts: list[Host]) -> list[Host]:
    """Order candidates by `vm.allocation.algorithm` (upstream's names)."""
    algorithm = ctx.setting("vm.allocation.algorithm") or "random"
    if algorithm == "firstfit" or len(hosts) < 2:
        return list(hosts)
    if algorithm == "userdispersing":
        load = account_vms_per(ctx, vm, VMInstance.host_id)
        return sorted(hosts, key=lambda h: (load[h.id], h.id))
    if algorithm.startswith("userconcentratedpod"):
        load = account_vms_per(ctx, vm, VMInstance.pod_id)
        shuffled = random.sample(hosts, len(hosts)) if algorithm.endswith("random") else hosts
        return sorted(shuffled, key=lambda h: -load[h.pod_id])
    if algorithm == "firstfitleastconsumed":
        used = dict(ctx.db.execute(select(Capacity.host_id, Capacity.used).where(
            Capacity.host_id.in_([h.id for h in hosts]), Capacity.capacity_type == 1)).all())
        return sorted(hosts, key=lambda h: (used.get(h.id, 0), h.id))
    return random.sample(hosts, len(hosts))


def account_vms_per(ctx, vm: VMInstance, column) -> Counter:
    rows = ctx.db.execute(select(column, func.count()).where(
        VMInstance.account_id == vm.account_id, VMInstance.state.in_(ON_A_HOST), VMInstance.removed.is_(None),
        column.is_not(None)).group_by(column)).all()
    return Counter(dict(rows))


def volume_size(volume: Volume) -> int:
    return volume.size or 0


def place_volumes(ctx, req: Request, host: Host, placement: Placement) -> bool:
    """Put every volume without a pool on a pool the host reaches; False (all given back) if one can't."""
    for volume, tags in req.volumes:
        if volume.pool_id is not None and volume.state != "Allocated":
            continue
        candidates = pools_for(ctx, req.vm.zone_id, tags, cluster_id=host.cluster_id,
                               hypervisor=host.hypervisor_type)
        pool = take_pool(ctx, candidates, volume_size(volume))
        if pool is None:
            for taken, size in placement.volumes.values():
                release_storage(ctx, taken, size)
            placement.volumes.clear()
            return False
        placement.volumes[volume.id] = (pool, volume_size(volume))
    return True


def plan(ctx, req: Request, vm_label: str) -> Placement:
    """Reserve a host and pools for a VM, or raise InsufficientCapacity (533) saying why."""
    cpu, ram, cores = req.need
    hosts = candidate_hosts(ctx, req)
    ordered = order_hosts(ctx, req.vm, hosts)
    ordered.sort(key=lambda h: h.id != req.prefer)  # stable: the preferred host first, the order kept
    for host in ordered:
        if not capacity.reserve(ctx, host, cpu, ram, cores):
            continue
        placement = Placement(host, cpu, ram, cores)
        if place_volumes(ctx, req, host, placement):
            return placement
        capacity.release(ctx, host, cpu, ram, cores)
    raise InsufficientCapacity(f"Unable to create a deployment for {vm_label}: {why_not(ctx, req, hosts)}")


def why_not(ctx, req: Request, hosts: list[Host]) -> str:
    vm = req.vm
    zone = ctx.db.get(DataCenter, vm.zone_id)
    cpu, ram, _ = req.need
    if req.host is not None and not hosts:
        return f"host {req.host.name} is not a suitable Up and Enabled {vm.hypervisor_type} host for it"
    if not hosts:
        tags = f" tagged {','.join(sorted(req.host_tags))}" if req.host_tags else ""
        return (f"no Up and Enabled {vm.hypervisor_type} host{tags} in zone {zone.name} satisfies its "
                "placement (pod, cluster, affinity groups, volumes' storage)")
    fitting = [h for h in hosts if capacity.fits(ctx, h, cpu, ram)]
    if not fitting:
        return (f"no host has {cpu} MHz of CPU and {ram // 1024**2} MiB of memory free "
                f"({len(hosts)} candidate host(s) in zone {zone.name})")
    return "no primary storage pool reachable from a host with room has enough free space" + (
        f" with tags {','.join(sorted(set().union(*(t for _, t in req.volumes))))}"
        if any(t for _, t in req.volumes) else "")
