"""The resource library (marvin.lib.base) against a live server, called both ways: upstream's
(`Account.create(apiclient, services)`, `Host.update(apiclient, id=...)`, `obj.delete(apiclient)`) and
the pytest style (objects remember their client: `pod.update(name=...)`, `host.wait("Up")`)."""

import pytest

from marvin.codes import EMPTY_LIST, FAIL, INVALID_INPUT, PASS
from marvin.errors import CloudstackError
from marvin.lib.base import (
    Account,
    Cluster,
    Configurations,
    Domain,
    Host,
    Hypervisor,
    ImageStore,
    NetworkServiceProvider,
    PhysicalNetwork,
    Pod,
    PublicIpRange,
    Region,
    Role,
    RolePermission,
    SecondaryStagingStore,
    SimulatorMock,
    StoragePool,
    SystemVm,
    User,
    Zone,
)
from marvin.lib.utils import poll, random_gen, validateList

from .conftest import unique

NFS = "nfs://10.147.28.6:/export/lib"


def new_zone(admin):
    return Zone.create(admin, {"name": unique("lib"), "networktype": "Advanced", "dns1": "8.8.8.8",
                               "internaldns1": "8.8.4.4", "guestcidraddress": "10.9.0.0/22"})


def new_pod(admin, zone, octet=40):
    return Pod.create(admin, {"zoneid": zone.id, "name": unique("pod"), "gateway": f"172.16.{octet}.1",
                              "netmask": "255.255.255.0", "startip": f"172.16.{octet}.2",
                              "endip": f"172.16.{octet}.100"})


def new_cluster(admin, zone, pod):
    return Cluster.create(admin, {"clustertype": "CloudManaged"}, zoneid=zone.id, podid=pod.id,
                          hypervisor="Simulator")


@pytest.fixture
def zone(admin, cleanup):
    """A fresh Advanced zone of this module's own (tests change it), deleted afterwards."""
    return cleanup.add(new_zone(admin))


@pytest.fixture
def pod(admin, zone, cleanup):
    return cleanup.add(new_pod(admin, zone))


@pytest.fixture
def cluster(admin, zone, pod, cleanup):
    return cleanup.add(new_cluster(admin, zone, pod))


def test_upstream_style_account_and_user(admin):
    domain = Domain.create(admin, {"name": "lib"})
    account = Account.create(admin, {"email": "u@example.test", "firstname": "U", "lastname": "S",
                                     "username": "upstream", "password": "pw"}, domainid=domain.id)
    assert account.name.startswith("upstre-") and account.user[0].username == account.name
    assert account["domainid"] == domain.id == account.domainid
    listed = Account.list(admin, account=account.name, domainid=domain.id)
    assert validateList(listed)[0] == PASS and listed[0].id == account.id
    nobody = Account.list(admin, name=unique("nobody"))
    assert nobody is None and validateList(nobody) == [FAIL, None, INVALID_INPUT]
    assert validateList([]) == [FAIL, None, EMPTY_LIST]
    user = User.create(admin, {"email": "v@example.test", "firstname": "V", "lastname": "S", "username": "v",
                               "password": "pw"}, account=account.name, domainid=domain.id)
    keys = User.registerUserKeys(admin, user.id)
    assert user.keys(admin).secretkey == keys.secretkey
    assert User.update(admin, user.id, firstname="Changed").firstname == "Changed"
    user.delete(admin)
    account.delete(admin)
    domain.delete(admin, cleanup=True)
    assert Domain.list(admin, name=domain.name) is None


def test_pytest_style_account_states(admin, cleanup):
    account = cleanup.add(Account.create(admin))
    assert account.disable(lock=True).state == "locked"
    assert account.enable().state == "enabled"
    assert account.lock().state == "locked"
    account.enable()
    renamed = account.update(newname=f"renamed-{random_gen()}")
    assert renamed is account and account.refresh().name.startswith("renamed-")


def test_user_client_signs_as_the_user(admin, account, user):
    assert user is account.users[0]
    assert [a["id"] for a in user.client.list("listAccounts", listall=True)] == [account.id]
    assert user.disable().state == "disabled"
    with pytest.raises(CloudstackError):
        user.client("listCapabilities")
    assert user.enable().state == "enabled" and user.lock().state == "locked"
    user.enable()
    other = Account.create(admin, domainid=account.domainid)
    user.move(dest_accountid=other.id)
    assert user.refresh().accountid == other.id
    other.delete()


def test_roles_and_permissions(admin, cleanup):
    role = cleanup.add(Role.create(admin, {"name": unique("role"), "type": "User", "description": "d"}))
    rule = RolePermission.create(admin, {"roleid": role.id, "rule": "listUsers", "permission": "deny"})
    rule.update(permission="allow")
    assert rule.refresh().permission == "allow"
    assert role.update(description="changed").refresh().description == "changed"
    rule.delete()
    assert RolePermission.list(admin, roleid=role.id) is None


def test_zone_update_refresh_and_wait(admin, zone):
    assert zone.allocationstate == "Disabled"
    Zone.update(admin, id=zone.id, allocationstate="Enabled")  # upstream's class-level form
    assert zone.wait("Enabled", timeout=5).allocationstate == "Enabled"
    zone.update(allocationstate="Disabled")
    assert zone.allocationstate == "Disabled"
    with pytest.raises(TimeoutError, match="allocationstate='Disabled'"):
        zone.wait("Enabled", timeout=0.3, interval=0.1)


def test_pod_update_both_ways_and_delete(admin, zone):
    pod = new_pod(admin, zone, 41)
    Pod.update(admin, id=pod.id, name="renamed-by-class")
    assert pod.refresh().name == "renamed-by-class"
    assert pod.update(endip="172.16.41.60").endip == ["172.16.41.60"]  # a pod may have several ranges
    pod.delete()
    assert Pod.list(admin, zoneid=zone.id) is None


def test_cluster_host_and_storage(admin, zone, pod, cluster, cleanup):
    assert Cluster.update(admin, id=cluster.id, allocationstate="Disabled").allocationstate == "Disabled"
    cluster.update(allocationstate="Enabled")
    host = Host.create(admin, cluster, {"url": f"http://sim/{cluster.name}/h0", "username": "root",
                                        "password": "password"})
    cleanup.add(host)
    assert host.state == "Up" and host.clusterid == cluster.id
    Host.update(admin, id=host.id, hosttags="lib")
    assert host.refresh().hosttags == "lib"
    Host.enableMaintenance(admin, id=host.id)
    host.wait(lambda h: h.resourcestate == "Maintenance", timeout=10)
    host.cancelMaintenance()
    assert host.wait(lambda h: h.resourcestate == "Enabled", timeout=10).state == "Up"
    Host.reconnect(admin, id=host.id)
    pool = StoragePool.create(admin, {"name": unique("ps"), "url": f"{NFS}/{random_gen()}"}, zoneid=zone.id,
                              podid=pod.id, clusterid=cluster.id, tags="lib")
    cleanup.add(pool)
    assert StoragePool.update(admin, id=pool.id, tags="lib,fast").tags == "lib,fast"
    assert pool.enableMaintenance().state == "Maintenance"
    assert StoragePool.cancelMaintenance(admin, id=pool.id).state == "Up"


def test_image_and_staging_stores(admin, zone, cleanup):
    store = cleanup.add(ImageStore.create(admin, f"{NFS}/{random_gen()}", "NFS",
                                          {"zoneid": zone.id, "name": unique("ss")}))
    assert store.update(readonly=True).refresh().readonly is True
    staging = cleanup.add(SecondaryStagingStore.create(admin, f"{NFS}/{random_gen()}", "NFS",
                                                       {"zoneid": zone.id}))
    assert staging.refresh().id == staging.id


def test_physical_network_traffic_and_providers(admin, zone, cleanup):
    network = cleanup.add(PhysicalNetwork.create(admin, {"name": unique("pnet")}, zone.id,
                                                 isolationmethods=["VLAN"]))
    guest = network.addTrafficType(admin, "Guest", kvmnetworklabel="cloudbr0")
    assert guest.update(kvmnetworklabel="cloudbr1").refresh().kvmnetworklabel == "cloudbr1"
    assert {p.name for p in network.providers(state="Disabled")} >= {"VirtualRouter", "VpcVirtualRouter"}
    added = NetworkServiceProvider.add(admin, "Netscaler", network.id, None)
    assert added.update(state="Enabled").refresh().state == "Enabled"
    added.delete()
    guest.delete()
    assert network.update(vlan="300-310").refresh().vlan == "300-310"


def test_public_ip_range_reads_as_upstream_does(admin, zone, account):
    created = PublicIpRange.create(admin, {"zoneid": zone.id, "vlan": "77", "gateway": "203.0.113.1",
                                           "netmask": "255.255.255.0", "startip": "203.0.113.10",
                                           "endip": "203.0.113.20", "forvirtualnetwork": True})
    assert created.vlan.id == created.id  # upstream tests read the new range as `.vlan.id`
    dedicated = PublicIpRange.dedicate(admin, created.id, account=account.name, domainid=account.domainid)
    assert dedicated.account == account.name
    created.release()
    assert created.refresh().get("account") in (None, "system")
    created.delete()
    assert PublicIpRange.list(admin, zoneid=zone.id) is None


def test_region_configuration_and_hypervisors(admin, cleanup):
    region = cleanup.add(Region.create(admin, {"id": 70 + int(random_gen(size=2, chars="0123456789")),
                                               "name": unique("region"), "endpoint": "http://r.example/"}))
    assert region.update(name="renamed").refresh().name == "renamed"
    Configurations.update(admin, "default.page.size", "777")
    (setting,) = Configurations.list(admin, name="default.page.size")
    assert setting.value == "777"
    Configurations.reset(admin, "default.page.size")
    assert setting.refresh().value != "777"
    assert Configurations.listCapabilities(admin).cloudstackversion
    assert "Simulator" in {h.name for h in Hypervisor.list(admin)}


def test_system_vms_and_simulator_mocks(admin):
    # Left in place afterwards, as in test_system_vms: a zone running system VMs is slow to take down.
    zone = new_zone(admin)
    pod = new_pod(admin, zone, 42)
    cluster = new_cluster(admin, zone, pod)
    for i in range(2):
        Host.create(admin, cluster, {"url": f"http://sim/{cluster.name}/h{i}", "username": "root",
                                     "password": "password"})
    StoragePool.create(admin, {"name": unique("ps"), "url": f"{NFS}/{random_gen()}"}, zoneid=zone.id,
                       podid=pod.id, clusterid=cluster.id)
    ImageStore.create(admin, f"{NFS}/{random_gen()}", "NFS", {"zoneid": zone.id})
    zone.update(allocationstate="Enabled")
    vms = poll(lambda: [vm for vm in SystemVm.list(admin, zoneid=zone.id) or [] if vm.state == "Running"],
               timeout=30, what="system VMs")
    vm = vms[0]
    mock = SimulatorMock.create(admin, "StopCommand", hostid=vm.hostid, value="result:fault", count=1)
    with pytest.raises(CloudstackError, match="Simulated fault"):
        vm.stop()
    assert mock.query().count == 0
    mock.delete()
    assert vm.stop().state == "Stopped" and vm.start().state == "Running"
    assert vm.reboot().state == "Running"
