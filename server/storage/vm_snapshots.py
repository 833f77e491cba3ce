"""VM snapshots: the disks (and optionally the memory) of a whole VM at one instant, kept on primary
storage as a chain (`parent`, one `current`). Each step is an agent command on the VM's host
(CreateVMSnapshotCommand, RevertToVMSnapshotCommand, DeleteVMSnapshotCommand)."""

from __future__ import annotations

from sqlalchemy import func, select, update

from ..compute.models import VMInstance
from ..compute.peers import tag_filter, tags_for
from ..compute.vm_service import vm_snapshot_usage
from ..compute.vm_views import owners, rows_by_id
from ..core.db import now
from ..core.errors import InvalidParameter
from ..core.listing import owner_filter, paged
from ..core.params import BOOLEAN, LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..core.responses import describe
from ..infra.models import DataCenter, Host
from . import volume_service as volumes
from .models import StoragePool, VMSnapshot

DISK, DISK_AND_MEMORY = "Disk", "DiskAndMemory"


def vmsnapshot_event(ctx, kind: str, snap: VMSnapshot, text: str, level: str = "INFO") -> None:
    ctx.event(kind, text, level=level, resource_type="VMSnapshot", resource_id=snap.uuid,
              account_id=snap.account_id, domain_id=snap.domain_id)


def vm_host(ctx, vm: VMInstance) -> Host:
    """The VM's host when it runs; else a host reaching its root disk's pool."""
    if vm.host_id is not None:
        return ctx.db.get(Host, vm.host_id)
    root = volumes.root_volume(ctx, vm.id)
    if root is None or root.pool_id is None or root.state != "Ready":
        raise InvalidParameter(f"VM {vm.uuid} has no volume on primary storage yet: start it once first")
    return volumes.host_for_pool(ctx, ctx.db.get(StoragePool, root.pool_id))


def create_row(ctx, p) -> VMSnapshot:
    from ..compute.vm_service import instance_name, setting_or, user_vm

    vm = user_vm(p.virtualmachineid)
    if vm.state not in ("Running", "Stopped"):
        raise InvalidParameter("VM snapshot creation is only supported for Running or Stopped VMs; VM "
                               f"{vm.uuid} is {vm.state}")
    if p.snapshotmemory and vm.state != "Running":
        raise InvalidParameter("Can not snapshot memory when VM is not in Running state")
    limit = setting_or(ctx, "vmsnapshot.max", 10)
    taken = ctx.db.scalar(select(func.count(VMSnapshot.id)).where(VMSnapshot.vm_id == vm.id,
                                                                  VMSnapshot.removed.is_(None)))
    if taken >= limit:
        raise InvalidParameter(f"Creating vm snapshot failed due to a VM can just have : {limit} VM "
                               "snapshots. Please delete old ones")
    stamp = now().strftime("%Y%m%d%H%M%S")
    parent = ctx.db.scalars(select(VMSnapshot).where(VMSnapshot.vm_id == vm.id, VMSnapshot.current.is_(True),
                                                     VMSnapshot.removed.is_(None))).first()
    snap = VMSnapshot(name=f"{instance_name(vm)}_VS_{stamp}", display_name=p.name or f"{vm.name}_VS_{stamp}",
                      description=p.description, vm_id=vm.id, account_id=vm.account_id,
                      domain_id=vm.domain_id,
                      type=DISK_AND_MEMORY if p.snapshotmemory else DISK, state="Allocated",
                      parent_id=parent.id if parent else None, service_offering_id=vm.service_offering_id)
    ctx.db.add(snap)
    ctx.db.flush()
    return snap


async def take(ctx, snap: VMSnapshot) -> VMSnapshot:
    vm = ctx.db.get(VMInstance, snap.vm_id)
    try:
        host = vm_host(ctx, vm)
        snap.state = "Creating"
        await volumes.agent(ctx, host, "CreateVMSnapshotCommand", vm=vm.name, snapshot=snap.name,
                            memory=snap.type == DISK_AND_MEMORY)
    except Exception:
        ctx.db.rollback()
        ctx.db.refresh(snap)
        snap.state, snap.removed = "Error", now()
        vmsnapshot_event(ctx, "VMSNAPSHOT.CREATE", snap, f"VM snapshot {snap.display_name} failed", "ERROR")
        ctx.commit()
        raise
    ctx.db.refresh(snap)
    make_current(ctx, snap)
    snap.state = "Ready"
    vmsnapshot_event(ctx, "VMSNAPSHOT.CREATE", snap, f"VM snapshot {snap.display_name} of VM {vm.name} "
                                                     "created")
    vm_snapshot_usage(ctx, "VMSNAPSHOT.CREATE", snap, vm)
    return snap


def make_current(ctx, snap: VMSnapshot) -> None:
    ctx.db.execute(update(VMSnapshot).where(VMSnapshot.vm_id == snap.vm_id, VMSnapshot.id != snap.id)
                   .values(current=False).execution_options(synchronize_session=False))
    snap.current = True


def views(ctx, rows: list[VMSnapshot]) -> list[dict]:
    _, owner = owners(ctx, rows)
    vms = rows_by_id(ctx, VMInstance.id, VMInstance.uuid, VMInstance.name, VMInstance.display_name,
                     VMInstance.zone_id, VMInstance.hypervisor_type, ids={s.vm_id for s in rows})
    parents = rows_by_id(ctx, VMSnapshot.id, VMSnapshot.uuid, VMSnapshot.name,
                         ids={s.parent_id for s in rows})
    zones = rows_by_id(ctx, DataCenter.id, DataCenter.uuid, DataCenter.name,
                       ids={v.zone_id for v in vms.values()})
    tags = tags_for(ctx, "VMSnapshot", [s.id for s in rows])
    answer = []
    for s in rows:
        vm, parent = vms.get(s.vm_id), parents.get(s.parent_id)
        zone = zones.get(vm.zone_id) if vm else None
        answer.append({
            "id": s.uuid, "name": s.name, "displayname": s.display_name, "description": s.description,
            "state": s.state, "created": s.created, "current": s.current, "type": s.type,
            "virtualmachineid": vm.uuid if vm else None, "virtualmachinename": vm.name if vm else None,
            "parent": parent.uuid if parent else None, "parentName": parent.name if parent else None,
            **owner(s), "zoneid": zone.uuid if zone else None, "zonename": zone.name if zone else None,
            "hypervisor": vm.hypervisor_type if vm else None, "tags": tags.get(s.id, []),
        })
    return answer


@command("createVMSnapshot", isasync=True, create=create_row, response="vmsnapshot",
         instance_type="VmSnapshot",
         since="4.2.0", params=[
             Param("virtualmachineid", UUID, entity=VMInstance, required=True, description="The ID of the "
                                                                                           "vm"),
             Param("name", STRING, description="The display name of the snapshot"),
             Param("description", STRING, description="The description of the snapshot"),
             Param("snapshotmemory", BOOLEAN, description="snapshot memory if true"),
             Param("quiescevm", BOOLEAN, description="quiesce vm if true"),
         ])
async def create_vm_snapshot(ctx, p):
    """Creates snapshot for a vm."""
    return views(ctx, [await take(ctx, ctx.created)])[0]


SNAPSHOT_ID = Param("vmsnapshotid", UUID, entity=VMSnapshot, required=True, description="The ID of the VM "
                                                                                        "snapshot")


@command("deleteVMSnapshot", isasync=True, instance_type="VmSnapshot", since="4.2.0", params=[SNAPSHOT_ID])
async def delete_vm_snapshot(ctx, p):
    """Deletes a vmsnapshot."""
    snap = p.vmsnapshotid
    if snap.state not in ("Ready", "Error"):
        raise InvalidParameter(f"Can't delete the vm snapshot {snap.uuid} due to it is not in Created or "
                               f"Error state; it is {snap.state}")
    vm = ctx.db.get(VMInstance, snap.vm_id)
    if snap.state == "Ready" and vm is not None and vm.removed is None:
        await volumes.agent(ctx, vm_host(ctx, vm), "DeleteVMSnapshotCommand", vm=vm.name, snapshot=snap.name)
        ctx.db.refresh(snap)
    if snap.state == "Ready" and vm is not None:
        vm_snapshot_usage(ctx, "VMSNAPSHOT.DELETE", snap, vm)
    if snap.current and snap.parent_id is not None:
        parent = ctx.db.get(VMSnapshot, snap.parent_id)
        if parent is not None and parent.removed is None:
            parent.current = True
    ctx.db.execute(update(VMSnapshot).where(VMSnapshot.parent_id == snap.id).values(parent_id=snap.parent_id)
                   .execution_options(synchronize_session=False))
    snap.state, snap.removed, snap.current = "Expunging", now(), False
    vmsnapshot_event(ctx, "VMSNAPSHOT.DELETE", snap, f"VM snapshot {snap.display_name} deleted")
    return {"success": True}


@command("revertToVMSnapshot", isasync=True, response="virtualmachine", instance_type="VirtualMachine",
         since="4.2.0", params=[SNAPSHOT_ID])
async def revert_to_vm_snapshot(ctx, p):
    """Revert VM from a vmsnapshot."""
    from ..compute.vm_views import view

    snap = p.vmsnapshotid
    if snap.state != "Ready":
        raise InvalidParameter(f"VM Snapshot reverting failed due to vm snapshot {snap.uuid} is not in Ready "
                               "state")
    vm = ctx.db.get(VMInstance, snap.vm_id)
    if vm.state not in ("Running", "Stopped"):
        raise InvalidParameter(f"VM Snapshot reverting failed due to vm {vm.uuid} is not in the state as "
                               "Running or Stopped.")
    if snap.type == DISK and vm.state == "Running":
        raise InvalidParameter("VM Snapshot reverting failed because the VM is running and the snapshot has "
                               "no memory: stop the VM first")
    await volumes.agent(ctx, vm_host(ctx, vm), "RevertToVMSnapshotCommand", vm=vm.name, snapshot=snap.name)
    ctx.db.refresh(snap)
    ctx.db.refresh(vm)
    make_current(ctx, snap)
    vmsnapshot_event(ctx, "VMSNAPSHOT.REVERTTO", snap, f"VM {vm.name} reverted to snapshot "
                                                       f"{snap.display_name}")
    return view(ctx, vm)


@command("listVMSnapshot", response="vmSnapshot", listing="owned", since="4.2.0", params=[
    Param("vmsnapshotid", UUID, entity=VMSnapshot, check_access=False, description="The ID of the VM "
                                                                                   "snapshot"),
    Param("vmsnapshotids", LIST, of=UUID, entity=VMSnapshot, check_access=False, since="4.9",
          description="the IDs of the vm snapshots, mutually exclusive with vmsnapshotid"),
    Param("virtualmachineid", UUID, entity=VMInstance, description="the ID of the vm"),
    Param("name", STRING, description="lists snapshot by snapshot name or display name"),
    Param("state", STRING, description="state of the virtual machine snapshot"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
    Param("projectid", UUID, description="list objects by project"),
])
def list_vm_snapshot(ctx, p):
    """List virtual machine snapshot by conditions"""
    query = owner_filter(ctx, p, select(VMSnapshot).where(VMSnapshot.removed.is_(None)), VMSnapshot)
    if p.vmsnapshotid is not None:
        query = query.where(VMSnapshot.id == p.vmsnapshotid.id)
    if p.vmsnapshotids:
        query = query.where(VMSnapshot.id.in_([s.id for s in p.vmsnapshotids]))
    if p.virtualmachineid is not None:
        query = query.where(VMSnapshot.vm_id == p.virtualmachineid.id)
    if p.name:
        query = query.where((VMSnapshot.name == p.name) | (VMSnapshot.display_name == p.name))
    if p.state:
        query = query.where(VMSnapshot.state == p.state)
    query = tag_filter(ctx, query, VMSnapshot, "VMSnapshot", p.tags)
    result = paged(ctx, p, query, lambda s: s, keyword_columns=(VMSnapshot.name, VMSnapshot.display_name),
                   order_by=VMSnapshot.id)
    result.items = views(ctx, result.items)
    return result


FIELDS = describe("vmsnapshot", {
    "id": "the ID of the vm snapshot",
    "name": "the name of the vm snapshot",
    "displayname": "the display name of the vm snapshot",
    "description": "the description of the vm snapshot",
    "state": "the state of the vm snapshot",
    "created": "the create date of the vm snapshot",
    "current": "indicates if this is current snapshot",
    "type": "VM Snapshot type",
    "virtualmachineid": "the vm ID of the vm snapshot",
    "virtualmachinename": "the vm name of the vm snapshot",
    "parent": "the parent ID of the vm snapshot",
    "parentName": "the parent displayName of the vm snapshot",
    "account": "the account associated with the disk volume",
    "domainid": "the ID of the domain associated with the disk volume",
    "domain": "the domain associated with the disk volume",
    "zoneid": "the Zone ID of the vm snapshot",
    "hypervisor": "the type of hypervisor on which snapshot is stored",
    "tags": "the list of resource tags associated",
})
describe("vmSnapshot", FIELDS)
