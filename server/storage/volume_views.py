"""Volume rows → VolumeResponse objects, a page at a time (one query per related table, not per row)."""

from __future__ import annotations

from ..compute.models import DiskOffering, ServiceOffering, VMInstance
from ..compute.peers import tags_for
from ..compute.vm_views import owners, pending_jobs, rows_by_id
from ..core.responses import describe
from ..infra.models import DataCenter
from .models import StoragePool, VMTemplate, Volume


class Page:
    def __init__(self, ctx, rows: list[Volume]):
        self.accounts, self.owner = owners(ctx, rows)
        self.zones = rows_by_id(ctx, DataCenter.id, DataCenter.uuid, DataCenter.name,
                                ids={v.zone_id for v in rows})
        self.vms = rows_by_id(ctx, VMInstance.id, VMInstance.uuid, VMInstance.name, VMInstance.display_name,
                              VMInstance.state, VMInstance.type, VMInstance.service_offering_id,
                              VMInstance.hypervisor_type, ids={v.instance_id for v in rows})
        self.pools = rows_by_id(ctx, StoragePool.id, StoragePool.uuid, StoragePool.name,
                                StoragePool.pool_type,
                                StoragePool.hypervisor, ids={v.pool_id for v in rows})
        self.disks = rows_by_id(ctx, DiskOffering.id, DiskOffering.uuid, DiskOffering.name,
                                DiskOffering.display_text, DiskOffering.storage_type,
                                ids={v.disk_offering_id for v in rows})
        self.offerings = rows_by_id(ctx, ServiceOffering.id, ServiceOffering.uuid, ServiceOffering.name,
                                    ids={vm.service_offering_id for vm in self.vms.values()})
        self.templates = rows_by_id(ctx, VMTemplate.id, VMTemplate.uuid, VMTemplate.name,
                                    VMTemplate.extractable,
                                    ids={v.template_id for v in rows})
        self.tags = tags_for(ctx, "Volume", [v.id for v in rows])
        self.jobs = pending_jobs(ctx, [v.uuid for v in rows], "Volume")


def views(ctx, rows: list[Volume]) -> list[dict]:
    page = Page(ctx, rows)
    admin = ctx.caller.is_root_admin or ctx.caller.is_system
    return [view_of(page, v, admin) for v in rows]


def view(ctx, volume: Volume) -> dict:
    return views(ctx, [volume])[0]


def view_of(page: Page, volume: Volume, admin: bool) -> dict:
    zone = page.zones.get(volume.zone_id)
    vm = page.vms.get(volume.instance_id)
    pool = page.pools.get(volume.pool_id)
    disk = page.disks.get(volume.disk_offering_id)
    template = page.templates.get(volume.template_id)
    offering = page.offerings.get(vm.service_offering_id) if vm and volume.volume_type == "ROOT" else None
    answer = {
        "id": volume.uuid, "name": volume.name, "zoneid": zone.uuid if zone else None,
        "zonename": zone.name if zone else None, "type": volume.volume_type,
        "deviceid": volume.device_id if vm else None, "virtualmachineid": vm.uuid if vm else None,
        "vmname": vm.name if vm else None, "vmdisplayname": (vm.display_name or vm.name) if vm else None,
        "vmstate": vm.state if vm else None, "vmtype": vm.type if vm else None, "size": volume.size,
        "virtualsize": volume.size, "miniops": volume.min_iops, "maxiops": volume.max_iops,
        "created": volume.created, "state": volume.state, **page.owner(volume),
        "storagetype": disk.storage_type if disk else "shared", "provisioningtype": volume.provisioning_type,
        "hypervisor": (vm.hypervisor_type if vm else None) or (pool.hypervisor if pool else None) or "None",
        "diskofferingid": disk.uuid if disk else None, "diskofferingname": disk.name if disk else None,
        "diskofferingdisplaytext": disk.display_text if disk else None,
        "serviceofferingid": offering.uuid if offering else None,
        "serviceofferingname": offering.name if offering else None,
        "templateid": template.uuid if template else None,
        "templatename": template.name if template else None, "storage": pool.name if pool else None,
        "destroyed": volume.state in ("Destroy", "Expunging", "Expunged"),
        "isextractable": bool(template.extractable) if template else volume.volume_type == "DATADISK",
        "attached": volume.attached if vm else None, "path": volume.path, "format": volume.format,
        "displayvolume": volume.display_volume, "quiescevm": False, "supportsstoragesnapshot": False,
        "tags": page.tags.get(volume.id, []), "chaininfo": volume.chain_info,
        "jobid": page.jobs.get(volume.uuid), "jobstatus": 0 if volume.uuid in page.jobs else None,
    }
    if admin:
        answer.update(storageid=pool.uuid if pool else None, storagepooltype=pool.pool_type if pool else None)
    return answer


describe("volume", {
    "id": "ID of the disk volume",
    "name": "name of the disk volume",
    "zoneid": "ID of the availability zone",
    "zonename": "name of the availability zone",
    "type": "type of the disk volume (ROOT or DATADISK)",
    "deviceid": "the ID of the device on user vm the volume is attached to. This tag is not returned when "
                "the volume is detached.",
    "virtualmachineid": "id of the virtual machine",
    "vmname": "name of the virtual machine",
    "vmdisplayname": "display name of the virtual machine",
    "vmstate": "state of the virtual machine",
    "vmtype": "type of the virtual machine",
    "size": "size of the disk volume",
    "virtualsize": "the bytes allocated",
    "miniops": "min iops of the disk volume",
    "maxiops": "max iops of the disk volume",
    "created": "the date the disk volume was created",
    "state": "the state of the disk volume",
    "account": "the account associated with the disk volume",
    "domainid": "the ID of the domain associated with the disk volume",
    "domain": "the domain associated with the disk volume",
    "storagetype": "shared or local storage",
    "provisioningtype": "provisioning type used to create volumes.",
    "hypervisor": "Hypervisor the volume belongs to",
    "diskofferingid": "ID of the disk offering",
    "diskofferingname": "name of the disk offering",
    "serviceofferingid": "ID of the service offering for root disk",
    "serviceofferingname": "name of the service offering for root disk",
    "storage": "name of the primary storage hosting the disk volume",
    "storageid": "id of the primary storage hosting the disk volume; returned to admin user only",
    "destroyed": "the boolean state of whether the volume is destroyed or not",
    "isextractable": "true if the volume is extractable, false otherwise",
    "attached": "the date the volume was attached to a VM instance",
    "path": "the path of the volume",
    "tags": "the list of resource tags associated",
    "jobid": "the ID of the latest async job acting on this object",
    "jobstatus": "the current status of the latest async job acting on this object",
})
