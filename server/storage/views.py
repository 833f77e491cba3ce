"""Storage rows → response objects: storage pools, image stores, storage tags, storage providers."""

from sqlalchemy import select

from ..core.responses import describe
from ..infra.models import CAPACITY_STORAGE_ALLOCATED, Capacity, Cluster, DataCenter, HostPod
from .models import StoragePoolTag

# Pool types whose allocation may exceed their size (upstream StoragePoolType.supportsOverProvisioning).
OVERPROVISIONED_TYPES = frozenset({"NetworkFilesystem", "Filesystem", "VMFS", "PreSetup", "RBD", "EXT",
                                   "DatastoreCluster"})


def _names(ctx, model, row_id):
    row = ctx.db.get(model, row_id) if row_id is not None else None
    return (row.uuid, row.name) if row is not None else (None, None)


def pool_tags(ctx, pool_id: int) -> list[str]:
    return list(ctx.db.scalars(select(StoragePoolTag.tag).where(StoragePoolTag.pool_id == pool_id)
                               .order_by(StoragePoolTag.id)))


def overprovision_factor(ctx, pool) -> float:
    if pool.pool_type not in OVERPROVISIONED_TYPES:
        return 1.0
    return float(ctx.setting("storage.overprovisioning.factor"))


def storage_pool(ctx, row) -> dict:
    zone_id, zone_name = _names(ctx, DataCenter, row.zone_id)
    pod_id, pod_name = _names(ctx, HostPod, row.pod_id)
    cluster_id, cluster_name = _names(ctx, Cluster, row.cluster_id)
    allocated = ctx.db.scalar(select(Capacity.used).where(
        Capacity.host_id == row.id, Capacity.capacity_type == CAPACITY_STORAGE_ALLOCATED))
    tags = pool_tags(ctx, row.id)
    return {
        "id": row.uuid, "name": row.name, "zoneid": zone_id, "zonename": zone_name, "podid": pod_id,
        "podname": pod_name, "clusterid": cluster_id, "clustername": cluster_name,
        "ipaddress": row.host_address, "path": row.path, "type": row.pool_type, "scope": row.scope,
        "hypervisor": row.hypervisor, "state": row.status, "disksizetotal": row.capacity_bytes,
        "disksizeallocated": allocated or 0, "disksizeused": row.used_bytes,
        "capacityiops": row.capacity_iops,
        "tags": ",".join(tags) if tags else None, "istagarule": False, "provider": row.storage_provider_name,
        "created": row.created, "overprovisionfactor": str(overprovision_factor(ctx, row)),
        "managed": row.managed, "hasannotations": False,
    }


def image_store(ctx, row) -> dict:
    zone_id, zone_name = _names(ctx, DataCenter, row.zone_id)
    return {
        "id": row.uuid, "name": row.name, "url": row.url or None, "protocol": row.protocol,
        "providername": row.provider_name, "scope": row.scope, "zoneid": zone_id, "zonename": zone_name,
        "disksizetotal": row.total_size, "disksizeused": row.used_bytes, "readonly": row.readonly,
        "hasannotations": False,
    }


def storage_tag(tag_row, pool_uuid: str) -> dict:
    return {"id": str(tag_row.id), "name": tag_row.tag, "poolid": pool_uuid}


describe("storagepool", {
    "id": "the ID of the storage pool", "name": "the name of the storage pool",
    "zoneid": "the Zone ID of the storage pool", "zonename": "the Zone name of the storage pool",
    "podid": "the Pod ID of the storage pool", "podname": "the Pod name of the storage pool",
    "clusterid": "the ID of the cluster for the storage pool",
    "clustername": "the name of the cluster for the storage pool",
    "ipaddress": "the IP address of the storage pool", "path": "the storage pool path",
    "type": "the storage pool type", "scope": "the scope of the storage pool",
    "hypervisor": "the hypervisor type of the storage pool", "state": "the state of the storage pool",
    "disksizetotal": "the total disk size of the storage pool",
    "disksizeallocated": "the host's currently allocated disk size",
    "disksizeused": "the host's currently used disk size",
    "capacityiops": "IOPS CloudStack can provision from this storage pool",
    "tags": "the tags for the storage pool", "istagarule": "whether the storage pool tags are a JS rule",
    "provider": "Storage provider for this pool", "created": "the date and time the storage pool was created",
    "overprovisionfactor": "the overprovisionfactor for the storage pool",
    "managed": "whether this pool is managed or not", "hasannotations": "whether this pool has annotations",
})
IMAGE_STORE_FIELDS = describe("imagestore", {
    "id": "the ID of the image store", "name": "the name of the image store", "url": "the url of the image "
    "store", "protocol": "the protocol of the image store", "providername": "the provider name of the image "
    "store", "scope": "the scope of the image store", "zoneid": "the Zone ID of the image store",
    "zonename": "the Zone name of the image store", "disksizetotal": "the total disk size of the host",
    "disksizeused": "the host's currently used disk size", "readonly": "defines if store is read-only",
    "hasannotations": "whether this image store has annotations",
})
# addSecondaryStorage and createSecondaryStagingStore answer the same object under another name.
describe("secondarystorage", IMAGE_STORE_FIELDS)
describe("storagetag", {
    "id": "the ID of the storage tag", "name": "the name of the storage tag",
    "poolid": "the pool ID of the storage tag",
})
describe("dataStoreProvider", {
    "name": "the name of the storage provider", "type": "the type of the storage provider",
})
