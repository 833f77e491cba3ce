"""Offerings, guest OS types, templates and ISOs: the defaults a fresh cloud has, validation, who sees
what, and the download state machine driven by each zone's secondary storage VM — real downloads from a
local HTTP server, simulated ones (and simulated failures) for other URLs."""

import functools
import hashlib
import http.server
import os
import threading
import time

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from marvin.errors import CloudstackError

from .conftest import unique

IMAGE = os.urandom(300 * 1024)  # what the local HTTP server serves as /image.qcow2
SIMULATED_URL = "http://download.example.org/templates/tiny.qcow2"  # never fetched: the simulator fakes it


def fails(code: int, call, *args, **params) -> CloudstackError:
    with pytest.raises(CloudstackError) as caught:
        call(*args, **params)
    assert caught.value.errorcode == code, caught.value.errortext
    return caught.value


def wait_for(predicate, timeout=30.0, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


@functools.cache
def engine_for(url: str):
    from sandstack.core import registry

    registry.load()  # every model, so foreign keys between the tables resolve
    return create_engine(url)


def db_session(server) -> Session:
    """The server's database, for rows the API cannot create yet (VMs using an offering or template)."""
    return Session(engine_for(server.db_url))


# ---- fixtures: a local image server and zones whose SSVM runs ------------------------------------

class ImageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802  (http.server's naming)
        if self.path.split("?")[0] not in ("/image.qcow2", "/image.iso"):
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(IMAGE)))
        self.end_headers()
        self.wfile.write(IMAGE)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def images():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ImageHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def build_zone(admin):
    zone = admin("createZone", name=unique("tmpl-zone"), networktype="Advanced", dns1="8.8.8.8",
                 internaldns1="8.8.4.4", guestcidraddress="10.1.1.0/24")
    pod = admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.20.1",
                netmask="255.255.255.0", startip="172.16.20.2", endip="172.16.20.100")
    cluster = admin.list("addCluster", zoneid=zone["id"], podid=pod["id"], clustername=unique("c"),
                         hypervisor="Simulator", clustertype="CloudManaged")[0]
    admin.list("addHost", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"], hypervisor="Simulator",
               url=f"http://sim/{cluster['name']}/h0", username="root", password="password")
    admin("createStoragePool", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"], name=unique("ps"),
          url=f"nfs://10.147.28.6:/export/{unique('primary')}")
    admin("addImageStore", provider="NFS", zoneid=zone["id"], name=unique("ss"),
          url=f"nfs://10.147.28.6:/export/{unique('secondary')}")
    admin("updateZone", id=zone["id"], allocationstate="Enabled")
    wait_for(lambda: ssvm(admin, zone) and ssvm(admin, zone)["state"] == "Running")
    return zone


def ssvm(admin, zone) -> dict | None:
    vms = admin.list("listSystemVms", zoneid=zone["id"], systemvmtype="secondarystoragevm")
    return vms[0] if vms else None


@pytest.fixture(scope="module")
def zone(admin):
    return build_zone(admin)


@pytest.fixture(scope="module")
def other_zone(admin):
    return build_zone(admin)


@pytest.fixture(scope="module")
def centos(admin) -> str:
    return admin.list("listOsTypes", description="CentOS 5.6 (64-bit)")[0]["id"]


def register(client, zone, centos, url=SIMULATED_URL, **extra) -> dict:
    params = {"name": unique("tmpl"), "displaytext": "a test template", "url": url, "format": "QCOW2",
              "hypervisor": "Simulator", "ostypeid": centos, "zoneid": zone["id"], **extra}
    answer = client("registerTemplate", **params)
    assert answer["count"] == 1 and len(answer["template"]) == 1
    return answer["template"][0]


def entry(client, template, zone, templatefilter="self") -> dict | None:
    found = client.list("listTemplates", templatefilter=templatefilter, id=template["id"], zoneid=zone["id"])
    return found[0] if found else None


def settled(client, template, zone) -> dict:
    """Wait until the template's copy in the zone is downloaded or failed."""
    def done():
        found = entry(client, template, zone)
        status = (found or {}).get("status", "")
        busy = status in ("", "Not Downloaded", "Installing Template") or status.endswith("% Downloaded") \
            or status.startswith("Waiting")
        return None if busy else found
    return wait_for(done)


def events(admin, kind, resource_id):
    return admin.list("listEvents", listall=True, type=kind, resourceid=resource_id)


# ---- offerings ----------------------------------------------------------------------------------

def by_name(items):
    return {item["name"]: item for item in items}


def test_default_offerings_are_present(admin, account_factory):
    _, _, user = account_factory()
    offerings = by_name(user.list("listServiceOfferings"))
    small, medium = offerings["Small Instance"], offerings["Medium Instance"]
    assert (small["cpunumber"], small["cpuspeed"], small["memory"], small["displaytext"]) == (
        1, 500, 512, "Small Instance")
    assert (medium["cpunumber"], medium["cpuspeed"], medium["memory"], medium["displaytext"]) == (
        1, 1000, 1024, "Medium Instance")
    assert small["storagetype"] == "shared" and small["provisioningtype"] == "thin"
    assert small["issystem"] is False and small["iscustomized"] is False
    assert not [o for o in offerings.values() if o["issystem"]]
    disks = by_name(user.list("listDiskOfferings"))
    assert [(disks[n]["disksize"], disks[n]["displaytext"]) for n in ("Small", "Medium", "Large")] == [
        (5, "Small Disk, 5 GB"), (20, "Medium Disk, 20 GB"), (100, "Large Disk, 100 GB")]
    assert disks["Custom"]["iscustomized"] is True and disks["Custom"]["displaytext"] == "Custom Disk"
    system = {o["systemvmtype"]: o for o in admin.list("listServiceOfferings", issystem=True)}
    assert set(system) == {"domainrouter", "consoleproxy", "secondarystoragevm", "internalloadbalancervm"}
    router = system["domainrouter"]
    assert (router["name"], router["cpuspeed"], router["memory"]) == ("System Offering For Software Router",
                                                                      500, 256)
    assert (system["consoleproxy"]["memory"], system["secondarystoragevm"]["memory"]) == (1024, 512)
    assert all(o["issystem"] and o["defaultuse"] for o in system.values())
    fails(431, user, "listServiceOfferings", issystem=True)


def test_custom_and_constrained_offerings(admin, account_factory):
    custom = admin("createServiceOffering", name=unique("custom"))
    assert custom["iscustomized"] is True and "cpunumber" not in custom
    assert custom["displaytext"] == custom["name"]
    bounded = admin("createServiceOffering", name=unique("bounded"), displaytext="bounded", cpuspeed=1000,
                    mincpunumber=1, maxcpunumber=4, minmemory=512, maxmemory=4096, offerha=True,
                    hosttags="fast", tags="ssd", provisioningtype="sparse", rootdisksize=20,
                    details={"key": "value"})
    assert bounded["iscustomized"] is True and bounded["offerha"] is True
    assert bounded["serviceofferingdetails"] == {"key": "value", "mincpunumber": "1", "maxcpunumber": "4",
                                                 "minmemory": "512", "maxmemory": "4096"}
    assert (bounded["hosttags"], bounded["tags"], bounded["provisioningtype"], bounded["rootdisksize"]) == (
        "fast", "ssd", "sparse", 20)
    fitting = {o["id"] for o in admin.list("listServiceOfferings", cpunumber=2, memory=1024)}
    assert bounded["id"] in fitting and custom["id"] in fitting
    assert bounded["id"] not in {o["id"] for o in admin.list("listServiceOfferings", cpunumber=8)}
    base = {"name": unique("bad"), "displaytext": "bad"}
    assert "cpu number" in fails(431, admin, "createServiceOffering", cpunumber=0, cpuspeed=500, memory=512,
                                 customized=False, **base).errortext
    assert "memory value between 32" in fails(431, admin, "createServiceOffering", cpunumber=1, cpuspeed=500,
                                              memory=16, **base).errortext
    fails(431, admin, "createServiceOffering", cpuspeed=500, mincpunumber=4, maxcpunumber=2, minmemory=512,
          maxmemory=1024, **base)
    fails(431, admin, "createServiceOffering", cpuspeed=500, mincpunumber=1, **base)
    fails(431, admin, "createServiceOffering", customized=True, cpunumber=1, memory=512, cpuspeed=500, **base)
    assert "nvme" in fails(431, admin, "createServiceOffering", cpunumber=1, cpuspeed=500, memory=512,
                           storagetype="nvme", **base).errortext
    fails(431, admin, "createServiceOffering", cpunumber=1, cpuspeed=500, memory=512,
          systemvmtype="consoleproxy", **base)
    fails(431, admin, "createServiceOffering", cpunumber=1, cpuspeed=500, memory=512, issystem=True,
          systemvmtype="bogus", **base)
    system = admin("createServiceOffering", cpunumber=1, cpuspeed=500, memory=512, issystem=True,
                   systemvmtype="consoleproxy", name=unique("sys"), displaytext="sys")
    assert system["issystem"] is True and system["systemvmtype"] == "consoleproxy"
    assert system["id"] not in {o["id"] for o in admin.list("listServiceOfferings")}
    _, _, user = account_factory()
    fails(401, user, "createServiceOffering", cpunumber=1, cpuspeed=500, memory=512, **base)
    fails(431, admin, "createDiskOffering", name=unique("d"), displaytext="no size")
    fails(431, admin, "createDiskOffering", name=unique("d"), displaytext="zero", disksize=0)
    disk = admin("createDiskOffering", name=unique("d"), displaytext="iops", disksize=10, miniops=100,
                 maxiops=500, tags="ssd", storagetype="local")
    assert (disk["disksize"], disk["miniops"], disk["maxiops"], disk["tags"], disk["storagetype"]) == (
        10, 100, 500, "ssd", "local")
    fails(431, admin, "createDiskOffering", name=unique("d"), displaytext="iops", disksize=10, miniops=500,
          maxiops=100)


def test_domain_offerings_are_seen_only_in_their_domain(admin, account_factory):
    x = admin("createDomain", name=unique("X"))
    y = admin("createDomain", name=unique("Y"))
    child = admin("createDomain", name=unique("XC"), parentdomainid=x["id"])
    offering = admin("createServiceOffering", name=unique("x-only"), cpunumber=1, cpuspeed=500, memory=512,
                     domainid=x["id"])
    disk = admin("createDiskOffering", name=unique("x-disk"), displaytext="x disk", disksize=1,
                 domainid=x["id"])
    assert offering["domainid"] == x["id"] and offering["domain"] == x["name"]
    _, _, in_x = account_factory(domainid=x["id"])
    _, _, in_y = account_factory(domainid=y["id"])
    _, _, in_child = account_factory(domainid=child["id"])
    for client, sees in ((in_x, True), (in_child, True), (in_y, False)):
        assert (offering["id"] in {o["id"] for o in client.list("listServiceOfferings")}) is sees
        assert (disk["id"] in {o["id"] for o in client.list("listDiskOfferings")}) is sees
    assert [o["id"] for o in admin.list("listServiceOfferings", domainid=x["id"])] == [offering["id"]]
    admin("updateServiceOffering", id=offering["id"], domainid="public")
    assert offering["id"] in {o["id"] for o in in_y.list("listServiceOfferings")}


def test_offering_update_and_delete_rules(admin, server, zone):
    offering = admin("createServiceOffering", name=unique("upd"), cpunumber=2, cpuspeed=1000, memory=2048)
    updated = admin("updateServiceOffering", id=offering["id"], name=unique("renamed"), displaytext="renamed",
                    sortkey=5, storagetags="gold", state="Inactive")
    assert (updated["displaytext"], updated["tags"], updated["state"]) == ("renamed", "gold", "Inactive")
    assert offering["id"] not in {o["id"] for o in admin.list("listServiceOfferings")}
    assert offering["id"] in {o["id"] for o in admin.list("listServiceOfferings", state="all")}
    router = next(o for o in admin.list("listServiceOfferings", issystem=True, systemvmtype="domainrouter"))
    assert fails(431, admin, "deleteServiceOffering", id=router["id"]).errortext == \
        "Default service offerings cannot be deleted"
    from sandstack.compute.models import ServiceOffering, VMInstance
    from sandstack.infra.models import DataCenter

    with db_session(server) as db:
        offering_id = db.scalar(select(ServiceOffering.id).where(ServiceOffering.uuid == offering["id"]))
        zone_id = db.scalar(select(DataCenter.id).where(DataCenter.uuid == zone["id"]))
        vm = VMInstance(name="i-2-99-VM", type="User", state="Running", zone_id=zone_id, account_id=2,
                        domain_id=1, service_offering_id=offering_id)
        db.add(vm)
        db.commit()
        assert fails(536, admin, "deleteServiceOffering", id=offering["id"]).cserrorcode == 4375
        vm.state = "Expunging"
        db.commit()
    assert admin("deleteServiceOffering", id=offering["id"]) == {"success": True}
    assert offering["id"] not in {o["id"] for o in admin.list("listServiceOfferings", state="all")}
    disk = admin("createDiskOffering", name=unique("d"), displaytext="to delete", disksize=2)
    assert admin("updateDiskOffering", id=disk["id"], displaytext="changed")["displaytext"] == "changed"
    assert admin("deleteDiskOffering", id=disk["id"]) == {"success": True}
    assert disk["id"] not in {o["id"] for o in admin.list("listDiskOfferings", state="all")}
    kinds = {e["type"] for e in admin.list("listEvents", listall=True, keyword="offering")}
    assert {"SERVICE.OFFERING.CREATE", "SERVICE.OFFERING.EDIT", "SERVICE.OFFERING.DELETE",
            "DISK.OFFERING.CREATE", "DISK.OFFERING.EDIT", "DISK.OFFERING.DELETE"} <= kinds


# ---- guest OS -----------------------------------------------------------------------------------

def test_os_types_and_categories(admin, account_factory):
    _, _, user = account_factory()
    centos = user.list("listOsTypes", description="CentOS 5.6 (64-bit)")
    assert len(centos) == 1 and centos[0]["oscategoryname"] == "CentOS"
    assert centos[0]["isuserdefined"] is False
    categories = by_name(user.list("listOsCategories"))
    assert centos[0]["oscategoryid"] == categories["CentOS"]["id"]
    assert {t["description"] for t in user.list("listOsTypes", oscategoryid=categories["CentOS"]["id"])} >= {
        "CentOS 5.6 (64-bit)", "CentOS 5.3 (64-bit)"}
    name = unique("MyOS")
    added = admin("addGuestOs", oscategoryid=categories["Other"]["id"], osdisplayname=name)
    assert added["description"] == name and added["isuserdefined"] is True
    assert admin("updateGuestOs", id=added["id"], osdisplayname=name + "-2")["description"] == name + "-2"
    fails(431, admin, "updateGuestOs", id=centos[0]["id"], osdisplayname="nope")
    assert admin("removeGuestOs", id=added["id"]) == {"success": True}
    fails(431, user, "listOsTypes", id=added["id"])


# ---- templates: the built-in one, registration and downloads --------------------------------------

def test_builtin_template_is_listed_for_a_plain_user(admin, account_factory, zone):
    _, _, user = account_factory()
    for templatefilter in ("executable", "featured"):
        found = [t for t in user.list("listTemplates", templatefilter=templatefilter, zoneid=zone["id"])
                 if t["name"] == "CentOS 5.6 (64-bit) no GUI (Simulator)"]
        assert len(found) == 1, templatefilter
        builtin = found[0]
        assert builtin["isready"] is True and builtin["status"] == "Download Complete"
        assert (builtin["templatetype"], builtin["ostypename"], builtin["hypervisor"]) == (
            "BUILTIN", "CentOS 5.6 (64-bit)", "Simulator")
        assert builtin["crossZones"] is True and builtin["zoneid"] == zone["id"] and "url" not in builtin
    assert "admin only" in fails(431, user, "listTemplates", templatefilter="all").errortext
    everything = {t["name"] for t in admin.list("listTemplates", templatefilter="all", zoneid=zone["id"])}
    assert {"CentOS 5.6 (64-bit) no GUI (Simulator)", "SystemVM Template (simulator)"} <= everything
    assert "SystemVM Template (simulator)" not in {
        t["name"] for t in admin.list("listTemplates", templatefilter="featured", zoneid=zone["id"])}


def test_register_from_a_local_server_downloads_and_verifies(admin, server, zone, centos, images):
    md5 = hashlib.md5(IMAGE).hexdigest()
    template = register(admin, zone, centos, url=f"{images}/image.qcow2", checksum=md5, isextractable=True)
    assert template["isready"] is False and template["zoneid"] == zone["id"]
    done = settled(admin, template, zone)
    assert done["isready"] is True and done["status"] == "Download Complete", done
    assert done["size"] == len(IMAGE) and done["checksum"] == md5
    assert done["downloaddetails"][0]["downloadState"] == "DOWNLOADED"
    assert events(admin, "TEMPLATE.DOWNLOAD.SUCCESS", template["id"])
    assert events(admin, "TEMPLATE.CREATE", template["id"])
    from sandstack.usage.models import UsageEvent

    with db_session(server) as db:
        usage = db.scalars(select(UsageEvent).where(UsageEvent.resource_uuid == template["id"])).all()
        assert [(u.type, u.size) for u in usage] == [("TEMPLATE.CREATE", len(IMAGE))]
    sha = hashlib.sha256(IMAGE).hexdigest()
    other = register(admin, zone, centos, url=f"{images}/image.qcow2", checksum="{SHA-256}" + sha)
    assert settled(admin, other, zone)["status"] == "Download Complete"


def test_a_wrong_checksum_a_missing_file_and_an_unreachable_host_fail(admin, zone, centos, images):
    wrong = register(admin, zone, centos, url=f"{images}/image.qcow2", checksum="0" * 32)
    missing = register(admin, zone, centos, url=f"{images}/missing.qcow2")
    closed = register(admin, zone, centos, url="http://127.0.0.1:9/nothing-listens.qcow2")
    wrong, missing, closed = (settled(admin, t, zone) for t in (wrong, missing, closed))
    assert wrong["isready"] is False and "checksum" in wrong["status"] and "does not match" in wrong["status"]
    assert missing["isready"] is False and "404" in missing["status"]
    assert closed["isready"] is False and "Failed to download" in closed["status"]
    failed = events(admin, "TEMPLATE.DOWNLOAD.FAILED", wrong["id"])
    assert failed and failed[0]["level"] == "ERROR"


def test_other_urls_are_simulated_and_can_be_failed(admin, zone, centos):
    simulated = settled(admin, register(admin, zone, centos), zone)
    assert simulated["isready"] is True and simulated["size"] == 10**9
    mock = admin("configureSimulator", name="DownloadCommand", value="result:fail", zoneid=zone["id"],
                 count=1)
    try:
        failing = settled(admin, register(admin, zone, centos), zone)
    finally:
        admin("cleanupSimulatorMock", id=mock["id"])
    assert failing["isready"] is False and "Simulated failure" in failing["status"]


def test_a_template_waits_for_a_stopped_ssvm(admin):
    zone = build_zone(admin)
    centos = admin.list("listOsTypes", description="CentOS 5.6 (64-bit)")[0]["id"]
    storage_vm = ssvm(admin, zone)
    admin("stopSystemVm", id=storage_vm["id"])
    template = register(admin, zone, centos)
    time.sleep(2.5)  # a few passes of the download manager
    waiting = entry(admin, template, zone)
    assert waiting["isready"] is False and "not Running" in waiting["status"], waiting
    admin("startSystemVm", id=storage_vm["id"])
    done = wait_for(lambda: (found := entry(admin, template, zone)) and found["isready"] and found)
    assert done["status"] == "Download Complete"


# ---- updates, permissions, copies, extraction, deletion -------------------------------------------

def test_update_template(admin, account_factory, zone, centos):
    template = register(admin, zone, centos)
    updated = admin("updateTemplate", id=template["id"], name=unique("renamed"), displaytext="renamed",
                    passwordenabled=True, sortkey=3, requireshvm=False, details={"keyboard": "us"})
    assert (updated["displaytext"], updated["passwordenabled"], updated["requireshvm"]) == (
        "renamed", True, False)
    assert updated["details"] == {"keyboard": "us"}
    assert events(admin, "TEMPLATE.UPDATE", template["id"])
    _, _, user = account_factory()
    builtin = next(t for t in user.list("listTemplates", templatefilter="featured", zoneid=zone["id"]))
    fails(531, user, "updateTemplate", id=builtin["id"], displaytext="mine now")


def shared(client) -> set[str]:
    return {t["id"] for t in client.list("listTemplates", templatefilter="sharedexecutable")}


def test_sharing_a_private_template_with_another_account(admin, account_factory, zone, centos):
    owner_account, _, owner = account_factory()
    friend_account, _, friend = account_factory()
    _, _, stranger = account_factory()
    template = register(owner, zone, centos)
    assert settled(owner, template, zone)["isready"] is True
    assert template["id"] not in {t["id"] for t in friend.list("listTemplates", templatefilter="executable")}
    assert owner("updateTemplatePermissions", id=template["id"], accounts=friend_account["name"],
                 op="add") == {"success": True}
    permission = owner("listTemplatePermissions", id=template["id"])
    assert permission["account"] == [friend_account["name"]] and permission["ispublic"] is False
    assert template["id"] in shared(friend)
    assert template["id"] not in shared(stranger)
    fails(531, stranger, "listTemplatePermissions", id=template["id"])
    fails(531, friend, "deleteTemplate", id=template["id"])
    fails(431, owner, "updateTemplatePermissions", id=template["id"], isfeatured=True)
    fails(431, owner, "updateTemplatePermissions", id=template["id"], accounts=friend_account["name"],
          op="grant")
    owner("updateTemplatePermissions", id=template["id"], accounts=friend_account["name"], op="remove")
    assert template["id"] not in shared(friend)
    assert owner_account["name"] == owner.list("listTemplates", templatefilter="self")[0]["account"]


def test_copy_to_a_second_zone_then_delete_zone_by_zone(admin, zone, other_zone, centos):
    template = register(admin, zone, centos)
    settled(admin, template, zone)
    copy = admin("copyTemplate", id=template["id"], sourcezoneid=zone["id"], destzoneid=other_zone["id"])
    assert copy["zoneid"] == other_zone["id"]
    assert copy["isready"] is True and copy["status"] == "Download Complete"
    listed = admin.list("listTemplates", templatefilter="self", id=template["id"])
    assert {t["zoneid"] for t in listed} == {zone["id"], other_zone["id"]}
    assert events(admin, "TEMPLATE.COPY", template["id"])
    fails(431, admin, "copyTemplate", id=template["id"], sourcezoneid=zone["id"], destzoneid=zone["id"])
    assert admin("deleteTemplate", id=template["id"], zoneid=other_zone["id"]) == {"success": True}
    assert [t["zoneid"] for t in admin.list("listTemplates", templatefilter="self", id=template["id"])] == [
        zone["id"]]
    assert admin("deleteTemplate", id=template["id"]) == {"success": True}
    assert not admin.list("listTemplates", templatefilter="self", name=template["name"])
    assert events(admin, "TEMPLATE.DELETE", template["id"])


def test_delete_is_refused_while_a_vm_uses_the_template(admin, server, zone, centos):
    template = register(admin, zone, centos)
    from sandstack.compute.models import VMInstance
    from sandstack.infra.models import DataCenter
    from sandstack.storage.models import VMTemplate

    with db_session(server) as db:
        template_id = db.scalar(select(VMTemplate.id).where(VMTemplate.uuid == template["id"]))
        zone_id = db.scalar(select(DataCenter.id).where(DataCenter.uuid == zone["id"]))
        vm = VMInstance(name="i-2-98-VM", type="User", state="Stopped", zone_id=zone_id, account_id=2,
                        domain_id=1, template_id=template_id)
        db.add(vm)
        db.commit()
        try:
            with pytest.raises(CloudstackError) as refused:
                admin("deleteTemplate", id=template["id"])
            assert refused.value.errorcode == 536 and "i-2-98-VM" in refused.value.errortext
        finally:
            vm.state = "Expunging"
            db.commit()
    assert admin("deleteTemplate", id=template["id"]) == {"success": True}


def test_extract(admin, account_factory, zone, centos):
    _, _, user = account_factory()
    extractable = settled(user, register(user, zone, centos, isextractable=True), zone)
    answer = user("extractTemplate", id=extractable["id"], mode="HTTP_DOWNLOAD", zoneid=zone["id"])
    storage_vm = ssvm(admin, zone)
    address = storage_vm.get("publicip") or storage_vm["privateip"]
    assert answer["url"].startswith(f"http://{address}/userdata/") and answer["url"].endswith(".qcow2")
    assert (answer["state"], answer["extractMode"], answer["zoneid"]) == (
        "DOWNLOAD_URL_CREATED", "HTTP_DOWNLOAD", zone["id"])
    assert events(admin, "TEMPLATE.EXTRACT", extractable["id"])
    locked = settled(user, register(user, zone, centos), zone)
    with pytest.raises(CloudstackError) as refused:
        user("extractTemplate", id=locked["id"], mode="HTTP_DOWNLOAD", zoneid=zone["id"])
    assert refused.value.errorcode == 431 and "not extractable" in refused.value.errortext
    builtin = next(t for t in user.list("listTemplates", templatefilter="featured", zoneid=zone["id"]))
    with pytest.raises(CloudstackError) as builtin_refused:
        user("extractTemplate", id=builtin["id"], mode="HTTP_DOWNLOAD", zoneid=zone["id"])
    assert builtin_refused.value.errorcode == 431


# ---- ISOs ---------------------------------------------------------------------------------------

def test_isos_register_list_update_delete(admin, account_factory, zone, centos, images):
    _, _, user = account_factory()
    fails(431, user, "registerIso", name=unique("iso"), url=f"{images}/image.iso", zoneid=zone["id"])
    answer = user("registerIso", name=unique("iso"), displaytext="an ISO", url=f"{images}/image.iso",
                  zoneid=zone["id"], ostypeid=centos)
    iso = answer["iso"][0]
    assert iso["bootable"] is True and iso["format"] == "ISO"

    def ready():
        found = user.list("listIsos", isofilter="self", id=iso["id"])
        return found[0] if found and found[0]["isready"] else None
    listed = wait_for(ready)
    assert listed["status"] == "Successfully Installed" and listed["size"] == len(IMAGE)
    assert iso["id"] not in {t["id"] for t in user.list("listTemplates", templatefilter="self")}
    data = user("registerIso", name=unique("data-iso"), displaytext="data", url=SIMULATED_URL.replace(
        "qcow2", "iso"), zoneid=zone["id"], bootable=False)["iso"][0]
    assert data["bootable"] is False and data["ostypename"] == "None"
    assert user("updateIso", id=iso["id"], displaytext="renamed ISO")["displaytext"] == "renamed ISO"
    assert user("deleteIso", id=iso["id"]) == {"success": True}
    assert not user.list("listIsos", isofilter="self", name=iso["name"])
    assert events(admin, "ISO.DELETE", iso["id"])
    fails(431, user, "updateTemplate", id=data["id"], displaytext="an ISO is not a template")


# ---- bad input ----------------------------------------------------------------------------------

def test_bad_input_is_refused(admin, account_factory, zone, centos):
    missing = fails(431, admin, "listTemplates")
    assert missing.errortext == "Unable to execute API command listtemplates due to missing parameter " \
                                "templatefilter"
    fails(431, admin, "listTemplates", templatefilter="mine")
    assert "XYZ" in fails(431, register, admin, zone, centos, format="XYZ").errortext
    assert "Nope" in fails(431, register, admin, zone, centos, hypervisor="Nope").errortext
    ftp = "ftp://10.1.1.1/templates/tiny.qcow2"
    assert ftp in fails(431, register, admin, zone, centos, url=ftp).errortext
    mismatch = "http://download.example.org/templates/tiny.vhd"
    assert mismatch in fails(431, register, admin, zone, centos, url=mismatch).errortext
    fails(431, register, admin, zone, centos, url="http:///no-host.qcow2")
    fails(431, register, admin, zone, centos, format="OVA", hypervisor="KVM",
          url="http://download.example.org/t.ova")
    assert "checksum" in fails(431, register, admin, zone, centos, checksum="{MD5}xyz").errortext
    _, _, user = account_factory()
    assert "All zones" in fails(431, register, user, zone, centos, zoneid="-1").errortext
    assert fails(431, register, admin, zone, centos, name="SystemVM Template (simulator)").errortext == \
        "Cannot use reserved names for templates"
