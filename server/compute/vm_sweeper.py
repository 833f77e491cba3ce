"""The lead management server's housekeeping of user VMs, run from the server's background loop:

- every few seconds, give back what a job left half-done when its management server stopped (a VM left
  Starting, Stopping or Migrating with no pending job), and clean up after deleted accounts (their VMs
  expunged, their volumes, snapshots and groups removed), as upstream's account cleanup does;
- every `expunge.interval` seconds, expunge the VMs destroyed (or failed) more than `expunge.delay`
  seconds ago.
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import select

from ..core.db import now
from ..iam.models import Account
from ..infra import capacity
from ..infra.models import Host
from ..storage import volume_service as volumes
from ..storage.models import Snapshot, Volume
from .models import USER_VM, AffinityGroup, InstanceGroup, VMInstance
from .vm_service import (
    DESTROYED,
    ERROR,
    HIDDEN,
    MIGRATING,
    RUNNING,
    STARTING,
    STOPPED,
    STOPPING,
    destroy,
    expunge_vm,
    hidden,
    set_details,
    vm_event,
)

_last_run: dict[tuple[int, str], float] = {}
RECONCILE_SECONDS = 5


def due(server, name: str, interval: float) -> bool:
    key = (id(server), name)
    if time.monotonic() - _last_run.get(key, -1e12) < interval:
        return False
    _last_run[key] = time.monotonic()
    return True


async def expunge_pass(server, leader: bool) -> int:
    """One round of the housekeeping (module docstring); answers how many VMs it expunged."""
    from ..core import auth
    from ..core.context import Context

    if not leader:
        return 0
    expunging = due(server, "expunge", server.config.value(None, "expunge.interval") or 86400)
    if not (due(server, "reconcile", RECONCILE_SECONDS) or expunging):
        return 0
    ctx = Context(server, None, auth.by_user_id(server, auth.SYSTEM_USER_ID))
    try:
        reconcile(ctx)
        done = await clean_removed_accounts(ctx)
        return done + (await expunge_due(ctx) if expunging else 0)
    finally:
        ctx.rollback()
        ctx.close()


async def expunge_due(ctx) -> int:
    cutoff = now() - dt.timedelta(seconds=ctx.setting("expunge.delay") or 0)
    found = ctx.db.scalars(select(VMInstance).where(
        VMInstance.type == USER_VM, VMInstance.removed.is_(None), VMInstance.state.in_((DESTROYED, ERROR)),
        VMInstance.destroyed <= cutoff).order_by(VMInstance.id).limit(500)).all()
    for vm in found:
        await expunge_vm(ctx, vm)
        ctx.commit()
    return len(found)


def reconcile(ctx) -> None:
    """A VM left Starting, Stopping or Migrating with no pending job on it was being worked on by a job
    that a stopped management server never finished: give back what that job took."""
    from ..core.jobs import PENDING, AsyncJob

    busy = select(AsyncJob.instance_id).where(AsyncJob.status == PENDING, AsyncJob.instance_id.is_not(None))
    stuck = ctx.db.scalars(select(VMInstance).where(
        VMInstance.type == USER_VM, VMInstance.removed.is_(None),
        VMInstance.state.in_((STARTING, STOPPING, MIGRATING)), VMInstance.uuid.not_in(busy))).all()
    for vm in stuck:
        host = ctx.db.get(Host, vm.host_id) if vm.host_id else None
        if vm.state == STARTING:
            if host is not None:
                capacity.release(ctx, host, vm.cpus * vm.speed, vm.ram, vm.cpus)
            for volume in volumes.vm_volumes(ctx, vm.id):
                if volume.state == "Creating":
                    volumes.release_pool(ctx, volume)
                    volume.pool_id, volume.state = None, "Allocated"
            vm.state, vm.host_id = STOPPED, None
        else:
            target = ctx.db.get(Host, hidden(vm, "migratingto")) if hidden(vm, "migratingto") else None
            if target is not None:
                capacity.release(ctx, target, vm.cpus * vm.speed, vm.ram, vm.cpus)
            vm.state = RUNNING
        set_details(vm, **{HIDDEN + "migratingto": None})
        kind = "VM.START" if vm.state == STOPPED else "VM.MIGRATE"
        vm_event(ctx, kind, vm, f"VM {vm.name} was left half-way by a job that did not finish; what it took "
                 "was given back", level="WARN")
        ctx.commit()


async def clean_removed_accounts(ctx) -> int:
    """What deleted accounts still hold goes: VMs expunged (stopped first), detached volumes expunged,
    snapshots deleted, affinity and instance groups removed — capacity and domain counts given back."""
    gone = select(Account.id).where(Account.removed.is_not(None))
    vms = ctx.db.scalars(select(VMInstance).where(
        VMInstance.type == USER_VM, VMInstance.removed.is_(None), VMInstance.account_id.in_(gone),
        VMInstance.state.not_in((STARTING, STOPPING, MIGRATING))).order_by(VMInstance.id).limit(100)).all()
    for vm in vms:
        await destroy(ctx, vm, expunge=True)
        ctx.commit()
    for volume in ctx.db.scalars(select(Volume).where(Volume.removed.is_(None), Volume.instance_id.is_(None),
                                                      Volume.account_id.in_(gone)).limit(500)):
        volumes.expunge(ctx, volume, counted=volume.state != "Destroy")
    from ..storage.snapshots import remove as remove_snapshot

    stamp = now()
    for model in (Snapshot, AffinityGroup, InstanceGroup):
        for row in ctx.db.scalars(select(model).where(model.removed.is_(None), model.account_id.in_(gone))):
            if model is Snapshot:
                remove_snapshot(ctx, row, f"Snapshot {row.name} deleted with its account")
            row.removed = stamp
    ctx.commit()
    return len(vms)
