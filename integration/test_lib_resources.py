"""The resource library's offerings, VMs, volumes, snapshots, templates, ISOs, networks, routers, keys, user
data, tags, affinity groups and limits against a live server, called both ways: upstream's
(`VirtualMachine.create(apiclient, services, templateid=..., ...)`, `vm.stop(apiclient)`,
`Router.stop(apiclient, id)`) and the pytest style (`VirtualMachine.deploy(api, zone, account=...)`,
`vm.stop()`, `cleanup.add(volume)`).

The module's zone is built with the library's own infrastructure classes, the way the deployer builds an
Advanced zone, and left in place afterwards (a zone running system VMs is slow to take down)."""

from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from marvin.codes import FAIL, PASS
from marvin.errors import CloudstackError
from marvin.lib.base import (
    AffinityGroup,
    Cluster,
    DiskOffering,
    Host,
    ImageStore,
    InstanceGroup,
    Iso,
    Network,
    NetworkOffering,
    PhysicalNetwork,
    Pod,
    PublicIpRange,
    Resources,
    Router,
    ServiceOffering,
    SimulatorMock,
    Snapshot,
    SnapshotPolicy,
    SSHKeyPair,
    StoragePool,
    SystemVm,
    Tag,
    Template,
    UserData,
    VirtualMachine,
    VmSnapshot,
    Volume,
    VpcOffering,
    Zone,
)
from marvin.lib.utils import cleanup_resources, poll, random_gen, validateList

from .conftest import unique

NFS = "nfs://10.147.28.6:/export/lib-resources"
CENTOS = "CentOS 5.6 (64-bit) no GUI (Simulator)"

# services dicts shaped like upstream's test_data entries
VIRTUAL_MACHINE = {"displayname": "lib-vm", "username": "root", "password": "password", "ssh_port": 22,
                   "hypervisor": "Simulator", "privateport": 22, "publicport": 22, "protocol": "TCP"}
SERVICE_OFFERING = {"name": "lib-tiny", "displaytext": "Tiny instance", "cpunumber": 1, "cpuspeed": 100,
                    "memory": 128}
DISK_OFFERING = {"name": "lib-disk", "displaytext": "Small disk", "disksize": 1}
TEMPLATE = {"name": "lib-tmpl", "displaytext": "lib template", "format": "QCOW2", "hypervisor": "Simulator",
            "url": "http://download.example.org/templates/lib.qcow2", "ostype": "CentOS 5.6 (64-bit)",
            "isextractable": True, "passwordenabled": True}
ISO = {"name": "lib-iso", "displaytext": "lib ISO", "url": "http://download.example.org/isos/lib.iso",
       "ostype": "CentOS 5.6 (64-bit)", "bootable": True}
ISOLATED_OFFERING = {
    "name": "lib-isolated", "displaytext": "lib isolated", "guestiptype": "Isolated", "traffictype": "GUEST",
    "supportedservices": "Dhcp,Dns,SourceNat",
    "serviceProviderList": {"Dhcp": "VirtualRouter", "Dns": "VirtualRouter", "SourceNat": "VirtualRouter"},
    "serviceCapabilityList": {"SourceNat": {"SupportedSourceNatTypes": "peraccount"}},
}
VPC_OFFERING = {"name": "lib-vpc", "displaytext": "lib VPC", "supportedservices": "Dhcp,Dns,SourceNat",
                "serviceProviderList": {"Dhcp": "VpcVirtualRouter", "Dns": "VpcVirtualRouter",
                                        "SourceNat": "VpcVirtualRouter"}}


# ---- the zone ---------------------------------------------------------------------------------------


def enable_virtual_router(admin, pnet):
    (provider,) = pnet.providers(admin, name="VirtualRouter")
    (element,) = admin.list("listVirtualRouterElements", nspid=provider.id)
    admin("configureVirtualRouterElement", id=element["id"], enabled=True)  # no library class (yet)
    provider.update(state="Enabled")


def physical_network(admin, zone):
    pnet = PhysicalNetwork.create(admin, {"name": unique("pnet")}, zone.id, isolationmethods=["VLAN"])
    for kind in ("Guest", "Management", "Public"):
        pnet.addTrafficType(admin, kind)
    enable_virtual_router(admin, pnet)
    return pnet.update(state="Enabled", vlan="1100-1199")


def ssvm_running(admin, zone):
    found = SystemVm.list(admin, zoneid=zone.id, systemvmtype="secondarystoragevm") or []
    return [vm for vm in found if vm.state == "Running"]


@pytest.fixture(scope="module")
def dc(admin):
    """An enabled Advanced zone with two simulator hosts, two primary pools, secondary storage and a
    running SSVM; `template` is the zone's BUILTIN simulator template."""
    zone = Zone.create(admin, {"name": unique("libres"), "networktype": "Advanced", "dns1": "8.8.8.8",
                               "internaldns1": "8.8.4.4", "guestcidraddress": "10.7.0.0/22"})
    pnet = physical_network(admin, zone)
    pod = Pod.create(admin, {"zoneid": zone.id, "name": unique("pod"), "gateway": "172.16.50.1",
                             "netmask": "255.255.255.0", "startip": "172.16.50.2", "endip": "172.16.50.99"})
    cluster = Cluster.create(admin, {"clustertype": "CloudManaged"}, zoneid=zone.id, podid=pod.id,
                             hypervisor="Simulator")
    hosts = [Host.create(admin, cluster, {"url": f"http://sim/{cluster.name}/h{i}", "username": "root",
                                          "password": "password"}) for i in range(2)]
    pools = [StoragePool.create(admin, {"name": unique("ps"), "url": f"{NFS}/{random_gen()}"},
                                zoneid=zone.id, podid=pod.id, clusterid=cluster.id) for _ in range(2)]
    ImageStore.create(admin, f"{NFS}/{random_gen()}", "NFS", {"zoneid": zone.id})
    PublicIpRange.create(admin, {"zoneid": zone.id, "vlan": "77", "gateway": "100.64.77.1",
                                 "netmask": "255.255.255.0", "startip": "100.64.77.10",
                                 "endip": "100.64.77.60", "forvirtualnetwork": True})
    zone.update(allocationstate="Enabled")
    poll(lambda: ssvm_running(admin, zone), timeout=60, what="a running secondary storage VM")
    (template,) = Template.list(admin, templatefilter="featured", zoneid=zone.id, name=CENTOS)
    return SimpleNamespace(zone=zone, pnet=pnet, pod=pod, cluster=cluster, hosts=hosts, pools=pools,
                           template=template)


@pytest.fixture
def tiny(admin, cleanup):
    return cleanup.add(ServiceOffering.create(admin, {**SERVICE_OFFERING, "name": unique("tiny")}))


@pytest.fixture
def disk(admin, cleanup):
    return cleanup.add(DiskOffering.create(admin, {**DISK_OFFERING, "name": unique("disk")}))


def owned_by(account) -> dict:
    return {"account": account.name, "domainid": account.domainid}


# ---- offerings ---------------------------------------------------------------------------------------


def test_service_and_disk_offerings(admin, cleanup):
    offering = ServiceOffering.create(admin, {**SERVICE_OFFERING, "name": unique("so"), "hosttags": "lib"},
                                      tags="fast")
    assert (offering.cpunumber, offering.cpuspeed, offering.memory) == (1, 100, 128)
    assert offering.hosttags == "lib" and offering.tags == "fast"
    listed = ServiceOffering.list(admin, id=offering.id)
    assert validateList(listed)[0] == PASS and listed[0].name == offering.name
    ServiceOffering.update(admin, id=offering.id, displaytext="changed")  # upstream's class form
    assert offering.refresh().displaytext == "changed"
    assert offering.update(sortkey=3) is offering
    fixed = DiskOffering.create(admin, {**DISK_OFFERING, "name": unique("do")}, tags="lib")
    custom = cleanup.add(DiskOffering.create(admin, {**DISK_OFFERING, "name": unique("custom")}, custom=True))
    assert fixed.disksize == 1 and fixed.tags == "lib" and custom.iscustomized is True
    assert custom.update(displaytext="any size").refresh().displaytext == "any size"
    cleanup_resources(admin, [offering, fixed])  # upstream's tearDown helper
    assert ServiceOffering.list(admin, name=offering.name) is None
    assert DiskOffering.list(admin, name=fixed.name) is None


def test_network_and_vpc_offerings(admin, cleanup):
    offering = cleanup.add(NetworkOffering.create(admin, ISOLATED_OFFERING))
    assert offering.name.startswith("lib-isolated-") and offering.state == "Disabled"
    assert offering.update(admin, state="Enabled").state == "Enabled"  # upstream passes the client
    assert {s.name for s in offering.service} >= {"Dhcp", "Dns", "SourceNat"}
    assert NetworkOffering.list(admin, id=offering.id)[0].state == "Enabled"
    default = VpcOffering.list(admin, isdefault=True)
    assert validateList(default)[0] == PASS and default[0].name == "Default VPC offering"
    vpc = cleanup.add(VpcOffering.create(admin, VPC_OFFERING))
    vpc.update(admin, displaytext="changed", state="Enabled")
    assert (vpc.refresh().displaytext, vpc.state) == ("changed", "Enabled")
    VpcOffering.update(admin, id=vpc.id, state="Disabled")
    assert vpc.refresh().state == "Disabled"


# ---- virtual machines ----------------------------------------------------------------------------------


def test_vm_lifecycle_upstream_style(admin, dc, account, tiny, disk):
    vm = VirtualMachine.create(admin, VIRTUAL_MACHINE, templateid=dc.template.id, serviceofferingid=tiny.id,
                               zoneid=dc.zone.id, accountid=account.name, domainid=account.domainid,
                               mode=dc.zone.networktype)
    assert vm.state == "Running" and vm.displayname == "lib-vm" and vm.account == account.name
    assert (vm.username, vm.password, vm.ssh_port) == ("root", "password", 22)
    assert vm.ssh_ip == vm.ipaddress == vm.nic[0].ipaddress
    listed = VirtualMachine.list(admin, account=account.name, domainid=account.domainid)
    assert validateList(listed)[0] == PASS and [v.id for v in listed] == [vm.id]
    vm.stop(admin)
    # listall: upstream's admin lists a test account's VM by id alone; this server does not find it yet.
    assert VirtualMachine.list(admin, id=vm.id, listall=True)[0].state == VirtualMachine.STOPPED
    vm.start(admin)
    vm.reboot(admin)
    assert vm.getState(admin, VirtualMachine.RUNNING) == [PASS, None]
    volume = Volume.create(admin, {"diskname": "data", "zoneid": dc.zone.id, "diskofferingid": disk.id},
                           account=account.name, domainid=account.domainid)
    assert volume.name.startswith("data-") and volume.state == "Allocated"
    attached = vm.attach_volume(admin, volume)
    assert attached is volume and volume.virtualmachineid == vm.id
    snapshot = Snapshot.create(admin, volume.id, account=account.name, domainid=account.domainid)
    assert snapshot.validateState(admin, Snapshot.BACKED_UP) == [PASS, None]
    vm.detach_volume(admin, volume)
    assert volume.get("virtualmachineid") is None
    assert Volume.revertToSnapshot(admin, snapshot.id).volumeid == volume.id
    copy = Volume.create_from_snapshot(admin, snapshot.id, {"diskname": "copy", "zoneid": dc.zone.id},
                                       account=account.name, domainid=account.domainid)
    assert copy.size == volume.size
    cleanup_resources(admin, [copy, snapshot, volume, vm])
    assert Volume.list(admin, name=volume.name, listall=True) is None
    assert VirtualMachine.list(admin, name=vm.name, listall=True) is None


def test_vm_lifecycle_pytest_style(admin, dc, account, cleanup, disk):
    vm = cleanup.add(VirtualMachine.deploy(admin, dc.zone, account=account))
    assert vm.state == "Running" and vm.templateid == dc.template.id
    assert vm.stop().state == "Stopped" and vm.start().state == "Running"
    assert vm.reboot().refresh().state == "Running"
    volume = cleanup.add(Volume.create(admin, {"diskname": "py"}, zoneid=dc.zone.id, diskofferingid=disk.id,
                                       **owned_by(account)))
    assert volume.attach(vm).virtualmachineid == vm.id
    assert volume.detach().get("virtualmachineid") is None
    snapshot = cleanup.add(Snapshot.create(admin, volume.id, **owned_by(account)))
    assert snapshot.wait(Snapshot.BACKED_UP).state == "BackedUp"
    assert snapshot.revert().id == snapshot.id
    vm.update(displayname="renamed")
    assert vm.refresh().displayname == "renamed"
    other = next(host for host in dc.hosts if host.id != vm.hostid)
    assert vm.migrate(hostid=other.id).hostid == other.id
    assert vm.restore().state == "Running"


def test_vm_changes_and_recovery(admin, dc, account, cleanup, tiny):
    medium = cleanup.add(ServiceOffering.create(admin, {**SERVICE_OFFERING, "name": unique("medium"),
                                                        "memory": 256}))
    vm = cleanup.add(VirtualMachine.deploy(admin, dc.zone, account=account, serviceoffering=tiny,
                                           services=VIRTUAL_MACHINE))
    vm.stop()
    assert vm.change_service_offering(serviceOfferingId=medium.id).serviceofferingid == medium.id
    vm.start()
    group = cleanup.add(AffinityGroup.create(admin, {"name": unique("anti"), "type": "host anti-affinity"},
                                             **owned_by(account)))
    vm.stop()
    assert [g.id for g in vm.update_affinity_group(affinitygroupids=[group.id]).affinitygroup] == [group.id]
    vm.delete(expunge=False)
    assert vm.refresh().state == "Destroyed"
    assert vm.recover().state == "Stopped"
    pending = VirtualMachine.deploy(admin, dc.zone, account=account, startvm=False)
    cleanup.add(pending)
    assert pending.state == "Stopped" and pending.getState(state="Stopped") == [PASS, None]
    failed = pending.getState(state="Running", timeout=0.3)
    assert failed[0] == FAIL and isinstance(failed[1], TimeoutError)


def test_vm_moves_keys_owner_and_expunge(admin, dc, account, make_account, cleanup, tiny):
    medium = cleanup.add(ServiceOffering.create(admin, {**SERVICE_OFFERING, "name": unique("medium"),
                                                        "memory": 256}))
    vm = VirtualMachine.deploy(admin, dc.zone, account=account, serviceoffering=tiny)  # expunged below
    (root,) = Volume.list(admin, virtualmachineid=vm.id, type="ROOT", listall=True)
    host = next(h for h in dc.hosts if h.id != vm.hostid)
    pool = next(p for p in dc.pools if p.id != root.storageid)
    assert vm.migrate_vm_with_volume(hostid=host.id, migrateto={root.id: pool.id}).hostid == host.id
    assert root.refresh().storageid == pool.id
    vm.stop()
    assert vm.scale(serviceOfferingId=medium.id).serviceofferingid == medium.id  # stopped: no live resize
    key = SSHKeyPair.create(admin, **owned_by(account))
    assert vm.resetSshKey(keypair=key.name, **owned_by(account)).keypairs == key.name
    other = make_account()
    assert vm.assign_virtual_machine(account=other.name, domainid=other.domainid).account == other.name
    vm.delete(expunge=False)
    vm.expunge()
    assert VirtualMachine.list(admin, name=vm.name, listall=True) is None


def test_vm_snapshots(admin, dc, account, cleanup):
    vm = cleanup.add(VirtualMachine.deploy(admin, dc.zone, account=account))
    snap = cleanup.add(VmSnapshot.create(admin, vm.id, name=unique("vmsnap"), description="before"))
    assert snap.wait("Ready").virtualmachineid == vm.id
    assert [s.id for s in VmSnapshot.list(admin, virtualmachineid=vm.id, listall=True)] == [snap.id]
    vm.stop()
    assert VmSnapshot.revertToSnapshot(admin, vmsnapshotid=snap.id).id == vm.id
    assert snap.revertToSnapshot().state == "Stopped"
    second = VmSnapshot.create(admin, vm.id)
    VmSnapshot.deleteVMSnapshot(admin, second.id)
    assert [s.id for s in VmSnapshot.list(admin, virtualmachineid=vm.id, listall=True)] == [snap.id]


# ---- volumes, snapshots, templates, ISOs -----------------------------------------------------------


def test_volumes_policies_and_limits(admin, dc, account, cleanup):
    custom = cleanup.add(DiskOffering.create(admin, {**DISK_OFFERING, "name": unique("any")}, custom=True))
    volume = cleanup.add(Volume.create_custom_disk(
        admin, {"diskname": unique("custom"), "zoneid": dc.zone.id, "customdisksize": 2},
        diskofferingid=custom.id, **owned_by(account)))
    assert volume.size == 2 * 1024**3
    vm = cleanup.add(VirtualMachine.deploy(admin, dc.zone, account=account))
    vm.attach_volume(volume=volume)  # attached volumes are on primary storage: resizable, extractable
    vm.detach_volume(volume=volume)
    assert volume.resize(size=3).size == 3 * 1024**3
    pool = next(p for p in dc.pools if p.id != volume.storageid)
    assert volume.migrate(storageid=pool.id).storageid == pool.id
    back = next(p for p in dc.pools if p.id != pool.id)
    Volume.migrate(admin, volumeid=volume.id, storageid=back.id)  # upstream's class form
    assert volume.refresh().storageid == back.id
    policy = SnapshotPolicy.create(admin, volume.id, {"intervaltype": "DAILY", "maxsnaps": 2,
                                                      "schedule": "00:01", "timezone": "UTC"})
    assert [p.id for p in SnapshotPolicy.list(admin, volumeid=volume.id)] == [policy.id]
    policy.delete()
    assert SnapshotPolicy.list(admin, volumeid=volume.id) is None
    link = Volume.extract(admin, volume.id, dc.zone.id, "HTTP_DOWNLOAD")
    assert link.id == volume.id and link.url
    assert volume.destroy().state == "Destroy" and volume.recover().state == "Ready"
    uploaded = cleanup.add(Volume.upload(admin, {"diskname": unique("up"), "format": "QCOW2",
                                                 "url": "http://download.example.org/disks/up.qcow2"},
                                         zoneid=dc.zone.id, **owned_by(account)))
    assert uploaded.wait_for_upload(timeout=10, interval=1).state == "Uploaded"
    (limit,) = Resources.list(admin, resourcetype=2, **owned_by(account))
    assert limit.update(max=7).max == 7 and limit.refresh().max == 7
    assert Resources.updateLimit(admin, resourcetype=2, max=8, **owned_by(account)).max == 8
    counts = Resources.updateCount(admin, resourcetype=2, **owned_by(account))
    assert [c.resourcecount for c in counts] == [3]  # the custom, root and uploaded volumes


def test_templates_register_download_and_deploy(admin, dc, account, cleanup):
    template = cleanup.add(Template.register(admin, {**TEMPLATE, "zoneid": dc.zone.id}, **owned_by(account)))
    assert template.name.startswith("lib-tmpl-") and template.account == account.name
    template.download(admin)
    assert template.isready is True and template.status == "Download Complete"
    listed = Template.list(account.client, templatefilter="self", id=template.id)
    assert validateList(listed)[0] == PASS and listed[0].ostypename == "CentOS 5.6 (64-bit)"
    template.update(admin, displaytext="changed")
    assert template.refresh().displaytext == "changed"
    template.updatePermissions(admin, ispublic=True)
    assert template.refresh().ispublic is True
    assert Template.extract(admin, template.id, "HTTP_DOWNLOAD", dc.zone.id).url
    # Deployed by the account itself, from a password-enabled template: the VM comes with a password.
    vm = VirtualMachine.deploy(account.client, dc.zone, template=template, services=VIRTUAL_MACHINE)
    cleanup.add(vm.delete, admin)  # expunging is for admins: the account could only destroy it
    assert vm.password and vm.password != "password" and vm.account == account.name
    vm.stop()
    first = vm.password
    assert vm.resetPassword() == vm.password != first


def test_failed_download_raises(admin, dc, cleanup):
    mock = cleanup.add(SimulatorMock.create(admin, "DownloadCommand", zoneid=dc.zone.id, value="result:fail",
                                            count=1))
    template = cleanup.add(Template.register(admin, {**TEMPLATE, "zoneid": dc.zone.id}))
    with pytest.raises(RuntimeError, match="download failed"):
        template.wait_ready(timeout=30)
    assert mock.query().count == 0


def test_isos(admin, dc, account, cleanup):
    iso = Iso.create(admin, ISO, zoneid=dc.zone.id, **owned_by(account))  # deleted below
    assert iso.name.startswith("lib-iso-") and iso.bootable is True
    iso.download(admin)
    assert iso.isready is True and iso.status == "Successfully Installed"
    assert [i.id for i in Iso.list(account.client, isofilter="self")] == [iso.id]
    iso.update(admin, displaytext="changed")
    assert iso.refresh().displaytext == "changed"
    iso.delete(admin)
    assert Iso.list(account.client, isofilter="self") is None


# ---- networks and routers ----------------------------------------------------------------------------


def test_network_lifecycle_and_its_router(admin, dc, account, cleanup):
    (offering,) = NetworkOffering.list(admin, name="DefaultIsolatedNetworkOfferingWithSourceNatService")
    network = cleanup.add(Network.create(admin, {"name": unique("net"), "displaytext": "lib network"},
                                         accountid=account.name, domainid=account.domainid,
                                         networkofferingid=offering.id, zoneid=dc.zone.id))
    assert network.state == "Allocated" and network.account == account.name
    assert network.update(displaytext="changed").displaytext == "changed"
    (small,) = ServiceOffering.list(admin, name="Small Instance")
    vm = cleanup.add(VirtualMachine.create(admin, VIRTUAL_MACHINE, templateid=dc.template.id,
                                           serviceofferingid=small.id, zoneid=dc.zone.id,
                                           networkids=[network.id], accountid=account.name,
                                           domainid=account.domainid))
    assert vm.nic[0].networkid == network.id and network.refresh().state == "Implemented"
    (router,) = Router.list(admin, networkid=network.id, listall=True)
    assert Router.stop(admin, router.id).state == "Stopped"  # upstream's class form
    assert router.refresh().state == "Stopped" and router.start().state == "Running"
    assert Router.reboot(admin, router.id).state == "Running"
    router_offering = {**SERVICE_OFFERING, "name": unique("vr"), "memory": 256, "issystem": True,
                       "systemvmtype": "domainrouter"}
    bigger = cleanup.add(ServiceOffering.create(admin, router_offering))
    router.stop(forced=True)
    assert router.change_service_offering(serviceofferingid=bigger.id).serviceofferingid == bigger.id
    router.start()
    assert network.restart(cleanup=True).id == network.id
    (router,) = network.routers()
    assert router.wait("Running").state == "Running"
    listed = Network.list(admin, id=network.id, listall=True)
    assert validateList(listed)[0] == PASS and listed[0].name == network.name


def test_router_destroy(admin, dc, account, cleanup):
    vm = VirtualMachine.deploy(admin, dc.zone, account=account)  # deleted below
    (router,) = Router.list(admin, networkid=vm.nic[0].networkid, listall=True)
    vm.delete()
    assert router.destroy().id == router.id
    assert Router.list(admin, networkid=vm.nic[0].networkid, listall=True) is None


# ---- keys, user data, tags, groups -------------------------------------------------------------------


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def test_ssh_key_pairs(admin, account, cleanup):
    made = SSHKeyPair.create(admin, **owned_by(account))  # deleted below
    assert made.privatekey.startswith("-----BEGIN") and made.account == account.name
    name = unique("mine")
    own = cleanup.add(SSHKeyPair.register(account.client, name, public_key()))
    assert {k.name for k in SSHKeyPair.list(account.client)} == {made.name, name}
    assert own.refresh().fingerprint == own.fingerprint
    made.delete(admin)  # an admin deleting the account's key
    assert [k.name for k in SSHKeyPair.list(account.client)] == [name]


def test_user_data(admin, account, cleanup):
    data = "IyEvYmluL3NoCmVjaG8gaGVsbG8K"  # "#!/bin/sh\necho hello\n", base64
    kept = cleanup.add(UserData.register(account.client, userdata=data, params="greeting"))
    assert kept.params == "greeting" and kept.userdata == data
    other = UserData.register(admin, name=unique("ud"), userdata="ZWNobyBvdGhlcgo=", **owned_by(account))
    assert {u.id for u in UserData.list(account.client)} == {kept.id, other.id}
    UserData.delete(admin, other.id)  # upstream's class form
    assert [u.id for u in UserData.list(account.client)] == [kept.id]
    assert kept.refresh().name == kept.name


def test_tags(admin, dc, account, cleanup, disk):
    volume = cleanup.add(Volume.create(admin, {"diskname": "tagged"}, zoneid=dc.zone.id,
                                       diskofferingid=disk.id, **owned_by(account)))
    tag = Tag.create(admin, [volume.id], "Volume", {"env": "test", "team": "lib"})  # deleted below
    listed = Tag.list(admin, resourceid=volume.id, resourcetype="Volume", listall=True)
    assert {(t.key, t.value) for t in listed} == {("env", "test"), ("team", "lib")}
    assert tag.refresh() is tag
    Tag.delete(admin, resourceIds=[volume.id], resourceType="Volume", tags={"team": "lib"})
    (left,) = Tag.list(admin, resourceid=volume.id, resourcetype="Volume", listall=True)
    assert left.key == "env"
    with pytest.raises(LookupError):
        tag.refresh()  # one of its tags is gone
    left.delete()
    assert Tag.list(admin, resourceid=volume.id, resourcetype="Volume", listall=True) is None


def test_affinity_and_instance_groups(admin, dc, account, cleanup):
    group = cleanup.add(AffinityGroup.create(account.client, {"name": unique("anti"),
                                                                "type": "host anti-affinity"}))
    vms = [VirtualMachine.deploy(account.client, dc.zone, affinitygroupnames=[group.name]) for _ in range(2)]
    for vm in vms:
        cleanup.add(vm.delete, admin)
    hosts = {vm.refresh(admin).hostid for vm in vms}  # hosts are for admins' eyes
    assert len(hosts) == 2  # anti-affinity: one VM per host
    (listed,) = AffinityGroup.list(account.client, id=group.id)
    assert sorted(listed.virtualmachineIds) == sorted(vm.id for vm in vms)
    tier = cleanup.add(InstanceGroup.create(account.client, name="web"))
    assert tier.name.startswith("web-") and tier.update(name="renamed").name == "renamed"
    assert [g.id for g in InstanceGroup.list(account.client)] == [tier.id]
    with pytest.raises(CloudstackError):
        AffinityGroup.create(account.client, {"name": group.name, "type": "host anti-affinity"})
