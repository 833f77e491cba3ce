"""Volume snapshots (taken on primary storage, backed up to secondary) and their recurring policies.
VM snapshots live in vm_snapshots.py.

Taking a snapshot is two agent steps through the hypervisor driver — TakeSnapshotCommand on the host that
reaches the volume, then CopyCommand to secondary storage — so simulator faults can fail either; a
failed snapshot is marked Error and removed, and its counts are given back.
"""

from __future__ import annotations

import re
import zoneinfo

from sqlalchemy import select

from ..compute.models import VMInstance
from ..compute.peers import release_limits, reserve_limits, tag_filter, tags_for
from ..compute.vm_views import owners, rows_by_id
from ..core.db import now
from ..core.errors import InvalidParameter
from ..core.listing import check_owner, owner_filter, paged, paged_list
from ..core.params import BOOLEAN, INTEGER, LIST, MAP, STRING, UUID, Param
from ..core.registry import command
from ..core.responses import describe
from ..iam.models import Domain
from ..infra.models import DataCenter, Host
from ..usage.models import record_usage
from . import volume_service as volumes
from .models import Snapshot, SnapshotPolicy, StoragePool, Volume

INTERVALS = ("HOURLY", "DAILY", "WEEKLY", "MONTHLY")
# The schedule each interval takes (upstream DateUtil): minute; minute:hour; minute:hour:day-of-week;
# minute:hour:day-of-month.
SCHEDULES = {
    "HOURLY": re.compile(r"([0-5]?\d)\Z"),
    "DAILY": re.compile(r"([0-5]?\d):([01]?\d|2[0-3])\Z"),
    "WEEKLY": re.compile(r"([0-5]?\d):([01]?\d|2[0-3]):([1-7])\Z"),
    "MONTHLY": re.compile(r"([0-5]?\d):([01]?\d|2[0-3]):([1-9]|1\d|2[0-8])\Z"),
}
SNAPSHOT_EVENT = dict(resource_type="Snapshot")
TAKEN = ("BackedUp", "CreatedOnPrimary")  # the states of a snapshot that exists (SNAPSHOT.CREATE billed)


def snapshot_event(ctx, kind: str, snapshot: Snapshot, text: str, level: str = "INFO") -> None:
    ctx.event(kind, text, level=level, resource_id=snapshot.uuid, account_id=snapshot.account_id,
              domain_id=snapshot.domain_id, **SNAPSHOT_EVENT)


def volume_host(ctx, volume: Volume) -> Host:
    """Where a storage command on this volume runs: its running VM's host, else a host reaching its pool."""
    vm = ctx.db.get(VMInstance, volume.instance_id) if volume.instance_id else None
    if vm is not None and vm.host_id is not None:
        return ctx.db.get(Host, vm.host_id)
    return volumes.host_for_pool(ctx, ctx.db.get(StoragePool, volume.pool_id))


# ---- snapshots ----------------------------------------------------------------------------------

def check_snapshottable(ctx, volume: Volume) -> None:
    if volume.state != "Ready" or volume.pool_id is None:
        raise InvalidParameter(f"VolumeId: {volume.uuid} is not in Ready state but {volume.state}. Cannot "
                               "take snapshot.")
    vm = ctx.db.get(VMInstance, volume.instance_id) if volume.instance_id else None
    if vm is not None and vm.state not in ("Running", "Stopped"):
        raise InvalidParameter(f"VM {vm.uuid} the volume is attached to is {vm.state}; it must be Running or "
                               "Stopped to take a snapshot")


def create_row(ctx, p) -> Snapshot:
    location = (p.locationtype or "").upper() or None
    if location not in (None, "PRIMARY", "SECONDARY"):
        raise InvalidParameter(f"Invalid location type {p.locationtype}; use PRIMARY or SECONDARY")
    return new_snapshot(ctx, p.volumeid, p.policyid, name=p.name, location=location)


def new_snapshot(ctx, volume: Volume, policy: SnapshotPolicy | None, *, name: str | None = None,
                 location: str | None = None, created=None) -> Snapshot:
    """The row of a snapshot about to be taken, counted against the owner (a policy's snapshots are of its
    interval); `created`: the scheduler's clock."""
    check_snapshottable(ctx, volume)
    vm = ctx.db.get(VMInstance, volume.instance_id) if volume.instance_id else None
    interval = INTERVALS[policy.interval] if policy is not None else None
    stamp = (created or now()).strftime("%Y%m%d%H%M%S")
    snapshot = Snapshot(name=name or f"{vm.name if vm else 'detached'}_{volume.name}_{stamp}",
                        account_id=volume.account_id, domain_id=volume.domain_id,
                        zone_id=volume.zone_id, volume_id=volume.id, volume_type=volume.volume_type,
                        snapshot_type=interval or "MANUAL", interval_type=interval, size=volume.size,
                        physical_size=volume.size, hypervisor_type=vm.hypervisor_type if vm else None,
                        state="Allocated", location_type=location, created=created or now())
    # Counted before the row exists: the limits module recounts the tables when it first meets an account.
    reserve_limits(ctx, snapshot.account_id, [("snapshot", 1), ("secondary_storage", snapshot.size)])
    ctx.db.add(snapshot)
    ctx.db.flush()
    return snapshot


async def take(ctx, snapshot: Snapshot) -> Snapshot:
    volume = ctx.db.get(Volume, snapshot.volume_id)
    try:
        host = volume_host(ctx, volume)
        snapshot.state = "Creating"
        await volumes.agent(ctx, host, "TakeSnapshotCommand", volume=volume.uuid, snapshot=snapshot.uuid)
        ctx.db.refresh(snapshot)
        snapshot.state = "CreatedOnPrimary"
        if snapshot.location_type != "PRIMARY":
            snapshot.state = "BackingUp"
            await volumes.agent(ctx, host, "CopyCommand", snapshot=snapshot.uuid, destination="secondary")
            ctx.db.refresh(snapshot)
            snapshot.state = "BackedUp"
    except Exception:
        fail(ctx, snapshot)
        raise
    snapshot_event(ctx, "SNAPSHOT.CREATE", snapshot, f"Snapshot {snapshot.name} of volume {volume.name} "
                                                     "taken")
    record_usage(ctx, "SNAPSHOT.CREATE", account_id=snapshot.account_id, domain_id=snapshot.domain_id,
                 zone_id=snapshot.zone_id, resource=snapshot, resource_type="Snapshot", size=snapshot.size)
    if snapshot.snapshot_type != "MANUAL":
        keep_at_most(ctx, snapshot)
    return snapshot


def keep_at_most(ctx, snapshot: Snapshot) -> list[Snapshot]:
    """A policy keeps at most `maxsnaps` snapshots of its interval per volume: the oldest go (upstream
    deletes them once the new one is taken). Answers those deleted."""
    policy = ctx.db.scalars(select(SnapshotPolicy).where(
        SnapshotPolicy.volume_id == snapshot.volume_id, SnapshotPolicy.removed.is_(None),
        SnapshotPolicy.interval == INTERVALS.index(snapshot.snapshot_type))).first()
    if policy is None:
        return []
    kept = ctx.db.scalars(select(Snapshot).where(
        Snapshot.volume_id == snapshot.volume_id, Snapshot.snapshot_type == snapshot.snapshot_type,
        Snapshot.removed.is_(None), Snapshot.state.in_(TAKEN)).order_by(Snapshot.created.desc(),
                                                                          Snapshot.id.desc())).all()
    for old in kept[policy.max_snaps:]:
        remove(ctx, old, f"Snapshot {old.name} deleted: policy {policy.uuid} keeps {policy.max_snaps} "
                         f"{snapshot.snapshot_type} snapshots of the volume")
    return kept[policy.max_snaps:]


def remove(ctx, snapshot: Snapshot, text: str | None = None) -> None:
    """Deleted: Destroyed, no longer counted against the owner; SNAPSHOT.DELETE is billed for one whose
    SNAPSHOT.CREATE was (a taken one)."""
    billed = snapshot.state in TAKEN
    snapshot.state, snapshot.removed = "Destroyed", now()
    uncount(ctx, snapshot)
    snapshot_event(ctx, "SNAPSHOT.DELETE", snapshot, text or f"Snapshot {snapshot.name} deleted")
    if billed:
        record_usage(ctx, "SNAPSHOT.DELETE", account_id=snapshot.account_id, domain_id=snapshot.domain_id,
                     zone_id=snapshot.zone_id, resource=snapshot, resource_type="Snapshot")


def fail(ctx, snapshot: Snapshot) -> None:
    ctx.db.rollback()
    ctx.db.refresh(snapshot)
    snapshot.state, snapshot.removed = "Error", now()
    uncount(ctx, snapshot)
    snapshot_event(ctx, "SNAPSHOT.CREATE", snapshot, f"Snapshot {snapshot.name} failed", level="ERROR")
    ctx.commit()


def uncount(ctx, snapshot: Snapshot) -> None:
    release_limits(ctx, snapshot.account_id, [("snapshot", 1), ("secondary_storage", snapshot.size)])


def snapshot_views(ctx, rows: list[Snapshot]) -> list[dict]:
    _, owner = owners(ctx, rows)
    zones = rows_by_id(ctx, DataCenter.id, DataCenter.uuid, DataCenter.name, ids={s.zone_id for s in rows})
    vols = rows_by_id(ctx, Volume.id, Volume.uuid, Volume.name, Volume.volume_type, Volume.state,
                      ids={s.volume_id for s in rows})
    tags = tags_for(ctx, "Snapshot", [s.id for s in rows])
    answer = []
    for s in rows:
        zone, volume = zones.get(s.zone_id), vols.get(s.volume_id)
        answer.append({
            "id": s.uuid, "name": s.name, "volumeid": volume.uuid if volume else None,
            "volumename": volume.name if volume else None, "volumetype": s.volume_type,
            "volumestate": volume.state if volume else None, "snapshottype": s.snapshot_type,
            "intervaltype": s.interval_type, "state": s.state, "created": s.created, **owner(s),
            "zoneid": zone.uuid if zone else None, "zonename": zone.name if zone else None,
            "physicalsize": s.physical_size, "virtualsize": s.size, "locationtype": s.location_type,
            "hypervisor": s.hypervisor_type, "revertable": s.state == "BackedUp", "tags": tags.get(s.id, []),
        })
    return answer


@command("createSnapshot", isasync=True, create=create_row, response="snapshot", instance_type="Snapshot",
         params=[
    Param("volumeid", UUID, entity=Volume, required=True, description="The ID of the disk volume"),
    Param("policyid", UUID, entity=SnapshotPolicy, description="policy id of the snapshot, if this is null, "
                                                               "then use MANUAL_POLICY."),
    Param("name", STRING, description="the name of the snapshot"),
    Param("quiescevm", BOOLEAN, description="quiesce vm if true"),
    Param("locationtype", STRING, since="4.12.0", description="Currently applicable only for managed "
                                                              "storage. Valid location types: 'primary', "
                                                              "'secondary'. Default = 'primary'."),
    Param("asyncbackup", BOOLEAN, description="asynchronous backup if true"),
    Param("tags", MAP, since="4.16", description="Map of tags (key/value pairs)"),
    Param("zoneids", LIST, of=UUID, entity=DataCenter, since="4.19.0", description="A comma-separated list "
                                                                                   "of IDs of the zones in "
                                                                                   "which the snapshot will "
                                                                                   "be made available."),
    Param("account", STRING, description="The account of the snapshot. The account parameter must be used "
                                         "with the domainId parameter."),
    Param("domainid", UUID, entity=Domain, description="The domain ID of the snapshot."),
])
async def create_snapshot(ctx, p):
    """Creates an instant snapshot of a volume."""
    snapshot = await take(ctx, ctx.created)
    return snapshot_views(ctx, [snapshot])[0]


@command("deleteSnapshot", isasync=True, instance_type="Snapshot", params=[
    Param("id", UUID, entity=Snapshot, required=True, description="The ID of the snapshot"),
    Param("zoneid", UUID, entity=DataCenter, since="4.19.0", description="The ID of the zone for the "
                                                                         "snapshot"),
])
def delete_snapshot(ctx, p):
    """Deletes a snapshot of a disk volume."""
    snapshot = p.id
    if snapshot.state not in ("BackedUp", "CreatedOnPrimary", "Error"):
        raise InvalidParameter(f"Can't delete snapshot {snapshot.uuid} with state {snapshot.state}")
    remove(ctx, snapshot)
    return {"success": True}


@command("revertSnapshot", isasync=True, response="snapshot", instance_type="Snapshot", params=[
    Param("id", UUID, entity=Snapshot, required=True, description="The ID of the snapshot"),
])
async def revert_snapshot(ctx, p):
    """This is supposed to revert a volume snapshot. This command is only supported with KVM so far"""
    snapshot = p.id
    volume = ctx.db.get(Volume, snapshot.volume_id)
    usable = volume is not None and volume.removed is None and volume.state == "Ready"
    if snapshot.state != "BackedUp" or not usable:
        raise InvalidParameter(f"Snapshot {snapshot.uuid} can't be reverted: it must be BackedUp and its "
                               "volume Ready")
    vm = ctx.db.get(VMInstance, volume.instance_id) if volume.instance_id else None
    if vm is not None and vm.state != "Stopped":
        raise InvalidParameter(f"The VM the specified disk is attached to is not in the shutdown state; VM "
                               f"{vm.uuid} is {vm.state}")
    await volumes.agent(ctx, volume_host(ctx, volume), "RevertSnapshotCommand", snapshot=snapshot.uuid,
                        volume=volume.uuid)
    ctx.db.refresh(snapshot)
    snapshot_event(ctx, "SNAPSHOT.REVERT", snapshot, f"Volume {volume.name} reverted to snapshot "
                                                     f"{snapshot.name}")
    return snapshot_views(ctx, [snapshot])[0]


@command("listSnapshots", response="snapshot", listing="owned", params=[
    Param("id", UUID, entity=Snapshot, check_access=False, description="lists snapshot by snapshot ID"),
    Param("ids", LIST, of=UUID, entity=Snapshot, check_access=False, since="4.9", description="the IDs of "
                                                                                              "the "
                                                                                              "snapshots, "
                                                                                              "mutually "
                                                                                              "exclusive "
                                                                                              "with id"),
    Param("name", STRING, description="lists snapshot by snapshot name"),
    Param("volumeid", UUID, entity=Volume, description="the ID of the disk volume"),
    Param("zoneid", UUID, entity=DataCenter, description="list snapshots by zone id"),
    Param("snapshottype", STRING, description="valid values are MANUAL or RECURRING."),
    Param("intervaltype", STRING, description="valid values are HOURLY, DAILY, WEEKLY, and MONTHLY."),
    Param("locationtype", STRING, description="list snapshots by location type"),
    Param("tags", MAP, description="List resources by tags (key/value pairs)"),
    Param("projectid", UUID, description="list objects by project"),
])
def list_snapshots(ctx, p):
    """Lists all available snapshots for the account."""
    query = owner_filter(ctx, p, select(Snapshot).where(Snapshot.removed.is_(None)), Snapshot)
    if p.id is not None:
        query = query.where(Snapshot.id == p.id.id)
    if p.ids:
        query = query.where(Snapshot.id.in_([s.id for s in p.ids]))
    if p.name:
        query = query.where(Snapshot.name == p.name)
    for key, column in (("volumeid", Snapshot.volume_id), ("zoneid", Snapshot.zone_id)):
        if p.get(key) is not None:
            query = query.where(column == p.get(key).id)
    if p.snapshottype:
        kind = p.snapshottype.upper()
        query = query.where(Snapshot.snapshot_type == "MANUAL" if kind == "MANUAL" else
                            Snapshot.snapshot_type != "MANUAL" if kind == "RECURRING" else
                            Snapshot.snapshot_type == kind)
    if p.intervaltype:
        query = query.where(Snapshot.interval_type == p.intervaltype.upper())
    if p.locationtype:
        query = query.where(Snapshot.location_type == p.locationtype.upper())
    query = tag_filter(ctx, query, Snapshot, "Snapshot", p.tags)
    result = paged(ctx, p, query, lambda s: s, keyword_columns=(Snapshot.name,), order_by=Snapshot.id)
    result.items = snapshot_views(ctx, result.items)
    return result


# ---- snapshot policies --------------------------------------------------------------------------

def check_schedule(interval: str, schedule: str) -> None:
    if not SCHEDULES[interval].match(schedule):
        raise InvalidParameter(f"Invalid schedule: {schedule} for interval type: {interval}")


def check_timezone(name: str) -> str:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidParameter(f"Invalid timezone {name}") from None
    return name


def policy_view(ctx, policy: SnapshotPolicy, volume_uuid: str, tags: list | None = None) -> dict:
    return {"id": policy.uuid, "volumeid": volume_uuid, "schedule": policy.schedule,
            "intervaltype": policy.interval, "maxsnaps": policy.max_snaps, "timezone": policy.timezone,
            "fordisplay": policy.display, "tags": tags or []}


@command("createSnapshotPolicy", response="snapshotpolicy", params=[
    Param("volumeid", UUID, entity=Volume, required=True, description="the ID of the disk volume"),
    Param("intervaltype", STRING, required=True, description="valid values are HOURLY, DAILY, WEEKLY, and "
                                                             "MONTHLY"),
    Param("schedule", STRING, required=True, description="time the snapshot is scheduled to be taken. Format "
                                                         "is: * if HOURLY, MM * if DAILY, MM:HH * if WEEKLY, "
                                                         "MM:HH:DD (1-7) * if MONTHLY, MM:HH:DD (1-28)"),
    Param("timezone", STRING, required=True, description="Specifies a timezone for this command."),
    Param("maxsnaps", INTEGER, required=True, description="maximum number of snapshots to retain"),
    Param("fordisplay", BOOLEAN, since="4.4", description="an optional field, whether to the display the "
                                                          "policy to the end user or not"),
    Param("tags", MAP, since="4.16", description="Map of tags (key/value pairs)"),
    Param("zoneids", LIST, of=UUID, entity=DataCenter, since="4.19.0", description="A list of IDs of the "
                                                                                   "zones in which the "
                                                                                   "snapshots will be made "
                                                                                   "available."),
])
def create_snapshot_policy(ctx, p):
    """Creates a snapshot policy for the account."""
    volume = p.volumeid
    if volume.removed is not None or volume.state in ("Destroy", "Expunged"):
        raise InvalidParameter("Failed to create snapshot policy, unable to find a volume with id "
                               f"{volume.uuid}")
    interval = p.intervaltype.upper()
    if interval not in INTERVALS:
        raise InvalidParameter(f"Unsupported interval type {p.intervaltype}; valid values are "
                               f"{', '.join(INTERVALS)}")
    check_schedule(interval, p.schedule)
    timezone = check_timezone(p.timezone)
    max_snaps = p.maxsnaps
    limit = int(ctx.setting(f"snapshot.max.{interval.lower()}") or 8)
    if max_snaps <= 0:
        raise InvalidParameter("maxSnaps should be greater than 0")
    if max_snaps > limit:
        raise InvalidParameter(f"maxSnaps exceeds limit: {limit} for interval type: {interval}")
    policy = ctx.db.scalars(select(SnapshotPolicy).where(SnapshotPolicy.volume_id == volume.id,
                                                         SnapshotPolicy.interval == INTERVALS.index(interval),
                                                         SnapshotPolicy.removed.is_(None))).first()
    if policy is None:
        policy = SnapshotPolicy(volume_id=volume.id, interval=INTERVALS.index(interval))
        ctx.db.add(policy)
    elif (policy.schedule, policy.timezone) != (p.schedule, timezone):
        policy.created = now()  # a new schedule counts from now, as upstream schedules its next run
    policy.schedule, policy.timezone, policy.max_snaps = p.schedule, timezone, max_snaps
    policy.display = p.fordisplay is not False
    ctx.db.flush()
    ctx.event("SNAPSHOTPOLICY.CREATE", f"Snapshot policy {interval} on volume {volume.name}",
              resource_type="SnapshotPolicy", resource_id=policy.uuid, account_id=volume.account_id,
              domain_id=volume.domain_id)
    return policy_view(ctx, policy, volume.uuid)


@command("deleteSnapshotPolicies", params=[
    Param("id", UUID, entity=SnapshotPolicy, description="the Id of the snapshot policy"),
    Param("ids", LIST, of=UUID, entity=SnapshotPolicy, description="list of snapshots policy IDs separated "
                                                                   "by comma"),
])
def delete_snapshot_policies(ctx, p):
    """Deletes snapshot policies for the account."""
    policies = ([p.id] if p.id is not None else []) + list(p.ids or [])
    if not policies:
        raise InvalidParameter("No policy id (or ids) specified")
    for policy in policies:
        volume = ctx.db.get(Volume, policy.volume_id)
        check_owner(ctx, volume.account_id, volume.domain_id)
        policy.removed = now()
        ctx.event("SNAPSHOTPOLICY.DELETE", f"Snapshot policy {policy.uuid} deleted",
                  resource_type="SnapshotPolicy",
                  resource_id=policy.uuid, account_id=volume.account_id, domain_id=volume.domain_id)
    return {"success": True}


@command("listSnapshotPolicies", response="snapshotpolicy", listing="list", params=[
    Param("volumeid", UUID, entity=Volume, description="the ID of the disk volume"),
    Param("id", UUID, entity=SnapshotPolicy, description="the ID of the snapshot policy"),
    Param("fordisplay", BOOLEAN, since="4.4", description="list resources by display flag; only ROOT admin "
                                                          "is eligible to pass this parameter"),
])
def list_snapshot_policies(ctx, p):
    """Lists snapshot policies."""
    query = (select(SnapshotPolicy, Volume.uuid).join(Volume, Volume.id == SnapshotPolicy.volume_id)
             .where(SnapshotPolicy.removed.is_(None)))
    if p.volumeid is not None:
        query = query.where(SnapshotPolicy.volume_id == p.volumeid.id)
    if p.id is not None:
        query = query.where(SnapshotPolicy.id == p.id.id)
    if not (ctx.caller.is_root_admin or ctx.caller.is_system):
        query = query.where(Volume.account_id == ctx.caller.account_id)
    rows = ctx.db.execute(query.order_by(SnapshotPolicy.id)).all()
    return paged_list(ctx, p, [policy_view(ctx, policy, uuid) for policy, uuid in rows])


describe("snapshot", {
    "id": "ID of the snapshot",
    "name": "name of the snapshot",
    "volumeid": "ID of the disk volume",
    "volumename": "name of the disk volume",
    "volumetype": "type of the disk volume",
    "volumestate": "state of the disk volume",
    "snapshottype": "the type of the snapshot",
    "intervaltype": "valid types are hourly, daily, weekly, monthy, template, and none.",
    "state": "the state of the snapshot. BackedUp means that snapshot is ready to be used; Creating - the "
             "snapshot is being allocated on the primary storage; BackingUp - the snapshot is being backed "
             "up on secondary storage",
    "created": "the date the snapshot was created",
    "account": "the account associated with the snapshot",
    "domainid": "the domain ID of the snapshot's account",
    "domain": "the domain name of the snapshot's account",
    "zoneid": "id of the availability zone",
    "zonename": "name of the availability zone",
    "physicalsize": "physical size of backedup snapshot on image store",
    "virtualsize": "virtual size of backedup snapshot on image store",
    "locationtype": "valid location types are primary and secondary.",
    "revertable": "indicates whether the underlying storage supports reverting the volume to this snapshot",
    "tags": "the list of resource tags associated with snapshot",
})
describe("snapshotpolicy", {
    "id": "the ID of the snapshot policy",
    "volumeid": "the ID of the disk volume",
    "schedule": "time the snapshot is scheduled to be taken.",
    "intervaltype": "the interval type of the snapshot policy",
    "maxsnaps": "maximum number of snapshots retained",
    "timezone": "the time zone of the snapshot policy",
    "fordisplay": "is this policy for display to the regular user",
    "tags": "the list of resource tags associated",
})
