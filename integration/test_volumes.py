"""Volumes, volume snapshots and their policies, VM snapshots: created, attached, resized, migrated,
extracted, uploaded and deleted through the API, with simulator faults failing the agent steps."""

from __future__ import annotations

import datetime

import pytest

from marvin.errors import CloudstackError, JobFailed

from .conftest import unique
from .test_vms import GIB, assert_capacity_consistent, build_vm_zone, deploy, gone, refused, vm_of


@pytest.fixture(scope="module")
def z(admin):
    zone = build_vm_zone(admin, hosts=2, public=("198.51.103.", 10, 60))
    second = admin("createStoragePool", zoneid=zone.zone["id"], podid=zone.pod["id"],
                   clusterid=zone.cluster["id"], name=unique("ps2"), tags="fast",
                   url=f"nfs://10.147.28.7:/export/{unique('primary')}")
    zone["second_pool"] = second
    return zone


@pytest.fixture(scope="module")
def db(server):
    from sqlalchemy import create_engine, text

    engine = create_engine(server.db_url)

    def query(sql: str, **params):
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    yield query
    engine.dispose()


def offering(admin, name: str) -> dict:
    return admin.list("listDiskOfferings", name=name)[0]


def fail_next(admin, z, command: str) -> dict:
    """The next `command` sent to a host of the zone fails (simulator fault injection)."""
    return admin("configureSimulator", name=command, value="result:fail", zoneid=z.zone["id"], count=1)


def create_volume(client, z, **params) -> dict:
    args = {"zoneid": z.zone["id"], "name": unique("vol"), **params}
    if "snapshotid" not in args and "diskofferingid" not in args:
        args["diskofferingid"] = offering(client, "Small")["id"]
    return client("createVolume", **args)


# ---- volumes ------------------------------------------------------------------------------------

def test_create_attach_detach_delete(admin, z, db):
    started = admin.request("createVolume", {"zoneid": z.zone["id"], "name": unique("vol"),
                                             "diskofferingid": offering(admin, "Small")["id"]})
    assert set(started) == {"id", "jobid"}
    volume = admin.wait(started["jobid"])["volume"]
    assert (volume["id"], volume["state"], volume["type"], volume["size"]) == (started["id"], "Allocated",
                                                                               "DATADISK", 5 * GIB)
    assert "virtualmachineid" not in volume and "storageid" not in volume
    vm = deploy(admin, z)
    attached = admin("attachVolume", id=volume["id"], virtualmachineid=vm["id"])
    assert (attached["state"], attached["virtualmachineid"], attached["deviceid"]) == ("Ready", vm["id"], 1)
    assert attached["storageid"] in {z.pool["id"], z.second_pool["id"]} and attached["vmstate"] == "Running"
    again = refused(admin, "attachVolume", id=volume["id"], virtualmachineid=vm["id"])
    assert again.errorcode == 431 and "not attached to any VM" in again.errortext
    in_use = refused(admin, "deleteVolume", id=volume["id"])
    assert in_use.errorcode == 431
    (root,) = [v for v in admin.list("listVolumes", virtualmachineid=vm["id"]) if v["type"] == "ROOT"]
    assert refused(admin, "detachVolume", id=root["id"]).errorcode == 431
    detached = admin("detachVolume", id=volume["id"])
    assert detached["state"] == "Ready" and "virtualmachineid" not in detached
    assert_capacity_consistent(db, z.zone["id"])
    assert admin("deleteVolume", id=volume["id"]) == {"success": True}
    assert gone(admin, "listVolumes", id=volume["id"])
    assert_capacity_consistent(db, z.zone["id"])
    types = {e["type"] for e in admin.list("listEvents", resourceid=volume["id"], pagesize=-1)}
    assert {"VOLUME.CREATE", "VOLUME.ATTACH", "VOLUME.DETACH", "VOLUME.DELETE"} <= types


def test_create_and_attach_in_one_call_and_detach_by_device(admin, z):
    vm = deploy(admin, z)
    volume = create_volume(admin, z, virtualmachineid=vm["id"])
    assert (volume["virtualmachineid"], volume["state"]) == (vm["id"], "Ready")
    detached = admin("detachVolume", virtualmachineid=vm["id"], deviceid=volume["deviceid"])
    assert detached["id"] == volume["id"]


def test_attach_rules(admin, account_factory, z):
    vm = deploy(admin, z)
    destroyed = deploy(admin, z)
    admin("destroyVirtualMachine", id=destroyed["id"])
    volume = create_volume(admin, z)
    to_destroyed = refused(admin, "attachVolume", id=volume["id"], virtualmachineid=destroyed["id"])
    assert to_destroyed.errorcode == 431 and "running or stopped" in to_destroyed.errortext
    taken = refused(admin, "attachVolume", id=volume["id"], virtualmachineid=vm["id"], deviceid=0)
    assert taken.errorcode == 431
    extra = [create_volume(admin, z) for _ in range(6)]
    for disk in extra:
        admin("attachVolume", id=disk["id"], virtualmachineid=vm["id"])
    devices = sorted(v["deviceid"] for v in admin.list("listVolumes", virtualmachineid=vm["id"]))
    assert devices == [0, 1, 2, 4, 5, 6, 7]  # 3 is the CD-ROM's
    full = refused(admin, "attachVolume", id=volume["id"], virtualmachineid=vm["id"])
    assert full.errorcode == 431 and "maximum number of data disks (6)" in full.errortext
    _, _, user = account_factory()
    theirs = deploy(user, z)
    foreign = refused(user, "attachVolume", id=volume["id"], virtualmachineid=theirs["id"])
    assert foreign.errorcode == 531


def test_attach_to_a_stopped_vm_and_start_with_it(admin, z, db):
    vm = deploy(admin, z, startvm=False)
    volume = create_volume(admin, z)
    attached = admin("attachVolume", id=volume["id"], virtualmachineid=vm["id"])
    assert attached["state"] == "Allocated" and attached["vmstate"] == "Stopped"  # created when the VM starts
    admin("startVirtualMachine", id=vm["id"])
    assert {v["state"] for v in admin.list("listVolumes", virtualmachineid=vm["id"])} == {"Ready"}
    assert_capacity_consistent(db, z.zone["id"])


def test_a_failing_create_leaves_the_volume_allocated(admin, z, db):
    vm = deploy(admin, z)
    volume = create_volume(admin, z)
    mock = fail_next(admin, z, "CreateCommand")
    with pytest.raises(JobFailed) as failed:
        admin("attachVolume", id=volume["id"], virtualmachineid=vm["id"])
    admin("cleanupSimulatorMock", id=mock["id"])
    assert "Simulated failure" in failed.value.errortext
    (listed,) = admin.list("listVolumes", id=volume["id"])
    assert listed["state"] == "Allocated" and "virtualmachineid" not in listed
    assert_capacity_consistent(db, z.zone["id"])
    mock = fail_next(admin, z, "AttachCommand")
    with pytest.raises(JobFailed):
        admin("attachVolume", id=volume["id"], virtualmachineid=vm["id"])
    admin("cleanupSimulatorMock", id=mock["id"])
    assert admin.list("listVolumes", id=volume["id"])[0]["state"] == "Allocated"
    assert_capacity_consistent(db, z.zone["id"])


def test_resize(admin, z, db):
    custom = offering(admin, "Custom")
    volume = create_volume(admin, z, diskofferingid=custom["id"], size=2)
    assert volume["size"] == 2 * GIB
    vm = deploy(admin, z)
    admin("attachVolume", id=volume["id"], virtualmachineid=vm["id"])
    grown = admin("resizeVolume", id=volume["id"], size=4)
    assert grown["size"] == 4 * GIB
    shrink = refused(admin, "resizeVolume", id=volume["id"], size=3)
    assert shrink.errorcode == 431 and "shrinkok" in shrink.errortext
    assert admin("resizeVolume", id=volume["id"], size=3, shrinkok=True)["size"] == 3 * GIB
    assert_capacity_consistent(db, z.zone["id"])
    fixed = create_volume(admin, z)
    not_custom = refused(admin, "resizeVolume", id=fixed["id"], size=10)
    assert not_custom.errorcode == 431
    medium = admin("resizeVolume", id=fixed["id"], diskofferingid=offering(admin, "Medium")["id"])
    assert (medium["size"], medium["diskofferingname"]) == (20 * GIB, "Medium")


def test_migrate_between_pools(admin, z, db):
    vm = deploy(admin, z)
    volume = create_volume(admin, z, virtualmachineid=vm["id"])
    target = z.second_pool if volume["storageid"] == z.pool["id"] else z.pool
    live = refused(admin, "migrateVolume", volumeid=volume["id"], storageid=target["id"])
    assert live.errorcode == 431 and "livemigrate" in live.errortext
    moved = admin("migrateVolume", volumeid=volume["id"], storageid=target["id"], livemigrate=True)
    assert moved["storageid"] == target["id"]
    assert_capacity_consistent(db, z.zone["id"])
    same = refused(admin, "migrateVolume", volumeid=volume["id"], storageid=target["id"], livemigrate=True)
    assert same.errorcode == 431
    admin("stopVirtualMachine", id=vm["id"])
    back = z.pool if target["id"] == z.second_pool["id"] else z.second_pool
    moved_vm = admin("migrateVirtualMachine", virtualmachineid=vm["id"], storageid=back["id"])
    pools = {v["storageid"] for v in admin.list("listVolumes", virtualmachineid=moved_vm["id"])}
    assert pools == {back["id"]}
    admin("startVirtualMachine", id=vm["id"])
    other = next(h for h in z.hosts if h["id"] != vm_of(admin, vm["id"])["hostid"])
    (root,) = [v for v in admin.list("listVolumes", virtualmachineid=vm["id"]) if v["type"] == "ROOT"]
    with_volume = admin("migrateVirtualMachineWithVolume", virtualmachineid=vm["id"], hostid=other["id"],
                        migrateto=[{"volume": root["id"], "pool": target["id"]}])
    assert with_volume["hostid"] == other["id"]
    assert admin.list("listVolumes", id=root["id"])[0]["storageid"] == target["id"]
    assert_capacity_consistent(db, z.zone["id"])


def test_destroy_recover_and_expunge(admin, z):
    volume = create_volume(admin, z)
    destroyed = admin("destroyVolume", id=volume["id"])
    assert destroyed["state"] == "Destroy" and destroyed["destroyed"] is True
    recovered = admin("recoverVolume", id=volume["id"])
    assert recovered["state"] == "Allocated"
    assert refused(admin, "recoverVolume", id=volume["id"]).errorcode == 431
    expunged = admin("destroyVolume", id=volume["id"], expunge=True)
    assert expunged["state"] == "Expunged"
    assert gone(admin, "listVolumes", id=volume["id"])


def test_vm_destroy_with_data_volumes(admin, z):
    vm = deploy(admin, z)
    kept = create_volume(admin, z, virtualmachineid=vm["id"])
    dropped = create_volume(admin, z, virtualmachineid=vm["id"])
    admin("destroyVirtualMachine", id=vm["id"], volumeids=[dropped["id"]], expunge=True)
    assert admin.list("listVolumes", id=kept["id"])[0]["state"] == "Ready"
    assert "virtualmachineid" not in admin.list("listVolumes", id=kept["id"])[0]
    assert gone(admin, "listVolumes", id=dropped["id"])


def test_extract_and_upload(admin, z):
    vm = deploy(admin, z)
    volume = create_volume(admin, z, virtualmachineid=vm["id"])
    running = refused(admin, "extractVolume", id=volume["id"], zoneid=z.zone["id"], mode="HTTP_DOWNLOAD")
    assert running.errorcode == 431 and "stopped state" in running.errortext
    admin("stopVirtualMachine", id=vm["id"])
    extracted = admin("extractVolume", id=volume["id"], zoneid=z.zone["id"], mode="HTTP_DOWNLOAD")
    assert extracted["id"] == volume["id"] and extracted["url"].startswith("http://")
    assert extracted["state"] == "DOWNLOAD_URL_CREATED" and extracted["extractMode"] == "HTTP_DOWNLOAD"
    uploaded = admin("uploadVolume", zoneid=z.zone["id"], name=unique("up"), format="VHD",
                     url="http://download.example.org/disks/data.vhd")
    assert (uploaded["state"], uploaded["type"], uploaded["format"]) == ("Uploaded", "DATADISK", "VHD")
    bad_format = refused(admin, "uploadVolume", zoneid=z.zone["id"], name=unique("up"), format="EXE",
                         url="http://download.example.org/disks/data.exe")
    assert bad_format.errorcode == 431
    vm2 = deploy(admin, z)
    attached = admin("attachVolume", id=uploaded["id"], virtualmachineid=vm2["id"])
    assert attached["state"] == "Ready"


def test_list_volumes_filters(admin, account_factory, z):
    vm = deploy(admin, z)
    volume = create_volume(admin, z, virtualmachineid=vm["id"])
    assert {v["type"] for v in admin.list("listVolumes", virtualmachineid=vm["id"])} == {"ROOT", "DATADISK"}
    assert [v["id"] for v in admin.list("listVolumes", virtualmachineid=vm["id"], type="DATADISK")] == [
        volume["id"]]
    assert volume["id"] in {v["id"] for v in admin.list("listVolumes", storageid=volume["storageid"],
                                                         pagesize=-1)}
    assert volume["id"] in {v["id"] for v in admin.list("listVolumes", hostid=vm["hostid"], pagesize=-1)}
    admin("createTags", resourceids=[volume["id"]], resourcetype="Volume", tags={"backup": "daily"})
    assert [v["id"] for v in admin.list("listVolumes", tags={"backup": "daily"})] == [volume["id"]]
    _, _, user = account_factory()
    assert user.list("listVolumes") == []
    assert refused(user, "deleteVolume", id=volume["id"]).errorcode == 531


def test_volume_limits(admin, account_factory, z):
    acct, _, user = account_factory()
    admin("updateResourceLimit", resourcetype=2, max=1, account=acct["name"], domainid=acct["domainid"])
    create_volume(user, z)
    over = refused(create_volume, user, z)
    assert over.errorcode == 532


# ---- snapshots ----------------------------------------------------------------------------------

def test_snapshot_create_list_revert_delete_and_volume_from_it(admin, z):
    vm = deploy(admin, z)
    (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    started = admin.request("createSnapshot", {"volumeid": root["id"]})
    assert set(started) == {"id", "jobid"}
    snapshot = admin.wait(started["jobid"])["snapshot"]
    assert (snapshot["state"], snapshot["volumeid"], snapshot["snapshottype"]) == ("BackedUp", root["id"],
                                                                                   "MANUAL")
    assert snapshot["volumetype"] == "ROOT" and snapshot["virtualsize"] == root["size"]
    assert [s["id"] for s in admin.list("listSnapshots", volumeid=root["id"])] == [snapshot["id"]]
    running = refused(admin, "revertSnapshot", id=snapshot["id"])
    assert running.errorcode == 431
    admin("stopVirtualMachine", id=vm["id"])
    assert admin("revertSnapshot", id=snapshot["id"])["id"] == snapshot["id"]
    from_snapshot = create_volume(admin, z, snapshotid=snapshot["id"], zoneid=None)
    assert (from_snapshot["state"], from_snapshot["size"]) == ("Ready", root["size"])
    other = deploy(admin, z)
    assert admin("attachVolume", id=from_snapshot["id"], virtualmachineid=other["id"])["state"] == "Ready"
    assert admin("deleteSnapshot", id=snapshot["id"]) == {"success": True}
    assert gone(admin, "listSnapshots", id=snapshot["id"])
    types = {e["type"] for e in admin.list("listEvents", resourceid=snapshot["id"], pagesize=-1)}
    assert {"SNAPSHOT.CREATE", "SNAPSHOT.DELETE"} <= types


def test_snapshot_faults_and_rules(admin, z):
    volume = create_volume(admin, z)
    not_ready = refused(admin, "createSnapshot", volumeid=volume["id"])
    assert not_ready.errorcode == 431 and "not in Ready state" in not_ready.errortext
    vm = deploy(admin, z)
    (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    mock = fail_next(admin, z, "CopyCommand")
    with pytest.raises(JobFailed) as failed:
        admin("createSnapshot", volumeid=root["id"])
    admin("cleanupSimulatorMock", id=mock["id"])
    assert "Simulated failure" in failed.value.errortext
    assert admin.list("listSnapshots", volumeid=root["id"]) == []


def test_snapshot_policies(admin, z):
    vm = deploy(admin, z)
    (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    daily = admin("createSnapshotPolicy", volumeid=root["id"], intervaltype="DAILY", schedule="30:02",
                  timezone="Europe/Berlin", maxsnaps=3)
    assert (daily["intervaltype"], daily["schedule"], daily["maxsnaps"], daily["volumeid"]) == (1, "30:02", 3,
                                                                                                root["id"])
    again = admin("createSnapshotPolicy", volumeid=root["id"], intervaltype="DAILY", schedule="45:03",
                  timezone="UTC", maxsnaps=2)
    assert again["id"] == daily["id"] and again["schedule"] == "45:03"  # one policy per interval
    weekly = admin("createSnapshotPolicy", volumeid=root["id"], intervaltype="weekly", schedule="00:01:7",
                   timezone="UTC", maxsnaps=1)
    listed = admin.list("listSnapshotPolicies", volumeid=root["id"])
    assert {p["id"] for p in listed} == {daily["id"], weekly["id"]}
    for params, text_part in (({"schedule": "99:99"}, "Invalid schedule"),
                              ({"timezone": "Mars/Base"}, "timezone"),
                              ({"maxsnaps": 100}, "maxSnaps exceeds limit"),
                              ({"intervaltype": "YEARLY"}, "interval type")):
        args = {"volumeid": root["id"], "intervaltype": "DAILY", "schedule": "00:01", "timezone": "UTC",
                "maxsnaps": 1, **params}
        error = refused(admin, "createSnapshotPolicy", **args)
        assert error.errorcode == 431 and text_part in error.errortext, error.errortext
    assert admin("deleteSnapshotPolicies", ids=[daily["id"], weekly["id"]]) == {"success": True}
    assert admin.list("listSnapshotPolicies", volumeid=root["id"]) == []


def test_snapshots_taken_for_a_policy_are_recurring_and_keep_maxsnaps(admin, z):
    """createSnapshot with `policyid` takes a snapshot of the policy's interval and applies its retention,
    as the scheduler's snapshots do (tests/unit/test_snapshot_scheduler.py runs the schedule itself)."""
    vm = deploy(admin, z)
    (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    minute = (datetime.datetime.now(datetime.UTC).minute + 30) % 60  # not due while the test runs
    policy = admin("createSnapshotPolicy", volumeid=root["id"], intervaltype="HOURLY", schedule=str(minute),
                   timezone="UTC", maxsnaps=2)
    taken = [admin("createSnapshot", volumeid=root["id"], policyid=policy["id"]) for _ in range(3)]
    assert {(s["snapshottype"], s["intervaltype"]) for s in taken} == {("HOURLY", "HOURLY")}
    manual = admin("createSnapshot", volumeid=root["id"])
    kept = admin.list("listSnapshots", volumeid=root["id"], snapshottype="RECURRING")
    assert sorted(s["id"] for s in kept) == sorted(s["id"] for s in taken[1:])  # the oldest was deleted
    assert gone(admin, "listSnapshots", id=taken[0]["id"])
    hourly = admin.list("listSnapshots", volumeid=root["id"], intervaltype="hourly")
    assert sorted(s["id"] for s in hourly) == sorted(s["id"] for s in taken[1:])
    assert [s["id"] for s in admin.list("listSnapshots", volumeid=root["id"], snapshottype="MANUAL")] == [
        manual["id"]]
    deleted = [e for e in admin.list("listEvents", resourceid=taken[0]["id"], pagesize=-1)
               if e["type"] == "SNAPSHOT.DELETE"]
    assert deleted and "keeps 2 HOURLY snapshots" in deleted[0]["description"]
    assert admin("deleteSnapshotPolicies", id=policy["id"]) == {"success": True}


# ---- VM snapshots -------------------------------------------------------------------------------

def test_vm_snapshots(admin, z):
    vm = deploy(admin, z)
    started = admin.request("createVMSnapshot", {"virtualmachineid": vm["id"], "name": "before-upgrade",
                                                 "snapshotmemory": "true"})
    assert set(started) == {"id", "jobid"}
    first = admin.wait(started["jobid"])["vmsnapshot"]
    assert (first["displayname"], first["type"], first["state"], first["current"]) == (
        "before-upgrade", "DiskAndMemory", "Ready", True)
    second = admin("createVMSnapshot", virtualmachineid=vm["id"], name="disk-only")
    assert second["parent"] == first["id"] and second["type"] == "Disk"
    listed = {s["id"]: s for s in admin.list("listVMSnapshot", virtualmachineid=vm["id"])}
    assert set(listed) == {first["id"], second["id"]} and listed[first["id"]]["current"] is False
    disk_only_running = refused(admin, "revertToVMSnapshot", vmsnapshotid=second["id"])
    assert disk_only_running.errorcode == 431
    reverted = admin("revertToVMSnapshot", vmsnapshotid=first["id"])
    assert reverted["id"] == vm["id"] and reverted["state"] == "Running"
    assert admin.list("listVMSnapshot", vmsnapshotid=first["id"])[0]["current"] is True
    assert admin("deleteVMSnapshot", vmsnapshotid=second["id"]) == {"success": True}
    assert [s["id"] for s in admin.list("listVMSnapshot", virtualmachineid=vm["id"])] == [first["id"]]
    stopped = deploy(admin, z, startvm=False)
    memory = refused(admin, "createVMSnapshot", virtualmachineid=stopped["id"], snapshotmemory=True)
    assert memory.errorcode == 431
    mock = fail_next(admin, z, "CreateVMSnapshotCommand")
    with pytest.raises(JobFailed):
        admin("createVMSnapshot", virtualmachineid=vm["id"])
    admin("cleanupSimulatorMock", id=mock["id"])
    assert len(admin.list("listVMSnapshot", virtualmachineid=vm["id"])) == 1
    types = {e["type"] for e in admin.list("listEvents", resourceid=first["id"], pagesize=-1)}
    assert {"VMSNAPSHOT.CREATE", "VMSNAPSHOT.REVERTTO"} <= types


def test_expunging_a_vm_drops_its_vm_snapshots(admin, z):
    vm = deploy(admin, z)
    snap = admin("createVMSnapshot", virtualmachineid=vm["id"])
    admin("destroyVirtualMachine", id=vm["id"], expunge=True)
    assert gone(admin, "listVMSnapshot", vmsnapshotid=snap["id"])


def test_unknown_volume_is_431(admin):
    error = refused(admin, "attachVolume", id="00000000-0000-0000-0000-000000000000",
                    virtualmachineid="00000000-0000-0000-0000-000000000000")
    assert isinstance(error, CloudstackError) and error.errorcode == 431
