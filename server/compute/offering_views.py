"""Offering rows → `serviceoffering` and `diskoffering` response objects."""

from collections import defaultdict

from sqlalchemy import select

from ..core.responses import describe
from ..iam.models import Domain
from ..infra.models import DataCenter
from .models import DiskOffering, ServiceOffering
from .offering_models import DiskOfferingDetail, ServiceOfferingDetail
from .offering_rules import from_csv

GIB = 1024**3


class Lookups:
    """What a page of offerings refers to (disk offerings, details, domains, zones), in four queries."""

    def __init__(self, ctx, rows: list, detail_model):
        disk_ids = {getattr(row, "disk_offering_id", None) for row in rows} - {None}
        disks = ctx.db.scalars(select(DiskOffering).where(DiskOffering.id.in_(disk_ids)))
        self.disks = {disk.id: disk for disk in disks}
        self.details: dict[int, dict[str, str]] = defaultdict(dict)
        for detail in ctx.db.scalars(select(detail_model).where(
                detail_model.offering_id.in_([row.id for row in rows])).order_by(detail_model.id)):
            self.details[detail.offering_id][detail.name] = detail.value
        self.domains = self._rows(ctx, Domain, (row.domain_ids for row in rows))
        self.zones = self._rows(ctx, DataCenter, (row.zone_ids for row in rows))

    @staticmethod
    def _rows(ctx, model, csvs) -> dict:
        ids = {i for csv in csvs for i in from_csv(csv)}
        return {row.id: row for row in ctx.db.scalars(select(model).where(model.id.in_(ids)))} if ids else {}

    def scope(self, row) -> dict:
        domains = [self.domains[i] for i in from_csv(row.domain_ids) if i in self.domains]
        zones = [self.zones[i] for i in from_csv(row.zone_ids) if i in self.zones]
        return {"domainid": ",".join(d.uuid for d in domains) or None,
                "domain": ",".join(d.name for d in domains) or None,
                "zoneid": ",".join(z.uuid for z in zones) or None,
                "zone": ",".join(z.name for z in zones) or None}


def _rates(disk: DiskOffering | None) -> dict:
    if disk is None:
        return {}
    return {
        "diskBytesReadRate": disk.bytes_read_rate, "diskBytesWriteRate": disk.bytes_write_rate,
        "diskIopsReadRate": disk.iops_read_rate, "diskIopsWriteRate": disk.iops_write_rate,
    }


def service_offerings(ctx, rows: list[ServiceOffering]) -> list[dict]:
    lookups = Lookups(ctx, rows, ServiceOfferingDetail) if rows else None
    return [service_offering(ctx, row, lookups) for row in rows]


def service_offering(ctx, row: ServiceOffering, lookups: Lookups | None = None) -> dict:
    lookups = lookups or Lookups(ctx, [row], ServiceOfferingDetail)
    disk = lookups.disks.get(row.disk_offering_id)
    linked = disk is not None and not disk.compute_only  # a chosen disk offering, not the hidden one
    answer = {
        "id": row.uuid, "name": row.name, "displaytext": row.display_text, "cpunumber": row.cpu,
        "cpuspeed": row.speed, "memory": row.ram_size, "created": row.created,
        "storagetype": row.storage_type, "provisioningtype": row.provisioning_type,
        "offerha": row.ha_enabled, "limitcpuuse": row.limit_cpu_use, "isvolatile": False,
        "tags": row.storage_tags, "hosttags": row.host_tag, "issystem": row.is_system,
        "systemvmtype": row.system_vm_type, "defaultuse": row.is_default, "iscustomized": row.customized,
        "iscustomizediops": disk.customized_iops if disk else False,
        "miniops": disk.min_iops if disk else None, "maxiops": disk.max_iops if disk else None,
        "networkrate": row.network_rate, "deploymentplanner": row.deployment_planner,
        "rootdisksize": row.root_disk_size // GIB if row.root_disk_size else None,
        "dynamicscalingenabled": row.dynamic_scaling_enabled, "state": row.state,
        "diskofferingstrictness": False, "encryptroot": disk.encrypt if disk else False,
        "diskofferingid": disk.uuid if linked else None, "diskofferingname": disk.name if linked else None,
        "diskofferingdisplaytext": disk.display_text if linked else None,
        "serviceofferingdetails": lookups.details.get(row.id) or None,
        "hasannotations": False, "purgeresources": False,
    }
    return {**answer, **_rates(disk), **lookups.scope(row)}


def disk_offerings(ctx, rows: list[DiskOffering]) -> list[dict]:
    lookups = Lookups(ctx, rows, DiskOfferingDetail) if rows else None
    return [disk_offering(ctx, row, lookups) for row in rows]


def disk_offering(ctx, row: DiskOffering, lookups: Lookups | None = None) -> dict:
    lookups = lookups or Lookups(ctx, [row], DiskOfferingDetail)
    answer = {
        "id": row.uuid, "name": row.name, "displaytext": row.display_text, "disksize": row.disk_size // GIB,
        "iscustomized": row.customized, "iscustomizediops": row.customized_iops, "miniops": row.min_iops,
        "maxiops": row.max_iops, "tags": row.tags, "storagetype": row.storage_type,
        "provisioningtype": row.provisioning_type, "created": row.created,
        "disksizestrictness": row.disk_size_strictness, "encrypt": row.encrypt, "state": row.state,
        "displayoffering": True, "details": lookups.details.get(row.id) or None, "hasannotations": False,
    }
    return {**answer, **_rates(row), **lookups.scope(row)}


_SCOPE_FIELDS = {
    "domainid": "the domain ID(s) this offering belongs to, comma-separated; absent for public offerings",
    "domain": "the domain name(s) this offering belongs to, comma-separated",
    "zoneid": "the zone ID(s) this offering belongs to, comma-separated; absent for all zones",
    "zone": "the zone name(s) this offering belongs to, comma-separated",
}
_RATE_FIELDS = {
    "diskBytesReadRate": "bytes read rate", "diskBytesWriteRate": "bytes write rate",
    "diskIopsReadRate": "io requests read rate", "diskIopsWriteRate": "io requests write rate",
}
describe("serviceoffering", {
    "id": "the id of the service offering", "name": "the name of the service offering",
    "displaytext": "an alternate display text of the service offering.", "cpunumber": "the number of CPU",
    "cpuspeed": "the clock rate CPU speed in Mhz", "memory": "the memory in MB",
    "created": "the date this service offering was created", "storagetype": "the storage type for this "
    "service offering", "provisioningtype": "provisioning type used to create volumes.", "offerha": "the ha "
    "support in the service offering", "limitcpuuse": "restrict the CPU usage to committed service offering",
    "isvolatile": "true if the vm needs to be volatile", "tags": "the tags for the service offering",
    "hosttags": "the host tag for the service offering", "issystem": "is this a system vm offering",
    "systemvmtype": "is this a the systemvm type for system vm offering", "defaultuse": "is this a default "
    "system vm offering", "iscustomized": "is true if the offering is customized", "iscustomizediops": "true "
    "if disk offering uses custom iops, false otherwise", "miniops": "the min iops of the disk offering",
    "maxiops": "the max iops of the disk offering", "networkrate": "data transfer rate in megabits per "
    "second "
    "allowed.", "deploymentplanner": "deployment strategy used to deploy VM.", "rootdisksize": "Root disk "
    "size in GB", "dynamicscalingenabled": "true if virtual machine needs to be dynamically upgraded to this "
    "offering", "state": "state of the service offering", "diskofferingstrictness": "True/False to indicate "
    "the strictness of the disk offering association with the compute offering", "encryptroot": "true if "
    "virtual machine root disk will be encrypted on storage", "diskofferingid": "the ID of the disk offering "
    "to which service offering is linked", "diskofferingname": "name of the disk offering",
    "diskofferingdisplaytext": "the display text of the disk "
                               "offering", "serviceofferingdetails": "additional "
    "key/value details tied with this service offering", "hasannotations": "whether this offering has "
    "annotations", "purgeresources": "Whether to cleanup VM and its associated resource upon expunge",
    **_RATE_FIELDS, **_SCOPE_FIELDS,
})
describe("diskoffering", {
    "id": "unique ID of the disk offering", "name": "the name of the disk offering", "displaytext": "an "
    "alternate display text of the disk offering.", "disksize": "the size of the disk offering in GB",
    "iscustomized": "true if disk offering uses custom size, false otherwise", "iscustomizediops": "true if "
    "disk offering uses custom iops, false otherwise", "miniops": "the min iops of the disk offering",
    "maxiops": "the max iops of the disk offering", "tags": "the tags for the disk offering", "storagetype":
    "the storage type for this disk offering", "provisioningtype": "provisioning type used to create "
                                                                   "volumes.",
    "created": "the date this disk offering was created", "disksizestrictness": "To allow or disallow the "
    "resize operation on the disks created from this disk offering", "encrypt": "Whether disks using this "
    "offering will be encrypted on primary storage", "state": "state of the disk offering", "displayoffering":
    "whether to display the offering to the end user or not.", "details": "additional key/value details tied "
    "with this disk offering", "hasannotations": "whether this offering has annotations",
    **_RATE_FIELDS, **_SCOPE_FIELDS,
})
