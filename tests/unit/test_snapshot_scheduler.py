"""Recurring snapshots: when policies are due (in their timezone), what a pass takes, and retention —
on an in-process ManagementServer whose clock the test sets (no waiting for an hour)."""

import asyncio
import datetime as dt

import pytest
from sandstack.core.server import ManagementServer
from sandstack.infra.models import Cluster, DataCenter, Host, HostPod
from sandstack.storage import snapshot_scheduler as scheduler
from sandstack.storage.models import Snapshot, SnapshotPolicy, StoragePool, Volume
from sandstack.usage.models import UsageEvent
from sqlalchemy import select

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


@pytest.mark.parametrize("interval, schedule, timezone, now, expected", [
    ("HOURLY", "30", "UTC", "2026-03-10 09:31", "2026-03-10 09:30"),
    ("HOURLY", "30", "UTC", "2026-03-10 09:29", "2026-03-10 08:30"),
    ("HOURLY", "0", "Asia/Kolkata", "2026-03-10 09:10", "2026-03-10 08:30"),  # UTC+5:30
    ("DAILY", "15:02", "UTC", "2026-03-10 02:15", "2026-03-10 02:15"),
    ("DAILY", "15:02", "UTC", "2026-03-10 02:14", "2026-03-09 02:15"),
    ("DAILY", "00:09", "America/New_York", "2026-03-10 14:00", "2026-03-10 13:00"),  # EDT: 09:00 = 13:00 UTC
    ("DAILY", "00:09", "America/New_York", "2026-03-10 12:00", "2026-03-09 13:00"),
    # Across the change to summer time (2026-03-08): 09:00 EST of the 7th is 14:00 UTC.
    ("DAILY", "00:09", "America/New_York", "2026-03-08 12:00", "2026-03-07 14:00"),
    # 2026-03-10 is a Tuesday: 3 in Java's numbering (1 = Sunday).
    ("WEEKLY", "00:06:3", "UTC", "2026-03-10 07:00", "2026-03-10 06:00"),
    ("WEEKLY", "00:06:3", "UTC", "2026-03-10 05:00", "2026-03-03 06:00"),
    ("WEEKLY", "30:23:1", "UTC", "2026-03-10 05:00", "2026-03-08 23:30"),
    ("MONTHLY", "00:00:15", "UTC", "2026-03-10 05:00", "2026-02-15 00:00"),
    ("MONTHLY", "00:00:5", "UTC", "2026-03-10 05:00", "2026-03-05 00:00"),
    ("MONTHLY", "00:00:28", "UTC", "2026-01-10 05:00", "2025-12-28 00:00"),
])
def test_last_run_follows_upstreams_schedule_formats(interval, schedule, timezone, now, expected):
    assert scheduler.last_run(interval, schedule, timezone, at(now)) == at(expected)


# ---- a pass on a server with one Ready volume ----------------------------------------------------

@pytest.fixture
def server(tmp_path):
    running = ManagementServer(f"sqlite:///{tmp_path / 'snapshots.db'}")
    running.prepare()
    running.now = None
    running.clock = lambda: running.now.replace(tzinfo=UTC).timestamp()
    yield running
    running.engine.dispose()


@pytest.fixture
def volume_id(server) -> int:
    """A Ready ROOT-less data volume of the admin account on a pool an Up simulator host reaches."""
    with server.session() as db:
        zone = DataCenter(name="z", networktype="Advanced", zone_token="t")
        db.add(zone)
        db.flush()
        pod = HostPod(zone_id=zone.id, name="p", gateway="10.0.0.1", cidr_address="10.0.0.0", cidr_size=24)
        db.add(pod)
        db.flush()
        cluster = Cluster(name="c", zone_id=zone.id, pod_id=pod.id, hypervisor_type="Simulator")
        db.add(cluster)
        db.flush()
        db.add(Host(name="h", status="Up", zone_id=zone.id, pod_id=pod.id, cluster_id=cluster.id,
                    hypervisor_type="Simulator"))
        pool = StoragePool(name="ps", pool_type="NetworkFilesystem", url="nfs://x/y", zone_id=zone.id,
                           pod_id=pod.id, cluster_id=cluster.id, capacity_bytes=10**12)
        db.add(pool)
        db.flush()
        volume = Volume(name="DATA-1", account_id=2, domain_id=1, zone_id=zone.id, pool_id=pool.id,
                        volume_type="DATADISK", size=10**9, state="Ready")
        db.add(volume)
        db.commit()
        return volume.id


def add_policy(server, volume_id: int, interval: int, schedule: str, max_snaps: int, created: str,
               timezone: str = "UTC") -> None:
    with server.session() as db:
        db.add(SnapshotPolicy(volume_id=volume_id, schedule=schedule, timezone=timezone, interval=interval,
                              max_snaps=max_snaps, created=at(created)))
        db.commit()


def run_pass(server, now: str) -> list[str]:
    server.now = at(now)

    async def one_pass():
        started = scheduler.take_due_snapshots(server)
        await server.jobs.drain()
        return started

    return asyncio.run(one_pass())


def snapshots_of(server, volume_id: int) -> list[tuple]:
    with server.session() as db:
        return [(s.snapshot_type, s.interval_type, s.state, s.removed is not None, s.created)
                for s in db.scalars(select(Snapshot).where(Snapshot.volume_id == volume_id)
                                    .order_by(Snapshot.id))]


def test_an_hourly_policy_takes_one_snapshot_per_occurrence_and_keeps_maxsnaps(server, volume_id):
    add_policy(server, volume_id, 0, "30", max_snaps=2, created="2026-03-10 09:00")
    assert run_pass(server, "2026-03-10 09:10") == []  # 08:30 was before the policy existed
    assert len(run_pass(server, "2026-03-10 09:31")) == 1
    assert run_pass(server, "2026-03-10 09:59") == []  # 09:30's snapshot is taken already
    assert snapshots_of(server, volume_id) == [
        ("HOURLY", "HOURLY", "BackedUp", False, at("2026-03-10 09:31"))]
    assert len(run_pass(server, "2026-03-10 10:45")) == 1
    assert len(run_pass(server, "2026-03-10 13:30")) == 1  # one for the latest occurrence, not three
    found = snapshots_of(server, volume_id)
    assert [(state, removed) for _, _, state, removed, _ in found] == [
        ("Destroyed", True), ("BackedUp", False), ("BackedUp", False)]  # maxsnaps 2: the oldest went
    with server.session() as db:
        usage = [u.type for u in db.scalars(select(UsageEvent).where(UsageEvent.resource_type == "Snapshot")
                                            .order_by(UsageEvent.id))]
    assert usage == ["SNAPSHOT.CREATE", "SNAPSHOT.CREATE", "SNAPSHOT.CREATE", "SNAPSHOT.DELETE"]


def test_daily_policy_in_its_timezone_and_a_manual_snapshot_does_not_count(server, volume_id):
    add_policy(server, volume_id, 1, "00:09", max_snaps=5, created="2026-03-01 00:00",
               timezone="Asia/Kolkata")
    with server.session() as db:  # a manual snapshot after the occurrence does not stand for it
        db.add(Snapshot(name="m", account_id=2, domain_id=1, zone_id=1, volume_id=volume_id,
                        volume_type="DATADISK", state="BackedUp", created=at("2026-03-10 04:00")))
        db.commit()
    assert run_pass(server, "2026-03-10 03:29") != []  # 09:00 IST of the 9th (03:30 UTC) is due
    assert run_pass(server, "2026-03-10 03:31") != []  # 09:00 IST of the 10th
    assert run_pass(server, "2026-03-10 20:00") == []
    daily = [row for row in snapshots_of(server, volume_id) if row[0] == "DAILY"]
    assert [(row[2], row[4]) for row in daily] == [("BackedUp", at("2026-03-10 03:29")),
                                                   ("BackedUp", at("2026-03-10 03:31"))]


def test_a_failed_attempt_is_not_retried_before_the_next_occurrence(server, volume_id):
    add_policy(server, volume_id, 0, "00", max_snaps=3, created="2026-03-10 00:00")
    with server.session() as db:
        db.get(Volume, volume_id).state = "Ready"
        db.get(StoragePool, db.get(Volume, volume_id).pool_id).status = "Up"
        db.execute(Host.__table__.update().values(status="Down"))  # no host can take the snapshot
        db.commit()
    assert len(run_pass(server, "2026-03-10 10:05")) == 1  # attempted; the job fails
    assert [(row[2], row[3]) for row in snapshots_of(server, volume_id)] == [("Error", True)]
    assert run_pass(server, "2026-03-10 10:20") == []
    with server.session() as db:
        db.execute(Host.__table__.update().values(status="Up"))
        db.commit()
    assert len(run_pass(server, "2026-03-10 11:01")) == 1
    assert snapshots_of(server, volume_id)[-1][2] == "BackedUp"


def test_the_background_pass_runs_on_the_leader_only(server, volume_id):
    add_policy(server, volume_id, 0, "00", max_snaps=3, created="2026-03-10 00:00")
    server.now = at("2026-03-10 10:05")

    async def passes():
        follower = await scheduler.snapshot_pass(server, leader=False)
        leader = await scheduler.snapshot_pass(server, leader=True)
        await server.jobs.drain()
        return follower, leader

    assert asyncio.run(passes()) == (0, 1)
