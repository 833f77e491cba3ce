"""Clusters, hosts and capacity: simulator hosts added by URL, maintenance, reconnection with injected
faults, the delete rules, and listCapacity's figures."""

import ipaddress
import time
from types import SimpleNamespace

import pytest
from sandstack.compute.models import VMInstance
from sandstack.core.cache import Caches
from sandstack.core.db import make_engine
from sandstack.iam.models import Account
from sandstack.infra import capacity
from sandstack.infra.models import CAPACITY_CPU, CAPACITY_MEMORY, Capacity, Host
from sqlalchemy import select
from sqlalchemy.orm import Session

from marvin.errors import CloudstackError, JobFailed

from .conftest import unique

GIB = 1024**3
POD_CIDR = ipaddress.IPv4Network("172.16.0.0/24")


# ---- fixtures and helpers -----------------------------------------------------------------------------

@pytest.fixture
def pod(admin):
    """A fresh Advanced zone with one pod (system range .100-.200 of 172.16.0.0/24)."""
    zone = admin("createZone", name=unique("zone"), networktype="Advanced", dns1="8.8.8.8",
                 internaldns1="10.0.0.1")
    made = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.0.1",
                 netmask="255.255.255.0", startip="172.16.0.100", endip="172.16.0.200")
    return zone, made


@pytest.fixture(scope="module")
def database(server):
    """The server's own database, for what the API cannot do yet (VMs on hosts)."""
    engine = make_engine(server.db_url)
    yield engine
    engine.dispose()


def add_cluster(admin, zone, pod, hypervisor="Simulator", **extra) -> dict:
    extra.setdefault("clustername", unique("cluster"))
    return admin.list("addCluster", zoneid=zone["id"], podid=pod["id"], clustertype="CloudManaged",
                      hypervisor=hypervisor, **extra)[0]


def add_host(admin, zone, pod, cluster, url=None, **extra) -> dict:
    return admin.list("addHost", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
                      hypervisor="Simulator", url=url or f"http://sim/{unique('c')}/h0", username="root",
                      password="password", **extra)[0]


def error_of(call) -> CloudstackError:
    with pytest.raises(CloudstackError) as caught:
        call()
    return caught.value


def host_row(admin, host_id: str) -> dict:
    return admin.list("listHosts", id=host_id)[0]


class Ctx:
    """The slice of a command context `capacity.reserve` needs, over the server's database."""

    def __init__(self, db: Session, factors: dict[str, float]):
        self.db, self.factors = db, factors
        self.server = SimpleNamespace(caches=Caches())

    def setting(self, name: str):
        return self.factors[name]


def factors_of(admin) -> dict[str, float]:
    names = ("cpu.overprovisioning.factor", "mem.overprovisioning.factor")
    return {n: float(admin.list("listConfigurations", name=n)[0]["value"]) for n in names}


# ---- clusters -------------------------------------------------------------------------------------------

def test_add_cluster_answers_a_list_and_normalizes_the_hypervisor(admin, pod):
    zone, made = pod
    name = unique("cluster")
    answer = admin.request("addCluster", {"zoneid": zone["id"], "podid": made["id"], "clustername": name,
                                          "clustertype": "CloudManaged", "hypervisor": "simulator"})
    assert answer["count"] == 1 and len(answer["cluster"]) == 1
    cluster = answer["cluster"][0]
    assert (cluster["name"], cluster["hypervisortype"], cluster["clustertype"]) == (name, "Simulator", "CloudManaged")
    assert (cluster["podid"], cluster["zoneid"], cluster["zonename"]) == (made["id"], zone["id"], zone["name"])
    assert cluster["allocationstate"] == "Enabled" and cluster["managedstate"] == "Managed"
    assert float(cluster["cpuovercommitratio"]) > 0 and cluster["arch"] == "x86_64"
    kvm = add_cluster(admin, zone, made, hypervisor="kvm")
    assert kvm["hypervisortype"] == "KVM"
    listed = admin.list("listClusters", podid=made["id"], hypervisor="Simulator")
    assert [c["id"] for c in listed] == [cluster["id"]]
    assert {c["id"] for c in admin.list("listClusters", zoneid=zone["id"])} == {cluster["id"], kvm["id"]}
    dup = error_of(lambda: add_cluster(admin, zone, made, clustername=name))
    assert dup.errorcode == 431


def test_update_and_delete_cluster(admin, pod):
    zone, made = pod
    cluster = add_cluster(admin, zone, made)
    renamed = unique("renamed")
    updated = admin("updateCluster", id=cluster["id"], clustername=renamed, allocationstate="Disabled",
                    managedstate="Unmanaged")
    assert (updated["name"], updated["allocationstate"], updated["managedstate"]) == \
        (renamed, "Disabled", "Unmanaged")
    assert error_of(lambda: admin("updateCluster", id=cluster["id"], allocationstate="Sideways")).errorcode == 431
    assert admin("deleteCluster", id=cluster["id"]) == {"success": True}
    assert error_of(lambda: admin.list("listClusters", id=cluster["id"])).errorcode == 431


def test_add_cluster_refusals(admin, pod):
    zone, made = pod
    wrong = error_of(lambda: add_cluster(admin, zone, made, hypervisor="Hypervisor9000"))
    assert wrong.errorcode == 431 and "Hypervisor9000" in wrong.errortext
    other_zone = admin("createZone", name=unique("zone"), networktype="Advanced", dns1="8.8.8.8",
                       internaldns1="10.0.0.1")
    foreign = error_of(lambda: add_cluster(admin, other_zone, made))
    assert foreign.errorcode == 431 and "doesn't belong to the zone" in foreign.errortext
    missing = error_of(lambda: admin.request("addCluster", {"zoneid": zone["id"], "podid": made["id"],
                                                            "clustername": "x", "hypervisor": "Simulator"}))
    assert missing.errorcode == 431 and "clustertype" in missing.errortext


# ---- hosts ----------------------------------------------------------------------------------------------

def test_simulator_host_defaults(admin, pod):
    zone, made = pod
    cluster = add_cluster(admin, zone, made)
    answer = admin.request("addHost", {"zoneid": zone["id"], "podid": made["id"], "clusterid": cluster["id"],
                                       "hypervisor": "simulator", "url": "http://sim/c0/h0", "username": "root",
                                       "password": "password"})
    assert answer["count"] == 1
    host = answer["host"][0]
    assert (host["cpunumber"], host["cpuspeed"], host["memorytotal"]) == (4, 8000, 8 * GIB)
    assert host["disksizetotal"] == 1024**4
    assert (host["state"], host["resourcestate"], host["type"], host["hypervisor"]) == \
        ("Up", "Enabled", "Routing", "Simulator")
    assert host["name"].startswith("SimulatedAgent.") and host["clusterid"] == cluster["id"]
    assert (host["podid"], host["zoneid"], host["clustername"]) == (made["id"], zone["id"], cluster["name"])
    assert host["cpuallocated"] == "0%" and host["memoryallocated"] == 0
    address = ipaddress.IPv4Address(host["ipaddress"])
    assert address in POD_CIDR and not (ipaddress.IPv4Address("172.16.0.100") <= address
                                        <= ipaddress.IPv4Address("172.16.0.200"))
    assert str(address) != "172.16.0.1"
    second = add_host(admin, zone, made, cluster, url="http://sim/c0/h1")
    assert second["ipaddress"] != host["ipaddress"]
    again = error_of(lambda: add_host(admin, zone, made, cluster, url="http://sim/c0/h0"))
    assert again.errorcode == 431 and "already exists" in again.errortext
    events = {e["type"] for e in admin.list("listEvents", listall=True, resourceid=host["id"])}
    assert "HOST.ADD" in events


def test_simulator_url_overrides_and_host_tags(admin, pod):
    zone, made = pod
    cluster = add_cluster(admin, zone, made)
    host = add_host(admin, zone, made, cluster, url="http://sim/c0/h1/cpuspeed=2400&cpucore=16&memory=34359738368",
                    hosttags="ssd,gpu")
    assert (host["cpunumber"], host["cpuspeed"], host["memorytotal"]) == (16, 2400, 34359738368)
    assert host["hosttags"] == "ssd,gpu"
    encoded = add_host(admin, zone, made, cluster, url="http://sim/c0/h2/cpucore%3D2%26localstorage%3D1000")
    assert (encoded["cpunumber"], encoded["disksizetotal"]) == (2, 1000)


def test_add_host_refusals(admin, pod):
    zone, made = pod
    cluster = add_cluster(admin, zone, made)
    base = {"zoneid": zone["id"], "podid": made["id"], "clusterid": cluster["id"], "hypervisor": "Simulator",
            "url": "http://sim/c9/h9", "username": "root", "password": "password"}

    def attempt(**changes):
        params = {k: v for k, v in {**base, **changes}.items() if v is not None}
        return error_of(lambda: admin.request("addHost", params))

    bad_url = attempt(url="http://example.com/h1")
    assert bad_url.errorcode == 431 and "simulator" in bad_url.errortext.lower()
    no_cluster = attempt(clusterid=None)
    assert no_cluster.errorcode == 431 and "must specify cluster Id when adding host" in no_cluster.errortext
    assert attempt(podid=None).errorcode == 431
    assert attempt(hypervisor="Hypervisor9000").errorcode == 431
    assert attempt(password=None).errortext == "Username and Password need to be provided."
    other_pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.17.0.1",
                      netmask="255.255.255.0", startip="172.17.0.100", endip="172.17.0.200")
    assert attempt(podid=other_pod["id"]).errorcode == 431
    kvm = add_cluster(admin, zone, made, hypervisor="KVM")
    assert attempt(clusterid=kvm["id"]).errorcode == 431
    assert admin.list("listHosts", clusterid=cluster["id"]) == []


def test_add_host_by_cluster_name_creates_the_cluster(admin, pod):
    zone, made = pod
    name = unique("bynamecluster")
    host = admin.list("addHost", zoneid=zone["id"], podid=made["id"], clustername=name, hypervisor="Simulator",
                      url="http://sim/byname/h0", username="root", password="password")[0]
    assert host["clustername"] == name
    assert admin.list("listClusters", name=name)[0]["id"] == host["clusterid"]


def test_list_hosts_filters(admin, pod):
    zone, made = pod
    first, second = add_cluster(admin, zone, made), add_cluster(admin, zone, made)
    a = add_host(admin, zone, made, first)
    b = add_host(admin, zone, made, second, hosttags="fast")
    assert {h["id"] for h in admin.list("listHosts", zoneid=zone["id"])} == {a["id"], b["id"]}
    assert [h["id"] for h in admin.list("listHosts", clusterid=first["id"])] == [a["id"]]
    assert [h["id"] for h in admin.list("listHosts", name=b["name"])] == [b["id"]]
    assert [h["id"] for h in admin.list("listHosts", zoneid=zone["id"], hosttags="fast")] == [b["id"]]
    filtered = admin.list("listHosts", podid=made["id"], type="Routing", state="Up", resourcestate="Enabled",
                          hypervisor="simulator")
    assert {h["id"] for h in filtered} == {a["id"], b["id"]}
    assert admin.list("listHosts", zoneid=zone["id"], state="Alert") == []
    paged = admin.request("listHosts", {"zoneid": zone["id"], "page": 1, "pagesize": 1})
    assert paged["count"] == 2 and len(paged["host"]) == 1


def test_update_host_tags_and_allocation_state(admin, pod):
    zone, made = pod
    host = add_host(admin, zone, made, add_cluster(admin, zone, made), hosttags="a,b")
    updated = admin("updateHost", id=host["id"], hosttags="c,d,c", annotation="rack 4")
    assert updated["hosttags"] == "c,d" and updated["annotation"] == "rack 4"
    assert admin("updateHost", id=host["id"], allocationstate="Disable")["resourcestate"] == "Disabled"
    assert admin("updateHost", id=host["id"], allocationstate="Enable")["resourcestate"] == "Enabled"
    bad = error_of(lambda: admin("updateHost", id=host["id"], allocationstate="Maintain"))
    assert bad.errorcode == 431 and "only Enable/Disable are allowed" in bad.errortext


# ---- maintenance and reconnection -------------------------------------------------------------------------

def test_maintenance_round_trip(admin, pod):
    zone, made = pod
    host = add_host(admin, zone, made, add_cluster(admin, zone, made))
    started = admin.request("prepareHostForMaintenance", {"id": host["id"]})
    assert set(started) == {"jobid"}
    assert admin.wait(started["jobid"])["host"]["resourcestate"] == "Maintenance"
    job = admin.request("queryAsyncJobResult", {"jobid": started["jobid"]})
    assert job["jobinstancetype"] == "Host" and job["jobinstanceid"] == host["id"]
    with pytest.raises(JobFailed) as twice:
        admin("prepareHostForMaintenance", id=host["id"])
    assert "already in state Maintenance" in twice.value.errortext
    assert error_of(lambda: admin("updateHost", id=host["id"], allocationstate="Enable")).errorcode == 431
    assert admin("cancelHostMaintenance", id=host["id"])["resourcestate"] == "Enabled"
    with pytest.raises(JobFailed):
        admin("cancelHostMaintenance", id=host["id"])
    events = [e["type"] for e in admin.list("listEvents", listall=True, resourceid=host["id"])]
    assert "MAINT.PREPARE" in events and "MAINT.CANCEL" in events


def test_failed_maintain_command_leaves_the_host_enabled(admin, pod):
    zone, made = pod
    host = add_host(admin, zone, made, add_cluster(admin, zone, made))
    admin("configureSimulator", name="MaintainCommand", value="result:fail", hostid=host["id"], count=1)
    with pytest.raises(JobFailed) as failed:
        admin("prepareHostForMaintenance", id=host["id"])
    assert "Simulated failure" in failed.value.errortext
    assert host_row(admin, host["id"])["resourcestate"] == "Enabled"


def place_vm(database, host_id: str, factors: dict, name: str) -> int:
    """A running VM on a host, with its CPU and memory reserved as the VM work will do."""
    with Session(database) as db:
        host = db.scalars(select(Host).where(Host.uuid == host_id)).one()
        owner = db.scalars(select(Account).where(Account.account_name == "admin")).first()
        assert capacity.reserve(Ctx(db, factors), host, 1000, GIB, 1)
        vm = VMInstance(name=name, type="User", state="Running", zone_id=host.zone_id, pod_id=host.pod_id,
                        host_id=host.id, hypervisor_type="Simulator", account_id=owner.id,
                        domain_id=owner.domain_id, cpus=1, speed=1000, ram=GIB)
        db.add(vm)
        db.commit()
        return vm.id


def vm_host(database, vm_id: int) -> int | None:
    with Session(database) as db:
        return db.get(VMInstance, vm_id).host_id


def test_maintenance_migrates_running_vms(admin, pod, database):
    zone, made = pod
    cluster = add_cluster(admin, zone, made)
    source, target = add_host(admin, zone, made, cluster), add_host(admin, zone, made, cluster)
    vm_id = place_vm(database, source["id"], factors_of(admin), unique("i-2-vm"))
    assert host_row(admin, source["id"])["memoryallocated"] == GIB
    assert admin("prepareHostForMaintenance", id=source["id"])["resourcestate"] == "Maintenance"
    with Session(database) as db:
        target_id = db.scalars(select(Host.id).where(Host.uuid == target["id"])).one()
    assert vm_host(database, vm_id) == target_id
    assert host_row(admin, target["id"])["memoryallocated"] == GIB
    assert host_row(admin, source["id"])["memoryallocated"] == 0
    assert host_row(admin, target["id"])["cpuallocatedvalue"] == 1000


def test_failed_migration_ends_in_error_in_maintenance(admin, pod, database):
    zone, made = pod
    cluster = add_cluster(admin, zone, made)
    source, target = add_host(admin, zone, made, cluster), add_host(admin, zone, made, cluster)
    vm_id = place_vm(database, source["id"], factors_of(admin), unique("i-2-vm"))
    admin("configureSimulator", name="MigrateCommand", value="result:fail", hostid=source["id"], count=1)
    assert admin("prepareHostForMaintenance", id=source["id"])["resourcestate"] == "ErrorInMaintenance"
    assert host_row(admin, target["id"])["memoryallocated"] == 0
    with Session(database) as db:
        source_id = db.scalars(select(Host.id).where(Host.uuid == source["id"])).one()
    assert vm_host(database, vm_id) == source_id
    # The fault was one-shot: a second attempt moves the VM.
    assert admin("prepareHostForMaintenance", id=source["id"])["resourcestate"] == "Maintenance"
    assert host_row(admin, target["id"])["memoryallocated"] == GIB


def test_maintenance_without_a_target_ends_in_error(admin, pod, database):
    zone, made = pod
    host = add_host(admin, zone, made, add_cluster(admin, zone, made))
    place_vm(database, host["id"], factors_of(admin), unique("i-2-vm"))
    assert admin("prepareHostForMaintenance", id=host["id"])["resourcestate"] == "ErrorInMaintenance"
    assert error_of(lambda: admin("deleteHost", id=host["id"])).errorcode == 536
    assert admin("cancelHostMaintenance", id=host["id"])["resourcestate"] == "Enabled"


def test_reconnect_with_injected_faults(admin, pod):
    zone, made = pod
    host = add_host(admin, zone, made, add_cluster(admin, zone, made))
    assert admin("reconnectHost", id=host["id"])["state"] == "Up"

    mock = admin("configureSimulator", name="ReadyCommand", value="result:fail", hostid=host["id"])
    started = admin.request("reconnectHost", {"id": host["id"]})
    with pytest.raises(JobFailed) as failed:
        admin.wait(started["jobid"])
    job = admin.request("queryAsyncJobResult", {"jobid": started["jobid"]})
    assert job["jobstatus"] == 2 and "Simulated failure" in job["jobresult"]["errortext"]
    assert "Simulated failure" in failed.value.errortext
    assert host_row(admin, host["id"])["state"] == "Alert"
    assert admin("cleanupSimulatorMock", id=mock["id"]) == {"success": True}
    assert admin("reconnectHost", id=host["id"])["state"] == "Up"

    once = admin("configureSimulator", name="PingCommand", value="result:fail", hostid=host["id"], count=1)
    assert once["count"] == 1
    with pytest.raises(JobFailed):
        admin("reconnectHost", id=host["id"])
    assert admin("querySimulatorMock", id=once["id"])["count"] == 0
    assert admin("reconnectHost", id=host["id"])["state"] == "Up"
    events = [e for e in admin.list("listEvents", listall=True, resourceid=host["id"])
              if e["type"] == "HOST.RECONNECT"]
    assert any(e["level"] == "ERROR" for e in events) and any(e["level"] == "INFO" for e in events)


def test_reconnect_waits_as_the_mock_says(admin, pod):
    zone, made = pod
    host = add_host(admin, zone, made, add_cluster(admin, zone, made))
    mock = admin("configureSimulator", name="PingCommand", value="wait:300", hostid=host["id"])
    began = time.monotonic()
    assert admin("reconnectHost", id=host["id"])["state"] == "Up"
    assert time.monotonic() - began >= 0.3
    admin("cleanupSimulatorMock", id=mock["id"])


# ---- delete rules ---------------------------------------------------------------------------------------

def test_delete_rules(admin, pod):
    zone, made = pod
    cluster = add_cluster(admin, zone, made)
    host = add_host(admin, zone, made, cluster)
    other = add_host(admin, zone, made, cluster)
    busy = error_of(lambda: admin("deleteCluster", id=cluster["id"]))
    assert busy.errorcode == 536 and "Cluster still has hosts" in busy.errortext
    enabled = error_of(lambda: admin("deleteHost", id=host["id"]))
    assert enabled.errorcode == 536 and "not in maintenance mode" in enabled.errortext
    admin("prepareHostForMaintenance", id=host["id"])
    assert admin("deleteHost", id=host["id"]) == {"success": True}
    assert admin("deleteHost", id=other["id"], forced=True) == {"success": True}
    assert admin.list("listHosts", clusterid=cluster["id"]) == []
    assert admin("deleteCluster", id=cluster["id"]) == {"success": True}
    events = {e["type"] for e in admin.list("listEvents", listall=True, resourceid=host["id"])}
    assert "HOST.DELETE" in events


# ---- capacity -------------------------------------------------------------------------------------------

def by_type(items: list[dict]) -> dict[int, dict]:
    return {item["type"]: item for item in items}


def test_list_capacity_after_adding_hosts(admin, pod):
    zone, made = pod
    cluster = add_cluster(admin, zone, made)
    add_host(admin, zone, made, cluster)
    add_host(admin, zone, made, cluster)
    factors = factors_of(admin)
    figures = by_type(admin.list("listCapacity", zoneid=zone["id"]))
    cpu, memory = figures[1], figures[0]
    assert cpu["capacitytotal"] == int(2 * 4 * 8000 * factors["cpu.overprovisioning.factor"])
    assert memory["capacitytotal"] == int(2 * 8 * GIB * factors["mem.overprovisioning.factor"])
    assert (cpu["name"], cpu["zoneid"], cpu["zonename"]) == ("CPU", zone["id"], zone["name"])
    assert cpu["capacityused"] == 0 and cpu["percentused"] == "0"
    assert figures[90]["capacitytotal"] == 8 and figures[9]["capacitytotal"] == 2 * 1024**4
    assert figures[5]["capacitytotal"] == 101 and figures[5]["name"] == "PRIVATE_IP"
    only_cpu = admin.list("listCapacity", zoneid=zone["id"], type=1)
    assert [c["type"] for c in only_cpu] == [1]
    per_cluster = by_type(admin.list("listCapacity", clusterid=cluster["id"]))
    assert per_cluster[1]["clusterid"] == cluster["id"] and per_cluster[1]["podid"] == made["id"]
    assert 5 not in per_cluster
    shown = admin.list("listClusters", id=cluster["id"], showcapacities=True)[0]["capacity"]
    assert by_type(shown)[1]["capacitytotal"] == cpu["capacitytotal"]
    zone_view = admin.list("listZones", id=zone["id"], showcapacities=True)[0]
    assert by_type(zone_view["capacity"])[0]["capacitytotal"] == memory["capacitytotal"]


def test_overprovisioning_factor_scales_totals(admin, pod):
    zone, made = pod
    add_host(admin, zone, made, add_cluster(admin, zone, made))
    before = factors_of(admin)["cpu.overprovisioning.factor"]
    admin("updateConfiguration", name="cpu.overprovisioning.factor", value="2.5")
    try:
        cpu = by_type(admin.list("listCapacity", zoneid=zone["id"], type=1))[1]
        assert cpu["capacitytotal"] == int(4 * 8000 * 2.5)
    finally:
        admin("updateConfiguration", name="cpu.overprovisioning.factor", value=str(before))


def test_reserve_is_conditional(admin, pod, database):
    zone, made = pod
    host = add_host(admin, zone, made, add_cluster(admin, zone, made))
    factors = {"cpu.overprovisioning.factor": 1.0, "mem.overprovisioning.factor": 1.0}
    with Session(database) as db:
        row = db.scalars(select(Host).where(Host.uuid == host["id"])).one()
        ctx = Ctx(db, factors)
        assert capacity.reserve(ctx, row, 30000, 6 * GIB, 3)
        assert not capacity.reserve(ctx, row, 3000, GIB)  # 33000 MHz > 32000
        assert not capacity.reserve(ctx, row, 1000, 4 * GIB)  # CPU fits, memory does not: nothing taken
        db.commit()
        used = dict(db.execute(select(Capacity.capacity_type, Capacity.used).where(
            Capacity.host_id == row.id, Capacity.capacity_type.in_((CAPACITY_CPU, CAPACITY_MEMORY)))).all())
        assert used == {CAPACITY_CPU: 30000, CAPACITY_MEMORY: 6 * GIB}
    shown = host_row(admin, host["id"])
    assert (shown["cpuallocatedvalue"], shown["memoryallocated"], shown["cpuallocated"]) == (30000, 6 * GIB, "93.75%")
    cpu = by_type(admin.list("listCapacity", zoneid=zone["id"]))[CAPACITY_CPU]
    assert cpu["capacityused"] == 30000
    with Session(database) as db:
        row = db.scalars(select(Host).where(Host.uuid == host["id"])).one()
        capacity.release(Ctx(db, factors), row, 40000, 6 * GIB, 3)
        db.commit()
    assert host_row(admin, host["id"])["cpuallocatedvalue"] == 0
