"""Recurring snapshots: the lead management server takes the snapshots that snapshot policies schedule.

A policy's `schedule` is upstream's, in the policy's timezone: "MM" (HOURLY), "MM:HH" (DAILY), "MM:HH:D"
(WEEKLY; D is the day of the week, 1 = Sunday as in Java's Calendar) and "MM:HH:DD" (MONTHLY; day of the
month, 1-28). Every SNAPSHOT_SECONDS the leader finds, for each live policy of a Ready volume, the latest
scheduled time not after now (the server's clock: `server.clock`). When the policy existed at that time
and no snapshot of the volume with that interval was attempted since, it writes the snapshot row and an
async createSnapshot job (the SYSTEM user's, owned by the volume's account, so the owner sees it in
listAsyncJobs) and runs it as a manual createSnapshot with `policyid` runs: the snapshot's type and
interval are the policy's, and once it is taken the policy keeps at most `maxsnaps` of them (the oldest
are deleted). A failed attempt (an agent error, a limit, a volume that can't be snapshotted now) counts
as the attempt of its occurrence: nothing is retried before the next one.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import logging
import zoneinfo

from sqlalchemy import func, select

from ..core import auth
from ..core.context import Context
from ..core.errors import ApiError
from ..core.jobs import AsyncJob, Handover
from . import snapshots
from .models import Snapshot, SnapshotPolicy, Volume

log = logging.getLogger("sandstack.snapshots")
SNAPSHOT_SECONDS = 30
HOUR, DAY, WEEK = dt.timedelta(hours=1), dt.timedelta(days=1), dt.timedelta(days=7)


# ---- when -------------------------------------------------------------------------------------------

def clock_now(server) -> dt.datetime:
    """The server's clock as the naive UTC timestamps rows hold."""
    return dt.datetime.fromtimestamp(server.clock(), dt.UTC).replace(tzinfo=None)


def last_run(interval: str, schedule: str, timezone: str, now: dt.datetime) -> dt.datetime:
    """The latest time at or before `now` (naive UTC) that the schedule names, as naive UTC."""
    local = now.replace(tzinfo=dt.UTC).astimezone(zoneinfo.ZoneInfo(timezone))
    parts = [int(part) for part in schedule.split(":")]
    minute, hour, day = parts[0], parts[1] if len(parts) > 1 else 0, parts[2] if len(parts) > 2 else 1
    at = local.replace(minute=minute, second=0, microsecond=0)
    if interval == "HOURLY":
        at -= HOUR if at > local else dt.timedelta(0)
    elif interval == "DAILY":
        at = at.replace(hour=hour)
        at -= DAY if at > local else dt.timedelta(0)
    elif interval == "WEEKLY":
        at = at.replace(hour=hour) - dt.timedelta(days=(java_weekday(local) - day) % 7)
        at -= WEEK if at > local else dt.timedelta(0)
    else:
        at = at.replace(hour=hour, day=day)
        if at > local:
            at = previous_month(at)
    return at.astimezone(dt.UTC).replace(tzinfo=None)


def java_weekday(moment: dt.datetime) -> int:
    """1 = Sunday ... 7 = Saturday (Python's weekday() is 0 = Monday)."""
    return (moment.weekday() + 1) % 7 + 1


def previous_month(moment: dt.datetime) -> dt.datetime:
    year, month = (moment.year, moment.month - 1) if moment.month > 1 else (moment.year - 1, 12)
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


# ---- what is due ------------------------------------------------------------------------------------

def due(ctx, now: dt.datetime) -> list[tuple[SnapshotPolicy, Volume]]:
    """(policy, volume) of every policy whose latest occurrence has had no snapshot attempt yet."""
    rows = ctx.db.execute(select(SnapshotPolicy, Volume).join(Volume, Volume.id == SnapshotPolicy.volume_id)
                          .where(SnapshotPolicy.removed.is_(None), SnapshotPolicy.active.is_(True),
                                 Volume.removed.is_(None), Volume.state == "Ready")
                          .order_by(SnapshotPolicy.id)).all()
    if not rows:
        return []
    # Every attempt counts, the failed and deleted ones too (they are removed rows).
    attempted = {(volume_id, interval): latest for volume_id, interval, latest in ctx.db.execute(
        select(Snapshot.volume_id, Snapshot.interval_type, func.max(Snapshot.created))
        .where(Snapshot.volume_id.in_({volume.id for _, volume in rows}), Snapshot.snapshot_type != "MANUAL")
        .group_by(Snapshot.volume_id, Snapshot.interval_type))}
    found = []
    for policy, volume in rows:
        interval = snapshots.INTERVALS[policy.interval]
        occurrence = last_run(interval, policy.schedule, policy.timezone, now)
        latest = attempted.get((volume.id, interval))
        if occurrence >= policy.created and (latest is None or latest < occurrence):
            found.append((policy, volume))
    return found


# ---- taking them ------------------------------------------------------------------------------------

async def snapshot_pass(server, leader: bool) -> int:
    """The background loop's call: on the leader, every SNAPSHOT_SECONDS, take what is due."""
    from ..compute.vm_sweeper import due as every

    if not leader or not every(server, "snapshots", SNAPSHOT_SECONDS):
        return 0
    return len(take_due_snapshots(server))


def take_due_snapshots(server) -> list[str]:
    """Start a createSnapshot job for every policy due now; answers the snapshots' uuids (the jobs run on
    this server's job runner: `await server.jobs.drain()` waits for them)."""
    now = clock_now(server)
    system = auth.by_user_id(server, auth.SYSTEM_USER_ID)
    ctx = Context(server, None, system, server.registry["createSnapshot"])
    started = []
    try:
        for policy, volume in due(ctx, now):
            uuid = start(ctx, policy, volume, now)
            if uuid is not None:
                started.append(uuid)
    finally:
        ctx.rollback()
        ctx.close()
    return started


def start(ctx, policy: SnapshotPolicy, volume: Volume, now: dt.datetime) -> str | None:
    """The snapshot row and its job, committed; the job is submitted to this server's runner."""
    try:
        snapshot = snapshots.new_snapshot(ctx, volume, policy, created=now)
    except ApiError as error:
        ctx.rollback()
        failed_attempt(ctx, policy, volume, now, error)
        ctx.commit()
        return None
    params = {"volumeid": volume.uuid, "policyid": policy.uuid, "_created": ["Snapshot", snapshot.id]}
    job = AsyncJob(user_id=auth.SYSTEM_USER_ID, account_id=volume.account_id, domain_id=volume.domain_id,
                   cmd="createSnapshot", params=json.dumps(params), instance_type="Snapshot",
                   instance_id=snapshot.uuid)
    ctx.db.add(job)
    ctx.commit()
    ctx.server.jobs.submit(job.id, Handover(job, snapshot, {(Volume, volume.uuid): volume,
                                                            (SnapshotPolicy, policy.uuid): policy}))
    return snapshot.uuid


def failed_attempt(ctx, policy: SnapshotPolicy, volume: Volume, now: dt.datetime, error: ApiError) -> None:
    """A removed Error row marks the occurrence as attempted (so it is not retried every pass) and an
    event says why."""
    interval = snapshots.INTERVALS[policy.interval]
    row = Snapshot(name=f"{volume.name}_{now:%Y%m%d%H%M%S}", account_id=volume.account_id,
                   domain_id=volume.domain_id, zone_id=volume.zone_id, volume_id=volume.id,
                   volume_type=volume.volume_type, snapshot_type=interval, interval_type=interval,
                   size=volume.size, physical_size=0, state="Error", created=now, removed=now)
    ctx.db.add(row)
    ctx.db.flush()
    snapshots.snapshot_event(ctx, "SNAPSHOT.CREATE", row, f"Scheduled {interval} snapshot of volume "
                             f"{volume.name} failed: {error.text}", level="ERROR")
    log.warning("scheduled snapshot of volume %s failed: %s", volume.uuid, error.text)
