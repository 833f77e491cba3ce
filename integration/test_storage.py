"""Storage: primary storage pools (zone- and cluster-wide), image stores, staging stores, seeded templates."""

import functools
import uuid

import pytest
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session

from marvin.errors import CloudstackError, JobFailed

from .conftest import unique

TIB = 1024**4


def fails(code: int, call, *args, **params) -> CloudstackError:
    """Call and expect a CloudStack error with `code`; answer it for further checks."""
    with pytest.raises(CloudstackError) as caught:
        call(*args, **params)
    assert caught.value.errorcode == code, caught.value.errortext
    return caught.value


def share(prefix: str = "primary") -> str:
    """A storage path no other test uses (pools are refused on a host+path already in use)."""
    return f"/export/{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def zone(admin):
    return admin("createZone", name=unique("storage-zone"), networktype="Advanced", dns1="8.8.8.8",
                 internaldns1="8.8.8.8")


@pytest.fixture(scope="module")
def other_zone(admin):
    return admin("createZone", name=unique("storage-zone2"), networktype="Advanced", dns1="8.8.8.8",
                 internaldns1="8.8.8.8")


@pytest.fixture(scope="module")
def pod(admin, zone):
    return admin("createPod", zoneid=zone["id"], name=unique("pod"), gateway="172.16.15.1",
                 netmask="255.255.255.0", startip="172.16.15.2", endip="172.16.15.100")


def add_cluster(admin, zone, pod) -> dict:
    try:
        admin.list("listApis", name="addCluster")
    except CloudstackError:
        pytest.skip("addCluster is not available yet")
    answer = admin("addCluster", zoneid=zone["id"], podid=pod["id"], clustername=unique("cluster"),
                   clustertype="CloudManaged", hypervisor="Simulator")
    return answer["cluster"][0] if "cluster" in answer else answer


@pytest.fixture(scope="module")
def cluster(admin, zone, pod):
    return add_cluster(admin, zone, pod)


def zone_pool(admin, zone, url: str, **extra) -> dict:
    params = {"scope": "zone", "hypervisor": "Simulator", **extra}
    return admin("createStoragePool", zoneid=zone["id"], name=unique("ps"), url=url, **params)


@functools.cache
def engine_for(url: str):
    import sandstack.iam.models  # noqa: F401  (the tables storage rows refer to)
    import sandstack.infra.models  # noqa: F401

    return create_engine(url)


def db_session(server) -> Session:
    """A session on the server's own database, for what the API cannot show yet (template_store_ref)."""
    return Session(engine_for(server.db_url))


# ---- primary storage: URLs and scopes ---------------------------------------------------------

def test_nfs_url_forms(admin, zone):
    path = share()
    colon = zone_pool(admin, zone, f"nfs://10.147.28.6:{path}")
    assert (colon["type"], colon["ipaddress"], colon["path"]) == ("NetworkFilesystem", "10.147.28.6", path)
    assert (colon["scope"], colon["state"], colon["hypervisor"]) == ("ZONE", "Up", "Simulator")
    assert colon["zoneid"] == zone["id"] and colon["provider"] == "DefaultPrimary"
    assert colon["disksizetotal"] == TIB and colon["disksizeused"] == 0 and colon["istagarule"] is False
    assert colon["overprovisionfactor"] == "2.0"
    plain_path = share()
    plain = zone_pool(admin, zone, f"nfs://nfsstor{plain_path}", capacitybytes=5 * 10**12)
    assert (plain["ipaddress"], plain["path"], plain["disksizetotal"]) == ("nfsstor", plain_path, 5 * 10**12)
    sized = zone_pool(admin, zone, f"nfs://nfsstor:2050{share()}/size=2000000000")
    assert sized["disksizetotal"] == 2 * 10**9


@pytest.mark.parametrize("url, pool_type, address, path", [
    ("presetup://10.1.1.1/sr-label-{u}", "PreSetup", "10.1.1.1", "/sr-label-{u}"),
    ("SharedMountPoint://localhost/mnt/primary-{u}", "SharedMountPoint", "localhost", "/mnt/primary-{u}"),
    ("rbd://admin:AQB+secret/x==@ceph-mon/rbd-{u}", "RBD", "ceph-mon", "rbd-{u}"),
    ("gluster://gluster1/volume-{u}", "Gluster", "gluster1", "/volume-{u}"),
    ("clvm://localhost/vg-{u}", "CLVM", "localhost", "vg-{u}"),
    ("vmfs://vcenter/dc/ds-{u}", "VMFS", "VMFS datastore: /dc/ds-{u}", "/dc/ds-{u}"),
])
def test_other_schemes(admin, zone, url, pool_type, address, path):
    u = uuid.uuid4().hex[:8]
    pool = zone_pool(admin, zone, url.format(u=u))
    assert (pool["type"], pool["ipaddress"], pool["path"]) == (pool_type, address.format(u=u), path.format(u=u))


@pytest.mark.parametrize("url", ["ftp://server/export", "10.1.1.1:/export/primary", "nfs://10.1.1.1",
                                 "nfs://10.1.1.1:/", "nfs://10.1.1.1:port/export", "iscsi://target/iqn/lun"])
def test_bad_primary_urls_name_the_url(admin, zone, url):
    error = fails(431, zone_pool, admin, zone, url)
    assert "url" in error.errortext.lower()


def test_scope_rules(admin, zone, pod):
    url = f"nfs://10.1.1.2:{share()}"
    missing = fails(431, admin, "createStoragePool", zoneid=zone["id"], name=unique("ps"), url=url,
                    scope="zone")
    assert "Missing parameter hypervisor" in missing.errortext
    unsupported = fails(431, zone_pool, admin, zone, url, hypervisor="XenServer")
    assert "not supported for hypervisor type XenServer" in unsupported.errortext
    no_cluster = fails(431, admin, "createStoragePool", zoneid=zone["id"], podid=pod["id"], name=unique("ps"),
                       url=url)
    assert no_cluster.errortext == "cluster id can't be null, if scope is cluster"
    fails(431, admin, "createStoragePool", zoneid=zone["id"], name=unique("ps"), url=url, scope="region")
    iscsi = fails(431, zone_pool, admin, zone, "iscsi://10.1.1.3/iqn.2024-01.test:target/1")
    assert "IscsiLUN need to have clusters specified" in iscsi.errortext
    fails(431, admin, "createStoragePool", zoneid=zone["id"], name=unique("ps"), scope="zone",
          hypervisor="Simulator")  # no url


def test_duplicate_location_is_refused_per_zone(admin, zone, other_zone):
    path = share()
    first = zone_pool(admin, zone, f"nfs://10.1.1.4:{path}")
    error = fails(431, zone_pool, admin, zone, f"nfs://10.1.1.4{path}")  # the same share, other spelling
    assert "already in use" in error.errortext
    elsewhere = zone_pool(admin, other_zone, f"nfs://10.1.1.4:{path}")
    assert elsewhere["id"] != first["id"]
    # SharedMountPoint paths are local to each host, so they may repeat.
    mount = f"SharedMountPoint://localhost{share('mnt')}"
    zone_pool(admin, zone, mount)
    zone_pool(admin, zone, mount)


# ---- primary storage: tags, updates, maintenance, delete -------------------------------------

def test_tags_and_list_storage_tags(admin, zone):
    tag = unique("ssd")
    pool = zone_pool(admin, zone, f"nfs://10.1.1.5:{share()}", tags=f"{tag}, fast,{tag}")
    assert pool["tags"] == f"{tag},fast"
    tags = [t for t in admin.list("listStorageTags") if t["poolid"] == pool["id"]]
    assert sorted(t["name"] for t in tags) == sorted([tag, "fast"])
    assert all(t["id"] for t in tags)
    assert admin("updateStoragePool", id=pool["id"], tags="gold")["tags"] == "gold"
    assert [t["name"] for t in admin.list("listStorageTags") if t["poolid"] == pool["id"]] == ["gold"]
    cleared = admin("updateStoragePool", id=pool["id"], tags="")
    assert "tags" not in cleared
    assert not [t for t in admin.list("listStorageTags") if t["poolid"] == pool["id"]]


def test_update_storage_pool(admin, zone):
    pool = zone_pool(admin, zone, f"nfs://10.1.1.6:{share()}", details={"nfsmountopts": "vers=4.1"})
    name = unique("renamed")
    updated = admin("updateStoragePool", id=pool["id"], name=name, capacitybytes=3 * TIB, capacityiops=5000)
    assert (updated["name"], updated["disksizetotal"], updated["capacityiops"]) == (name, 3 * TIB, 5000)
    assert admin("updateStoragePool", id=pool["id"], enabled=False)["state"] == "Disabled"
    assert admin("updateStoragePool", id=pool["id"], enabled=True)["state"] == "Up"
    moved = fails(431, admin, "updateStoragePool", id=pool["id"], url=f"nfs://10.1.1.7:{share()}")
    assert "Maintenance" in moved.errortext


def test_maintenance_round_trip_and_delete(admin, zone):
    pool = zone_pool(admin, zone, f"nfs://10.1.1.8:{share()}")
    up = fails(431, admin, "deleteStoragePool", id=pool["id"])
    assert "not in Maintenance state" in up.errortext
    fails(534, admin, "cancelStorageMaintenance", id=pool["id"])  # not in maintenance: the job fails
    assert admin("enableStorageMaintenance", id=pool["id"])["state"] == "Maintenance"
    with pytest.raises(JobFailed) as again:
        admin("enableStorageMaintenance", id=pool["id"])
    assert again.value.errorcode == 431 and "not ready for migration" in again.value.errortext
    new_path = share()
    moved = admin("updateStoragePool", id=pool["id"], url=f"nfs://10.1.1.9:{new_path}")
    assert (moved["ipaddress"], moved["path"]) == ("10.1.1.9", new_path)
    assert admin("cancelStorageMaintenance", id=pool["id"])["state"] == "Up"
    admin("enableStorageMaintenance", id=pool["id"])
    assert admin("deleteStoragePool", id=pool["id"], forced=True) == {"success": True}
    gone = fails(431, admin.request, "listStoragePools", {"id": pool["id"]})
    assert pool["id"] in gone.errortext
    events = {e["type"] for e in admin.list("listEvents", listall=True, resourceid=pool["id"])}
    assert {"STORAGE.POOL.CREATE", "MAINT.PREPARE.PS", "MAINT.CANCEL.PS", "STORAGE.POOL.DELETE"} <= events


def test_list_storage_pools_filters(admin, zone, other_zone):
    path = share()
    pool = zone_pool(admin, zone, f"nfs://10.1.2.1:{path}")
    by_zone = {p["id"] for p in admin.list("listStoragePools", zoneid=zone["id"])}
    assert pool["id"] in by_zone
    assert pool["id"] not in {p["id"] for p in admin.list("listStoragePools", zoneid=other_zone["id"])}
    assert [p["id"] for p in admin.list("listStoragePools", name=pool["name"])] == [pool["id"]]
    assert [p["id"] for p in admin.list("listStoragePools", ipaddress="10.1.2.1", path=path)] == [pool["id"]]
    assert [p["id"] for p in admin.list("listStoragePools", keyword=pool["name"])] == [pool["id"]]
    zone_wide = admin.list("listStoragePools", zoneid=zone["id"], scope="zone")
    assert pool["id"] in {p["id"] for p in zone_wide} and all(p["scope"] == "ZONE" for p in zone_wide)
    assert admin.request("listStoragePools", {"zoneid": zone["id"], "status": "Maintenance"}) == {}


def test_list_storage_providers(admin):
    primary = admin.list("listStorageProviders", type="primary")
    assert "DefaultPrimary" in {p["name"] for p in primary}
    image = {p["name"] for p in admin.list("listStorageProviders", type="image")}
    assert {"NFS", "S3", "Swift", "SMB"} <= image
    raw = admin.request("listStorageProviders", {"type": "image"})
    assert "dataStoreProvider" in raw
    fails(431, admin.request, "listStorageProviders", {"type": "bogus"})
    fails(431, admin.request, "listStorageProviders", {})


# ---- primary storage: cluster scope (needs addCluster) ---------------------------------------

def test_cluster_scoped_pool(admin, zone, pod, cluster):
    pool = admin("createStoragePool", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
                 name=unique("ps"), url=f"nfs://10.1.3.1:{share()}", tags="cluster-tag")
    assert (pool["scope"], pool["clusterid"], pool["podid"]) == ("CLUSTER", cluster["id"], pod["id"])
    assert pool["hypervisor"] == "Simulator" and pool["clustername"] == cluster["name"]
    in_cluster = admin.list("listStoragePools", clusterid=cluster["id"])
    assert pool["id"] in {p["id"] for p in in_cluster}
    iscsi = admin("createStoragePool", zoneid=zone["id"], podid=pod["id"], clusterid=cluster["id"],
                  name=unique("ps"), url=f"iscsi://10.1.3.2/iqn.2024-01.test:{uuid.uuid4().hex[:6]}/3")
    assert (iscsi["type"], iscsi["ipaddress"]) == ("IscsiLUN", "10.1.3.2")
    error = fails(431, admin, "createStoragePool", zoneid=zone["id"], podid=pod["id"],
                  clusterid=cluster["id"], name=unique("ps"), url="iscsi://10.1.3.2/iqn.2024-01.test:nolun")
    assert "LUN" in error.errortext


def test_cluster_must_belong_to_pod_and_zone(admin, zone, pod, cluster, other_zone):
    url = f"nfs://10.1.3.3:{share()}"
    no_pod = fails(431, admin, "createStoragePool", zoneid=zone["id"], clusterid=cluster["id"],
                   name=unique("ps"), url=url)
    assert no_pod.errortext == "Cluster id requires pod id"
    fails(431, admin, "createStoragePool", zoneid=other_zone["id"], podid=pod["id"], clusterid=cluster["id"],
          name=unique("ps"), url=url)


# ---- image stores -----------------------------------------------------------------------------

def store_refs(server, store_uuid: str) -> list:
    from sandstack.storage.models import ImageStore, TemplateStoreRef

    with db_session(server) as db:
        store_id = db.scalar(select(ImageStore.id).where(ImageStore.uuid == store_uuid))
        return list(db.scalars(select(TemplateStoreRef).where(TemplateStoreRef.store_id == store_id)
                               .order_by(TemplateStoreRef.template_id)))


def test_image_store_gets_the_builtin_templates(admin, server, zone):
    url = f"nfs://10.147.28.6:{share('secondary')}"
    store = admin("addImageStore", provider="NFS", url=url, zoneid=zone["id"])
    assert (store["name"], store["url"], store["protocol"]) == (url, url, "nfs")
    assert (store["providername"], store["scope"], store["zoneid"]) == ("NFS", "ZONE", zone["id"])
    assert store["readonly"] is False and store["disksizetotal"] == TIB
    assert store["id"] in {s["id"] for s in admin.list("listImageStores", zoneid=zone["id"])}
    refs = {ref.template_id: ref for ref in store_refs(server, store["id"])}
    assert {100, 111} <= set(refs)
    builtin = refs[111]
    assert (builtin.download_state, builtin.state, builtin.download_pct) == ("DOWNLOADED", "Ready", 100)
    assert builtin.install_path == "template/tmpl/1/111/" and refs[100].install_path == "template/tmpl/1/100/"
    assert admin("deleteImageStore", id=store["id"]) == {"success": True}
    assert store_refs(server, store["id"]) == []
    assert store["id"] not in {s["id"] for s in admin.list("listImageStores", zoneid=zone["id"])}


def test_seeded_templates_and_guest_os(admin, server, zone):
    from sandstack.storage.models import GuestOs, VMTemplate

    admin("addImageStore", provider="NFS", url=f"nfs://10.147.28.7:{share('secondary')}", zoneid=zone["id"])
    with db_session(server) as db:
        centos, system = db.get(VMTemplate, 111), db.get(VMTemplate, 100)
        assert (centos.name, centos.unique_name, centos.type) == (
            "CentOS 5.6 (64-bit) no GUI (Simulator)", "simulator-Centos", "BUILTIN")
        assert (centos.public, centos.featured, centos.cross_zones) == (True, True, True)
        assert (centos.format, centos.hypervisor_type, centos.size, centos.account_id) == (
            "VHD", "Simulator", 10**9, 1)
        assert db.get(GuestOs, centos.guest_os_id).display_name == "CentOS 5.6 (64-bit)"
        assert (system.unique_name, system.type, system.public, system.cross_zones) == (
            "simulator-domR", "SYSTEM", False, True)
        assert system.guest_os_id == 15
        names = set(db.scalars(select(GuestOs.display_name)))
        assert {"Debian GNU/Linux 12 (64-bit)", "Ubuntu 22.04 LTS", "Other (64-bit)",
                "Windows Server 2019 (64-bit)", "CentOS 5.3 (64-bit)"} <= names
        # Seeding is idempotent: a second store adds no second copy.
        assert len(list(db.scalars(select(GuestOs).where(GuestOs.display_name == "Other (64-bit)")))) == 1


@pytest.mark.parametrize("url", ["ftp://10.1.1.1/secondary", "nfs://10.1.1.1", "10.1.1.1:/secondary",
                                 "cifs://10.1.1.1/share"])
def test_bad_image_store_urls_name_the_url(admin, zone, url):
    error = fails(431, admin, "addImageStore", provider="NFS", url=url, zoneid=zone["id"])
    assert "url" in error.errortext.lower()


def test_image_store_rules(admin, server, zone):
    url = f"nfs://10.1.4.1:{share('secondary')}"
    no_zone = fails(431, admin, "addImageStore", provider="NFS", url=url)
    assert "DataCenter id is null" in no_zone.errortext
    fails(431, admin.request, "addImageStore", {"url": url, "zoneid": zone["id"]})  # provider is required
    store = admin("addImageStore", provider="NFS", url=url, zoneid=zone["id"], name=unique("secondary"))
    duplicate = fails(431, admin, "addImageStore", provider="NFS", url=url, zoneid=zone["id"])
    assert "already exists" in duplicate.errortext
    fails(431, admin, "addImageStore", provider="NFS", url=f"nfs://10.1.4.1:{share()}", zoneid=zone["id"],
          name=store["name"])
    smb = admin("addImageStore", provider="SMB", zoneid=zone["id"],
                url=f"cifs://10.1.4.2{share('share')}?user=cloud&password=secret")
    assert (smb["protocol"], smb["providername"]) == ("cifs", "SMB")
    s3 = admin("addImageStore", provider="S3", name=unique("s3"),
               details={"accesskey": "AK", "secretkey": "SK", "bucket": "templates",
                        "endpoint": "s3.example.test"})
    assert (s3["providername"], s3["scope"]) == ("S3", "REGION") and "zoneid" not in s3
    assert store_refs(server, s3["id"]) == []


def test_image_store_with_user_templates_is_kept(admin, server, zone):
    from sandstack.storage.models import ImageStore, TemplateStoreRef, VMTemplate

    store = admin("addImageStore", provider="NFS", url=f"nfs://10.1.5.1:{share('secondary')}",
                  zoneid=zone["id"])
    # No template commands yet: put a user template on the store the way registerTemplate will.
    with db_session(server) as db:
        store_id = db.scalar(select(ImageStore.id).where(ImageStore.uuid == store["id"]))
        template = VMTemplate(unique_name=unique("tmpl"), name="user template", type="USER", format="QCOW2",
                              guest_os_id=142, account_id=2, domain_id=1)
        db.add(template)
        db.flush()
        template_id = template.id
        db.add(TemplateStoreRef(template_id=template_id, store_id=store_id, download_state="DOWNLOADED",
                                state="Ready"))
        db.commit()
    error = fails(431, admin, "deleteImageStore", id=store["id"])
    assert error.errortext == "Cannot delete image store with active templates backup!"
    with db_session(server) as db:
        db.execute(delete(TemplateStoreRef).where(TemplateStoreRef.template_id == template_id))
        db.commit()
    assert admin("deleteImageStore", id=store["id"]) == {"success": True}


def test_legacy_add_secondary_storage_and_update(admin, zone):
    url = f"nfs://10.1.6.1:{share('secondary')}"
    raw = admin.request("addSecondaryStorage", {"url": url, "zoneid": zone["id"]})
    store = raw["secondarystorage"]
    assert (store["url"], store["providername"], store["zoneid"]) == (url, "NFS", zone["id"])
    name = unique("renamed")
    updated = admin("updateImageStore", id=store["id"], readonly=True, name=name, capacitybytes=2 * TIB)
    assert (updated["readonly"], updated["name"], updated["disksizetotal"]) == (True, name, 2 * TIB)
    assert store["id"] in {s["id"] for s in admin.list("listImageStores", readonly=True)}
    assert store["id"] not in {s["id"] for s in admin.list("listImageStores", readonly=False)}
    assert [s["id"] for s in admin.list("listImageStores", name=name)] == [store["id"]]
    assert store["id"] in {s["id"] for s in admin.list("listImageStores", provider="NFS", protocol="nfs")}


def test_staging_stores(admin, zone):
    url = f"nfs://10.1.7.1:{share('staging')}"
    raw = admin.request("createSecondaryStagingStore", {"url": url, "zoneid": zone["id"]})
    staging = raw["secondarystorage"]
    assert (staging["url"], staging["name"], staging["zoneid"]) == (url, url, zone["id"])
    listed = {s["id"] for s in admin.list("listSecondaryStagingStores", zoneid=zone["id"])}
    assert staging["id"] in listed
    assert staging["id"] not in {s["id"] for s in admin.list("listImageStores", zoneid=zone["id"])}
    fails(431, admin, "deleteImageStore", id=staging["id"])
    fails(431, admin, "createSecondaryStagingStore", url=f"nfs://10.1.7.1:{share()}", zoneid=zone["id"],
          scope="region")
    fails(431, admin, "createSecondaryStagingStore", url=f"nfs://10.1.7.1:{share()}")
    error = fails(431, admin, "createSecondaryStagingStore", url="nfs://10.1.7.1", zoneid=zone["id"])
    assert "url" in error.errortext.lower()
    assert admin("deleteSecondaryStagingStore", id=staging["id"]) == {"success": True}
    assert staging["id"] not in {s["id"] for s in admin.list("listSecondaryStagingStores")}
