"""Volume logic shared by VM orchestration and the volume commands: creating rows, putting a volume on
primary storage through an agent, attaching, destroying and expunging.

Every agent step goes through the hypervisor driver (CreateCommand, AttachCommand, DettachCommand,
ResizeVolumeCommand, MigrateVolumeCommand, CopyCommand), so simulator faults can fail each one; the
caller's transaction is committed before every await, and what a failed step took is given back.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

from ..core.db import now, prebuilt, update_row
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
    volume_usage(ctx, "VOLUME.CREATE", volume)
    return volume


def volume_usage(ctx, kind: str, volume: Volume) -> None:
    """VOLUME.CREATE (with offering, template and size) when a volume starts counting against its owner,
    VOLUME.DELETE when it stops: destroyed, expunged without being destroyed first, or moved away."""
    sized = {"offering_id": volume.disk_offering_id, "template_id": volume.template_id, "size": volume.size}
    record_usage(ctx, kind, account_id=volume.account_id, domain_id=volume.domain_id, zone_id=volume.zone_id,
                 resource=volume, resource_type="Volume", **(sized if kind == "VOLUME.CREATE" else {}))


def vm_volumes(ctx, vm_id: int) -> list[Volume]:
    query = prebuilt("volumes.of_vm", lambda: select(Volume).where(
        Volume.instance_id == bindparam("vm"), Volume.removed.is_(None), Volume.state.in_(LIVE_STATES))
        .order_by(Volume.device_id, Volume.id))
    return list(ctx.db.scalars(query, {"vm": vm_id}))


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
    ready = {"state": "Ready", "path": volume.uuid, "pod_id": pool.pod_id}
    if not update_row(ctx.db, volume, {"state": "Creating"}, **ready):
        ctx.db.refresh(volume)  # changed meanwhile: read it again, then Ready all the same
        for name, value in ready.items():
            setattr(volume, name, value)


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


def limits(size: int, count: int = 1) -> list[tuple[str, int]]:
    """What volumes count against their owner: the volumes, and their bytes of primary storage."""
    return [("volume", count), ("primary_storage", size)]


def count_size(ctx, account_id: int, size: int) -> None:
    from ..compute.peers import reserve_limits

    reserve_limits(ctx, account_id, limits(size))


def count_against_limits(ctx, volume: Volume, account_id: int | None = None) -> None:
    """Count an existing volume that is not counted now (destroyed, or moving to `account_id`)."""
    count_size(ctx, account_id or volume.account_id, volume.size)


def uncount(ctx, volume: Volume) -> None:
    from ..compute.peers import release_limits

    release_limits(ctx, volume.account_id, limits(volume.size))


def mark_destroyed(ctx, volume: Volume) -> None:
    """Destroy state: kept (recoverable) until expunged; no longer counted against the owner."""
    volume.state = "Destroy"
    uncount(ctx, volume)
    volume_event(ctx, "VOLUME.DESTROY", volume, f"Volume {volume.name} destroyed")
    volume_usage(ctx, "VOLUME.DELETE", volume)  # as upstream: billing stops when it is destroyed


def expunge(ctx, volume: Volume, counted: bool = False) -> None:
    """Gone for good: room on the pool given back, row marked removed. `counted`: it still counts
    against the owner's limits (it was never destroyed first)."""
    billed = volume.state != "Destroy"  # a destroyed volume's VOLUME.DELETE is recorded already
    release_pool(ctx, volume)
    if counted:
        uncount(ctx, volume)
    volume.state, volume.removed = "Expunged", now()
    volume.instance_id = volume.device_id = None
    volume_event(ctx, "VOLUME.DELETE", volume, f"Volume {volume.name} deleted")
    if billed:
        volume_usage(ctx, "VOLUME.DELETE", volume)
