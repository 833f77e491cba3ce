"""What the volume commands do: attach, detach, resize, migrate, create from a snapshot, extract, upload.

Each agent step is committed-then-awaited; what a failed step reserved is given back before the error
goes up to the job.
"""

from __future__ import annotations

from ..compute.models import DiskOffering, VMInstance
from ..core.db import now
from ..core.errors import InvalidParameter, PermissionDenied
from ..hypervisors.base import AgentError
from ..infra.models import Host
from ..usage.models import record_usage
from . import volume_service as service
from .models import Snapshot, StoragePool, Volume

ATTACHABLE_STATES = ("Allocated", "Ready", "Uploaded")


def disk_tags(ctx, volume: Volume) -> set[str]:
    from ..compute.allocator import split_tags

    disk = ctx.db.get(DiskOffering, volume.disk_offering_id) if volume.disk_offering_id else None
    return split_tags(disk.tags) if disk else set()


def vm_cluster(ctx, vm: VMInstance) -> int | None:
    """The cluster a VM lives in: its host's, else its root disk's pool's (a cluster-wide pool)."""
    if vm.host_id is not None:
        return ctx.db.get(Host, vm.host_id).cluster_id
    root = service.root_volume(ctx, vm.id)
    pool = ctx.db.get(StoragePool, root.pool_id) if root is not None and root.pool_id else None
    return pool.cluster_id if pool is not None and pool.scope == "CLUSTER" else None


def reachable(pool: StoragePool, cluster_id: int | None) -> bool:
    return cluster_id is None or pool.scope == "ZONE" or pool.cluster_id == cluster_id


def check_attachable(ctx, volume: Volume, vm: VMInstance) -> None:
    if volume.instance_id is not None:
        raise InvalidParameter("Please specify a volume that is not attached to any VM.")
    if volume.state not in ATTACHABLE_STATES:
        raise InvalidParameter(f"Volume state must be in Allocated, Ready or in Uploaded state; volume "
                               f"{volume.uuid} is {volume.state}")
    if vm.state not in ("Running", "Stopped"):
        raise InvalidParameter(f"Please specify a VM that is either running or stopped; VM {vm.uuid} is "
                               f"{vm.state}")
    if vm.zone_id != volume.zone_id:
        raise InvalidParameter("Please specify a VM that is in the same zone as the volume.")
    if vm.account_id != volume.account_id:
        raise PermissionDenied(f"Entity volume {volume.uuid} and entity VM {vm.uuid} belong to different "
                               "accounts")


async def attach(ctx, volume: Volume, vm: VMInstance, device_id: int | None) -> Volume:
    """Put the volume on storage the VM reaches (when the VM has storage already), AttachCommand when the VM
    runs, then record the attachment."""
    check_attachable(ctx, volume, vm)
    device = service.free_device_id(ctx, vm, vm.hypervisor_type, device_id)
    cluster = vm_cluster(ctx, vm)
    root = service.root_volume(ctx, vm.id)
    created_pool = None
    if volume.state != "Ready" and root is not None and root.state == "Ready":
        tags = disk_tags(ctx, volume)
        created_pool = service.place_detached(ctx, volume, tags, cluster, vm.hypervisor_type)
        try:
            await service.create_on_pool(ctx, volume, created_pool,
                                         ctx.db.get(Host, vm.host_id) if vm.host_id else None)
        except Exception:
            release_room(ctx, created_pool, volume.size)
            raise
    elif volume.state == "Ready" and not reachable(ctx.db.get(StoragePool, volume.pool_id), cluster):
        raise InvalidParameter(f"Volume {volume.uuid} is on a storage pool the VM's cluster does not reach; "
                               "migrate it (migrateVolume) first")
    if vm.state == "Running":
        try:
            await service.agent(ctx, ctx.db.get(Host, vm.host_id), "AttachCommand", volume=volume.uuid,
                                vm=vm.name, device=device)
        except AgentError:
            undo_create(ctx, volume, created_pool)
            raise
    ctx.db.refresh(volume)
    volume.instance_id, volume.device_id, volume.attached = vm.id, device, now()
    service.volume_event(ctx, "VOLUME.ATTACH", volume, f"Volume {volume.name} attached to VM {vm.name} as "
                         f"device {device}")
    return volume


def release_room(ctx, pool: StoragePool | None, size: int) -> None:
    from ..compute.allocator import release_storage

    release_storage(ctx, pool, size)
    ctx.commit()


def undo_create(ctx, volume: Volume, pool: StoragePool | None) -> None:
    """A volume created for an attach that then failed goes back to Allocated, its room given back."""
    ctx.db.rollback()
    ctx.db.refresh(volume)
    if pool is not None:
        volume.pool_id, volume.state, volume.path = None, "Allocated", None
        release_room(ctx, pool, volume.size)
    ctx.commit()


async def detach(ctx, volume: Volume) -> Volume:
    if volume.instance_id is None:
        raise InvalidParameter("Please specify a volume that is attached to a VM.")
    if volume.volume_type == service.ROOT:
        raise InvalidParameter("Please specify a data volume; a root volume can't be detached")
    vm = ctx.db.get(VMInstance, volume.instance_id)
    if vm.state not in ("Running", "Stopped", "Destroyed"):
        raise InvalidParameter(f"Please specify a VM that is either running or stopped; VM {vm.uuid} is "
                               f"{vm.state}")
    if vm.state == "Running":
        await service.agent(ctx, ctx.db.get(Host, vm.host_id), "DettachCommand", volume=volume.uuid,
                            vm=vm.name)
        ctx.db.refresh(volume)
    volume.instance_id = volume.device_id = volume.attached = None
    service.volume_event(ctx, "VOLUME.DETACH", volume, f"Volume {volume.name} detached from VM {vm.name}")
    return volume


# ---- resize -------------------------------------------------------------------------------------

def new_disk(ctx, volume: Volume, disk: DiskOffering | None) -> DiskOffering | None:
    if disk is None:
        return ctx.db.get(DiskOffering, volume.disk_offering_id) if volume.disk_offering_id else None
    if disk.compute_only or disk.state != "Active":
        raise InvalidParameter(f"Unable to resize volume {volume.uuid} to disk offering {disk.uuid}")
    return disk


def wanted_size(ctx, volume: Volume, disk: DiskOffering | None, size_gb: int | None) -> int:
    if size_gb is not None:
        if volume.volume_type != service.ROOT and disk is not None and not disk.customized:
            raise InvalidParameter("To resize a volume's size, the disk offering of the volume must be a "
                                   "custom (customized size) offering, or a new disk offering must be given")
        return size_gb * service.GB
    if disk is not None and not disk.customized and disk.disk_size:
        return disk.disk_size
    raise InvalidParameter("Either size or a disk offering with a size must be specified to resize a volume")


async def resize(ctx, volume: Volume, size_gb: int | None, disk: DiskOffering | None, shrink_ok: bool,
                 min_iops: int | None, max_iops: int | None) -> Volume:
    from ..compute.allocator import release_storage, reserve_storage
    from ..compute.peers import release_limit, reserve_limit

    if volume.state not in ("Ready", "Allocated"):
        raise InvalidParameter("Volume should be in ready or allocated state before attempting a resize. "
                               f"Volume {volume.uuid} is in state {volume.state}.")
    disk = new_disk(ctx, volume, disk)
    size = wanted_size(ctx, volume, disk, size_gb)
    if size < volume.size and not shrink_ok:
        raise InvalidParameter(f"Going from existing size of {volume.size} to size of {size} would shrink "
                               "the volume. Need to sign off by supplying the shrinkok parameter with value "
                               "of true.")
    delta = size - volume.size
    if delta > 0:
        reserve_limit(ctx, volume.account_id, "primary_storage", delta)
    pool = ctx.db.get(StoragePool, volume.pool_id) if volume.state == "Ready" and volume.pool_id else None
    if pool is not None and delta > 0 and not reserve_storage(ctx, pool, delta):
        from ..core.errors import InsufficientCapacity

        raise InsufficientCapacity(f"Storage pool {pool.name} lacks {delta // service.GB} GB to grow volume "
                                   f"{volume.name}")
    if pool is not None:
        await resize_on_host(ctx, volume, pool, size, delta)
    if delta < 0:
        release_limit(ctx, volume.account_id, "primary_storage", -delta)
        release_storage(ctx, pool, -delta)
    volume.size = size
    volume.disk_offering_id = disk.id if disk is not None else volume.disk_offering_id
    volume.min_iops = min_iops if min_iops is not None else volume.min_iops
    volume.max_iops = max_iops if max_iops is not None else volume.max_iops
    service.volume_event(ctx, "VOLUME.RESIZE", volume, f"Volume {volume.name} resized to {size} bytes")
    record_usage(ctx, "VOLUME.RESIZE", account_id=volume.account_id, domain_id=volume.domain_id,
                 zone_id=volume.zone_id, resource=volume, resource_type="Volume",
                 offering_id=volume.disk_offering_id, size=size)
    return volume


async def resize_on_host(ctx, volume: Volume, pool: StoragePool, size: int, delta: int) -> None:
    from ..compute.allocator import release_storage
    from ..compute.peers import release_limit

    vm = ctx.db.get(VMInstance, volume.instance_id) if volume.instance_id else None
    host = ctx.db.get(Host, vm.host_id) if vm is not None and vm.host_id else service.host_for_pool(ctx, pool)
    previous, volume.state = volume.state, "Resizing"
    try:
        await service.agent(ctx, host, "ResizeVolumeCommand", volume=volume.uuid, size=size)
    except AgentError:
        ctx.db.rollback()
        ctx.db.refresh(volume)
        volume.state = previous
        if delta > 0:
            release_storage(ctx, pool, delta)
            release_limit(ctx, volume.account_id, "primary_storage", delta)
        ctx.commit()
        raise
    ctx.db.refresh(volume)
    volume.state = previous


# ---- migrate ------------------------------------------------------------------------------------

async def migrate(ctx, volume: Volume, pool: StoragePool, live: bool) -> Volume:
    from ..compute.vm_operations import move_volume

    if volume.state != "Ready":
        raise InvalidParameter(f"Volume must be in ready state; volume {volume.uuid} is {volume.state}")
    if pool.zone_id != volume.zone_id or pool.status != "Up":
        raise InvalidParameter(f"Storage pool {pool.name} is not an Up pool of the volume's zone")
    if pool.id == volume.pool_id:
        raise InvalidParameter(f"Volume {volume.uuid} is already on storage pool {pool.name}")
    vm = ctx.db.get(VMInstance, volume.instance_id) if volume.instance_id else None
    host = None
    if vm is not None:
        if vm.state == "Running" and not live:
            raise InvalidParameter("Volume needs to be detached from VM, or livemigrate=true given, to "
                                   "migrate a volume of a running VM")
        if not reachable(pool, vm_cluster(ctx, vm)):
            raise InvalidParameter(f"Storage pool {pool.name} is not reachable from the cluster of VM "
                                   f"{vm.uuid}")
        host = ctx.db.get(Host, vm.host_id) if vm.host_id else None
    return await move_volume(ctx, volume, pool, host)


# ---- from a snapshot, extract, upload ---------------------------------------------------------------

async def create_from_snapshot(ctx, volume: Volume, snapshot: Snapshot,
                               cluster_id: int | None = None) -> Volume:
    """A volume holding a snapshot's data: room on a pool, then CopyCommand (secondary → primary)."""
    pool = service.place_detached(ctx, volume, disk_tags(ctx, volume), cluster_id)
    volume.pool_id, volume.state = pool.id, "Creating"
    try:
        await service.agent(ctx, service.host_for_pool(ctx, pool), "CopyCommand", snapshot=snapshot.uuid,
                            volume=volume.uuid, pool=pool.uuid)
    except Exception:
        ctx.db.rollback()
        ctx.db.refresh(volume)
        volume.pool_id, volume.state = None, "Allocated"
        release_room(ctx, pool, volume.size)
        raise
    ctx.db.refresh(volume)
    volume.state, volume.path, volume.pod_id = "Ready", volume.uuid, pool.pod_id
    return volume


def extract_url(ctx, volume: Volume) -> str:
    from sqlalchemy import select

    from .models import ImageStore
    from .urls import split_url

    store = ctx.db.scalars(select(ImageStore).where(ImageStore.zone_id == volume.zone_id,
                                                    ImageStore.role == "Image",
                                                    ImageStore.removed.is_(None)).limit(1)).first()
    if store is None:
        raise InvalidParameter("The zone of the volume has no secondary storage to extract it to")
    host = split_url(store.url).host or "secondary"
    return f"http://{host}/userdata/{volume.uuid}.{(volume.format or 'vhd').lower()}"


async def extract(ctx, volume: Volume, zone, mode: str) -> dict:
    from ..compute.vm_service import setting_or

    if setting_or(ctx, "disable.extraction", False):
        raise PermissionDenied("Extraction has been disabled by admin")
    if mode not in ("HTTP_DOWNLOAD", "FTP_UPLOAD"):
        raise InvalidParameter("Please specify a valid extract Mode; supported modes are HTTP_DOWNLOAD and "
                               "FTP_UPLOAD")
    vm = ctx.db.get(VMInstance, volume.instance_id) if volume.instance_id else None
    if vm is not None and vm.state != "Stopped":
        raise InvalidParameter(f"Invalid state of the volume with ID: {volume.uuid}. It should be either "
                               "detached or the VM should be in stopped state.")
    if volume.state not in ("Ready", "Uploaded"):
        raise InvalidParameter(f"Volume {volume.uuid} must be Ready to be extracted; it is {volume.state}")
    url = extract_url(ctx, volume)
    if volume.state == "Ready":
        pool = ctx.db.get(StoragePool, volume.pool_id)
        await service.agent(ctx, service.host_for_pool(ctx, pool), "CopyCommand", volume=volume.uuid,
                            destination="secondary")
    service.volume_event(ctx, "VOLUME.EXTRACT", volume, f"Volume {volume.name} extracted to {url}")
    return {"id": volume.uuid, "name": volume.name, "extractId": volume.uuid, "accountid": None,
            "state": "DOWNLOAD_URL_CREATED", "status": "DOWNLOAD_URL_CREATED", "uploadpercentage": 100,
            "created": now(), "zoneid": zone.uuid, "zonename": zone.name, "extractMode": mode, "url": url}
