"""Volume commands: create, attach, detach, resize, migrate, delete / destroy / recover, extract, upload,
list. Thin: parse, check, call volume_actions / volume_service, render with volume_views."""

from __future__ import annotations

from sqlalchemy import select

from ..compute.models import DiskOffering, VMInstance
from ..compute.peers import tag_filter
from ..compute.vm_views import page
from ..core.db import new_uuid
from ..core.errors import InvalidParameter
from ..core.listing import owner_filter
from ..core.params import BOOLEAN, LIST, LONG, MAP, STRING, UUID, Param
from ..core.registry import command
from ..iam.models import Account, Domain
from ..iam.owners import finalize_owner
from ..infra.models import Cluster, DataCenter, Host, HostPod
from . import volume_actions as actions
from . import volume_service as service
from .models import Snapshot, StoragePool, Volume
from .urls import simulated_size
from .volume_views import view, views

VOLUME = dict(response="volume", instance_type="Volume")
ID = Param("id", UUID, entity=Volume, required=True, description="the ID of the disk volume")
OWNER = [
    Param("account", STRING, description="the account associated with the disk volume. Must be used with the "
                                         "domainId parameter."),
    Param("domainid", UUID, entity=Domain, description="the domain ID associated with the disk offering. If "
                                                       "used with the account parameter returns the disk "
                                                       "volume associated with the account for the "
                                                       "specified domain."),
    Param("projectid", UUID, description="the project associated with the volume. Mutually exclusive with "
                                         "account parameter"),
]
UPLOAD_FORMATS = ("VHD", "VHDX", "QCOW2", "RAW", "OVA", "VMDK", "TAR", "ZIP", "BZIP2", "GZIP")


def live(volume: Volume) -> Volume:
    if volume.state in ("Expunged", "Expunging") or volume.removed is not None:
        raise InvalidParameter(f"Unable to find volume with ID {volume.uuid}")
    return volume


# ---- create -------------------------------------------------------------------------------------

def sized(ctx, p, disk: DiskOffering) -> int:
    from ..compute.vm_deploy import custom_size_gb

    if disk.compute_only or disk.state != "Active":
        raise InvalidParameter(f"Unable to use disk offering {disk.uuid} for a data volume")
    if disk.customized:
        return custom_size_gb(ctx, p.size, disk) * service.GB
    if p.size is not None and p.size * service.GB != disk.disk_size:
        raise InvalidParameter("Size can't be specified for a disk offering that is not custom")
    return disk.disk_size


def volume_zone(ctx, p, snapshot: Snapshot | None) -> DataCenter:
    if snapshot is not None:
        return ctx.db.get(DataCenter, snapshot.zone_id)
    if p.zoneid is not None:
        return p.zoneid
    if p.virtualmachineid is not None:
        return ctx.db.get(DataCenter, p.virtualmachineid.zone_id)
    raise InvalidParameter("Please specify the zone id (zoneid) of the volume")


def create_row(ctx, p) -> Volume:
    """createVolume's create step: the Allocated volume, counted against the owner's limits."""
    owner = finalize_owner(ctx, p.account, p.domainid)
    snapshot = p.snapshotid
    if snapshot is None and p.diskofferingid is None:
        raise InvalidParameter("Either disk offering id or snapshot id must be passed whilst creating volume")
    if snapshot is not None and snapshot.state != "BackedUp":
        raise InvalidParameter(f"Snapshot {snapshot.uuid} is not in BackedUp state yet and can't be used for "
                               "volume creation")
    disk = p.diskofferingid
    if snapshot is not None and disk is None:
        source = ctx.db.get(Volume, snapshot.volume_id)
        disk = (ctx.db.get(DiskOffering, source.disk_offering_id)
                if source and source.disk_offering_id else None)
    size = snapshot.size if snapshot is not None else sized(ctx, p, disk)
    zone = volume_zone(ctx, p, snapshot)
    volume = service.new_volume(ctx, name=p.name or f"volume-{new_uuid()[:8]}", account_id=owner.id,
                                domain_id=owner.domain_id, zone_id=zone.id, volume_type=service.DATADISK,
                                size=size, disk_offering_id=disk.id if disk else None,
                                provisioning=disk.provisioning_type if disk else "thin",
                                min_iops=p.miniops, max_iops=p.maxiops,
                                snapshot_id=snapshot.id if snapshot else None, counted=True)
    volume.display_volume = p.displayvolume is not False
    return volume


@command("createVolume", isasync=True, create=create_row, **VOLUME, params=[
    Param("name", STRING, description="the name of the disk volume"),
    Param("diskofferingid", UUID, entity=DiskOffering, description="the ID of the disk offering. Either "
                                                                   "diskOfferingId or snapshotId must be "
                                                                   "passed in."),
    Param("size", LONG, description="Arbitrary volume size"),
    Param("snapshotid", UUID, entity=Snapshot, description="the snapshot ID for the disk volume. Either "
                                                           "diskOfferingId or snapshotId must be passed in."),
    Param("zoneid", UUID, entity=DataCenter, description="the ID of the availability zone"),
    Param("virtualmachineid", UUID, entity=VMInstance, description="the ID of the virtual machine; to be "
                                                                   "used with snapshot Id, VM to which the "
                                                                   "volume gets attached after creation"),
    Param("miniops", LONG, description="min iops"),
    Param("maxiops", LONG, description="max iops"),
    Param("displayvolume", BOOLEAN, description="an optional field, whether to display the volume to the end "
                                                "user or not."),
    Param("storageid", UUID, entity=StoragePool, since="4.16.0", description="Storage pool ID to create the "
                                                                             "volume in. Cannot be used with "
                                                                             "the snapshotId parameter."),
    *OWNER,
])
async def create_volume(ctx, p):
    """Creates a disk volume from a disk offering."""
    volume = ctx.created
    if p.snapshotid is not None:
        vm = p.virtualmachineid
        await actions.create_from_snapshot(ctx, volume, p.snapshotid,
                                           actions.vm_cluster(ctx, vm) if vm is not None else None)
    if p.virtualmachineid is not None:
        await actions.attach(ctx, volume, p.virtualmachineid, None)
    return view(ctx, volume)


# ---- attach, detach -----------------------------------------------------------------------------

@command("attachVolume", isasync=True, **VOLUME, params=[
    ID,
    Param("virtualmachineid", UUID, entity=VMInstance, required=True, description="the ID of the virtual "
                                                                                  "machine"),
    Param("deviceid", LONG, description="The ID of the device to map the volume to the guest OS. If no "
                                        "deviceID is informed, the next available deviceID will be chosen. "
                                        "Use 0 when volume needs to be attached as ROOT."),
])
async def attach_volume(ctx, p):
    """Attaches a disk volume to a virtual machine."""
    from ..compute.vm_service import user_vm

    volume = live(p.id)
    await actions.attach(ctx, volume, user_vm(p.virtualmachineid), p.deviceid)
    return view(ctx, volume)


@command("detachVolume", isasync=True, **VOLUME, params=[
    Param("id", UUID, entity=Volume, description="the ID of the disk volume"),
    Param("deviceid", LONG, description="the device ID on the virtual machine where volume is detached from"),
    Param("virtualmachineid", UUID, entity=VMInstance, description="the ID of the virtual machine where the "
                                                                   "volume is detached from"),
])
async def detach_volume(ctx, p):
    """Detaches a disk volume from a virtual machine."""
    volume = p.id
    if volume is None:
        if p.virtualmachineid is None or p.deviceid is None:
            raise InvalidParameter("Please provide either a volume id, or a tuple(device id, instance id)")
        volume = ctx.db.scalars(select(Volume).where(Volume.instance_id == p.virtualmachineid.id,
                                                     Volume.device_id == p.deviceid,
                                                     Volume.removed.is_(None))).first()
        if volume is None:
            raise InvalidParameter(f"Unable to find volume with device id {p.deviceid} on VM "
                                   f"{p.virtualmachineid.uuid}")
    await actions.detach(ctx, live(volume))
    return view(ctx, volume)


# ---- resize, migrate ----------------------------------------------------------------------------

@command("resizeVolume", isasync=True, **VOLUME, params=[
    Param("id", UUID, entity=Volume, required=True, description="the ID of the disk volume"),
    Param("size", LONG, description="New volume size in GB"),
    Param("diskofferingid", UUID, entity=DiskOffering, description="new disk offering id"),
    Param("shrinkok", BOOLEAN, description="Verify OK to Shrink"),
    Param("miniops", LONG, description="New minimum number of IOPS"),
    Param("maxiops", LONG, description="New maximum number of IOPS"),
    Param("autostrategy", BOOLEAN, since="4.17", description="Flag for automatic migration of the volume "
                                                             "with new disk offering whenever migration is "
                                                             "required to apply the offering"),
])
async def resize_volume(ctx, p):
    """Resizes a volume"""
    volume = live(p.id)
    await actions.resize(ctx, volume, p.size, p.diskofferingid, bool(p.shrinkok), p.miniops, p.maxiops)
    return view(ctx, volume)


@command("migrateVolume", isasync=True, **VOLUME, params=[
    Param("volumeid", UUID, entity=Volume, required=True, description="the ID of the volume"),
    Param("storageid", UUID, entity=StoragePool, required=True, description="destination storage pool ID to "
                                                                            "migrate the volume to"),
    Param("livemigrate", BOOLEAN, description="if the volume should be live migrated when it is attached to "
                                              "a running vm"),
    Param("newdiskofferingid", UUID, entity=DiskOffering, since="4.16", description="The new disk offering "
                                                                                    "ID that replaces the "
                                                                                    "current one used by "
                                                                                    "the volume."),
])
async def migrate_volume(ctx, p):
    """Migrate volume"""
    volume = live(p.volumeid)
    await actions.migrate(ctx, volume, p.storageid, bool(p.livemigrate))
    if p.newdiskofferingid is not None:
        volume.disk_offering_id = p.newdiskofferingid.id
    return view(ctx, volume)


# ---- delete, destroy, recover -------------------------------------------------------------------

DELETABLE = ("Allocated", "Ready", "Uploaded", "UploadError", "UploadAbandoned", "Destroy")


@command("deleteVolume", params=[ID])
def delete_volume(ctx, p):
    """Deletes a detached disk volume."""
    volume = live(p.id)
    if volume.instance_id is not None:
        raise InvalidParameter("Please specify a volume that is not attached to any VM.")
    if volume.state not in DELETABLE:
        raise InvalidParameter(f"Volume {volume.uuid} is in state {volume.state} and can't be deleted; it "
                               f"must be one of {', '.join(DELETABLE)}")
    service.expunge(ctx, volume, counted=volume.state != "Destroy")
    from ..compute.peers import drop_tags

    drop_tags(ctx, "Volume", volume.id)
    return {"success": True}


@command("destroyVolume", isasync=True, since="4.14.0", **VOLUME, params=[
    ID, Param("expunge", BOOLEAN, description="If true is passed, the volume is expunged immediately. False "
                                              "by default."),
])
def destroy_volume(ctx, p):
    """Destroys a Volume."""
    volume = live(p.id)
    if volume.instance_id is not None:
        raise InvalidParameter("Please specify a volume that is not attached to any VM.")
    if volume.state != "Destroy":
        if volume.state not in DELETABLE:
            raise InvalidParameter(f"Volume {volume.uuid} is in state {volume.state} and can't be destroyed")
        service.mark_destroyed(ctx, volume)
    if p.expunge:
        service.expunge(ctx, volume, counted=False)
    return view(ctx, volume)


@command("recoverVolume", since="4.14.0", **VOLUME, params=[ID])
def recover_volume(ctx, p):
    """Recovers a Destroy volume."""
    volume = live(p.id)
    if volume.state != "Destroy":
        raise InvalidParameter(f"Please specify a volume in Destroy state; volume {volume.uuid} is "
                               f"{volume.state}")
    service.count_against_limits(ctx, volume)
    volume.state = "Ready" if volume.pool_id is not None else "Allocated"
    service.volume_event(ctx, "VOLUME.RECOVER", volume, f"Volume {volume.name} recovered")
    service.volume_usage(ctx, "VOLUME.CREATE", volume)
    return view(ctx, volume)


# ---- extract, upload ----------------------------------------------------------------------------

@command("extractVolume", isasync=True, **VOLUME, params=[
    ID,
    Param("zoneid", UUID, entity=DataCenter, required=True, description="the ID of the zone where the "
                                                                        "volume is located"),
    Param("mode", STRING, required=True, description="the mode of extraction - HTTP_DOWNLOAD or FTP_UPLOAD"),
    Param("url", STRING, length=2048, description="the url to which the volume would be extracted"),
])
async def extract_volume(ctx, p):
    """Extracts volume"""
    volume = live(p.id)
    answer = await actions.extract(ctx, volume, p.zoneid, p.mode.upper())
    answer["accountid"] = ctx.db.get(Account, volume.account_id).uuid
    return answer


def upload_row(ctx, p) -> Volume:
    owner = finalize_owner(ctx, p.account, p.domainid)
    fmt = p.format.upper()
    if fmt not in UPLOAD_FORMATS:
        raise InvalidParameter(f"Please specify a valid format; {p.format} is not one of "
                               f"{', '.join(UPLOAD_FORMATS)}")
    if not p.url.lower().startswith(("http://", "https://")):
        raise InvalidParameter(f"Unsupported scheme for url: {p.url}")
    size = simulated_size(p.url) or 10**9
    volume = service.new_volume(ctx, name=p.name, account_id=owner.id, domain_id=owner.domain_id,
                                zone_id=p.zoneid.id, volume_type=service.DATADISK, size=size,
                                disk_offering_id=p.diskofferingid.id if p.diskofferingid else None,
                                state="UploadOp", fmt=fmt, counted=True)
    return volume


@command("uploadVolume", isasync=True, **VOLUME, params=[
    Param("zoneid", UUID, entity=DataCenter, required=True, description="the ID of the zone the volume is to "
                                                                        "be hosted on"),
    Param("name", STRING, required=True, description="the name of the volume"),
    Param("url", STRING, required=True, length=2048, description="the URL of where the volume is hosted. "
                                                                 "Possible URL include http:// and https://"),
    Param("format", STRING, required=True, description="the format for the volume. Possible values include "
                                                       "QCOW2, OVA, and VHD."),
    Param("checksum", STRING, description="the checksum value of this volume."),
    Param("diskofferingid", UUID, entity=DiskOffering, description="the ID of the disk offering. This must "
                                                                   "be a custom sized offering since during "
                                                                   "uploadVolume volume size is unknown."),
    Param("imagestoreuuid", STRING, description="Image store uuid"),
    *OWNER,
])
async def upload_volume(ctx, p):
    """Uploads a data disk."""
    volume = upload_row(ctx, p)
    service.volume_event(ctx, "VOLUME.UPLOAD", volume, f"Upload of volume {volume.name} from {p.url} started")
    ctx.commit()
    # The secondary storage VM would download the file here; the simulated download completes at once.
    volume.state = "Uploaded"
    service.volume_event(ctx, "VOLUME.UPLOAD", volume, f"Volume {volume.name} uploaded")
    return view(ctx, volume)


# ---- list ---------------------------------------------------------------------------------------

@command("listVolumes", response="volume", listing="owned", params=[
    Param("id", UUID, entity=Volume, check_access=False, description="the ID of the disk volume"),
    Param("ids", LIST, of=UUID, entity=Volume, check_access=False, since="4.9", description="the IDs of the "
                                                                                            "volumes, "
                                                                                            "mutually "
                                                                                            "exclusive with "
                                                                                            "id"),
    Param("name", STRING, description="the name of the disk volume"),
    Param("type", STRING, description="the type of disk volume"),
    Param("virtualmachineid", UUID, entity=VMInstance, description="the ID of the virtual machine"),
    Param("zoneid", UUID, entity=DataCenter, description="the ID of the availability zone"),
    Param("podid", UUID, entity=HostPod, description="the pod id the disk volume belongs to"),
    Param("clusterid", UUID, entity=Cluster, description="the cluster id the disk volume belongs to"),
    Param("hostid", UUID, entity=Host, description="list volumes on specified host"),
    Param("storageid", UUID, entity=StoragePool, description="the ID of the storage pool, available "
                                                                         "to ROOT admin only"),
    Param("diskofferingid", UUID, entity=DiskOffering, since="4.4", description="list volumes by disk "
                                                                                "offering"),
    Param("state", STRING, since="4.19.0", description="state of the volume. Possible values are: Ready, "
                                                       "Allocated, Destroy, Expunging, Expunged."),
    Param("isencrypted", BOOLEAN, since="4.19.1", description="list only volumes that are encrypted"),
    Param("displayvolume", BOOLEAN, since="4.4", description="list resources by display flag; only ROOT "
                                                             "admin is eligible to pass this parameter"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
    Param("projectid", UUID, description="list objects by project"),
    Param("listsystemvms", BOOLEAN, since="4.18", description="list system VMs; only ROOT admin is eligible "
                                                              "to pass this parameter"),
])
def list_volumes(ctx, p):
    """Lists all volumes."""
    query = owner_filter(ctx, p, select(Volume).where(Volume.removed.is_(None)), Volume)
    if p.id is not None:
        query = query.where(Volume.id == p.id.id)
    if p.ids:
        query = query.where(Volume.id.in_([v.id for v in p.ids]))
    if p.name:
        query = query.where(Volume.name == p.name)
    if p.type:
        query = query.where(Volume.volume_type == p.type.upper())
    if p.state:
        query = query.where(Volume.state == p.state)
    for key, column in (("virtualmachineid", Volume.instance_id), ("zoneid", Volume.zone_id),
                        ("podid", Volume.pod_id), ("storageid", Volume.pool_id),
                        ("diskofferingid", Volume.disk_offering_id)):
        if p.get(key) is not None:
            query = query.where(column == p.get(key).id)
    if p.clusterid is not None:
        query = query.where(Volume.pool_id.in_(select(StoragePool.id).where(
            StoragePool.cluster_id == p.clusterid.id)))
    if p.hostid is not None:
        on_host = select(VMInstance.id).where(VMInstance.host_id == p.hostid.id)
        query = query.where(Volume.instance_id.in_(on_host))
    if p.isencrypted:
        query = query.where(Volume.id.is_(None))  # no encrypted volumes on this server
    if p.displayvolume is not None and ctx.caller.is_root_admin:
        query = query.where(Volume.display_volume.is_(p.displayvolume))
    elif not ctx.caller.is_admin:
        query = query.where(Volume.display_volume.is_(True))
    query = tag_filter(ctx, query, Volume, "Volume", p.tags)
    result = page(ctx, p, query, keyword_columns=(Volume.name,), order_by=Volume.id)
    result.items = views(ctx, result.items)
    return result
