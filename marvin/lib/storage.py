"""Storage: primary storage pools, image and staging stores, volumes, volume snapshots and their
policies, VM snapshots, templates and ISOs (server/storage)."""

from __future__ import annotations

from typing import Any

from ..codes import FAIL, PASS
from ..errors import CloudstackError
from .resource import Api, Record, Resource, api_of, given, hybridmethod, ostype_id, pick
from .utils import describe, random_gen

# ---- pools and stores ---------------------------------------------------------------------------------


class StoragePool(Resource):
    list_command, update_command = "listStoragePools", "updateStoragePool"

    @classmethod
    def create(cls, apiclient: Any, services: dict, scope: str | None = None, clusterid: str | None = None,
               zoneid: str | None = None, podid: str | None = None, provider: str | None = None,
               tags: str | None = None, capacityiops: int | None = None, capacitybytes: int | None = None,
               hypervisor: str | None = None, details: dict | None = None) -> StoragePool:
        details = services.get("details", details)
        params = {**services, **given(scope=scope, clusterid=clusterid, zoneid=zoneid, podid=podid,
                                      provider=provider, tags=tags, capacityiops=capacityiops,
                                      capacitybytes=capacitybytes, hypervisor=hypervisor)}
        params["details"] = [details] if details else None  # sent as details[0].<key>=<value>
        return cls._call(apiclient, "createStoragePool", **params)

    @hybridmethod
    def enableMaintenance(cls, self, apiclient: Any = None, id: str | None = None) -> StoragePool:
        return cls.act(self, apiclient, "enableStorageMaintenance", id)

    @hybridmethod
    def cancelMaintenance(cls, self, apiclient: Any = None, id: str | None = None) -> StoragePool:
        return cls.act(self, apiclient, "cancelStorageMaintenance", id)

    def delete(self, apiclient: Any = None) -> Any:
        """Pools are deleted from maintenance (the job answers once the pool is in it)."""
        api = self.api(apiclient)
        api.call("enableStorageMaintenance", id=self.id)
        return api.call("deleteStoragePool", id=self.id)

class ImageStore(Resource):
    list_command, update_command, delete_command = "listImageStores", "updateImageStore", "deleteImageStore"
    add_command = "addImageStore"

    @classmethod
    def create(cls, apiclient: Any, url: str, provider: str = "NFS", services: dict | None = None):
        """services: zoneid, scope, name, details (a dict, sent as details[0].<key>=<value>)."""
        services = services or {}
        details = services.get("details")
        return cls._call(apiclient, cls.add_command, url=url, provider=provider,
                         zoneid=services.get("zoneid"), scope=services.get("scope"),
                         name=services.get("name"),
                         details=[details] if isinstance(details, dict) else details)

class SecondaryStagingStore(ImageStore):
    list_command, delete_command = "listSecondaryStagingStores", "deleteSecondaryStagingStore"
    add_command = "createSecondaryStagingStore"


# ---- volumes and snapshots ----------------------------------------------------------------------------


def disk_name(services: dict) -> str:
    return f"{services.get('diskname', 'volume')}-{random_gen()}"


class Volume(Resource):
    list_command, delete_command = "listVolumes", "deleteVolume"

    @classmethod
    def settled(cls, api: Api, volume: Any, answer: dict) -> Volume:
        """`volume` (when it is a Volume) with the fields of `answer`, else a new Volume of it."""
        if not isinstance(volume, Volume):
            return cls.bind(api, answer)
        volume._load(answer)
        volume._api = volume._api or api
        return volume

    @classmethod
    def create(cls, apiclient: Any, services: dict, zoneid: str | None = None, account: str | None = None,
               domainid: str | None = None, diskofferingid: str | None = None, projectid: str | None = None,
               size: int | None = None) -> Volume:
        """A data volume named services["diskname"] (with a random suffix), from a disk offering."""
        return cls._call(apiclient, "createVolume", name=disk_name(services), size=size, projectid=projectid,
                         diskofferingid=pick(diskofferingid, services, "diskofferingid"),
                         zoneid=pick(zoneid, services, "zoneid"), account=pick(account, services, "account"),
                         domainid=pick(domainid, services, "domainid"))

    @classmethod
    def create_custom_disk(cls, apiclient: Any, services: dict, account: str | None = None,
                           domainid: str | None = None, diskofferingid: str | None = None,
                           projectid: str | None = None) -> Volume:
        """From a custom offering: services customdiskofferingid, customdisksize (GB), customminiops,
        custommaxiops, zoneid."""
        return cls._call(apiclient, "createVolume", name=services.get("diskname", "volume"),
                         diskofferingid=pick(diskofferingid, services, "customdiskofferingid"),
                         size=services.get("customdisksize"), miniops=services.get("customminiops"),
                         maxiops=services.get("custommaxiops"), zoneid=services.get("zoneid"),
                         account=pick(account, services, "account"),
                         domainid=pick(domainid, services, "domainid"), projectid=projectid)

    @classmethod
    def create_from_snapshot(cls, apiclient: Any, snapshot_id: str, services: dict,
                             account: str | None = None, domainid: str | None = None,
                             projectid: str | None = None) -> Volume:
        return cls._call(apiclient, "createVolume", name=disk_name(services), snapshotid=snapshot_id,
                         zoneid=services.get("zoneid"), size=services.get("size"),
                         account=pick(account, services, "account"),
                         domainid=pick(domainid, services, "domainid"), projectid=projectid)

    @classmethod
    def revertToSnapshot(cls, apiclient: Any, volumeSnapshotId: str) -> Snapshot:
        return Snapshot._call(apiclient, "revertSnapshot", id=volumeSnapshotId)

    @classmethod
    def upload(cls, apiclient: Any, services: dict, zoneid: str | None = None, account: str | None = None,
               domainid: str | None = None, url: str | None = None, **kwargs: Any) -> Volume:
        """services: diskname, format, url (unless given), zoneid (unless given)."""
        return cls._call(apiclient, "uploadVolume", zoneid=pick(zoneid, services, "zoneid"), account=account,
                         domainid=domainid, format=services["format"], name=services["diskname"],
                         url=url or services["url"], **kwargs)

    @hybridmethod
    def extract(cls, self, apiclient: Any = None, volume_id: str | None = None, zoneid: str | None = None,
                mode: str = "HTTP_DOWNLOAD") -> Volume:
        """The volume's download link (`url`), as a new object: `Volume.extract(apiclient, id, zoneid, mode)`
        or `volume.extract(mode=...)`."""
        api = api_of(apiclient) if self is None else self.api(apiclient)
        zoneid = zoneid or (self.zoneid if self is not None else None)
        return cls.bind(api, api.call("extractVolume", id=volume_id or self.id, zoneid=zoneid, mode=mode))

    @hybridmethod
    def migrate(cls, self, apiclient: Any = None, **kwargs: Any) -> Volume:
        """kwargs: volumeid (this volume's by default), storageid, livemigrate, newdiskofferingid."""
        if self is not None:
            kwargs.setdefault("volumeid", self.id)
        api = api_of(apiclient) if self is None else self.api(apiclient)
        return cls.settled(api, self, api.call("migrateVolume", **kwargs))

    def resize(self, apiclient: Any = None, **kwargs: Any) -> Volume:
        """kwargs: size (GB), diskofferingid, shrinkok, miniops, maxiops."""
        return self.act(self, apiclient, "resizeVolume", **kwargs)

    def destroy(self, apiclient: Any = None, expunge: bool = False) -> Volume:
        return self.act(self, apiclient, "destroyVolume", expunge=expunge)

    def recover(self, apiclient: Any = None) -> Volume:
        return self.act(self, apiclient, "recoverVolume")

    def attach(self, vm: Any, apiclient: Any = None, deviceid: int | None = None) -> Volume:
        return self.act(self, apiclient, "attachVolume", virtualmachineid=getattr(vm, "id", vm),
                        deviceid=deviceid)

    def detach(self, apiclient: Any = None) -> Volume:
        return self.act(self, apiclient, "detachVolume")

    def wait_for_upload(self, apiclient: Any = None, timeout: float = 10, interval: float = 60) -> Volume:
        """Wait for state Uploaded, up to timeout × interval seconds (upstream counts tries of `interval`
        seconds; this checks more often, so a finished upload is seen at once)."""
        def uploaded(volume: Volume) -> bool:
            if volume.state in ("UploadError", "UploadAbandoned"):
                raise RuntimeError(f"{describe(volume)}: upload failed ({volume.state})")
            return volume.state == "Uploaded"

        return self.wait(uploaded, timeout * interval, min(interval, 0.5), apiclient)


class Snapshot(Resource):
    list_command, delete_command = "listSnapshots", "deleteSnapshot"
    BACKED_UP, BACKING_UP = "BackedUp", "BackingUp"

    @classmethod
    def create(cls, apiclient: Any, volume_id: str, account: str | None = None, domainid: str | None = None,
               projectid: str | None = None, locationtype: str | None = None,
               asyncbackup: bool | None = None) -> Snapshot:
        return cls._call(apiclient, "createSnapshot", volumeid=volume_id, account=account, domainid=domainid,
                         projectid=projectid, locationtype=locationtype, asyncbackup=asyncbackup)

    def revert(self, apiclient: Any = None) -> Snapshot:
        """Put the snapshot's volume back as it was when the snapshot was taken."""
        return self.act(self, apiclient, "revertSnapshot")

    def validateState(self, apiclient: Any = None, snapshotstate: str = BACKED_UP,
                      timeout: float = 600) -> list:
        """[PASS, None] once the snapshot is in `snapshotstate`, else [FAIL, the reason] (upstream's
        helper)."""
        try:
            self.wait(snapshotstate, timeout, apiclient=apiclient)
        except (TimeoutError, LookupError, CloudstackError) as error:
            return [FAIL, error]
        return [PASS, None]


class SnapshotPolicy(Resource):
    list_command, delete_command = "listSnapshotPolicies", "deleteSnapshotPolicies"

    @classmethod
    def create(cls, apiclient: Any, volumeid: str, services: dict) -> SnapshotPolicy:
        """services: intervaltype (HOURLY, DAILY, WEEKLY, MONTHLY), maxsnaps, schedule, timezone."""
        return cls._call(apiclient, "createSnapshotPolicy", volumeid=volumeid,
                         intervaltype=services["intervaltype"], maxsnaps=services["maxsnaps"],
                         schedule=services["schedule"], timezone=services["timezone"])


class VmSnapshot(Resource):
    """VM snapshots are named `vmsnapshotid` by their commands."""
    list_command = "listVMSnapshot"

    @classmethod
    def create(cls, apiclient: Any, vmid: str, snapshotmemory: Any = "false", name: str | None = None,
               description: str | None = None) -> VmSnapshot:
        return cls._call(apiclient, "createVMSnapshot", virtualmachineid=vmid, snapshotmemory=snapshotmemory,
                         name=name, description=description)

    @hybridmethod
    def revertToSnapshot(cls, self, apiclient: Any = None, vmsnapshotid: str | None = None) -> Record:
        """Put the VM back as it was; answers the VM."""
        api = api_of(apiclient) if self is None else self.api(apiclient)
        return Record(api.call("revertToVMSnapshot", vmsnapshotid=vmsnapshotid or self.id))

    @classmethod
    def deleteVMSnapshot(cls, apiclient: Any, vmsnapshotid: str) -> Any:
        return api_of(apiclient).call("deleteVMSnapshot", vmsnapshotid=vmsnapshotid)

    def delete(self, apiclient: Any = None) -> Any:
        return self.api(apiclient).call("deleteVMSnapshot", vmsnapshotid=self.id)

    def fetch(self, api: Api) -> list[dict]:
        return api.list(self.list_command, vmsnapshotid=self.id, listall=True)


# ---- templates and ISOs -------------------------------------------------------------------------------


def downloading(status: str | None) -> bool:
    """Whether a template or ISO status means "not there yet" rather than "failed"."""
    status = status or ""
    return status in ("", "Not Downloaded") or status.startswith(("Installing", "Waiting")) \
        or status.endswith("% Downloaded")


# registerTemplate / registerIso parameters taken from `services` when present.
IMAGE_OPTIONS = ("isfeatured", "ispublic", "isextractable", "isdynamicallyscalable", "passwordenabled",
                 "checksum", "directdownload", "bootable", "bits", "requireshvm", "sshkeyenabled",
                 "templatetag", "templatetype", "deployasis", "arch")


# Flags a template is registered with as false unless `services` says otherwise (upstream sends them all).
TEMPLATE_FLAGS = ("isfeatured", "ispublic", "isextractable", "isdynamicallyscalable", "passwordenabled",
                  "deployasis")


def image_params(api: Api, services: dict, name: str) -> dict:
    params = {key: services.get(key) for key in IMAGE_OPTIONS}
    return {**params, "name": name, "displaytext": services.get("displaytext", name), "url": services["url"],
            "ostypeid": ostype_id(api, services)}


class Image(Resource):
    """What templates and ISOs share: registration answers one entry per zone (the first is kept), the
    listing needs a filter, and a download is waited for."""
    filter_param, ready_status = "templatefilter", "Download Complete"

    def fetch(self, api: Api) -> list[dict]:
        # An id wins over the filter; "self" is the one that also shows images not ready yet.
        return api.list(self.list_command, id=self.id, zoneid=self.get("zoneid"),
                        **{self.filter_param: "self"})

    def ready(self, found: Image) -> bool:
        if found.get("isready") and found.get("status") == self.ready_status:
            return True
        if downloading(found.get("status")):
            return False
        raise RuntimeError(f"{describe(found)}: download failed: {found.get('status')}")

    def wait_ready(self, timeout: float = 600, interval: float = 0.2, apiclient: Any = None) -> Image:
        """Wait until the image is ready in its zone; a failed download raises at once."""
        return self.wait(self.ready, timeout, interval, apiclient)

    def download(self, apiclient: Any = None, retries: int = 300, interval: float = 5) -> Image:
        """Upstream's name for wait_ready: up to retries × interval seconds (checked more often than
        every `interval`, so a finished download is seen at once)."""
        return self.wait_ready(retries * interval, min(interval, 0.5), apiclient)


class Template(Image):
    list_command, update_command, delete_command = "listTemplates", "updateTemplate", "deleteTemplate"

    @classmethod
    def register(cls, apiclient: Any, services: dict, zoneid: str | None = None, account: str | None = None,
                 domainid: str | None = None, hypervisor: str | None = None, projectid: str | None = None,
                 details: Any = None, randomize_name: bool = True) -> Template:
        """services: name, displaytext, url, format, hypervisor, ostype (a guest OS description; or
        ostypeid), zoneid, and any of IMAGE_OPTIONS. Answers at once; `download()` waits for it."""
        api = api_of(apiclient)
        name = f"{services['name']}-{random_gen()}" if randomize_name else services["name"]
        params = {**image_params(api, services, name), **{f: services.get(f, False) for f in TEMPLATE_FLAGS}}
        return cls._call_listed(api, "registerTemplate", **params,
                                format=services["format"],
                                hypervisor=pick(hypervisor, services, "hypervisor"),
                                zoneid=pick(zoneid, services, "zoneid"), account=account, domainid=domainid,
                                projectid=pick(projectid, services, "projectid"), details=details)

    def delete(self, apiclient: Any = None, zoneid: str | None = None, forced: bool | None = None) -> Any:
        return self.api(apiclient).call(self.delete_command, id=self.id, zoneid=zoneid, forced=forced)

    def updatePermissions(self, apiclient: Any = None, **kwargs: Any) -> Any:
        """kwargs: accounts, projectids, op (add, remove, reset), ispublic, isfeatured, isextractable."""
        return self.api(apiclient).call("updateTemplatePermissions", id=self.id, **kwargs)

    def copy(self, apiclient: Any = None, sourcezoneid: str | None = None,
             destzoneid: str | None = None) -> Template:
        """Copy to another zone; answers the template's entry there."""
        api = self.api(apiclient)
        return self.bind(api, api.call("copyTemplate", id=self.id, sourcezoneid=sourcezoneid,
                                       destzoneid=destzoneid))

    @hybridmethod
    def extract(cls, self, apiclient: Any = None, id: str | None = None, mode: str = "HTTP_DOWNLOAD",
                zoneid: str | None = None) -> Record:
        """The template's download link (`url`)."""
        api = api_of(apiclient) if self is None else self.api(apiclient)
        return Record(api.call("extractTemplate", id=id or self.id, mode=mode, zoneid=zoneid))

    @classmethod
    def linkUserDataToTemplate(cls, apiclient: Any, templateid: str, userdataid: str | None = None,
                               userdatapolicy: str | None = None) -> Template:
        return cls._call(apiclient, "linkUserDataToTemplate", templateid=templateid,
                         **given(userdataid=userdataid, userdatapolicy=userdatapolicy))


class Iso(Image):
    list_command, update_command, delete_command = "listIsos", "updateIso", "deleteIso"
    filter_param, ready_status = "isofilter", "Successfully Installed"

    @classmethod
    def create(cls, apiclient: Any, services: dict, account: str | None = None, domainid: str | None = None,
               projectid: str | None = None, zoneid: str | None = None) -> Iso:
        """Register an ISO. services: name (a random suffix is added), displaytext, url, ostype (or
        ostypeid), zoneid, and any of IMAGE_OPTIONS."""
        api = api_of(apiclient)
        name = f"{services['name']}-{random_gen()}"
        return cls._call_listed(api, "registerIso", **image_params(api, services, name),
                                zoneid=pick(zoneid, services, "zoneid"), account=account, domainid=domainid,
                                projectid=projectid)

    @classmethod
    def extract(cls, apiclient: Any, id: str, mode: str, zoneid: str | None = None) -> Record:
        return Record(api_of(apiclient).call("extractIso", id=id, mode=mode, zoneid=zoneid))

    @classmethod
    def copy(cls, apiclient: Any, id: str, sourcezoneid: str, destzoneid: str) -> Iso:
        return cls._call(apiclient, "copyIso", id=id, sourcezoneid=sourcezoneid, destzoneid=destzoneid)
