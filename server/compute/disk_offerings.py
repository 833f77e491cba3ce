"""Disk offerings: the sizes (fixed or custom) and storage qualities of data disks."""

from sqlalchemy import select

from ..core.db import now
from ..core.errors import InvalidParameter, ResourceInUse
from ..core.params import BOOLEAN, INTEGER, LIST, LONG, MAP, STRING, UUID, Param, map_to_dict
from ..core.registry import ADMIN, DOMAIN_ADMIN, command
from ..iam.models import Domain
from ..infra.models import DataCenter
from ..storage.models import Volume
from . import offering_rules as rules
from .models import DiskOffering, ServiceOffering
from .offering_models import DiskOfferingDetail
from .offering_views import GIB, disk_offering, disk_offerings

OFFERING_ADMINS = frozenset({ADMIN, DOMAIN_ADMIN})
GONE_VOLUME_STATES = ("Destroy", "Expunging", "Expunged")


def disk_size(ctx, p) -> tuple[int, bool]:
    """(size in bytes, customized) from `disksize` (GB) and `customized`."""
    customized = bool(p.customized)  # upstream: not customized unless asked, so a size is required
    if p.disksize is None:
        if not customized:
            raise InvalidParameter("Disksize is required for a non-customized disk offering")
        return 0, True
    if p.disksize < 1:
        raise InvalidParameter("Please specify a disk size of at least 1 GB.")
    maximum = int(ctx.setting("storage.max.volume.size"))
    if p.disksize > maximum:
        raise InvalidParameter(f"The maximum size for a disk is {maximum} Gb.")
    return p.disksize * GIB, customized


def check_iops(p) -> None:
    if p.miniops is not None and p.maxiops is not None and p.miniops > p.maxiops:
        raise InvalidParameter("The min IOPS must be less than or equal to the max IOPS.")
    for name in ("miniops", "maxiops"):
        if p.get(name) is not None and p.get(name) < 0:
            raise InvalidParameter(f"The {name} value must be a positive number")


def create(ctx, p) -> DiskOffering:
    size, customized = disk_size(ctx, p)
    check_iops(p)
    rules.check_manageable(ctx, p.domainid, "disk offering")
    offering = DiskOffering(
        name=p.name, display_text=p.displaytext, disk_size=size, customized=customized,
        customized_iops=bool(p.customizediops), min_iops=p.miniops, max_iops=p.maxiops,
        bytes_read_rate=p.bytesreadrate, bytes_write_rate=p.byteswriterate, iops_read_rate=p.iopsreadrate,
        iops_write_rate=p.iopswriterate, tags=p.tags or None, storage_type=rules.storage_type(p.storagetype),
        provisioning_type=rules.provisioning_type(p.provisioningtype),
        disk_size_strictness=bool(p.disksizestrictness), encrypt=bool(p.encrypt),
        domain_ids=rules.to_csv(p.domainid), zone_ids=rules.to_csv(p.zoneid))
    ctx.db.add(offering)
    ctx.db.flush()
    rules.save_details(ctx, DiskOfferingDetail, offering.id, map_to_dict(p.details))
    ctx.event("DISK.OFFERING.CREATE", f"Disk offering {offering.name} created", resource_type="DiskOffering",
              resource_id=offering.uuid)
    return offering


@command("createDiskOffering", response="diskoffering", roles=OFFERING_ADMINS, params=[
    Param("name", STRING, required=True, description="name of the disk offering"),
    Param("displaytext", STRING, required=True, length=4096, description="alternate display text of the disk "
                                                                         "offering"),
    Param("disksize", LONG, description="size of the disk offering in GB (1GB = 1,073,741,824 bytes)"),
    Param("customized", BOOLEAN, description="whether disk offering size is custom or not"),
    Param("tags", STRING, length=4096, description="tags for the disk offering"),
    Param("domainid", LIST, of=UUID, entity=Domain, description="the ID of the containing domain(s), null "
                                                                "for public offerings"),
    Param("zoneid", LIST, of=UUID, entity=DataCenter, since="4.13",
          description="the ID of the containing zone(s), null for public offerings"),
    Param("storagetype", STRING, description="the storage type of the disk offering. Values are local and "
                                             "shared."),
    Param("provisioningtype", STRING, description="provisioning type used to create volumes. Valid values "
                                                  "are thin, sparse, fat."),
    Param("displayoffering", BOOLEAN, description="an optional field, whether to display the offering to the "
                                                  "end user or not."),
    Param("bytesreadrate", LONG, description="bytes read rate of the disk offering"),
    Param("byteswriterate", LONG, description="bytes write rate of the disk offering"),
    Param("iopsreadrate", LONG, description="io requests read rate of the disk offering"),
    Param("iopswriterate", LONG, description="io requests write rate of the disk offering"),
    Param("customizediops", BOOLEAN, description="whether disk offering iops is custom or not"),
    Param("miniops", LONG, description="min iops of the disk offering"),
    Param("maxiops", LONG, description="max iops of the disk offering"),
    Param("disksizestrictness", BOOLEAN, since="4.16",
          description="To allow or disallow the resize operation on the disks created from this disk "
                      "offering, if the flag is true then resize is not allowed"),
    Param("encrypt", BOOLEAN, since="4.18", description="Volumes using this offering should be encrypted"),
    Param("details", MAP, since="4.16", description="details to specify disk offering parameters"),
])
def create_disk_offering(ctx, p):
    """Creates a disk offering."""
    return disk_offering(ctx, create(ctx, p))


def live_offering(ctx, row: DiskOffering) -> DiskOffering:
    if row.removed is not None or row.compute_only:
        raise InvalidParameter(f"Unable to find disk offering by id {row.uuid}")
    rules.check_owned(ctx, row.domain_ids, "disk offering")
    return row


@command("updateDiskOffering", response="diskoffering", roles=OFFERING_ADMINS, params=[
    Param("id", UUID, entity=DiskOffering, required=True, description="ID of the disk offering"),
    Param("name", STRING, description="updates name of the disk offering with this value"),
    Param("displaytext", STRING, length=4096, description="updates alternate display text of the disk "
                                                          "offering with this value"),
    Param("sortkey", INTEGER, description="sort key of the disk offering, integer"),
    Param("displayoffering", BOOLEAN, description="an optional field, whether to display the offering to the "
                                                  "end user or not."),
    Param("domainid", STRING, description="the ID of the containing domain(s) as comma separated string, "
                                          "public for public offerings"),
    Param("zoneid", STRING, since="4.13", description="the ID of the containing zone(s) as comma separated "
                                                      "string, all for all zones offerings"),
    Param("tags", STRING, length=4096, since="4.15", description="comma-separated list of tags for the disk "
                                                                 "offering, tags should match with existing "
                                                                 "storage pool tags"),
    Param("state", STRING, since="4.19", description="state of the disk offering: Active or Inactive"),
])
def update_disk_offering(ctx, p):
    """Updates a disk offering."""
    offering = live_offering(ctx, p.id)
    for attr, value in (("name", p.name), ("display_text", p.displaytext), ("sort_key", p.sortkey)):
        if value is not None and value != "":
            setattr(offering, attr, value)
    domains, zones = rules.parse_domains(ctx, p.domainid), rules.parse_zones(ctx, p.zoneid)
    if domains is not None:
        rules.check_manageable(ctx, domains, "disk offering")
        offering.domain_ids = rules.to_csv(domains)
    if zones is not None:
        offering.zone_ids = rules.to_csv(zones)
    if p.tags is not None:
        offering.tags = p.tags or None
    if p.state:
        offering.state = rules.state_wanted(p.state) or offering.state
    ctx.event("DISK.OFFERING.EDIT", f"Disk offering {offering.name} updated", resource_type="DiskOffering",
              resource_id=offering.uuid)
    return disk_offering(ctx, offering)


@command("deleteDiskOffering", roles=OFFERING_ADMINS, params=[
    Param("id", UUID, entity=DiskOffering, required=True, description="ID of the disk offering"),
])
def delete_disk_offering(ctx, p):
    """Deletes a disk offering."""
    offering = live_offering(ctx, p.id)
    volumes = ctx.db.scalars(select(Volume.id).where(
        Volume.disk_offering_id == offering.id, Volume.removed.is_(None),
        Volume.state.not_in(GONE_VOLUME_STATES))).all()
    if volumes:
        raise ResourceInUse(f"Unable to delete disk offering {offering.name}: {len(volumes)} volume(s) use "
                            "it")
    linked = ctx.db.scalar(select(ServiceOffering.name).where(
        ServiceOffering.disk_offering_id == offering.id, ServiceOffering.removed.is_(None)).limit(1))
    if linked is not None:
        raise ResourceInUse(f"Unable to delete disk offering {offering.name}: service offering {linked} uses "
                            "it")
    offering.state, offering.removed = rules.INACTIVE, now()
    ctx.event("DISK.OFFERING.DELETE", f"Disk offering {offering.name} deleted", resource_type="DiskOffering",
              resource_id=offering.uuid)
    return {"success": True}


def listed(ctx, p, rows: list[DiskOffering]) -> list[DiskOffering]:
    return [row for row in rows
            if rules.visible(ctx, row.domain_ids)
            and rules.keyword_match(p.keyword, row.name, row.display_text)
            and (p.zoneid is None or rules.in_zone(row.zone_ids, p.zoneid))
            and (p.domainid is None
                 or rules.for_domain(ctx, row.domain_ids, p.domainid, bool(p.isrecursive)))]


@command("listDiskOfferings", response="diskoffering", listing="list", params=[
    Param("id", UUID, entity=DiskOffering, description="ID of the disk offering"),
    Param("name", STRING, description="name of the disk offering"),
    Param("domainid", UUID, entity=Domain, description="the ID of the domain of the disk offering."),
    Param("zoneid", UUID, entity=DataCenter, since="4.13", description="id of zone disk offering is "
                                                                       "associated with"),
    Param("isrecursive", BOOLEAN, description="defaults to false, but if true, lists all resources from the "
                                              "parent specified by the domainId till leaves."),
    Param("storageid", STRING, since="4.17", description="The ID of the storage pool, tags of the storage "
                                                         "pool are used to filter the offerings"),
    Param("encrypt", BOOLEAN, since="4.18", description="listed offerings support disk encryption"),
    Param("state", STRING, since="4.19", description="Filter by state of the disk offering. Defaults to "
                                                     "'Active'. If set to 'all' shows both Active & Inactive "
                                                     "offerings."),
])
def list_disk_offerings(ctx, p):
    """Lists all available disk offerings."""
    # storageid (offerings whose tags a pool matches) is accepted and ignored: pool tag matching lives
    # with the volume allocator.
    query = select(DiskOffering).where(DiskOffering.removed.is_(None), DiskOffering.compute_only.is_(False),
                                       DiskOffering.is_system.is_(False))
    if p.id is not None:
        query = query.where(DiskOffering.id == p.id.id)
    if p.name:
        query = query.where(DiskOffering.name == p.name)
    if p.encrypt is not None:
        query = query.where(DiskOffering.encrypt.is_(p.encrypt))
    state = rules.state_wanted(p.state)
    if state:
        query = query.where(DiskOffering.state == state)
    ascending = str(ctx.setting("sortkey.algorithm")).lower() != "false"
    key = DiskOffering.sort_key if ascending else DiskOffering.sort_key.desc()
    query = query.order_by(key, DiskOffering.id)
    rows = listed(ctx, p, list(ctx.db.scalars(query)))
    return rules.page_rows(ctx, p, rows, lambda page: disk_offerings(ctx, page))
