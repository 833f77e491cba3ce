"""Compute: service and disk offerings, virtual machines, affinity and instance groups, SSH key pairs and
user data (server/compute)."""

from __future__ import annotations

import base64
from typing import Any

from ..codes import DESTROYED, EXPUNGING, FAIL, PASS, RUNNING, STARTING, STOPPED, STOPPING
from ..errors import CloudstackError
from .resource import Api, Resource, api_of, given, hybridmethod, pick
from .storage import Template, Volume
from .utils import random_gen

# ---- offerings ----------------------------------------------------------------------------------------

# services entries sent to createServiceOffering when present, besides name/displaytext/cpu/memory.
SERVICE_OFFERING_OPTIONS = (
    "storagetype", "systemvmtype", "issystem", "hosttags", "deploymentplanner", "isvolatile",
    "customizediops", "miniops", "maxiops", "hypervisorsnapshotreserve", "offerha", "provisioningtype",
    "dynamicscalingenabled", "diskofferingstrictness", "diskofferingid", "limitcpuuse", "customized",
    "mincpunumber", "maxcpunumber", "minmemory", "maxmemory", "rootdisksize", "networkrate", "encryptroot",
)


class ServiceOffering(Resource):
    list_command, update_command = "listServiceOfferings", "updateServiceOffering"
    delete_command = "deleteServiceOffering"

    @classmethod
    def create(cls, apiclient: Any, services: dict, tags: str | None = None, domainid: str | None = None,
               cacheMode: str | None = None, **kwargs: Any) -> ServiceOffering:
        """services: name, displaytext, cpunumber, cpuspeed (MHz), memory (MB), and any of
        SERVICE_OFFERING_OPTIONS; kwargs go to the command as they are."""
        params = {key: services.get(key) for key in ("name", "displaytext", "cpunumber", "cpuspeed", "memory",
                                                      *SERVICE_OFFERING_OPTIONS)}
        params.update(domainid=domainid, cachemode=cacheMode, tags=pick(tags, services, "tags"))
        return cls._call(apiclient, "createServiceOffering", **{**params, **kwargs})


class DiskOffering(Resource):
    list_command, update_command = "listDiskOfferings", "updateDiskOffering"
    delete_command = "deleteDiskOffering"

    @classmethod
    def create(cls, apiclient: Any, services: dict, tags: str | None = None, custom: bool = False,
               domainid: str | None = None, cacheMode: str | None = None, **kwargs: Any) -> DiskOffering:
        """services: name, displaytext, disksize (GB; not with custom=True, which makes the size the
        volume's choice), storagetype, customizediops, miniops, maxiops, provisioningtype."""
        iops = services.get("customizediops", False)
        params = {
            "name": services["name"], "displaytext": services["displaytext"],
            "customized": True if custom else None, "disksize": None if custom else services.get("disksize"),
            "domainid": domainid, "cachemode": cacheMode, "tags": pick(tags, services, "tags"),
            "storagetype": services.get("storagetype"), "customizediops": iops,
            "miniops": None if iops else services.get("miniops"),
            "maxiops": None if iops else services.get("maxiops"),
            "hypervisorsnapshotreserve": services.get("hypervisorsnapshotreserve"),
            "provisioningtype": services.get("provisioningtype"),
        }
        return cls._call(apiclient, "createDiskOffering", **{**params, **kwargs})


# ---- virtual machines ---------------------------------------------------------------------------------

# How to log in to a VM: from the services dict it was deployed with, kept across refreshes.
LOGIN = ("username", "password", "ssh_port", "ssh_client", "ipaddress", "ssh_ip", "public_ip")


def custom_details(cpunumber: Any, cpuspeed: Any, memory: Any, rootdisksize: Any,
                   rootdiskcontroller: Any) -> list[dict] | None:
    """Custom offering sizes and root disk settings, sent as details[0].<name> (upstream's names)."""
    details = given(cpuNumber=cpunumber, cpuSpeed=cpuspeed, memory=memory,
                    rootDiskController=rootdiskcontroller)
    if rootdisksize is not None and rootdisksize >= 0:
        details["rootdisksize"] = rootdisksize
    return [details] if details else None


def encoded(userdata: str | None) -> str | None:
    return base64.urlsafe_b64encode(userdata.encode()).decode() if userdata else None


def default_template(api: Api, zoneid: str) -> Template:
    found = Template.list(api, templatefilter="featured", zoneid=zoneid, isready=True)
    if not found:
        raise LookupError(f"no featured template is ready in zone {zoneid}")
    return found[0]


def smallest_offering(api: Api) -> ServiceOffering:
    fixed = [o for o in ServiceOffering.list(api, issystem=False) or [] if not o.get("iscustomized")]
    if not fixed:
        raise LookupError("no fixed-size service offering to deploy with")
    return min(fixed, key=lambda o: (o.get("cpunumber") or 0, o.get("memory") or 0))


class VirtualMachine(Resource):
    """User VMs. Deployed with a `services` dict as upstream's test_data["virtual_machine"]
    (displayname, name, username, password, ssh_port, ...): the login it names is kept on the object."""
    list_command, update_command = "listVirtualMachines", "updateVirtualMachine"
    RUNNING, STOPPED, STARTING, STOPPING, DESTROYED, EXPUNGING = (RUNNING, STOPPED, STARTING, STOPPING,
                                                                  DESTROYED, EXPUNGING)

    def __init__(self, items: Any = None, services: dict | None = None):
        super().__init__(items)
        services = services or {}
        nics = self.get("nic") or []
        address = nics[0].get("ipaddress") if nics else None
        self.__dict__.update(username=services.get("username", "root"),
                             password=self.get("password") or services.get("password", "password"),
                             ssh_port=services.get("ssh_port", 22), ssh_client=None, ipaddress=address,
                             ssh_ip=address, public_ip=address)

    def _load(self, items: Any) -> None:
        kept = {name: self.__dict__[name] for name in LOGIN if name in self.__dict__}
        super()._load(items)
        self.__dict__.update(kept)  # listings carry no password: the login outlives a refresh

    @classmethod
    def create(cls, apiclient: Any, services: dict, templateid: str | None = None,
               accountid: str | None = None, domainid: str | None = None, zoneid: str | None = None,
               networkids: Any = None,
               serviceofferingid: str | None = None, securitygroupids: list | None = None,
               projectid: str | None = None, startvm: bool | None = None, diskofferingid: str | None = None,
               affinitygroupnames: Any = None, affinitygroupids: Any = None, group: str | None = None,
               hostid: str | None = None, clusterid: str | None = None, keypair: str | None = None,
               ipaddress: str | None = None, mode: str = "default", method: str = "GET",
               hypervisor: str | None = None, customcpunumber: Any = None, customcpuspeed: Any = None,
               custommemory: Any = None, rootdisksize: int | None = None,
               rootdiskcontroller: str | None = None, vpcid: str | None = None, macaddress: str | None = None,
               datadisktemplate_diskoffering_list: dict | None = None, properties: Any = None,
               nicnetworklist: Any = None, bootmode: str | None = None, boottype: str | None = None,
               dynamicscalingenabled: bool | None = None, userdataid: str | None = None,
               userdatadetails: Any = None, extraconfig: str | None = None, size: int | None = None,
               timeout: float = 600) -> VirtualMachine:
        """Deploy a VM and answer it Running (Stopped with startvm=False). Arguments win over the same
        entries of `services` (serviceoffering, zoneid, template, diskoffering, account, domainid,
        networkids, keypair, ipaddress, macaddress, size). `mode` and `vpcid` serve upstream to open SSH to
        the VM through port forwarding or security groups, which this server does not offer yet: the VM's
        `ssh_ip` is its first NIC's address."""
        params = {
            "serviceofferingid": pick(serviceofferingid, services, "serviceoffering"),
            "zoneid": pick(zoneid, services, "zoneid"), "templateid": pick(templateid, services, "template"),
            "diskofferingid": pick(diskofferingid, services, "diskoffering"),
            "account": pick(accountid, services, "account"), "domainid": pick(domainid, services, "domainid"),
            "networkids": pick(networkids, services, "networkids"),
            "keypair": pick(keypair, services, "keypair"),
            "ipaddress": pick(ipaddress, services, "ipaddress"), "size": pick(size, services, "size"),
            "macaddress": pick(macaddress, services, "macaddress"),
            "displayname": services.get("displayname"), "name": services.get("name"),
            "affinitygroupnames": services.get("affinitygroupnames") or affinitygroupnames,
            "userdata": encoded(services.get("userdata")),
            "dhcpoptionsnetworklist": services.get("dhcpoptionsnetworklist"),
            "securitygroupids": [str(sg) for sg in securitygroupids] if securitygroupids else None,
            "details": custom_details(customcpunumber, customcpuspeed, custommemory, rootdisksize,
                                      rootdiskcontroller),
            "datadisktemplatetodiskofferinglist": [
                {"datadisktemplateid": template, "diskofferingid": offering}
                for template, offering in (datadisktemplate_diskoffering_list or {}).items()] or None,
            "hypervisor": hypervisor, "projectid": projectid, "startvm": startvm, "hostid": hostid,
            "clusterid": clusterid, "group": group, "affinitygroupids": affinitygroupids,
            "userdataid": userdataid, "userdatadetails": userdatadetails, "bootmode": bootmode,
            "boottype": boottype, "dynamicscalingenabled": dynamicscalingenabled, "properties": properties,
            "nicnetworklist": nicnetworklist, "extraconfig": extraconfig,
        }
        api = api_of(apiclient)
        send = api.post if method.upper() == "POST" else api.call
        vm = cls(send("deployVirtualMachine", **given(**params)), services)
        vm._api = api
        return vm if startvm is False else vm.expect(RUNNING, timeout)

    @classmethod
    def deploy(cls, apiclient: Any, zone: Any, account: Any = None, template: Any = None,
               serviceoffering: Any = None, services: dict | None = None, **kwargs: Any) -> VirtualMachine:
        """The pytest-style deploy: in `zone` (object or id) for `account` (an Account, else the caller),
        from `template` (default: the zone's first ready featured template) on `serviceoffering`
        (default: the smallest fixed-size one); kwargs as for create."""
        api = api_of(apiclient)
        zoneid = getattr(zone, "id", zone)
        template = template or default_template(api, zoneid)
        offering = serviceoffering or smallest_offering(api)
        owner = {"accountid": account.name, "domainid": account.domainid} if account is not None else {}
        return cls.create(api, services or {}, templateid=getattr(template, "id", template), zoneid=zoneid,
                          serviceofferingid=getattr(offering, "id", offering), **owner, **kwargs)

    def _vm_call(self, apiclient: Any, command: str, **params: Any) -> VirtualMachine:
        """Commands that name the VM `virtualmachineid` rather than `id`."""
        self._load(self.api(apiclient).call(command, virtualmachineid=self.id, **params))
        return self

    # ---- power states (each answers once the VM is in the new state) ----

    def start(self, apiclient: Any = None, timeout: float = 600) -> VirtualMachine:
        return self.act(self, apiclient, "startVirtualMachine").expect(RUNNING, timeout, apiclient)

    def stop(self, apiclient: Any = None, forced: bool | None = None, timeout: float = 600) -> VirtualMachine:
        return self.act(self, apiclient, "stopVirtualMachine", forced=forced).expect(STOPPED, timeout,
                                                                                    apiclient)

    def reboot(self, apiclient: Any = None, forced: bool | None = None,
               timeout: float = 600) -> VirtualMachine:
        return self.act(self, apiclient, "rebootVirtualMachine", forced=forced).expect(RUNNING, timeout,
                                                                                      apiclient)

    def recover(self, apiclient: Any = None, timeout: float = 600) -> VirtualMachine:
        return self.act(self, apiclient, "recoverVirtualMachine").expect(STOPPED, timeout, apiclient)

    def delete(self, apiclient: Any = None, expunge: bool = True, **kwargs: Any) -> Any:
        """Destroy the VM, expunged at once unless expunge=False (upstream's default)."""
        return self.api(apiclient).call("destroyVirtualMachine", id=self.id, expunge=expunge, **kwargs)

    def expunge(self, apiclient: Any = None) -> Any:
        return self.api(apiclient).call("expungeVirtualMachine", id=self.id)

    def getState(self, apiclient: Any = None, state: str = RUNNING, timeout: float = 600) -> list:
        """[PASS, None] once the VM is in `state`, else [FAIL, the reason] (upstream's helper)."""
        try:
            self.wait(state, timeout, apiclient=apiclient)
        except (TimeoutError, LookupError, CloudstackError) as error:
            return [FAIL, error]
        return [PASS, None]

    # ---- changes ----

    def restore(self, apiclient: Any = None, templateid: str | None = None) -> VirtualMachine:
        return self._vm_call(apiclient, "restoreVirtualMachine", templateid=templateid)

    def migrate(self, apiclient: Any = None, hostid: str | None = None) -> VirtualMachine:
        return self._vm_call(apiclient, "migrateVirtualMachine", hostid=hostid)

    def migrate_vm_with_volume(self, apiclient: Any = None, hostid: str | None = None,
                               migrateto: dict | None = None) -> VirtualMachine:
        """migrateto: {volume id: storage pool id}."""
        pairs = [{"volume": volume, "pool": pool} for volume, pool in (migrateto or {}).items()] or None
        return self._vm_call(apiclient, "migrateVirtualMachineWithVolume", hostid=hostid, migrateto=pairs)

    def scale(self, apiclient: Any = None, serviceOfferingId: str | None = None, customcpunumber: Any = None,
              customcpuspeed: Any = None, custommemory: Any = None) -> VirtualMachine:
        details = given(cpuNumber=customcpunumber, cpuSpeed=customcpuspeed, memory=custommemory)
        return self.act(self, apiclient, "scaleVirtualMachine", serviceofferingid=serviceOfferingId,
                        details=[details] if details else None)

    def scale_virtualmachine(self, apiclient: Any = None,
                             serviceOfferingId: str | None = None) -> VirtualMachine:
        return self.scale(apiclient, serviceOfferingId)

    def change_service_offering(self, apiclient: Any = None,
                                serviceOfferingId: str | None = None) -> VirtualMachine:
        return self.act(self, apiclient, "changeServiceForVirtualMachine",
                        serviceofferingid=serviceOfferingId)

    def resetPassword(self, apiclient: Any = None) -> str | None:
        """A new password (the template must allow it); answered, as upstream, and kept as `password`."""
        self.act(self, apiclient, "resetPasswordForVirtualMachine")
        if self.get("password"):
            self.__dict__["password"] = self["password"]
        return self.get("password")

    def resetSshKey(self, apiclient: Any = None, **kwargs: Any) -> VirtualMachine:
        """kwargs: keypair (or keypairs), account, domainid, projectid; the VM must be stopped."""
        return self.act(self, apiclient, "resetSSHKeyForVirtualMachine", **kwargs)

    def assign_virtual_machine(self, apiclient: Any = None, account: str | None = None,
                               domainid: str | None = None) -> VirtualMachine:
        return self._vm_call(apiclient, "assignVirtualMachine", account=account, domainid=domainid)

    def update_affinity_group(self, apiclient: Any = None, affinitygroupids: Any = None,
                              affinitygroupnames: Any = None) -> VirtualMachine:
        return self.act(self, apiclient, "updateVMAffinityGroup", affinitygroupids=affinitygroupids,
                        affinitygroupnames=affinitygroupnames)

    # ---- volumes ----

    def attach_volume(self, apiclient: Any = None, volume: Any = None, deviceid: int | None = None) -> Volume:
        """Attach `volume` (a Volume, whose fields then follow the answer); answers the attached volume."""
        api = self.api(apiclient)
        return Volume.settled(api, volume, api.call("attachVolume", id=volume.id, virtualmachineid=self.id,
                                                    deviceid=deviceid))

    def detach_volume(self, apiclient: Any = None, volume: Any = None) -> Volume:
        api = self.api(apiclient)
        return Volume.settled(api, volume, api.call("detachVolume", id=volume.id))


# ---- groups, keys, user data --------------------------------------------------------------------------


class AffinityGroup(Resource):
    list_command, delete_command = "listAffinityGroups", "deleteAffinityGroup"

    @classmethod
    def create(cls, apiclient: Any, aff_grp: dict, account: str | None = None, domainid: str | None = None,
               projectid: str | None = None) -> AffinityGroup:
        """aff_grp: name, type ("host anti-affinity", "host affinity"), description."""
        return cls._call(apiclient, "createAffinityGroup", name=aff_grp["name"], type=aff_grp["type"],
                         description=aff_grp.get("description"), account=account, domainid=domainid,
                         projectid=projectid)


class InstanceGroup(Resource):
    list_command, update_command, delete_command = "listInstanceGroups", "updateInstanceGroup", \
        "deleteInstanceGroup"

    @classmethod
    def create(cls, apiclient: Any, name: str | None = None, account: str | None = None,
               domainid: str | None = None, projectid: str | None = None, networkid: str | None = None,
               rand_name: bool = True) -> InstanceGroup:
        name = name or "group"
        return cls._call(apiclient, "createInstanceGroup", account=account, domainid=domainid,
                         name=f"{name}-{random_gen()}" if rand_name else name, projectid=projectid,
                         networkid=networkid)


class SSHKeyPair(Resource):
    """Key pairs are named, not numbered: delete sends the name (and the owner, so an admin can delete a
    user's key)."""
    list_command = "listSSHKeyPairs"

    @classmethod
    def create(cls, apiclient: Any, name: str | None = None, account: str | None = None,
               domainid: str | None = None, projectid: str | None = None) -> SSHKeyPair:
        """A new key pair made by the server; the answer holds its `privatekey`."""
        return cls._call(apiclient, "createSSHKeyPair", name=name or f"keypair-{random_gen()}",
                         account=account, domainid=domainid, projectid=projectid)

    @classmethod
    def register(cls, apiclient: Any, name: str, publickey: str, account: str | None = None,
                 domainid: str | None = None, projectid: str | None = None) -> SSHKeyPair:
        return cls._call(apiclient, "registerSSHKeyPair", name=name, publickey=publickey, account=account,
                         domainid=domainid, projectid=projectid)

    def delete(self, apiclient: Any = None) -> Any:
        return self.api(apiclient).call("deleteSSHKeyPair", name=self.name, account=self.get("account"),
                                        domainid=self.get("domainid"), projectid=self.get("projectid"))

    def fetch(self, api: Api) -> list[dict]:
        return api.list(self.list_command, name=self.name, account=self.get("account"),
                        domainid=self.get("domainid"), listall=True)


class UserData(Resource):
    list_command, delete_command = "listUserData", "deleteUserData"

    @classmethod
    def register(cls, apiclient: Any, name: str | None = None, account: str | None = None,
                 domainid: str | None = None, projectid: str | None = None, userdata: str | None = None,
                 params: str | None = None) -> UserData:
        """userdata: base64 text; params: comma-separated variable names it uses."""
        return cls._call(apiclient, "registerUserData", name=name or f"userdata-{random_gen()}",
                         userdata=userdata, params=params, account=account, domainid=domainid,
                         projectid=projectid)

    @hybridmethod
    def delete(cls, self, apiclient: Any = None, id: str | None = None) -> Any:
        """`UserData.delete(apiclient, id)` as upstream, or `userdata.delete()`."""
        api = api_of(apiclient) if self is None else self.api(apiclient)
        return api.call(cls.delete_command, id=id or self.id)
