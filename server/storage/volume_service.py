"""Volume logic shared by VM orchestration and the volume commands: creating rows, putting a volume on
primary storage through an agent, attaching, destroying and expunging.

Every agent step goes through the hypervisor driver (CreateCommand, AttachCommand, DettachCommand,
ResizeVolumeCommand, MigrateVolumeCommand, CopyCommand), so simulator faults can fail each one; the
caller's transaction is committed before every await, and what a failed step took is given back.
"""

from __future__ import annotations

from sqlalchemy import select

from ..core.db import now
from ..core.errors import ApiError, InsufficientCapacity, InvalidParameter
from ..hypervisors.base import driver_for
from ..infra.models import ENABLED, Host
from ..usage.models import record_usage
from .models import StoragePool, Volume

GB = 1024**3
ROOT, DATADISK = "ROOT", "DATADISK"
# Device id 3 is the CD-ROM's on several hypervisors; upstream never gives it to a data disk.
CDROM_DEVICE = 3
# Per-hypervisor data disk maxima (hypervisor_capabilities.max_data_volumes_limit).
MAX_DATA_VOLUMES = {"simulator": 6, "kvm": 24, "xenserver": 13, "vmware": 59, "hyperv": 64}
# Volume states a volume is "alive" in (not being destroyed or gone).
LIVE_STATES = ("Allocated", "Creating", "Ready", "Attaching", "Migrating", "Resizing", "Uploaded",
               "UploadOp", "Snapshotting")


def volume_event(ctx, kind: str, volume: Volume, text: str, level: str = "INFO") -> None:
    ctx.event(kind, text, level=level, resource_type="Volume", resource_id=volume.uuid,
              account_id=volume.account_id, domain_id=volume.domain_id)


def new_volume(ctx, *, name: str, account_id: int, domain_id: int, zone_id: int, volume_type: str,
               size: int, disk_offering_id: int | None, template_id: int | None = None,
               vm_id: int | None = None, device_id: int | None = None, provisioning: str = "thin",
               min_iops: int | None = None, max_iops: int | None = None, snapshot_id: int | None = None,
               state: str = "Allocated", fmt: str | None = None, counted: bool = False) -> Volume:
    """A new volume row (and its events). `counted`: count it against the owner's limits first — before
    the row exists, since the limits module recounts the tables when it first meets an account."""
    if counted:
        count_size(ctx, account_id, size)
    volume = Volume(name=name, account_id=account_id, domain_id=domain_id, zone_id=zone_id,
                    volume_type=volume_type, size=size, disk_offering_id=disk_offering_id,
                    template_id=template_id, instance_id=vm_id, device_id=device_id,
                    provisioning_type=provisioning, min_iops=min_iops, max_iops=max_iops,
                    snapshot_id=snapshot_id, state=state, format=fmt,
                    attached=now() if vm_id is not None else None)
    ctx.db.add(volume)
    ctx.db.flush()
    volume_event(ctx, "VOLUME.CREATE", volume, f"Volume {name} ({volume_type}, {size // GB} GB) created")
    record_usage(ctx, "VOLUME.CREATE", account_id=account_id, domain_id=domain_id, zone_id=zone_id,
                 resource=volume, resource_type="Volume", offering_id=disk_offering_id,
                 template_id=template_id, size=size)
    return volume


def vm_volumes(ctx, vm_id: int) -> list[Volume]:
    return list(ctx.db.scalars(select(Volume).where(
        Volume.instance_id == vm_id, Volume.removed.is_(None), Volume.state.in_(LIVE_STATES))
        .order_by(Volume.device_id, Volume.id)))


def root_volume(ctx, vm_id: int) -> Volume | None:
    return next((v for v in vm_volumes(ctx, vm_id) if v.volume_type == ROOT), None)


def free_device_id(ctx, vm, hypervisor: str | None, wanted: int | None = None) -> int:
    """The device id a new data disk gets: `wanted` if free, else the lowest free one (not 0, not 3)."""
    taken = {v.device_id for v in vm_volumes(ctx, vm.id)}
    data = sum(1 for v in vm_volumes(ctx, vm.id) if v.volume_type == DATADISK)
    maximum = MAX_DATA_VOLUMES.get((hypervisor or "").lower(), 6)
    if data >= maximum:
        raise InvalidParameter(f"The specified VM already has the maximum number of data disks ({maximum}) "
                               "attached. Please specify another VM.")
    if wanted is not None:
        if wanted == 0:
            raise InvalidParameter("deviceId 0 is reserved for the root volume")
        if wanted in taken:
            raise InvalidParameter(f"deviceId {wanted} is used by another volume of VM {vm.name}")
        return wanted
    device = 1
    while device in taken or device == CDROM_DEVICE:
        device += 1
    return device


def host_for_pool(ctx, pool: StoragePool) -> Host:
    """An Up and Enabled host that reaches a pool, to run a storage command on (upstream's endpoint)."""
    query = select(Host).where(Host.zone_id == pool.zone_id, Host.type == "Routing", Host.status == "Up",
                               Host.resource_state == ENABLED, Host.removed.is_(None))
    if pool.scope != "ZONE":
        query = query.where(Host.cluster_id == pool.cluster_id)
    host = ctx.db.scalars(query.order_by(Host.id).limit(1)).first()
    if host is None:
        raise ApiError(f"No Up host can reach storage pool {pool.name} to run the storage operation")
    return host


async def agent(ctx, host: Host, command: str, **payload) -> dict:
    """Commit, then send one agent command (callers must leave nothing uncommitted they'd lose)."""
    ctx.commit()
    return await driver_for(host.hypervisor_type).execute(ctx, host, command, **payload)


async def create_on_pool(ctx, volume: Volume, pool: StoragePool, host: Host | None = None) -> None:
    """Create a volume on the pool already reserved for it (CreateCommand); Ready on success.

    On failure the volume is back to Allocated and the caller gives the pool's room back."""
    host = host or host_for_pool(ctx, pool)
    volume.pool_id, volume.state = pool.id, "Creating"
    try:
        await agent(ctx, host, "CreateCommand", volume=volume.uuid, pool=pool.uuid, size=volume.size,
                    template=volume.template_id)
    except Exception:
        ctx.db.rollback()
        ctx.db.refresh(volume)
        volume.pool_id, volume.state = None, "Allocated"
        ctx.commit()
        raise
    ctx.db.refresh(volume)
    volume.state, volume.path = "Ready", volume.uuid
    volume.pod_id = pool.pod_id


def place_detached(ctx, volume: Volume, tags: set[str], cluster_id: int | None = None,
                   hypervisor: str | None = None) -> StoragePool:
    """Reserve room for a volume on a pool (of `cluster_id`, or anywhere in the zone), or 533."""
    from ..compute.allocator import pools_for, take_pool

    pool = take_pool(ctx, pools_for(ctx, volume.zone_id, tags, cluster_id=cluster_id, hypervisor=hypervisor),
                     volume.size)
    if pool is None:
        where = "the VM's cluster" if cluster_id else "the zone"
        raise InsufficientCapacity(f"Unable to find a storage pool in {where} with {volume.size // GB} GB "
                                   "free"
                                   + (f" and tags {','.join(sorted(tags))}" if tags else ""))
    return pool


def release_pool(ctx, volume: Volume) -> None:
    """Give a volume's room on its pool back (when it is expunged or moved away)."""
    from ..compute.allocator import release_storage

    if volume.pool_id is not None and volume.state not in ("Allocated", "UploadOp", "Uploaded"):
        release_storage(ctx, ctx.db.get(StoragePool, volume.pool_id), volume.size)


def count_size(ctx, account_id: int, size: int) -> None:
    from ..compute.peers import reserve_limit

    reserve_limit(ctx, account_id, "volume", 1)
    reserve_limit(ctx, account_id, "primary_storage", size)


def count_against_limits(ctx, volume: Volume, account_id: int | None = None) -> None:
    """Count an existing volume that is not counted now (destroyed, or moving to `account_id`)."""
    count_size(ctx, account_id or volume.account_id, volume.size)


def uncount(ctx, volume: Volume) -> None:
    from ..compute.peers import release_limit

    release_limit(ctx, volume.account_id, "volume", 1)
    release_limit(ctx, volume.account_id, "primary_storage", volume.size)


def mark_destroyed(ctx, volume: Volume) -> None:
    """Destroy state: kept (recoverable) until expunged; no longer counted against the owner."""
    volume.state = "Destroy"
    uncount(ctx, volume)
    volume_event(ctx, "VOLUME.DESTROY", volume, f"Volume {volume.name} destroyed")


def expunge(ctx, volume: Volume, counted: bool = False) -> None:
    """Gone for good: room on the pool given back, row marked removed. `counted`: it still counts
    against the owner's limits (it was never destroyed first)."""
    release_pool(ctx, volume)
    if counted:
        uncount(ctx, volume)
    volume.state, volume.removed = "Expunged", now()
    volume.instance_id = volume.device_id = None
    volume_event(ctx, "VOLUME.DELETE", volume, f"Volume {volume.name} deleted")
    record_usage(ctx, "VOLUME.DELETE", account_id=volume.account_id, domain_id=volume.domain_id,
                 zone_id=volume.zone_id, resource=volume, resource_type="Volume")
