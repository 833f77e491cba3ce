"""System VMs: created when a zone is enabled and ready, driven through the simulator, fault-injected."""

import time

import pytest

from marvin.errors import JobFailed

from .conftest import unique


def wait_for(predicate, timeout=20.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def build_zone(admin, *, image_store=True, hosts=2):
    zone = admin("createZone", name=unique("svm"), networktype="Advanced", dns1="8.8.8.8",
                 internaldns1="8.8.4.4", guestcidraddress="10.1.1.0/24")
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.20.1",
                netmask="255.255.255.0", startip="172.16.20.2", endip="172.16.20.100")
    cluster = admin.list("addCluster", zoneid=zone["id"], podid=pod["id"], clustername=unique("c"),
                         hypervisor="Simulator", clustertype="CloudManaged")[0]
    added = [admin.list("addHost", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
                        hypervisor="Simulator", url=f"http://sim/{cluster['name']}/h{i}", username="root",
                        password="password")[0] for i in range(hosts)]
    admin("createStoragePool", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"], name=unique("ps"),
          url=f"nfs://10.147.28.6:/export/{unique('primary')}")
    if image_store:
        admin("addImageStore", provider="NFS", zoneid=zone["id"], name=unique("ss"),
              url=f"nfs://10.147.28.6:/export/{unique('secondary')}")
    return zone, pod, cluster, added


def system_vms(admin, zone, **filters):
    return admin.list("listSystemVms", zoneid=zone["id"], **filters)


def running(admin, zone):
    vms = system_vms(admin, zone)
    return vms if len(vms) == 2 and all(vm["state"] == "Running" for vm in vms) else None


def test_enabling_a_ready_zone_starts_both_system_vms(admin):
    zone, pod, cluster, hosts = build_zone(admin)
    assert system_vms(admin, zone) == []
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    vms = wait_for(lambda: running(admin, zone))
    assert sorted(vm["systemvmtype"] for vm in vms) == ["consoleproxy", "secondarystoragevm"]
    for vm in vms:
        assert vm["name"].startswith("s-" if vm["systemvmtype"] == "secondarystoragevm" else "v-")
        assert vm["hostid"] in {h["id"] for h in hosts} and vm["privateip"].startswith("172.16.20.")
        assert vm["templatename"] == "SystemVM Template (simulator)"
    memory = next(c for c in admin.list("listCapacity", zoneid=zone["id"]) if c["type"] == 0)
    assert memory["capacityused"] == (512 + 1024) * 1024 ** 2


def test_lifecycle_stop_start_reboot_migrate_destroy(admin):
    zone, pod, cluster, hosts = build_zone(admin)
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    ssvm = next(vm for vm in wait_for(lambda: running(admin, zone)) if vm["systemvmtype"] == "secondarystoragevm")
    assert admin("stopSystemVm", id=ssvm["id"])["state"] == "Stopped"
    assert admin("startSystemVm", id=ssvm["id"])["state"] == "Running"
    assert admin("rebootSystemVm", id=ssvm["id"])["state"] == "Running"
    current = system_vms(admin, zone, id=ssvm["id"])[0]["hostid"]
    other = next(h["id"] for h in hosts if h["id"] != current)
    moved = admin("migrateSystemVm", virtualmachineid=ssvm["id"], hostid=other)
    assert moved["hostid"] == other
    destroyed = admin("destroySystemVm", id=ssvm["id"])
    assert destroyed["id"] == ssvm["id"]
    replacement = wait_for(lambda: [vm for vm in system_vms(admin, zone, systemvmtype="secondarystoragevm")
                                    if vm["state"] == "Running" and vm["id"] != ssvm["id"]])
    assert replacement[0]["name"] != ssvm["name"]


def test_a_zone_without_secondary_storage_says_why(admin):
    zone, *_ = build_zone(admin, image_store=False)
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    event = wait_for(lambda: [e for e in admin.list("listEvents", listall=True, type="SSVM.CREATE",
                                                    resourceid=zone["id"])])
    assert "no secondary storage" in event[0]["description"] and event[0]["level"] == "ERROR"
    assert system_vms(admin, zone) == []


def test_simulated_start_failure_is_reported_and_retried(admin):
    zone, pod, cluster, hosts = build_zone(admin)
    mock = admin("configureSimulator", name="StartCommand", value="result:fail", zoneid=zone["id"], count=2)
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    event = wait_for(lambda: [e for e in admin.list("listEvents", listall=True, type="SSVM.CREATE",
                                                    resourceid=zone["id"]) if "failed to start" in e["description"]])
    assert "Simulated failure" in event[0]["description"]
    assert admin("querySimulatorMock", id=mock["id"])["count"] == 0
    wait_for(lambda: running(admin, zone), timeout=30)


def test_faulty_stop_fails_the_job_and_keeps_the_vm_running(admin):
    zone, pod, cluster, hosts = build_zone(admin)
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    proxy = next(vm for vm in wait_for(lambda: running(admin, zone)) if vm["systemvmtype"] == "consoleproxy")
    host = next(h for h in hosts if h["id"] == proxy["hostid"])
    mock = admin("configureSimulator", name="StopCommand", value="result:fault", hostid=host["id"])
    with pytest.raises(JobFailed) as failed:
        admin("stopSystemVm", id=proxy["id"])
    assert "Simulated fault" in failed.value.errortext
    assert system_vms(admin, zone, id=proxy["id"])[0]["state"] == "Running"
    admin("cleanupSimulatorMock", id=mock["id"])
    assert admin("stopSystemVm", id=proxy["id"])["state"] == "Stopped"
