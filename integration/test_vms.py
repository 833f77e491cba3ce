"""User VMs end to end: deployment (admin and user), placement and capacity, limits, fault injection, the
lifecycle, operations, affinity and instance groups, listing, and concurrent deployments.

Zones are built the way the deployer builds an Advanced zone (physical network with Guest/Management/Public
traffic, VirtualRouter enabled, VLAN range, pod, cluster, hosts, primary and secondary storage, a public
range). The shared zone is Enabled, so its system VMs and virtual routers run beside the user VMs: capacity
checks compare the capacity rows with the sum of everything placed on each host and pool.
"""

from __future__ import annotations

import base64
import concurrent.futures
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from sqlalchemy import create_engine, text

from marvin.errors import CloudstackError, JobFailed

from .conftest import unique

GIB = 1024**3
MIB = 1024**2
ON_HOST = "('Starting', 'Running', 'Stopping', 'Migrating')"


# ---- helpers --------------------------------------------------------------------------------------

def wait_for(predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def refused(call, *args, **kwargs) -> CloudstackError:
    with pytest.raises(CloudstackError) as error:
        call(*args, **kwargs)
    return error.value


def enable_router_provider(admin, pnet):
    (nsp,) = admin.list("listNetworkServiceProviders", physicalnetworkid=pnet["id"], name="VirtualRouter")
    (element,) = admin.list("listVirtualRouterElements", nspid=nsp["id"])
    admin("configureVirtualRouterElement", id=element["id"], enabled=True)
    admin("updateNetworkServiceProvider", id=nsp["id"], state="Enabled")


def add_cluster(admin, zone, pod, hosts: int, host_spec: str = "") -> tuple[dict, list[dict]]:
    cluster = admin.list("addCluster", zoneid=zone["id"], podid=pod["id"], clustername=unique("c"),
                         hypervisor="Simulator", clustertype="CloudManaged")[0]
    added = [admin.list("addHost", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
                        hypervisor="Simulator", url=f"http://sim/{cluster['name']}/h{i}{host_spec}",
                        username="root", password="password")[0] for i in range(hosts)]
    return cluster, added


class VmZone(dict):
    """A zone ready for VMs: `zone`, `pod`, `cluster`, `hosts`, `pool`, `template` (the BUILTIN simulator
    template), `small`/`medium` (service offerings)."""

    def __getattr__(self, name):
        return self[name]


def build_vm_zone(admin, *, hosts=2, host_spec="", enabled=True, pool_size: int | None = None,
                  public=("198.51.100.", 10, 60)) -> VmZone:
    zone = admin("createZone", name=unique("vmz"), networktype="Advanced", dns1="8.8.8.8",
                 internaldns1="8.8.4.4", guestcidraddress="10.1.1.0/24")
    pnet = admin("createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"), isolationmethods=["VLAN"])
    for kind in ("Guest", "Management", "Public"):
        admin("addTrafficType", physicalnetworkid=pnet["id"], traffictype=kind)
    enable_router_provider(admin, pnet)
    admin("updatePhysicalNetwork", id=pnet["id"], state="Enabled", vlan="600-699")
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.30.1",
                netmask="255.255.255.0", startip="172.16.30.2", endip="172.16.30.250")
    cluster, added = add_cluster(admin, zone, pod, hosts, host_spec)
    size = {"capacitybytes": pool_size} if pool_size else {}
    pool = admin("createStoragePool", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
                 name=unique("ps"), url=f"nfs://10.147.28.6:/export/{unique('primary')}", **size)
    admin("addImageStore", provider="NFS", zoneid=zone["id"], name=unique("ss"),
          url=f"nfs://10.147.28.6:/export/{unique('secondary')}")
    prefix, first, last = public
    admin("createVlanIpRange", zoneid=zone["id"], vlan="50", forvirtualnetwork=True, gateway=f"{prefix}1",
          netmask="255.255.255.0", startip=f"{prefix}{first}", endip=f"{prefix}{last}")
    if enabled:
        admin("updateZone", id=zone["id"], allocationstate="Enabled")
        # Let the zone's system VMs come up first, so a zone-wide simulator mock set by a test is used by the
        # test's own VM and not by a system VM starting in the background.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and [vm["state"] for vm in admin.list(
                "listSystemVms", zoneid=zone["id"])] != ["Running", "Running"]:
            time.sleep(0.1)
    template = next(t for t in admin.list("listTemplates", templatefilter="featured", zoneid=zone["id"])
                    if t["name"] == "CentOS 5.6 (64-bit) no GUI (Simulator)")
    small = admin.list("listServiceOfferings", name="Small Instance")[0]
    medium = admin.list("listServiceOfferings", name="Medium Instance")[0]
    return VmZone(zone=zone, pod=pod, cluster=cluster, hosts=added, pool=pool, template=template, small=small,
                  medium=medium, pnet=pnet)


def deploy_args(z: VmZone) -> dict:
    return {"zoneid": z.zone["id"], "serviceofferingid": z.small["id"], "templateid": z.template["id"]}


def deploy(client, z: VmZone, **params) -> dict:
    return client("deployVirtualMachine", **{**deploy_args(z), **params})


def gone(client, command: str, **params) -> bool:
    """Nothing listed: an expunged row's id no longer resolves (431), or resolves to an empty list."""
    try:
        return client.list(command, **params) == []
    except CloudstackError as error:
        return error.errorcode == 431


def vm_of(client, vm_id: str) -> dict | None:
    """The VM as listed, or None once it is gone (an expunged id no longer resolves: 431)."""
    try:
        found = client.list("listVirtualMachines", id=vm_id, listall=True)
    except CloudstackError as error:
        if error.errorcode == 431:
            return None
        raise
    return found[0] if found else None


@pytest.fixture(scope="module")
def z(admin) -> VmZone:
    return build_vm_zone(admin)


@pytest.fixture(scope="module")
def db(server):
    """Read the server's database: capacity invariants are checked against the rows themselves."""
    engine = create_engine(server.db_url)

    def query(sql: str, **params):
        with engine.connect() as conn:
            return conn.execute(text(sql), params).all()

    yield query
    engine.dispose()


def internal_id(db, table: str, uuid: str) -> int:
    return db(f"SELECT id FROM {table} WHERE uuid = :u", u=uuid)[0][0]


def assert_capacity_consistent(db, zone_uuid: str) -> None:
    """Every host's and pool's allocated capacity equals the sum of what is placed on it."""
    zone_id = internal_id(db, "data_center", zone_uuid)
    placed = {(h, t): 0 for h, t in db("SELECT host_id, capacity_type FROM op_host_capacity c JOIN host h "
                                       "ON h.id = c.host_id WHERE h.zone_id = :z AND c.capacity_type IN (0, "
                                       "1)",
                                       z=zone_id)}
    for host_id, ram, mhz in db("SELECT host_id, SUM(ram), SUM(cpus * speed) FROM vm_instance WHERE zone_id "
                                f"= :z AND host_id IS NOT NULL AND state IN {ON_HOST} GROUP BY "
                                "host_id", z=zone_id):
        placed[(host_id, 0)], placed[(host_id, 1)] = int(ram), int(mhz)
    used = {(h, t): int(u) for h, t, u in db("SELECT c.host_id, c.capacity_type, c.used FROM "
                                             "op_host_capacity c JOIN host h ON h.id = c.host_id WHERE "
                                             "h.zone_id = :z AND c.capacity_type IN (0, 1)", z=zone_id)}
    assert used == placed
    pools = dict(db("SELECT c.host_id, c.used FROM op_host_capacity c JOIN storage_pool p ON p.id = "
                    "c.host_id WHERE p.zone_id = :z AND c.capacity_type = 3", z=zone_id))
    sizes = dict(db("SELECT pool_id, SUM(size) FROM volumes WHERE zone_id = :z AND pool_id IS NOT NULL AND "
                    "removed IS NULL AND state NOT IN ('Allocated', 'UploadOp', 'Uploaded') GROUP BY pool_id",
                    z=zone_id))
    assert {p: int(u) for p, u in pools.items()} == {p: int(sizes.get(p, 0)) for p in pools}


# ---- deployment ---------------------------------------------------------------------------------

def test_admin_deploys_and_gets_an_async_create_answer(admin, z, db):
    name = unique("web")
    started = admin.request("deployVirtualMachine", {**deploy_args(z), "name": name})
    assert set(started) == {"id", "jobid"}
    job = admin.request("queryAsyncJobResult", {"jobid": started["jobid"]})
    assert job["jobinstancetype"] == "VirtualMachine" and job["jobinstanceid"] == started["id"]
    vm = admin.wait(started["jobid"])["virtualmachine"]
    assert (vm["id"], vm["name"], vm["displayname"], vm["state"]) == (started["id"], name, name, "Running")
    assert vm["hostid"] in {h["id"] for h in z.hosts} and vm["instancename"].startswith("i-2-")
    assert (vm["cpunumber"], vm["cpuspeed"], vm["memory"], vm["serviceofferingname"]) == (1, 500, 512,
                                                                                           "Small Instance")
    assert vm["templateid"] == z.template["id"] and vm["zoneid"] == z.zone["id"] and vm["account"] == "admin"
    (nic,) = vm["nic"]
    assert nic["ipaddress"].startswith("10.1.1.") and nic["isdefault"] is True
    assert vm["ipaddress"] == nic["ipaddress"]
    assert "jobid" not in vm and "password" not in vm
    (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    assert (root["type"], root["state"], root["deviceid"], root["size"]) == ("ROOT", "Ready", 0, 10**9)
    assert root["storageid"] == z.pool["id"]
    events = {e["type"] for e in admin.list("listEvents", resourceid=vm["id"], pagesize=-1)}
    assert {"VM.CREATE", "VM.START"} <= events
    usage = {row[0] for row in db("SELECT type FROM usage_event WHERE resource_uuid = :u", u=vm["id"])}
    assert {"VM.CREATE", "VM.START"} <= usage
    assert_capacity_consistent(db, z.zone["id"])


def test_user_deploys_sees_only_its_own_and_no_admin_fields(admin, account_factory, z):
    acct, _, user = account_factory()
    vm = deploy(user, z, displayname="My box")
    assert vm["account"] == acct["name"] and vm["state"] == "Running" and vm["displayname"] == "My box"
    assert vm["name"].startswith("VM-") and "hostid" not in vm and "instancename" not in vm
    assert vm["nic"][0]["ipaddress"]
    assert [v["id"] for v in user.list("listVirtualMachines")] == [vm["id"]]
    mine = admin.list("listVirtualMachines", account=acct["name"], domainid=acct["domainid"])
    assert [v["id"] for v in mine] == [vm["id"]]
    assert vm["id"] not in {v["id"] for v in admin.list("listVirtualMachines")}  # listall=false: own only
    assert vm["id"] in {v["id"] for v in admin.list("listVirtualMachines", listall=True, pagesize=-1)}
    (root,) = user.list("listVolumes", virtualmachineid=vm["id"])
    assert root["account"] == acct["name"] and "storageid" not in root


def test_deploy_parameters_are_checked_synchronously(admin, account_factory, z):
    other_zone = admin("createZone", name=unique("empty"), networktype="Advanced", dns1="8.8.8.8",
                       internaldns1="8.8.4.4", guestcidraddress="10.1.1.0/24")
    cases = [
        ({"serviceofferingid": "00000000-0000-0000-0000-000000000000"}, 431, "serviceofferingid"),
        ({"name": "1-starts-with-digit"}, 431, "Invalid name"),
        ({"name": "x" * 64}, 431, "Invalid name"),
        ({"keypair": "no-such-key"}, 431, "no-such-key"),
        ({"userdata": "not base64!!"}, 431, "base64"),
        ({"rootdisksize": 0}, 431, "template size"),
        ({"zoneid": other_zone["id"]}, 431, "not available for use in zone"),
        ({"diskofferingid": admin.list("listDiskOfferings", name="Custom")[0]["id"]}, 431, "size"),
    ]
    before = len(admin.list("listVirtualMachines", listall=True, pagesize=-1))
    for params, code, text_part in cases:
        error = refused(deploy, admin, z, **params)
        assert error.errorcode == code and text_part in error.errortext, (params, error.errortext)
    missing = refused(admin, "deployVirtualMachine", zoneid=z.zone["id"], templateid=z.template["id"])
    assert missing.errortext == ("Unable to execute API command deployvirtualmachine due to missing "
                                 "parameter serviceofferingid")
    system = next(o for o in admin.list("listServiceOfferings", issystem=True) if o["issystem"])
    assert refused(deploy, admin, z, serviceofferingid=system["id"]).errorcode == 431
    assert len(admin.list("listVirtualMachines", listall=True, pagesize=-1)) == before
    _, _, user = account_factory()
    disabled = admin("updateZone", id=other_zone["id"], allocationstate="Disabled")
    assert refused(deploy, user, z, zoneid=disabled["id"]).errorcode == 531


def test_deploy_without_starting_then_start_on_a_chosen_host(admin, z, db):
    vm = deploy(admin, z, startvm=False, name=unique("cold"))
    assert vm["state"] == "Stopped" and "hostid" not in vm
    (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    assert root["state"] == "Allocated" and "storageid" not in root
    host = z.hosts[1]
    started = admin("startVirtualMachine", id=vm["id"], hostid=host["id"])
    assert (started["state"], started["hostid"]) == ("Running", host["id"])
    assert admin.list("listVolumes", virtualmachineid=vm["id"])[0]["state"] == "Ready"
    again = refused(admin, "startVirtualMachine", id=vm["id"])
    assert again.errorcode == 431 and "already running" in again.errortext
    assert_capacity_consistent(db, z.zone["id"])


def test_custom_offering_and_data_disk(admin, z):
    custom = admin("createServiceOffering", name=unique("custom"), displaytext="custom", customized=True,
                   mincpunumber=1, maxcpunumber=4, minmemory=256, maxmemory=4096, cpuspeed=1000)
    disk = admin.list("listDiskOfferings", name="Small")[0]
    vm = deploy(admin, z, serviceofferingid=custom["id"], details={"cpuNumber": 2, "memory": 768},
                diskofferingid=disk["id"], rootdisksize=3)
    assert (vm["cpunumber"], vm["cpuspeed"], vm["memory"]) == (2, 1000, 768)
    volumes = {v["type"]: v for v in admin.list("listVolumes", virtualmachineid=vm["id"])}
    assert volumes["ROOT"]["size"] == 3 * GIB and volumes["DATADISK"]["size"] == 5 * GIB
    assert volumes["DATADISK"]["deviceid"] == 1 and volumes["DATADISK"]["diskofferingname"] == "Small"
    out_of_bounds = refused(deploy, admin, z, serviceofferingid=custom["id"], details={"cpuNumber": 8,
                                                                                      "memory": 512})
    assert out_of_bounds.errorcode == 431 and "between 1 and 4" in out_of_bounds.errortext


def build_basic_zone(admin) -> VmZone:
    """§5.2: a Basic zone with security groups, its one shared guest network and the pod's guest range."""
    zone = admin("createZone", name=unique("basic"), networktype="Basic", dns1="8.8.8.8",
                 internaldns1="8.8.4.4", securitygroupenabled=True)
    pnet = admin("createPhysicalNetwork", zoneid=zone["id"], name=unique("pnet"), isolationmethods=["L3"])
    for kind in ("Guest", "Management"):
        admin("addTrafficType", physicalnetworkid=pnet["id"], traffictype=kind)
    enable_router_provider(admin, pnet)
    (nsp,) = admin.list("listNetworkServiceProviders", physicalnetworkid=pnet["id"],
                        name="SecurityGroupProvider")
    admin("updateNetworkServiceProvider", id=nsp["id"], state="Enabled")
    admin("updatePhysicalNetwork", id=pnet["id"], state="Enabled")
    (offering,) = admin.list("listNetworkOfferings", name="DefaultSharedNetworkOfferingWithSGService")
    network = admin("createNetwork", name="guestNetworkForBasicZone", displaytext="guestNetworkForBasicZone",
                    networkofferingid=offering["id"], zoneid=zone["id"])
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.15.1",
                netmask="255.255.255.0", startip="172.16.15.2", endip="172.16.15.200")
    admin("createVlanIpRange", zoneid=zone["id"], podid=pod["id"], networkid=network["id"],
          forvirtualnetwork=False, startip="60.147.41.2", endip="60.147.41.254", gateway="60.147.41.1",
          netmask="255.255.255.0")
    cluster, added = add_cluster(admin, zone, pod, 1)
    pool = admin("createStoragePool", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
                 name=unique("ps"), url=f"nfs://10.147.28.6:/export/{unique('primary')}")
    admin("addImageStore", provider="NFS", zoneid=zone["id"], name=unique("ss"),
          url=f"nfs://10.147.28.6:/export/{unique('secondary')}")
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    template = next(t for t in admin.list("listTemplates", templatefilter="featured", zoneid=zone["id"])
                    if t["name"] == "CentOS 5.6 (64-bit) no GUI (Simulator)")
    small = admin.list("listServiceOfferings", name="Small Instance")[0]
    return VmZone(zone=zone, pod=pod, cluster=cluster, hosts=added, pool=pool, template=template, small=small,
                  network=network)


def test_user_deploys_in_a_basic_zone(admin, account_factory, db):
    basic = build_basic_zone(admin)
    _, _, user = account_factory()
    vm = deploy(user, basic)
    (nic,) = vm["nic"]
    assert vm["state"] == "Running" and nic["networkid"] == basic.network["id"]
    assert nic["ipaddress"].startswith("60.147.41.") and nic["type"] == "Shared"
    second = deploy(user, basic)
    assert second["nic"][0]["ipaddress"] != nic["ipaddress"]
    user("destroyVirtualMachine", id=second["id"])
    admin("expungeVirtualMachine", id=second["id"])
    assert_capacity_consistent(db, basic.zone["id"])


# ---- capacity, limits, faults -------------------------------------------------------------------

def test_no_capacity_is_a_clean_533(admin, db):
    tiny = build_vm_zone(admin, hosts=1, host_spec="/memory=1073741824", enabled=False)
    # Fill the host (the account's virtual router takes its share too), then one more must fail.
    deployed = []
    with pytest.raises(JobFailed) as failed:
        for _ in range(4):
            deployed.append(deploy(admin, tiny, name=unique("fill")))
    assert failed.value.errorcode == 533
    assert "Unable to create a deployment for VM[User|i-2-" in failed.value.errortext
    assert "MiB of memory free" in failed.value.errortext
    assert 1 <= len(deployed) < 4
    assert_capacity_consistent(db, tiny.zone["id"])
    errored = admin.list("listVirtualMachines", zoneid=tiny.zone["id"], state="Error", listall=True)
    assert len(errored) == 1 and errored[0]["nic"] == []
    assert [v["state"] for v in admin.list("listVolumes", virtualmachineid=errored[0]["id"])] == ["Destroy"]


def test_limits_exceeded_is_a_synchronous_532(admin, account_factory, z):
    acct, _, user = account_factory()
    admin("updateResourceLimit", resourcetype=0, max=1, account=acct["name"], domainid=acct["domainid"])
    first = deploy(user, z)
    over = refused(deploy, user, z)
    assert over.errorcode == 532 and over.status == 532
    admin("destroyVirtualMachine", id=first["id"])
    assert deploy(user, z)["state"] == "Running"  # the destroyed VM no longer counts
    admin("updateResourceLimit", resourcetype=0, max=5, account=acct["name"], domainid=acct["domainid"])
    admin("updateResourceLimit", resourcetype=9, max=600, account=acct["name"], domainid=acct["domainid"])
    memory = refused(deploy, user, z)
    assert memory.errorcode == 532
    recover = refused(admin, "recoverVirtualMachine", id=first["id"])
    assert recover.errorcode == 532


@pytest.mark.parametrize("step", ["StartCommand", "CreateCommand"])
def test_a_failing_agent_step_fails_the_deployment_and_releases_everything(admin, z, db, step):
    mock = admin("configureSimulator", name=step, value="result:fail", zoneid=z.zone["id"], count=1)
    try:
        started = admin.request("deployVirtualMachine", deploy_args(z))
        with pytest.raises(JobFailed) as failed:
            admin.wait(started["jobid"])
    finally:
        admin("cleanupSimulatorMock", id=mock["id"])
    assert failed.value.errorcode == 530 and "Simulated failure" in failed.value.errortext
    vm = vm_of(admin, started["id"])
    assert vm["state"] == "Error" and vm["nic"] == [] and "hostid" not in vm
    (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    assert root["state"] == "Destroy" and "storageid" not in root
    assert_capacity_consistent(db, z.zone["id"])
    assert deploy(admin, z)["state"] == "Running"
    destroyed = admin("destroyVirtualMachine", id=vm["id"])  # a failed VM goes at once
    assert destroyed["state"] == "Expunging" and vm_of(admin, vm["id"]) is None


def test_a_failing_start_leaves_the_vm_stopped(admin, z, db):
    vm = deploy(admin, z, startvm=False)
    mock = admin("configureSimulator", name="StartCommand", value="result:fault", zoneid=z.zone["id"],
                 count=1)
    with pytest.raises(JobFailed) as failed:
        admin("startVirtualMachine", id=vm["id"])
    admin("cleanupSimulatorMock", id=mock["id"])
    assert "Simulated fault" in failed.value.errortext
    assert vm_of(admin, vm["id"])["state"] == "Stopped"
    assert admin.list("listVolumes", virtualmachineid=vm["id"])[0]["state"] == "Allocated"
    assert_capacity_consistent(db, z.zone["id"])
    assert admin("startVirtualMachine", id=vm["id"])["state"] == "Running"


def test_work_left_half_done_by_a_stopped_server_is_given_back(admin, server, z, db):
    """A VM left Starting or Migrating without a pending job (its management server died mid-job) is
    reconciled by the lead server: capacity given back, the VM Stopped (or Running where it was)."""
    engine = create_engine(server.db_url)
    starting, migrating = deploy(admin, z), deploy(admin, z)
    with engine.begin() as conn:
        conn.execute(text("UPDATE vm_instance SET state = 'Starting' WHERE uuid = :u"), {"u": starting["id"]})
        conn.execute(text("UPDATE vm_instance SET state = 'Migrating' WHERE uuid "
                          "= :u"), {"u": migrating["id"]})
    engine.dispose()
    assert wait_for(lambda: vm_of(admin, starting["id"])["state"] == "Stopped", timeout=20)
    assert wait_for(lambda: vm_of(admin, migrating["id"])["state"] == "Running", timeout=20)
    assert vm_of(admin, migrating["id"])["hostid"] == migrating["hostid"]
    assert_capacity_consistent(db, z.zone["id"])
    assert admin("startVirtualMachine", id=starting["id"])["state"] == "Running"


def test_a_deleted_accounts_vms_and_volumes_are_cleaned_up(admin, account_factory, z, db):
    acct, _, user = account_factory()
    vm = deploy(user, z)
    volume = user("createVolume", zoneid=z.zone["id"], name=unique("vol"),
                  diskofferingid=admin.list("listDiskOfferings", name="Small")[0]["id"])
    admin("deleteAccount", id=acct["id"])
    wait_for(lambda: vm_of(admin, vm["id"]) is None, timeout=20)
    assert gone(admin, "listVolumes", id=volume["id"])
    assert_capacity_consistent(db, z.zone["id"])


# ---- lifecycle ----------------------------------------------------------------------------------

def test_stop_start_reboot_destroy_recover(admin, z, db):
    vm = deploy(admin, z)
    stopped = admin("stopVirtualMachine", id=vm["id"])
    assert stopped["state"] == "Stopped" and "hostid" not in stopped
    assert admin("stopVirtualMachine", id=vm["id"])["state"] == "Stopped"
    assert admin("startVirtualMachine", id=vm["id"])["state"] == "Running"
    assert admin("rebootVirtualMachine", id=vm["id"])["state"] == "Running"
    mock = admin("configureSimulator", name="StopCommand", value="result:fail", zoneid=z.zone["id"], count=1)
    with pytest.raises(JobFailed):
        admin("stopVirtualMachine", id=vm["id"])
    assert vm_of(admin, vm["id"])["state"] == "Running"
    admin("cleanupSimulatorMock", id=mock["id"])
    destroyed = admin("destroyVirtualMachine", id=vm["id"])
    assert destroyed["state"] == "Destroyed"
    assert admin.list("listVolumes", virtualmachineid=vm["id"])[0]["state"] == "Destroy"
    assert refused(admin, "startVirtualMachine", id=vm["id"]).errorcode == 431
    recovered = admin("recoverVirtualMachine", id=vm["id"])
    assert recovered["state"] == "Stopped"
    assert admin.list("listVolumes", virtualmachineid=vm["id"])[0]["state"] == "Ready"
    assert admin("startVirtualMachine", id=vm["id"])["state"] == "Running"
    admin("destroyVirtualMachine", id=vm["id"], expunge=True)
    assert vm_of(admin, vm["id"]) is None
    types = {e["type"] for e in admin.list("listEvents", resourceid=vm["id"], pagesize=-1)}
    assert {"VM.STOP", "VM.REBOOT", "VM.DESTROY", "VM.RECOVER", "VM.EXPUNGE"} <= types
    assert_capacity_consistent(db, z.zone["id"])


def test_users_need_permission_to_expunge_and_do_not_see_destroyed_vms(admin, account_factory, z):
    _, _, user = account_factory()
    vm = deploy(user, z)
    assert refused(user, "destroyVirtualMachine", id=vm["id"], expunge=True).errorcode == 531
    assert user("destroyVirtualMachine", id=vm["id"])["state"] == "Destroyed"
    assert user.list("listVirtualMachines") == []
    assert refused(user, "recoverVirtualMachine", id=vm["id"]).errorcode == 531
    assert refused(user, "expungeVirtualMachine", id=vm["id"]).errorcode == 531
    assert admin("expungeVirtualMachine", id=vm["id"]) == {"success": True}
    assert vm_of(admin, vm["id"]) is None


def test_destroyed_vms_are_expunged_after_the_delay(admin, z):
    saved = {c["name"]: c.get("value") for c in admin.list("listConfigurations", name="expunge.")}
    admin("updateConfiguration", name="expunge.delay", value="1")
    admin("updateConfiguration", name="expunge.interval", value="1")
    try:
        vm = deploy(admin, z)
        (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
        admin("destroyVirtualMachine", id=vm["id"])
        wait_for(lambda: vm_of(admin, vm["id"]) is None, timeout=20)
        assert gone(admin, "listVolumes", id=root["id"])
        assert "VM.EXPUNGE" in {e["type"] for e in admin.list("listEvents", resourceid=vm["id"], pagesize=-1)}
    finally:
        for name in ("expunge.delay", "expunge.interval"):
            admin("updateConfiguration", name=name, value=saved.get(name) or "86400")


def test_migrate_moves_the_vm_and_its_capacity(admin, z, db):
    vm = deploy(admin, z)
    other = next(h for h in z.hosts if h["id"] != vm["hostid"])
    moved = admin("migrateVirtualMachine", virtualmachineid=vm["id"], hostid=other["id"])
    assert (moved["hostid"], moved["state"]) == (other["id"], "Running")
    assert_capacity_consistent(db, z.zone["id"])
    same = refused(admin, "migrateVirtualMachine", virtualmachineid=vm["id"], hostid=other["id"])
    assert same.errorcode == 431
    mock = admin("configureSimulator", name="MigrateCommand", value="result:fail", hostid=other["id"],
                 count=1)
    with pytest.raises(JobFailed):
        admin("migrateVirtualMachine", virtualmachineid=vm["id"])
    admin("cleanupSimulatorMock", id=mock["id"])
    assert vm_of(admin, vm["id"])["hostid"] == other["id"]
    assert_capacity_consistent(db, z.zone["id"])


def test_scale_running_and_change_service_of_stopped(admin, z, db):
    vm = deploy(admin, z)
    refused_scale = refused(admin, "scaleVirtualMachine", id=vm["id"], serviceofferingid=z.medium["id"])
    assert "dynamic scaling" in refused_scale.errortext
    admin("updateConfiguration", name="enable.dynamic.scale.vm", value="true")
    try:
        scaled = admin("scaleVirtualMachine", id=vm["id"], serviceofferingid=z.medium["id"])
    finally:
        admin("updateConfiguration", name="enable.dynamic.scale.vm", value="false")
    assert (scaled["memory"], scaled["cpuspeed"], scaled["serviceofferingname"]) == (1024, 1000, "Medium "
                                                                                                 "Instance")
    assert_capacity_consistent(db, z.zone["id"])
    running = refused(admin, "changeServiceForVirtualMachine", id=vm["id"], serviceofferingid=z.small["id"])
    assert running.errorcode == 431
    admin("stopVirtualMachine", id=vm["id"])
    changed = admin("changeServiceForVirtualMachine", id=vm["id"], serviceofferingid=z.small["id"])
    assert (changed["memory"], changed["serviceofferingname"]) == (512, "Small Instance")
    assert admin("startVirtualMachine", id=vm["id"])["memory"] == 512
    assert "VM.UPGRADE" in {e["type"] for e in admin.list("listEvents", resourceid=vm["id"], pagesize=-1)}


@pytest.fixture(scope="module")
def password_template(admin, z):
    """A password-enabled copy of the BUILTIN template (as updateTemplate passwordenabled=true makes one)."""
    centos = admin.list("listOsTypes", description="CentOS 5.6 (64-bit)")[0]["id"]
    registered = admin("registerTemplate", name=unique("pw"), displaytext="password enabled",
                       url="http://download.example.org/templates/pw.vhd", format="VHD",
                       hypervisor="Simulator", ostypeid=centos, zoneid=z.zone["id"], passwordenabled=True,
                       ispublic=True)["template"][0]

    def ready():
        found = admin.list("listTemplates", templatefilter="all", id=registered["id"], zoneid=z.zone["id"])
        return next((t for t in found if t["isready"]), None)

    return wait_for(ready, timeout=60)


def test_passwords_and_ssh_keys(admin, account_factory, z, password_template):
    _, _, user = account_factory()
    pair = user("createSSHKeyPair", name=unique("key"))
    vm = deploy(user, z, templateid=password_template["id"], keypair=pair["name"])
    assert vm["passwordenabled"] is True and len(vm["password"]) >= 6 and vm["keypairs"] == pair["name"]
    assert "password" not in user.list("listVirtualMachines", id=vm["id"])[0]
    private = serialization.load_pem_private_key(pair["privatekey"].encode(), password=None)
    encrypted = user("getVMPassword", id=vm["id"])["encryptedpassword"]
    assert private.decrypt(base64.b64decode(encrypted), padding.PKCS1v15()).decode() == vm["password"]
    assert refused(user, "resetPasswordForVirtualMachine", id=vm["id"]).errorcode == 431  # running
    user("stopVirtualMachine", id=vm["id"])
    reset = user("resetPasswordForVirtualMachine", id=vm["id"])
    assert reset["password"] and reset["password"] != vm["password"]
    other = user("createSSHKeyPair", name=unique("key"))
    rekeyed = user("resetSSHKeyForVirtualMachine", id=vm["id"], keypair=other["name"])
    assert rekeyed["keypairs"] == other["name"] and rekeyed["password"]
    plain = deploy(user, z)
    no_password = refused(user, "resetPasswordForVirtualMachine", id=plain["id"])
    assert "not password enabled" in no_password.errortext
    assert refused(user, "getVMPassword", id=plain["id"]).errorcode == 431
    types = {e["type"] for e in user.list("listEvents", resourceid=vm["id"], pagesize=-1)}
    assert {"VM.RESETPASSWORD", "VM.RESETSSHKEY"} <= types


def test_update_vm_user_data_and_details(admin, z):
    vm = deploy(admin, z, userdata=base64.b64encode(b"#cloud-config\n").decode(), group=unique("grp"))
    assert admin("getVirtualMachineUserData", virtualmachineid=vm["id"])["userdata"] == \
        base64.b64encode(b"#cloud-config\n").decode()
    new_data = base64.b64encode(b"#!/bin/sh\necho hi\n").decode()
    changes = {"id": vm["id"], "userdata": new_data, "displayname": "renamed", "haenable": "true",
               "details[0].key": "keyboard", "details[0].value": "us"}
    updated = admin.request("updateVirtualMachine", changes, method="POST")["virtualmachine"]
    assert (updated["displayname"], updated["haenable"]) == ("renamed", True)
    assert updated["details"] == {"keyboard": "us"}
    assert admin("getVirtualMachineUserData", virtualmachineid=vm["id"])["userdata"] == new_data
    running = refused(admin, "updateVirtualMachine", id=vm["id"], name="new-host-name")
    assert running.errorcode == 431
    admin("stopVirtualMachine", id=vm["id"])
    assert admin("updateVirtualMachine", id=vm["id"], name="new-host-name")["name"] == "new-host-name"


def test_restore_gives_a_fresh_root_disk(admin, z):
    vm = deploy(admin, z)
    (old_root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    raw = admin.raw("restoreVirtualMachine", {"virtualmachineid": vm["id"]}).json()
    assert list(raw) == ["restorevmresponse"] and "jobid" in raw["restorevmresponse"]
    restored = admin.wait(raw["restorevmresponse"]["jobid"])["virtualmachine"]
    assert restored["state"] == "Running"
    (new_root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    assert new_root["id"] != old_root["id"] and new_root["state"] == "Ready"
    assert gone(admin, "listVolumes", id=old_root["id"])
    assert "VM.RESTORE" in {e["type"] for e in admin.list("listEvents", resourceid=vm["id"], pagesize=-1)}


def test_assign_moves_a_stopped_vm_to_another_account(admin, account_factory, z):
    first, _, first_user = account_factory()
    second, _, second_user = account_factory()
    vm = deploy(first_user, z)
    not_stopped = refused(admin, "assignVirtualMachine", virtualmachineid=vm["id"], account=second["name"],
                          domainid=second["domainid"])
    assert not_stopped.errorcode == 431
    first_user("stopVirtualMachine", id=vm["id"])
    moved = admin("assignVirtualMachine", virtualmachineid=vm["id"], account=second["name"],
                  domainid=second["domainid"])
    assert moved["account"] == second["name"] and moved["nic"][0]["networkname"].startswith(second["name"])
    assert first_user.list("listVirtualMachines") == []
    assert second_user("startVirtualMachine", id=vm["id"])["state"] == "Running"
    volumes = second_user.list("listVolumes", virtualmachineid=vm["id"])
    assert [v["account"] for v in volumes] == [second["name"]]


# ---- groups and affinity ------------------------------------------------------------------------

def test_instance_groups(admin, z):
    name = unique("grp")
    group = admin("createInstanceGroup", name=name)
    assert group["name"] == name and group["account"] == "admin"
    assert refused(admin, "createInstanceGroup", name=name).errorcode == 431
    vm = deploy(admin, z, group=name)
    assert (vm["group"], vm["groupid"]) == (name, group["id"])
    assert [v["id"] for v in admin.list("listVirtualMachines", groupid=group["id"])] == [vm["id"]]
    renamed = admin("updateInstanceGroup", id=group["id"], name=name + "-x")
    assert renamed["name"] == name + "-x"
    assert [g["id"] for g in admin.list("listInstanceGroups", name=name + "-x")] == [group["id"]]
    assert admin("deleteInstanceGroup", id=group["id"]) == {"success": True}
    assert "group" not in vm_of(admin, vm["id"])


def test_anti_affinity_spreads_and_then_refuses(admin, account_factory, db):
    zone = build_vm_zone(admin, hosts=2, enabled=False, public=("198.51.101.", 10, 40))
    types = {t["type"] for t in admin.list("listAffinityGroupTypes")}
    assert {"host anti-affinity", "host affinity"} <= types
    started = admin.request("createAffinityGroup", {"name": unique("spread"), "type": "host anti-affinity"})
    assert set(started) == {"id", "jobid"}
    group = admin.wait(started["jobid"])["affinitygroup"]
    assert group["id"] == started["id"]
    first = deploy(admin, zone, affinitygroupids=[group["id"]])
    second = deploy(admin, zone, affinitygroupnames=[group["name"]])
    assert first["hostid"] != second["hostid"]
    assert first["affinitygroup"][0]["id"] == group["id"]
    with pytest.raises(JobFailed) as third:
        deploy(admin, zone, affinitygroupids=[group["id"]])
    assert third.value.errorcode == 533
    listed = admin.list("listAffinityGroups", id=group["id"])[0]
    assert set(listed["virtualmachineIds"]) >= {first["id"], second["id"]}
    assert_capacity_consistent(db, zone.zone["id"])
    together = admin("createAffinityGroup", name=unique("together"), type="host affinity")
    a = deploy(admin, zone, affinitygroupids=[together["id"]], serviceofferingid=zone.small["id"])
    b = deploy(admin, zone, affinitygroupids=[together["id"]])
    assert a["hostid"] == b["hostid"]
    running = refused(admin, "updateVMAffinityGroup", id=a["id"], affinitygroupids=[group["id"]])
    assert running.errorcode == 431
    admin("stopVirtualMachine", id=a["id"])
    updated = admin("updateVMAffinityGroup", id=a["id"], affinitygroupids=[together["id"], group["id"]])
    assert {g["id"] for g in updated["affinitygroup"]} == {together["id"], group["id"]}
    assert admin("deleteAffinityGroup", id=group["id"]) == {"success": True}
    assert [g["id"] for g in vm_of(admin, a["id"])["affinitygroup"]] == [together["id"]]
    bad = refused(admin, "createAffinityGroup", name=unique("x"), type="no such type")
    assert bad.errorcode == 431
    _, _, user = account_factory()
    foreign = refused(deploy, user, zone, affinitygroupids=[together["id"]])
    assert foreign.errorcode in (431, 531)


# ---- listing ------------------------------------------------------------------------------------

def test_list_filters_and_paging(admin, z):
    group = unique("lst")
    vms = [deploy(admin, z, name=unique("lst"), group=group) for _ in range(3)]
    admin("stopVirtualMachine", id=vms[2]["id"])
    duplicate = refused(deploy, admin, z, name=vms[0]["name"])
    assert duplicate.errorcode == 431 and "already exists in the network" in duplicate.errortext
    ids = {v["id"] for v in vms}
    groupid = vms[0]["groupid"]

    def listed(**params):
        return {v["id"] for v in admin.list("listVirtualMachines", groupid=groupid, listall=True, **params)}

    assert listed() == ids
    assert listed(state="Running") == ids - {vms[2]["id"]}
    assert listed(state="Stopped") == {vms[2]["id"]}
    assert listed(name=vms[1]["name"]) == {vms[1]["id"]}
    assert listed(keyword=vms[0]["name"]) == {vms[0]["id"]}
    assert listed(ids=[vms[0]["id"], vms[1]["id"]]) == {vms[0]["id"], vms[1]["id"]}
    assert listed(hostid=vms[0]["hostid"]) >= {vms[0]["id"]}
    assert listed(templateid=z.template["id"], serviceofferingid=z.small["id"], zoneid=z.zone["id"]) == ids
    assert listed(storageid=z.pool["id"]) == ids
    assert listed(networkid=vms[0]["nic"][0]["networkid"]) == ids
    admin("createTags", resourceids=[vms[1]["id"]], resourcetype="UserVm", tags={"tier": "web"})
    assert listed(tags={"tier": "web"}) == {vms[1]["id"]}
    assert vm_of(admin, vms[1]["id"])["tags"][0]["key"] == "tier"
    page = admin.request("listVirtualMachines", {"groupid": groupid, "page": 1, "pagesize": 2})
    assert page["count"] == 3 and len(page["virtualmachine"]) == 2
    empty = admin.raw("listVirtualMachines", {"groupid": groupid, "state": "Migrating"}).json()
    assert empty == {"listvirtualmachinesresponse": {}}


def test_list_answers_a_page_from_a_fixed_number_of_queries(admin, z, server):
    """The page's statements don't grow with its length (each related table is read once per page)."""
    from sandstack.core import auth, registry
    from sandstack.core.context import Context, Params
    from sandstack.core.server import ManagementServer
    from sqlalchemy import event

    for _ in range(12 - len(admin.list("listVirtualMachines", listall=True, pagesize=-1))):
        deploy(admin, z, startvm=False)
    registry.load()
    ms = ManagementServer(server.db_url)
    statements: list[str] = []
    event.listen(ms.engine, "before_cursor_execute", lambda *args, **kw: statements.append(args[2]))
    counts = []
    for pagesize in (1, 1, 10):  # the first call warms the caches (settings, domains)
        statements.clear()
        ctx = Context(ms, None, auth.by_user_id(ms, 2), ms.registry["listVirtualMachines"])
        result = ctx.command.handler(ctx, Params(listall=True, page=1, pagesize=pagesize))
        assert len(result.items) == pagesize
        ctx.close()
        counts.append(len(statements))
    ms.engine.dispose()
    # A page of 10 may need a few lookups a page of 1 skipped (no host, no group, ...), never one per VM.
    assert counts[2] - counts[1] < 9 and counts[2] <= 25, counts


def test_tag_filters_on_vms_volumes_templates_and_networks(admin, z):
    tagged, plain = deploy(admin, z, name=unique("tag")), deploy(admin, z, name=unique("tag"))
    (root,) = admin.list("listVolumes", virtualmachineid=tagged["id"])
    network_id = tagged["nic"][0]["networkid"]
    label = unique("env")
    resources = {"UserVm": tagged["id"], "Volume": root["id"], "Template": z.template["id"],
                 "Network": network_id}
    for kind, resource_id in resources.items():
        admin("createTags", resourceids=[resource_id], resourcetype=kind, tags={label: "blue", "tier": "web"})
    try:
        def ids(command, **params):
            return {item["id"] for item in admin.list(command, listall=True, **params)}

        assert ids("listVirtualMachines", tags={label: "blue"}) == {tagged["id"]}
        assert ids("listVirtualMachines", tags={label: "blue", "tier": "db"}) == set()
        assert plain["id"] in ids("listVirtualMachines", zoneid=z.zone["id"])
        assert ids("listVolumes", tags={label: "blue", "tier": "web"}) == {root["id"]}
        assert ids("listTemplates", templatefilter="all", tags={label: "blue"}) == {z.template["id"]}
        assert ids("listTemplates", templatefilter="all", tags={label: "green"}) == set()
        assert ids("listIsos", isofilter="all", tags={label: "blue"}) == set()  # a template is no ISO
        assert ids("listNetworks", tags={label: "blue"}) == {network_id}
        for command, params in (("listVirtualMachines", {"id": tagged["id"]}),
                                ("listVolumes", {"id": root["id"]}),
                                ("listTemplates", {"templatefilter": "all", "id": z.template["id"]}),
                                ("listNetworks", {"id": network_id})):
            (item, *_) = admin.list(command, **params)
            assert sorted((t["key"], t["value"]) for t in item["tags"]) == [(label, "blue"), ("tier", "web")]
    finally:
        for kind, resource_id in resources.items():
            admin("deleteTags", resourceids=[resource_id], resourcetype=kind,
                  tags={label: "blue", "tier": "web"})


def usage_of(db, uuid: str, prefix: str = "") -> list[str]:
    return [row[0] for row in db("SELECT type FROM usage_event WHERE resource_uuid = :u AND type LIKE :p "
                                 "ORDER BY id", u=uuid, p=f"{prefix}%")]


def test_usage_events_follow_a_vm_lifecycle(admin, z, db):
    vm = deploy(admin, z)
    (root,) = admin.list("listVolumes", virtualmachineid=vm["id"])
    admin("stopVirtualMachine", id=vm["id"])
    admin("changeServiceForVirtualMachine", id=vm["id"], serviceofferingid=z.medium["id"])
    admin("startVirtualMachine", id=vm["id"])
    vm_snapshot = admin("createVMSnapshot", virtualmachineid=vm["id"])
    admin("deleteVMSnapshot", vmsnapshotid=vm_snapshot["id"])
    snapshot = admin("createSnapshot", volumeid=root["id"])
    admin("deleteSnapshot", id=snapshot["id"])
    admin("destroyVirtualMachine", id=vm["id"])
    admin("recoverVirtualMachine", id=vm["id"])
    admin("destroyVirtualMachine", id=vm["id"], expunge=True)
    assert usage_of(db, vm["id"], "VM.") == ["VM.CREATE", "VM.START", "VM.STOP", "VM.UPGRADE", "VM.START",
                                             "VM.STOP", "VM.DESTROY", "VM.CREATE", "VM.DESTROY"]
    assert usage_of(db, vm["id"], "NETWORK.OFFERING.") == ["NETWORK.OFFERING.ASSIGN",
                                                          "NETWORK.OFFERING.REMOVE"]
    # Billing of the root disk stops when it is destroyed (not again when it is expunged), as upstream.
    assert usage_of(db, root["id"]) == ["VOLUME.CREATE", "VOLUME.DELETE", "VOLUME.CREATE", "VOLUME.DELETE"]
    assert usage_of(db, vm_snapshot["id"]) == ["VMSNAPSHOT.CREATE", "VMSNAPSHOT.DELETE"]
    assert usage_of(db, snapshot["id"]) == ["SNAPSHOT.CREATE", "SNAPSHOT.DELETE"]
    (upgrade,) = db("SELECT e.offering_id FROM usage_event e WHERE e.resource_uuid = :u AND e.type = "
                    "'VM.UPGRADE'", u=vm["id"])
    assert upgrade[0] == internal_id(db, "service_offering", z.medium["id"])


def test_a_failed_deployment_stops_its_billing(admin, z, db):
    mock = admin("configureSimulator", zoneid=z.zone["id"], name="StartCommand", value="result:fail", count=1)
    try:
        with pytest.raises(JobFailed) as failed:
            deploy(admin, z)
    finally:
        admin("cleanupSimulatorMock", id=mock["id"])
    vm_uuid = admin.request("queryAsyncJobResult", {"jobid": failed.value.jobid})["jobinstanceid"]
    assert "Simulated failure" in failed.value.errortext
    assert usage_of(db, vm_uuid, "VM.") == ["VM.CREATE", "VM.DESTROY"]


# ---- concurrency --------------------------------------------------------------------------------

def test_concurrent_deployments_never_overcommit(admin, db):
    """40 deployments at once on 2 hosts with room for fewer: capacity stays exact, no address or MAC is
    handed out twice, and the ones that don't fit fail with a clean 533."""
    zone = build_vm_zone(admin, hosts=2, host_spec="/memory=4294967296&cpucore=2", enabled=False,
                         public=("198.51.102.", 10, 40))

    deploy(admin, zone)  # the account's network and its router first: the race is about VMs

    def one(i):
        try:
            return deploy(admin, zone, name=f"c{i}-{unique('x')[-8:]}")
        except CloudstackError as error:
            return error

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=40) as pool:
        results = list(pool.map(one, range(40)))
    elapsed = time.monotonic() - started
    ok = [r for r in results if isinstance(r, dict)]
    failed = [r for r in results if not isinstance(r, dict)]
    assert ok and failed, (len(ok), [str(f) for f in failed[:3]])
    assert all(f.errorcode == 533 and "Unable to create a deployment" in f.errortext for f in failed), \
        {f.errortext for f in failed}
    assert all(v["state"] == "Running" for v in ok)
    assert_capacity_consistent(db, zone.zone["id"])
    zone_id = internal_id(db, "data_center", zone.zone["id"])
    (placed,) = db("SELECT SUM(ram) FROM vm_instance WHERE zone_id = :z AND state IN "
                   f"{ON_HOST}", z=zone_id)[0]
    (memory,) = admin.list("listCapacity", zoneid=zone.zone["id"], type=0)
    assert memory["capacityused"] == placed <= memory["capacitytotal"] == 2 * 4 * GIB
    ips = db("SELECT n.network_id, n.ip4_address FROM nics n JOIN vm_instance v ON v.id = n.instance_id "
             "WHERE v.zone_id = :z AND n.ip4_address IS NOT NULL", z=zone_id)
    assert len(ips) == len(set(ips))
    macs = [row[0] for row in db("SELECT n.mac_address FROM nics n JOIN vm_instance v ON v.id = "
                                 "n.instance_id WHERE v.zone_id = :z", z=zone_id)]
    assert len(macs) == len(set(macs))
    print(f"\n40 concurrent deployments: {len(ok)} running, {len(failed)} refused (533) in {elapsed:.1f} s")
