"""Primary storage pools: create (cluster- or zone-wide), update, maintenance, delete, list; tags, providers.

Sandstack simulates storage: a pool is "mounted" by recording it. Its size is `capacitybytes` when given,
else what upstream's simulator reports for any pool (1 TiB, or a last URL segment `size=<bytes>`).
"""

import asyncio

from sqlalchemy import delete, select

from ..core.db import now
from ..core.errors import InvalidParameter, ResourceUnavailable
from ..core.listing import paged, paged_list
from ..core.params import BOOLEAN, LONG, MAP, STRING, UUID, Param, map_to_dict, split_list
from ..core.registry import ROOT_ONLY, command
from ..infra.models import (
    CAPACITY_STORAGE,
    CAPACITY_STORAGE_ALLOCATED,
    Capacity,
    Cluster,
    DataCenter,
    HostPod,
)
from . import views
from .image_stores import PROVIDERS as IMAGE_PROVIDERS
from .models import StoragePool, StoragePoolDetail, StoragePoolTag
from .urls import PoolLocation, primary_location, simulated_size

SIMULATED_POOL_SIZE = 1024**4  # upstream MockStorageManager.DEFAULT_HOST_STORAGE_SIZE
UP, DISABLED = "Up", "Disabled"
PREPARE_FOR_MAINTENANCE, MAINTENANCE = "PrepareForMaintenance", "Maintenance"
ERROR_IN_MAINTENANCE = "ErrorInMaintenance"
# Hypervisor names as upstream's HypervisorType spells them (matched case-insensitively).
HYPERVISORS = ("XenServer", "KVM", "VMware", "Hyperv", "VirtualBox", "Parralels", "BareMetal", "Simulator",
               "Ovm", "Ovm3", "LXC", "Custom", "External", "Any", "None")
ZONE_WIDE_HYPERVISORS = ("KVM", "VMware", "Hyperv", "LXC", "Any", "Simulator")
PRIMARY_PROVIDERS = ("DefaultPrimary", "CloudByte", "Datera", "Linstor", "PowerFlex", "SolidFire",
                     "SolidFireShared", "StorPool")


def canonical_hypervisor(value: str) -> str | None:
    return next((h for h in HYPERVISORS if h.lower() == value.lower()), None)


def pool_scope(p) -> str:
    if not p.scope:
        return "CLUSTER"
    scope = p.scope.upper()
    if scope not in ("CLUSTER", "ZONE"):
        # HOST scope belongs to local storage, which hosts report themselves (addHost), not this API.
        raise InvalidParameter(f"invalid scope for pool {p.scope}")
    return scope


def cluster_placement(p, zone: DataCenter) -> tuple[HostPod, Cluster]:
    if p.clusterid is None:
        raise InvalidParameter("cluster id can't be null, if scope is cluster")
    if p.podid is None:
        raise InvalidParameter("Cluster id requires pod id")
    pod, cluster = p.podid, p.clusterid
    if pod.zone_id != zone.id:
        raise InvalidParameter(f"Pod {pod.name} is not in zone {zone.name}")
    if cluster.pod_id != pod.id or cluster.zone_id != zone.id:
        raise InvalidParameter(f"Cluster {cluster.name} is not in pod {pod.name} of zone {zone.name}")
    return pod, cluster


def zone_wide_hypervisor(p) -> str:
    if not p.hypervisor:
        raise InvalidParameter("Missing parameter hypervisor. Hypervisor type is required to create zone "
                               "wide primary storage.")
    hypervisor = canonical_hypervisor(p.hypervisor)
    if hypervisor not in ZONE_WIDE_HYPERVISORS:
        raise InvalidParameter(f"Zone wide storage pool is not supported for hypervisor type {p.hypervisor}")
    return hypervisor


def check_not_in_use(ctx, zone: DataCenter, where: PoolLocation, url: str) -> None:
    """One pool per storage location in a zone, as upstream refuses a host+path already mounted.

    Upstream checks across zones; a sandbox often deploys the same datacenter config as several zones,
    so the check stops at the zone. SharedMountPoint paths are host-local and may repeat (as upstream)."""
    if where.pool_type == "SharedMountPoint":
        return
    other = ctx.db.scalars(select(StoragePool).where(
        StoragePool.zone_id == zone.id, StoragePool.host_address == where.host,
        StoragePool.path == where.path, StoragePool.removed.is_(None))).first()
    if other is not None:
        pod = ctx.db.get(HostPod, other.pod_id) if other.pod_id else None
        raise InvalidParameter(f"Storage pool {url} already in use by another pod "
                               f"(id={pod.uuid if pod else None})")


def pool_size(p, where: PoolLocation) -> int:
    if p.capacitybytes is not None:
        if p.capacitybytes <= 0:
            raise InvalidParameter("capacitybytes must be a positive number of bytes")
        return p.capacitybytes
    return simulated_size(where.path) or SIMULATED_POOL_SIZE


def set_tags(ctx, pool: StoragePool, tags: str) -> None:
    ctx.db.execute(delete(StoragePoolTag).where(StoragePoolTag.pool_id == pool.id))
    for tag in dict.fromkeys(split_list(tags)):  # ordered and without duplicates
        ctx.db.add(StoragePoolTag(pool_id=pool.id, tag=tag))


def set_details(ctx, pool: StoragePool, details: dict[str, str]) -> None:
    for name, value in details.items():
        row = ctx.db.scalars(select(StoragePoolDetail).where(
            StoragePoolDetail.pool_id == pool.id, StoragePoolDetail.name == name)).first()
        if row is None:
            ctx.db.add(StoragePoolDetail(pool_id=pool.id, name=name, value=value))
        else:
            row.value = value


def record_capacity(ctx, pool: StoragePool) -> None:
    """op_host_capacity rows of a pool (host_id = the pool id, as upstream): its size and its allocation."""
    allocatable = int(pool.capacity_bytes * views.overprovision_factor(ctx, pool))
    for capacity_type, total in ((CAPACITY_STORAGE, pool.capacity_bytes),
                                 (CAPACITY_STORAGE_ALLOCATED, allocatable)):
        row = ctx.db.scalars(select(Capacity).where(Capacity.host_id == pool.id,
                                                    Capacity.capacity_type == capacity_type)).first()
        if row is None:
            used = pool.used_bytes if capacity_type == CAPACITY_STORAGE else 0
            # Enabled at once: zone enabling does not revisit capacities, and a pool is usable when Up.
            ctx.db.add(Capacity(host_id=pool.id, zone_id=pool.zone_id, pod_id=pool.pod_id,
                                cluster_id=pool.cluster_id, capacity_type=capacity_type, used=used,
                                total=total))
        else:
            row.total = total


@command("createStoragePool", response="storagepool", roles=ROOT_ONLY, params=[
    Param("name", STRING, required=True, description="the name for the storage pool"),
    Param("url", STRING, required=True, length=2048, description="the URL of the storage pool"),
    Param("zoneid", UUID, entity=DataCenter, required=True, description="the Zone ID for the storage pool"),
    Param("podid", UUID, entity=HostPod, description="the Pod ID for the storage pool"),
    Param("clusterid", UUID, entity=Cluster, description="the cluster ID for the storage pool"),
    Param("scope", STRING, description="the scope of the storage: cluster or zone"),
    Param("hypervisor", STRING, description="hypervisor type of the hosts in zone that will be attached to "
                                            "this storage pool. KVM, VMware supported as of now."),
    Param("tags", STRING, length=1024, description="the tags for the storage pool"),
    Param("istagarule", BOOLEAN, description="Whether the informed tag is a JS interpretable rule or not."),
    Param("details", MAP, description="the details for the storage pool"),
    Param("provider", STRING, description="the storage provider name"),
    Param("managed", BOOLEAN, description="whether the storage should be managed by CloudStack"),
    Param("capacitybytes", LONG, description="bytes CloudStack can provision from this storage pool"),
    Param("capacityiops", LONG, description="IOPS CloudStack can provision from this storage pool"),
])
def create_storage_pool(ctx, p):
    """Creates a storage pool."""
    zone, scope = p.zoneid, pool_scope(p)
    if scope == "CLUSTER":
        pod, cluster = cluster_placement(p, zone)
        hypervisor = cluster.hypervisor_type
    else:  # zone-wide pools ignore podid and clusterid, as upstream
        pod = cluster = None
        hypervisor = zone_wide_hypervisor(p)
    where = primary_location(p.url, cluster_given=cluster is not None)
    check_not_in_use(ctx, zone, where, p.url)
    # An unknown provider name falls back to the default provider, as upstream.
    provider = next((n for n in PRIMARY_PROVIDERS if p.provider and n.lower() == p.provider.lower()),
                    "DefaultPrimary")
    pool = StoragePool(name=p.name, pool_type=where.pool_type, host_address=where.host, path=where.path,
                       port=where.port, url=p.url, zone_id=zone.id, pod_id=pod.id if pod else None,
                       cluster_id=cluster.id if cluster else None, scope=scope, hypervisor=hypervisor,
                       capacity_bytes=pool_size(p, where), used_bytes=0, capacity_iops=p.capacityiops,
                       status=UP, storage_provider_name=provider, managed=bool(p.managed))
    ctx.db.add(pool)
    ctx.db.flush()
    set_tags(ctx, pool, p.tags or "")
    set_details(ctx, pool, map_to_dict(p.details))
    record_capacity(ctx, pool)
    ctx.event("STORAGE.POOL.CREATE", f"Storage pool {pool.name} created in zone {zone.name}",
              resource_type="StoragePool", resource_id=pool.uuid)
    return views.storage_pool(ctx, pool)


def change_status(ctx, pool: StoragePool, enabled: bool) -> None:
    """updateStoragePool enabled=true|false: Disabled ↔ Up only, with upstream's texts."""
    wanted, required, verb = (UP, DISABLED, "enabled") if enabled else (DISABLED, UP, "disabled")
    if pool.status == wanted:
        return
    if pool.status != required:
        raise InvalidParameter(f"Primary storage with id {pool.uuid} cannot be {verb}. Storage pool state : "
                               f"{pool.status}")
    pool.status = wanted
    ctx.event("ENABLE.PS" if enabled else "DISABLE.PS", f"Storage pool {pool.name} {verb}",
              resource_type="StoragePool", resource_id=pool.uuid)


def change_url(ctx, pool: StoragePool, url: str) -> None:
    # Moving a pool to another server is only safe while nothing uses it.
    if pool.status != MAINTENANCE:
        raise InvalidParameter(f"Storage pool {pool.name} must be in Maintenance to change its url")
    where = primary_location(url, cluster_given=pool.cluster_id is not None)
    if where.pool_type != pool.pool_type:
        raise InvalidParameter(f"Invalid url {url}: can not change the pool type {pool.pool_type} to "
                               f"{where.pool_type}")
    if (where.host, where.path) != (pool.host_address, pool.path):
        check_not_in_use(ctx, ctx.db.get(DataCenter, pool.zone_id), where, url)
    pool.url, pool.host_address, pool.path, pool.port = url, where.host, where.path, where.port


@command("updateStoragePool", response="storagepool", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=StoragePool, required=True, description="the Id of the storage pool"),
    Param("name", STRING, description="Change the name of the storage pool"),
    Param("tags", STRING, length=1024, description="comma-separated list of tags for the storage pool"),
    Param("istagarule", BOOLEAN, description="Whether the informed tag is a JS interpretable rule or not."),
    Param("url", STRING, length=2048, description="the URL of the storage pool (the pool must be in "
                                                  "Maintenance)"),
    Param("capacitybytes", LONG, description="bytes CloudStack can provision from this storage pool"),
    Param("capacityiops", LONG, description="IOPS CloudStack can provision from this storage pool"),
    Param("enabled", BOOLEAN, description="false to disable the pool for allocation of new volumes, true to "
                                          "enable it back."),
    Param("details", MAP, description="the details for the storage pool"),
])
def update_storage_pool(ctx, p):
    """Updates a storage pool."""
    pool = p.id
    if p.name:
        pool.name = p.name
    if p.tags is not None:
        set_tags(ctx, pool, p.tags)
    if p.url:
        change_url(ctx, pool, p.url)
    if p.capacitybytes is not None and p.capacitybytes != pool.capacity_bytes:
        if p.capacitybytes <= 0:
            raise InvalidParameter("capacitybytes must be a positive number of bytes")
        pool.capacity_bytes = p.capacitybytes
        record_capacity(ctx, pool)
    if p.capacityiops is not None:
        pool.capacity_iops = p.capacityiops
    if p.details is not None:
        set_details(ctx, pool, map_to_dict(p.details))
    if p.enabled is not None:
        change_status(ctx, pool, p.enabled)
    ctx.event("STORAGE.POOL.UPDATE", f"Storage pool {pool.name} updated", resource_type="StoragePool",
              resource_id=pool.uuid)
    return views.storage_pool(ctx, pool)


@command("deleteStoragePool", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=StoragePool, required=True, description="Storage pool id"),
    Param("forced", BOOLEAN, description="Force destroy storage pool (force expunge volumes in Destroyed "
                                         "state as a part of pool removal)"),
])
def delete_storage_pool(ctx, p):
    """Deletes a storage pool."""
    pool = p.id
    if pool.status != MAINTENANCE:
        raise InvalidParameter(f"Unable to delete storage due to it is not in Maintenance state, id: "
                               f"{pool.uuid}")
    # Upstream also refuses while volumes live on the pool ("Cannot delete pool <name> as there are
    # associated volumes for this pool"); there is no volume table yet, so there is nothing to check.
    ctx.db.execute(delete(StoragePoolTag).where(StoragePoolTag.pool_id == pool.id))
    ctx.db.execute(delete(StoragePoolDetail).where(StoragePoolDetail.pool_id == pool.id))
    pool_capacity = Capacity.capacity_type.in_((CAPACITY_STORAGE, CAPACITY_STORAGE_ALLOCATED))
    ctx.db.execute(delete(Capacity).where(Capacity.host_id == pool.id, pool_capacity))
    pool.removed = now()
    ctx.event("STORAGE.POOL.DELETE", f"Storage pool {pool.name} deleted", resource_type="StoragePool",
              resource_id=pool.uuid)
    return {"success": True}


@command("enableStorageMaintenance", isasync=True, response="storagepool", roles=ROOT_ONLY,
         instance_type="StoragePool", params=[
             Param("id", UUID, entity=StoragePool, required=True, description="Primary storage ID"),
         ])
async def enable_storage_maintenance(ctx, p):
    """Puts storage pool into maintenance state"""
    pool = p.id
    if pool.status not in (UP, ERROR_IN_MAINTENANCE):
        raise InvalidParameter(f"Primary storage with id {pool.uuid} is not ready for migration, as the "
                               f"status is:{pool.status}")
    # PrepareForMaintenance is visible while the pool's (simulated) volumes move away.
    pool.status = PREPARE_FOR_MAINTENANCE
    ctx.commit()
    await asyncio.sleep(0)
    pool.status = MAINTENANCE
    ctx.event("MAINT.PREPARE.PS", f"Storage pool {pool.name} in maintenance", resource_type="StoragePool",
              resource_id=pool.uuid)
    return views.storage_pool(ctx, pool)


@command("cancelStorageMaintenance", isasync=True, response="storagepool", roles=ROOT_ONLY,
         instance_type="StoragePool", params=[
             Param("id", UUID, entity=StoragePool, required=True, description="the primary storage ID"),
         ])
def cancel_storage_maintenance(ctx, p):
    """Cancels maintenance for primary storage"""
    pool = p.id
    if pool.status not in (MAINTENANCE, ERROR_IN_MAINTENANCE):
        raise ResourceUnavailable(f"Primary storage with id {pool.uuid} is not ready to complete migration, "
                                  f"as the status is:{pool.status}", cserrorcode=4385)
    pool.status = UP
    ctx.event("MAINT.CANCEL.PS", f"Storage pool {pool.name} out of maintenance", resource_type="StoragePool",
              resource_id=pool.uuid)
    return views.storage_pool(ctx, pool)


@command("listStoragePools", response="storagepool", listing="list", roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=StoragePool, description="the ID of the storage pool"),
    Param("name", STRING, description="the name of the storage pool"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID for the storage pool"),
    Param("podid", UUID, entity=HostPod, description="the Pod ID for the storage pool"),
    Param("clusterid", UUID, entity=Cluster,
          description="list storage pools belongig to the specific cluster"),
    Param("ipaddress", STRING, description="the IP address for the storage pool"),
    Param("path", STRING, description="the storage pool path"),
    Param("scope", STRING, description="the scope of the storage pool"),
    Param("status", STRING, description="the status of the storage pool"),
    Param("hostid", UUID, description="host ID of the storage pools"),
    Param("storagecustomstats", BOOLEAN, description="If true, lists the custom stats of the storage pool"),
])
def list_storage_pools(ctx, p):
    """Lists storage pools."""
    query = select(StoragePool).where(StoragePool.removed.is_(None))
    filters = ((p.id, lambda v: StoragePool.id == v.id), (p.name, lambda v: StoragePool.name == v),
               (p.zoneid, lambda v: StoragePool.zone_id == v.id),
               (p.podid, lambda v: StoragePool.pod_id == v.id),
               (p.clusterid, lambda v: StoragePool.cluster_id == v.id),
               (p.ipaddress, lambda v: StoragePool.host_address == v),
               (p.path, lambda v: StoragePool.path == v),
               (p.scope, lambda v: StoragePool.scope == v.upper()),
               (p.status, lambda v: StoragePool.status == v))
    for value, condition in filters:
        if value is not None and value != "":
            query = query.where(condition(value))
    return paged(ctx, p, query, lambda pool: views.storage_pool(ctx, pool),
                 keyword_columns=(StoragePool.name,), order_by=StoragePool.id)


@command("listStorageTags", response="storagetag", listing="list", roles=ROOT_ONLY, params=[])
def list_storage_tags(ctx, p):
    """Lists storage tags"""
    query = (select(StoragePoolTag, StoragePool.uuid)
             .join(StoragePool, StoragePool.id == StoragePoolTag.pool_id)
             .where(StoragePool.removed.is_(None)))
    return paged(ctx, p, query, views.storage_tag, keyword_columns=(StoragePoolTag.tag,),
                 order_by=StoragePoolTag.id)


@command("listStorageProviders", response="dataStoreProvider", listing="list", roles=ROOT_ONLY, params=[
    Param("type", STRING, required=True, description="the type of storage provider: either primary or image"),
])
def list_storage_providers(ctx, p):
    """Lists storage providers."""
    kind = p.type.lower()
    if kind not in ("primary", "image"):
        raise InvalidParameter(f"Invalid storage provider type: {p.type}, valid values are primary, image")
    names = PRIMARY_PROVIDERS if kind == "primary" else IMAGE_PROVIDERS
    items = [{"name": name, "type": kind.upper()} for name in names]
    if p.keyword:
        items = [item for item in items if p.keyword.lower() in item["name"].lower()]
    return paged_list(ctx, p, items)
