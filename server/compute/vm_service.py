"""User VMs: deployment and the lifecycle state machine (start, stop, reboot, destroy, recover, expunge).

Deployment is split as upstream splits it: the request allocates (the VM row, its volumes, NICs and
resource counts — so limit and parameter errors are synchronous) and answers the VM's id; the job then
plans a host and pools and starts the VM. Every step on a host is an agent command through the
hypervisor driver; the transaction is committed before each await, and a failed step gives back what its
attempt took: a failed start leaves the VM Stopped, a failed deployment leaves it in Error with its
capacity, addresses, volumes and counts released (the expunge pass removes it later).
"""

from __future__ import annotations

import json
import secrets
import string

from sqlalchemy import delete, select, update

from ..core.db import now, update_row
from ..core.errors import ApiError, InvalidParameter
from ..hypervisors.base import AgentError
from ..infra import capacity
from ..infra.models import Host
from ..storage import volume_service as volumes
from ..storage.models import VMSnapshot, Volume
from ..usage.models import record_usage
from . import allocator, peers
from .models import (
    USER_VM,
    AffinityGroupVm,
    DiskOffering,
    InstanceGroupVm,
    ServiceOffering,
    VMInstance,
)

RUNNING, STOPPED, STARTING, STOPPING = "Running", "Stopped", "Starting", "Stopping"
DESTROYED, EXPUNGING, ERROR, MIGRATING = "Destroyed", "Expunging", "Error", "Migrating"
ON_HOST = (RUNNING, STARTING, STOPPING, MIGRATING)
HIDDEN = "__"  # prefix of the details this server keeps for itself (never answered in `details`)
MIB = 1024**2


# ---- small helpers ------------------------------------------------------------------------------

def setting_or(ctx, name: str, default):
    """A setting that the catalogue may not declare (yet): its value, else upstream's default."""
    if name in ctx.server.config.settings:
        value = ctx.setting(name)
        return default if value is None else value
    return default


def all_details(vm: VMInstance) -> dict:
    return json.loads(vm.details) if vm.details else {}


def user_details(vm: VMInstance) -> dict:
    return {k: v for k, v in all_details(vm).items() if not k.startswith(HIDDEN)}


def set_details(vm: VMInstance, **values) -> None:
    details = all_details(vm)
    for key, value in values.items():
        if value is None:
            details.pop(key, None)
        else:
            details[key] = value
    vm.details = json.dumps(details) if details else None


def hidden(vm: VMInstance, key: str, default=None):
    return all_details(vm).get(HIDDEN + key, default)


def instance_name(vm: VMInstance) -> str:
    """The name on the hypervisor (i-<account>-<id>-<instance.name>), kept as created: it survives an
    assignment to another account, as upstream's does. `{id}` stands for the VM's id (the name is chosen
    before the row, and its id, exist)."""
    return instance_name_in(vm, all_details(vm))


def instance_name_in(vm: VMInstance, details: dict) -> str:
    """instance_name from the VM's details already parsed (a page of views parses each once)."""
    name = details.get(HIDDEN + "instancename")
    return name.replace("{id}", str(vm.id)) if name else vm.name


def label(vm: VMInstance) -> str:
    return f"VM[User|{instance_name(vm)}]"


def vm_event(ctx, kind: str, vm: VMInstance, text: str, level: str = "INFO") -> None:
    ctx.event(kind, text, level=level, resource_type="VirtualMachine", resource_id=vm.uuid,
              account_id=vm.account_id, domain_id=vm.domain_id)


def vm_usage(ctx, kind: str, vm: VMInstance) -> None:
    record_usage(ctx, kind, account_id=vm.account_id, domain_id=vm.domain_id, zone_id=vm.zone_id, resource=vm,
                 resource_type="VirtualMachine", offering_id=vm.service_offering_id,
                 template_id=vm.template_id)


def vm_snapshot_usage(ctx, kind: str, snapshot: VMSnapshot, vm: VMInstance) -> None:
    """VMSNAPSHOT.CREATE (with the VM's offering and the size of its volumes) / VMSNAPSHOT.DELETE."""
    size = sum(v.size or 0 for v in volumes.vm_volumes(ctx, vm.id)) if kind == "VMSNAPSHOT.CREATE" else None
    record_usage(ctx, kind, account_id=snapshot.account_id, domain_id=snapshot.domain_id, zone_id=vm.zone_id,
                 resource=snapshot, resource_type="VMSnapshot", offering_id=vm.service_offering_id,
                 template_id=vm.template_id, size=size)


def require_state(vm: VMInstance, *states: str, doing: str) -> None:
    if vm.state not in states:
        raise InvalidParameter(f"Unable to {doing} VM {vm.uuid} ({vm.display_name or vm.name}) in state "
                               f"{vm.state}; it must be {' or '.join(states)}")


def user_vm(vm: VMInstance) -> VMInstance:
    """The `id` parameters name vm_instance rows of any type: only user VMs are this module's."""
    if vm.type != USER_VM:
        raise InvalidParameter(f"Unable to find a virtual machine with specified vmId {vm.uuid}")
    return vm


def new_password() -> str:
    # Upstream generates 6 characters from an alphabet without look-alikes by default.
    alphabet = "".join(c for c in string.ascii_letters + string.digits if c not in "0OoIl1")
    return "".join(secrets.choice(alphabet) for _ in range(6))


def limits(vm: VMInstance, count: int = 1) -> list[tuple[str, int]]:
    """What a live VM counts against its owner (upstream: user_vm, cpu, memory in MiB)."""
    return [("user_vm", count), ("cpu", vm.cpus * count), ("memory", vm.ram // MIB * count)]


def count_vm(ctx, vm: VMInstance, account_id: int | None = None) -> None:
    """Count a VM that is not counted now (a new one — before its row is written, see new_volume —
    a recovered one, or one moving to `account_id`)."""
    peers.reserve_limits(ctx, account_id or vm.account_id, limits(vm))


def uncount_vm(ctx, vm: VMInstance) -> None:
    peers.release_limits(ctx, vm.account_id, limits(vm))


# ---- placement requests -------------------------------------------------------------------------

def offering_of(ctx, vm: VMInstance) -> ServiceOffering | None:
    return ctx.db.get(ServiceOffering, vm.service_offering_id) if vm.service_offering_id else None


def storage_tags(ctx, volume: Volume, offering: ServiceOffering | None) -> set[str]:
    tags: set[str] = set()
    disk = ctx.db.get(DiskOffering, volume.disk_offering_id) if volume.disk_offering_id else None
    if disk is not None:
        tags |= allocator.split_tags(disk.tags)
    if volume.volume_type == volumes.ROOT and offering is not None:
        tags |= allocator.split_tags(offering.storage_tags)
    return tags


def placement_request(ctx, vm: VMInstance, **where) -> allocator.Request:
    offering = offering_of(ctx, vm)
    disks = [(v, storage_tags(ctx, v, offering)) for v in volumes.vm_volumes(ctx, vm.id)]
    host_tags = allocator.split_tags(offering.host_tag) if offering else set()
    return allocator.Request(vm, host_tags, disks, **where)


# ---- start --------------------------------------------------------------------------------------

async def start(ctx, vm: VMInstance, *, host: Host | None = None, pod_id: int | None = None,
                cluster_id: int | None = None, last_host: bool = True) -> VMInstance:
    """Plan, prepare the networks, create the volumes that have no storage yet, StartCommand."""
    require_state(vm, STOPPED, doing="start")
    req = placement_request(ctx, vm, host=host, pod_id=pod_id, cluster_id=cluster_id)
    req.prefer = vm.last_host_id if last_host else None
    placement = allocator.plan(ctx, req, label(vm))
    target = placement.host
    vm.state, vm.host_id, vm.pod_id = STARTING, target.id, target.pod_id
    fresh = [(ctx.db.get(Volume, vid), pool) for vid, (pool, _) in placement.volumes.items()]
    for volume, pool in fresh:  # committed with the placement: reconcile can give the room back
        volume.pool_id, volume.state = pool.id, "Creating"
    ctx.commit()
    try:
        # Networks first, then storage, as upstream's orchestrateStart prepares them.
        await peers.prepare_networks(ctx, vm)
        for volume, pool in fresh:
            await volumes.create_on_pool(ctx, volume, pool, target)
        await volumes.agent(ctx, target, "StartCommand", vm=instance_name(vm), cpus=vm.cpus, speed=vm.speed,
                            ram=vm.ram)
    except Exception:
        undo_start(ctx, vm, placement)
        raise
    running = {"state": RUNNING, "last_started": now(), "last_host_id": target.id}
    was = {"state": STARTING, "update_count": vm.update_count}
    if not update_row(ctx.db, vm, was, **running, update_count=vm.update_count + 1):
        ctx.db.refresh(vm)  # changed meanwhile: read it again, then Running all the same
        for name, value in running.items():
            setattr(vm, name, value)
        vm.update_count += 1
    vm_event(ctx, "VM.START", vm, f"VM {vm.name} started on host {target.name}")
    vm_usage(ctx, "VM.START", vm)
    return vm


def undo_start(ctx, vm: VMInstance, placement: allocator.Placement) -> None:
    """Give back what a failed start took: host capacity, pool room, volumes back to Allocated."""
    ctx.db.rollback()
    ctx.db.refresh(vm)
    placement.undo(ctx)
    for volume_id in placement.volumes:
        volume = ctx.db.get(Volume, volume_id)
        ctx.db.refresh(volume)
        volume.pool_id, volume.state, volume.path = None, "Allocated", None
    vm.state, vm.host_id, vm.last_host_id = STOPPED, None, placement.host.id
    vm_event(ctx, "VM.START", vm, f"VM {vm.name} failed to start on host {placement.host.name}",
             level="ERROR")
    ctx.commit()


def fail_deployment(ctx, vm: VMInstance, error: Exception) -> None:
    """A deployment that could not start: the VM is left in Error holding nothing (upstream leaves
    it in Error for the expunge thread); its addresses, volumes and counts are released now."""
    ctx.db.rollback()
    ctx.db.refresh(vm)
    peers.release_nics(ctx, vm)
    for volume in volumes.vm_volumes(ctx, vm.id):
        volumes.release_pool(ctx, volume)
        volume.pool_id = None
        volumes.mark_destroyed(ctx, volume)
    uncount_vm(ctx, vm)
    vm.state, vm.destroyed, vm.host_id = ERROR, now(), None
    set_details(vm, **{HIDDEN + "failed": True})
    text = error.text if isinstance(error, ApiError) else "internal error"
    vm_event(ctx, "VM.CREATE", vm, f"Deployment of VM {vm.name} failed: {text}", level="ERROR")
    vm_usage(ctx, "VM.DESTROY", vm)  # its VM.CREATE was recorded when it was allocated
    ctx.commit()


async def deploy(ctx, vm: VMInstance, p) -> VMInstance:
    """The job part of deployVirtualMachine."""
    if p.startvm is False:
        return vm
    admin = ctx.caller.is_root_admin or ctx.caller.is_system
    host = p.hostid if admin else None
    pod_id = p.podid.id if admin and p.podid is not None else None
    cluster_id = p.clusterid.id if admin and p.clusterid is not None else None
    try:
        return await start(ctx, vm, host=host, pod_id=pod_id, cluster_id=cluster_id)
    except Exception as error:
        fail_deployment(ctx, vm, error)
        raise


# ---- stop, reboot -------------------------------------------------------------------------------

async def stop(ctx, vm: VMInstance, forced: bool = False) -> VMInstance:
    """StopCommand; a forced stop ends Stopped even when the agent fails (the caller knows it is off)."""
    if vm.state == STOPPED:
        return vm
    require_state(vm, *((RUNNING,) if not forced else ON_HOST), doing="stop")
    host = ctx.db.get(Host, vm.host_id)
    previous, vm.state = vm.state, STOPPING
    try:
        await volumes.agent(ctx, host, "StopCommand", vm=instance_name(vm))
    except AgentError:
        if not forced:
            ctx.db.refresh(vm)
            vm.state = previous
            ctx.commit()
            raise
    ctx.db.refresh(vm)
    capacity.release(ctx, host, vm.cpus * vm.speed, vm.ram, vm.cpus)
    vm.state, vm.last_host_id, vm.host_id = STOPPED, host.id, None
    vm.update_count += 1
    vm_event(ctx, "VM.STOP", vm, f"VM {vm.name} stopped")
    vm_usage(ctx, "VM.STOP", vm)
    return vm


async def reboot(ctx, vm: VMInstance) -> VMInstance:
    require_state(vm, RUNNING, doing="reboot")
    host = ctx.db.get(Host, vm.host_id)
    await volumes.agent(ctx, host, "RebootCommand", vm=instance_name(vm))
    ctx.db.refresh(vm)
    vm_event(ctx, "VM.REBOOT", vm, f"VM {vm.name} rebooted")
    return vm


# ---- destroy, recover, expunge ------------------------------------------------------------------

def may_expunge(ctx, vm: VMInstance) -> None:
    caller = ctx.caller
    if caller.is_admin or caller.is_system or setting_or(ctx, "allow.user.expunge.recover.vm", False):
        return
    raise ApiError("Parameter expunge can be passed by Admin only. Or when the "
                   f"allow.user.expunge.recover.vm key is set. VM {vm.uuid}", errorcode=531, cserrorcode=4365)


def data_volumes_to_destroy(ctx, vm: VMInstance, chosen: list[Volume] | None) -> list[Volume]:
    for volume in chosen or ():
        if volume.instance_id != vm.id or volume.volume_type != volumes.DATADISK:
            raise InvalidParameter(f"Please specify volumes that belong to the VM {vm.uuid} and are data "
                                   f"disks: {volume.uuid} is not")
    return list(chosen or ())


async def destroy(ctx, vm: VMInstance, expunge: bool = False, data: list[Volume] | None = None) -> VMInstance:
    if expunge:
        may_expunge(ctx, vm)
    if hidden(vm, "failed"):
        # A failed deployment holds nothing any more: destroying it only hurries the expunge.
        await expunge_vm(ctx, vm)
        return vm
    if vm.state == DESTROYED and not expunge:
        raise InvalidParameter(f"VM {vm.uuid} ({vm.name}) is already destroyed")
    extra = data_volumes_to_destroy(ctx, vm, data)
    if vm.state in ON_HOST:
        await stop(ctx, vm, forced=True)
    if vm.state != DESTROYED:
        require_state(vm, STOPPED, ERROR, doing="destroy")
        for volume in volumes.vm_volumes(ctx, vm.id):
            if volume.volume_type == volumes.ROOT:
                volumes.mark_destroyed(ctx, volume)
        for volume in extra:  # upstream deletes them (detached, destroyed; expunged with the VM)
            volume.instance_id = volume.device_id = volume.attached = None
            volumes.mark_destroyed(ctx, volume)
            if expunge:
                volumes.expunge(ctx, volume)
        uncount_vm(ctx, vm)
        vm.state, vm.destroyed = DESTROYED, now()
        vm_event(ctx, "VM.DESTROY", vm, f"VM {vm.name} destroyed")
        vm_usage(ctx, "VM.DESTROY", vm)
    if expunge:
        await expunge_vm(ctx, vm)
    return vm


def recover(ctx, vm: VMInstance) -> VMInstance:
    if vm.state != DESTROYED or hidden(vm, "failed"):
        raise InvalidParameter(f"Unable to recover VM {vm.uuid}: it is in state {vm.state}, not Destroyed")
    count_vm(ctx, vm)
    root = ctx.db.scalars(select(Volume).where(Volume.instance_id == vm.id,
                                               Volume.volume_type == volumes.ROOT,
                                               Volume.removed.is_(None))).first()
    if root is not None and root.state == "Destroy":
        volumes.count_against_limits(ctx, root)
        root.state = "Ready" if root.pool_id is not None else "Allocated"
        volumes.volume_usage(ctx, "VOLUME.CREATE", root)
    vm.state, vm.destroyed = STOPPED, None
    vm_event(ctx, "VM.RECOVER", vm, f"VM {vm.name} recovered")
    vm_usage(ctx, "VM.CREATE", vm)
    return vm


async def expunge_vm(ctx, vm: VMInstance) -> None:
    """Gone for good: addresses, root and destroyed disks, memberships, VM snapshots, tags."""
    if vm.state in ON_HOST:
        await stop(ctx, vm, forced=True)
    vm.state = EXPUNGING
    peers.release_nics(ctx, vm)
    for volume in ctx.db.scalars(select(Volume).where(Volume.instance_id == vm.id, Volume.removed.is_(None))):
        if volume.volume_type == volumes.ROOT or volume.state == "Destroy":
            volumes.expunge(ctx, volume, counted=volume.state != "Destroy")
        else:  # a data disk the owner keeps: detached, as upstream does at expunge
            volume.instance_id = volume.device_id = volume.attached = None
    ctx.db.execute(delete(AffinityGroupVm).where(AffinityGroupVm.instance_id == vm.id))
    ctx.db.execute(delete(InstanceGroupVm).where(InstanceGroupVm.instance_id == vm.id))
    for snapshot in ctx.db.scalars(select(VMSnapshot).where(VMSnapshot.vm_id == vm.id,
                                                            VMSnapshot.removed.is_(None))):
        if snapshot.state == "Ready":
            vm_snapshot_usage(ctx, "VMSNAPSHOT.DELETE", snapshot, vm)
        snapshot.state, snapshot.removed = "Expunging", now()
    peers.drop_tags(ctx, "UserVm", vm.id)
    vm.removed, vm.host_id = now(), None
    vm_event(ctx, "VM.EXPUNGE", vm, f"VM {vm.name} expunged")


def own_job(ctx, vm: VMInstance) -> None:
    """Mark the running job as acting on this VM (commands naming it `virtualmachineid` are not marked by
    the dispatcher): the VM shows the job, and reconcile knows the VM is being worked on."""
    from ..core.jobs import AsyncJob

    if ctx.job_id is not None:
        ctx.db.execute(update(AsyncJob).where(AsyncJob.id == ctx.job_id)
                       .values(instance_id=vm.uuid, instance_type="VirtualMachine"))
