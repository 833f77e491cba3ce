"""Resource classes for tests: upstream Marvin's names and call signatures (`Account.create(apiclient,
services, admin=False, domainid=None)`, `Zone.list(apiclient, **kwargs)` → objects or None,
`account.delete(apiclient)`), plus the pytest-style conveniences: an object made by a call remembers
its client, so `zone.refresh()`, `host.wait("Up")`, `pod.update(name=...)` and `vm.delete()` need none.

Objects carry the server's fields as attributes (`account.user[0].id`) and as items (`account["id"]`).
Whatever a test passes as `apiclient` goes through `api_of()`: the one place that knows how to talk to
a given client (ours, or the upstream-style api client the compatibility layer will add).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ..client import Client
from .utils import describe, poll, random_gen

# ---- the adapter point --------------------------------------------------------------------------------


class Api:
    """What resource classes call: `call(command, **params)` answers the command's object (async jobs
    awaited), `list(command, **params)` answers the listed items."""

    def call(self, command: str, **params: Any) -> dict:
        raise NotImplementedError

    def list(self, command: str, **params: Any) -> list[dict]:
        raise NotImplementedError


class ClientApi(Api):
    def __init__(self, client: Client):
        self.client = client

    def call(self, command: str, **params: Any) -> dict:
        return self.client(command, **params)

    def list(self, command: str, **params: Any) -> list[dict]:
        return self.client.list(command, **params)

    def signed_as(self, apikey: str, secretkey: str) -> Client:
        """A client for the same server signed with other keys (a user's, say)."""
        return Client(self.client.url, apikey, secretkey, signature_version=self.client.signature_version)


ADAPTERS: list[tuple[type, Callable[[Any], Api]]] = [(Client, ClientApi)]


def register_adapter(kind: type, factory: Callable[[Any], Api]) -> None:
    """Teach `api_of` a new kind of client (the latest registration wins)."""
    ADAPTERS.insert(0, (kind, factory))


def api_of(apiclient: Any) -> Api:
    """Turn whatever a test passes as `apiclient` into an Api."""
    if isinstance(apiclient, Api):
        return apiclient
    for kind, factory in ADAPTERS:
        if isinstance(apiclient, kind):
            return factory(apiclient)
    own = getattr(apiclient, "marvin_api", None)  # a client may also bring its own adapter
    if own is not None:
        return own()
    raise TypeError(f"cannot call the API through {type(apiclient).__name__}")


# ---- records and resources ----------------------------------------------------------------------------


def wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return Record(value)
    if isinstance(value, list):
        return [wrap(item) for item in value]
    return value


class Record:
    """A server object: its fields as attributes (nested objects too) and as items."""

    def __init__(self, items: Any = None, services: dict | None = None):
        self._load(items or {})

    def _load(self, items: Any) -> None:
        if isinstance(items, Record):
            items = items._fields
        items = items.get("_fields", items)  # `Account(other.__dict__)`, as upstream tests write it
        for old in self.__dict__.pop("_fields", {}):
            self.__dict__.pop(old, None)
        self.__dict__["_fields"] = dict(items)
        for name, value in items.items():
            # A field never hides a method: `update` the field stays readable as obj["update"].
            if not callable(getattr(type(self), name, None)):
                self.__dict__[name] = wrap(value)

    def __getitem__(self, name: str) -> Any:
        return self._fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._fields.get(name, default)

    def to_dict(self) -> dict:
        return dict(self._fields)

    def __repr__(self) -> str:
        ident = self._fields.get("id") or self._fields.get("name")
        return f"{type(self).__name__}({ident!r})"


class hybridmethod:
    """A method callable on the class, as upstream calls `Host.update(apiclient, id=...)`, or on an
    object (`host.update(apiclient, ...)`, or `host.update(...)` with the object's own client)."""

    def __init__(self, func: Callable):
        self.func = func
        functools.update_wrapper(self, func)

    def __get__(self, obj: Any, owner: type) -> Callable:
        return functools.partial(self.func, owner, obj)


class Resource(Record):
    list_command: str = ""
    update_command: str = ""
    delete_command: str = ""
    state_field = "state"
    _api: Api | None = None

    @classmethod
    def bind(cls, api: Api, items: Any) -> Resource:
        obj = cls(items)
        obj._api = api
        return obj

    @classmethod
    def _call(cls, apiclient: Any, command: str, **params: Any) -> Resource:
        api = api_of(apiclient)
        return cls.bind(api, api.call(command, **params))

    def api(self, apiclient: Any = None) -> Api:
        if apiclient is not None:
            return api_of(apiclient)
        if self._api is None:
            raise TypeError(f"{describe(self)} was not made by a call: pass the apiclient")
        return self._api

    @classmethod
    def list(cls, apiclient: Any, **kwargs: Any) -> list | None:
        """The matching objects, or None when there are none (as upstream answers)."""
        api = api_of(apiclient)
        if "account" in kwargs and "domainid" in kwargs:
            kwargs.setdefault("listall", True)
        return [cls.bind(api, item) for item in api.list(cls.list_command, **kwargs)] or None

    @classmethod
    def first(cls, apiclient: Any, **kwargs: Any) -> Resource | None:
        return (cls.list(apiclient, **kwargs) or [None])[0]

    def fetch(self, api: Api) -> list[dict]:
        return api.list(self.list_command, id=self.id, listall=True)

    def refresh(self, apiclient: Any = None) -> Resource:
        """Read the object again from the server; LookupError when it is gone."""
        found = self.fetch(self.api(apiclient))
        if not found:
            raise LookupError(f"{describe(self)} is no longer listed")
        self._load(found[0])
        return self

    @classmethod
    def act(cls, obj: Resource | None, apiclient: Any, command: str, id: str | None = None,
            **params: Any) -> Any:
        """Run a command on one object: `obj` (its fields then follow the answer, and it is answered)
        or, called on the class, the object `id` (a new object is answered)."""
        if obj is None:
            return cls._call(apiclient, command, id=id, **params)
        answer = obj.api(apiclient).call(command, id=id or obj.id, **params)
        if "id" in answer:
            obj._load(answer)
        return obj

    @hybridmethod
    def update(cls, self, apiclient: Any = None, id: str | None = None, **kwargs: Any) -> Resource:
        return cls.act(self, apiclient, cls.update_command, id, **kwargs)

    def delete(self, apiclient: Any = None, **kwargs: Any) -> Any:
        return self.api(apiclient).call(self.delete_command, id=self.id, **kwargs)

    def wait(self, until: str | Callable[[Any], Any], timeout: float = 60, interval: float = 0.2,
             apiclient: Any = None) -> Resource:
        """Refresh until `until` holds: a state (compared with `state_field`, ignoring case) or a
        predicate on the refreshed object."""
        def reached(obj: Resource) -> bool:
            if callable(until):
                return bool(until(obj))
            return str(obj.get(obj.state_field, "")).lower() == until.lower()

        try:
            poll(lambda: reached(self.refresh(apiclient)), timeout, interval)
        except TimeoutError:
            raise TimeoutError(f"{describe(self)}: {until!r} not reached in {timeout}s "
                               f"({self.state_field}={self.get(self.state_field)!r})") from None
        return self


def services_or(services: dict | None, **defaults: Any) -> dict:
    return {**defaults, **(services or {})}


def given(**params: Any) -> dict:
    """The parameters that were given (upstream only sets a command's field when a value is passed)."""
    return {name: value for name, value in params.items() if value is not None}


# ---- identity -----------------------------------------------------------------------------------------


class Domain(Resource):
    list_command, update_command, delete_command = "listDomains", "updateDomain", "deleteDomain"

    @classmethod
    def create(cls, apiclient: Any, services: dict | None = None, name: str | None = None,
               networkdomain: str | None = None, parentdomainid: str | None = None,
               domainid: str | None = None) -> Domain:
        services = services_or(services, name="domain")
        return cls._call(apiclient, "createDomain", name=f"{name or services['name']}-{random_gen()}",
                         networkdomain=networkdomain or services.get("networkdomain"),
                         parentdomainid=parentdomainid or services.get("parentdomainid"), domainid=domainid)

    def delete(self, apiclient: Any = None, cleanup: bool | None = None) -> Any:
        return self.api(apiclient).call("deleteDomain", id=self.id, cleanup=cleanup)


ACCOUNT = {"email": "test@example.test", "firstname": "Test", "lastname": "User", "username": "test",
           "password": "password"}


class Account(Resource):
    list_command, update_command, delete_command = "listAccounts", "updateAccount", "deleteAccount"

    @classmethod
    def create(cls, apiclient: Any, services: dict | None = None, admin: bool = False,
               domainid: str | None = None, roleid: str | None = None, account: str | None = None) -> Account:
        """A new account (admin=True: a domain admin when a domain is given, else a root admin) named
        after services["username"] with a random suffix."""
        services = services_or(services, **ACCOUNT)
        return cls._call(apiclient, "createAccount", accounttype=2 if admin and domainid else int(admin),
                         email=services["email"], firstname=services["firstname"],
                         lastname=services["lastname"], password=services["password"],
                         username=f"{services['username'][:6]}-{random_gen()}", domainid=domainid,
                         roleid=roleid, account=account)

    def disable(self, apiclient: Any = None, lock: bool = False) -> Account:
        return self.act(self, apiclient, "disableAccount", lock=lock)

    def enable(self, apiclient: Any = None) -> Account:
        return self.act(self, apiclient, "enableAccount")

    def lock(self, apiclient: Any = None) -> Account:
        self._load(self.api(apiclient).call("lockAccount", account=self.name, domainid=self.domainid))
        return self


class User(Resource):
    list_command, update_command, delete_command = "listUsers", "updateUser", "deleteUser"

    @classmethod
    def create(cls, apiclient: Any, services: dict | None, account: str, domainid: str) -> User:
        services = services_or(services, **ACCOUNT)
        return cls._call(apiclient, "createUser", account=account, domainid=domainid,
                         email=services["email"], firstname=services["firstname"],
                         lastname=services["lastname"], password=services["password"],
                         username=f"{services['username']}-{random_gen()}")

    @classmethod
    def registerUserKeys(cls, apiclient: Any, userid: str) -> Record:
        return Record(api_of(apiclient).call("registerUserKeys", id=userid))

    def keys(self, apiclient: Any = None) -> Record:
        return Record(self.api(apiclient).call("getUserKeys", id=self.id))

    def signed_client(self, apiclient: Any = None) -> Client:
        """New keys for this user, and a client on the same server signing with them."""
        api = self.api(apiclient)
        keys = api.call("registerUserKeys", id=self.id)
        return api.signed_as(keys["apikey"], keys["secretkey"])

    def move(self, apiclient: Any = None, dest_accountid: str | None = None, dest_account: str | None = None,
             domain: str | None = None) -> Any:
        return self.api(apiclient).call("moveUser", id=self.id, accountid=dest_accountid,
                                        account=dest_account, domain=domain)

    def disable(self, apiclient: Any = None) -> User:
        return self.act(self, apiclient, "disableUser")

    def enable(self, apiclient: Any = None) -> User:
        return self.act(self, apiclient, "enableUser")

    def lock(self, apiclient: Any = None) -> User:
        return self.act(self, apiclient, "lockUser")


class Role(Resource):
    list_command, update_command, delete_command = "listRoles", "updateRole", "deleteRole"

    @classmethod
    def create(cls, apiclient: Any, services: dict, domainid: str | None = None) -> Role:
        return cls._call(apiclient, "createRole", name=services["name"], type=services.get("type"),
                         roleid=services.get("roleid"), description=services.get("description"))


class RolePermission(Resource):
    list_command, delete_command = "listRolePermissions", "deleteRolePermission"

    @classmethod
    def create(cls, apiclient: Any, services: dict, domainid: str | None = None) -> RolePermission:
        return cls._call(apiclient, "createRolePermission", roleid=services["roleid"], rule=services["rule"],
                         permission=services["permission"], description=services.get("description"))

    def update(self, apiclient: Any = None, **kwargs: Any) -> Any:
        if "ruleorder" not in kwargs:
            kwargs.setdefault("ruleid", self.id)
        return self.api(apiclient).call("updateRolePermission", roleid=self.roleid, **kwargs)

    def fetch(self, api: Api) -> list[dict]:
        return [rule for rule in api.list(self.list_command, roleid=self.roleid) if rule["id"] == self.id]


# ---- infrastructure -----------------------------------------------------------------------------------


class Zone(Resource):
    list_command, update_command, delete_command = "listZones", "updateZone", "deleteZone"
    state_field = "allocationstate"

    @classmethod
    def create(cls, apiclient: Any, services: dict, domainid: str | None = None) -> Zone:
        """services: name, networktype, dns1, internaldns1 (and any other createZone parameter)."""
        return cls._call(apiclient, "createZone", **{**services, **given(domainid=domainid)})


class Pod(Resource):
    list_command, update_command, delete_command = "listPods", "updatePod", "deletePod"
    state_field = "allocationstate"

    @classmethod
    def create(cls, apiclient: Any, services: dict) -> Pod:
        """services: zoneid, name, gateway, netmask, startip, endip."""
        return cls._call(apiclient, "createPod", **services)


class Cluster(Resource):
    list_command, update_command, delete_command = "listClusters", "updateCluster", "deleteCluster"
    state_field = "allocationstate"

    @classmethod
    def create(cls, apiclient: Any, services: dict, zoneid: str | None = None, podid: str | None = None,
               hypervisor: str | None = None) -> Cluster:
        api = api_of(apiclient)
        params = {"clustername": f"cluster-{random_gen()}", **services,
                  **given(zoneid=zoneid, podid=podid, hypervisor=hypervisor)}
        return cls.bind(api, api.list("addCluster", **params)[0])


class Host(Resource):
    list_command, update_command = "listHosts", "updateHost"

    @classmethod
    def create(cls, apiclient: Any, cluster: Any, services: dict, zoneid: str | None = None,
               podid: str | None = None, hypervisor: str | None = None, timeout: float = 60) -> Host:
        """Add a host to `cluster` and wait until it is Up (upstream answers FAILED; this raises)."""
        api = api_of(apiclient)
        params = {**services, "clusterid": cluster.id,
                  **given(zoneid=zoneid or getattr(cluster, "zoneid", None),
                          podid=podid or getattr(cluster, "podid", None),
                          hypervisor=hypervisor or getattr(cluster, "hypervisortype", None))}
        host = cls.bind(api, api.list("addHost", **params)[0])
        return host if host.state == "Up" else host.wait("Up", timeout)

    @hybridmethod
    def enableMaintenance(cls, self, apiclient: Any = None, id: str | None = None) -> Host:
        return cls.act(self, apiclient, "prepareHostForMaintenance", id)

    @hybridmethod
    def cancelMaintenance(cls, self, apiclient: Any = None, id: str | None = None) -> Host:
        return cls.act(self, apiclient, "cancelHostMaintenance", id)

    @hybridmethod
    def reconnect(cls, self, apiclient: Any = None, id: str | None = None) -> Host:
        return cls.act(self, apiclient, "reconnectHost", id)

    def delete(self, apiclient: Any = None, timeout: float = 60) -> Any:
        """Hosts are deleted from maintenance: prepare, wait for it, delete."""
        api = self.api(apiclient)
        api.call("prepareHostForMaintenance", id=self.id)
        self.wait(lambda host: host.resourcestate == "Maintenance", timeout, apiclient=apiclient)
        return api.call("deleteHost", id=self.id)


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


class PhysicalNetwork(Resource):
    list_command, update_command = "listPhysicalNetworks", "updatePhysicalNetwork"
    delete_command = "deletePhysicalNetwork"

    @classmethod
    def create(cls, apiclient: Any, services: dict, zoneid: str, domainid: str | None = None,
               isolationmethods: str | list | None = None) -> PhysicalNetwork:
        return cls._call(apiclient, "createPhysicalNetwork", name=services["name"], zoneid=zoneid,
                         domainid=domainid, isolationmethods=isolationmethods, vlan=services.get("vlan"),
                         tags=services.get("tags"))

    def addTrafficType(self, apiclient: Any = None, type: str = "Guest", **labels: Any) -> TrafficType:
        api = self.api(apiclient)
        return TrafficType.bind(api, api.call("addTrafficType", physicalnetworkid=self.id, traffictype=type,
                                              **labels))

    def providers(self, apiclient: Any = None, **kwargs: Any) -> list:
        return NetworkServiceProvider.list(self.api(apiclient), physicalnetworkid=self.id, **kwargs) or []


class TrafficType(Resource):
    list_command, update_command = "listTrafficTypes", "updateTrafficType"
    delete_command = "deleteTrafficType"

    def fetch(self, api: Api) -> list[dict]:
        return [t for t in api.list(self.list_command, physicalnetworkid=self.physicalnetworkid)
                if t["id"] == self.id]


class NetworkServiceProvider(Resource):
    list_command, update_command = "listNetworkServiceProviders", "updateNetworkServiceProvider"
    delete_command = "deleteNetworkServiceProvider"

    @classmethod
    def add(cls, apiclient: Any, name: str, physicalnetworkid: str,
            servicelist: list | None = None) -> NetworkServiceProvider:
        return cls._call(apiclient, "addNetworkServiceProvider", name=name,
                         physicalnetworkid=physicalnetworkid, servicelist=servicelist)

    def fetch(self, api: Api) -> list[dict]:
        return [p for p in api.list(self.list_command, physicalnetworkid=self.physicalnetworkid)
                if p["id"] == self.id]


class PublicIpRange(Resource):
    list_command, delete_command = "listVlanIpRanges", "deleteVlanIpRange"

    @classmethod
    def create(cls, apiclient: Any, services: dict, account: str | None = None, domainid: str | None = None,
               forsystemvms: bool | None = None, networkid: str | None = None) -> PublicIpRange:
        """services: zoneid, podid, vlan, gateway, netmask, startip, endip, forvirtualnetwork, ..."""
        api = api_of(apiclient)
        answer = api.call("createVlanIpRange", **{**services, **given(
            account=account, domainid=domainid, forsystemvms=forsystemvms, networkid=networkid)})
        # Upstream tests read the new range as `.vlan.id` (the answer's object is named `vlan`).
        return cls.bind(api, {**answer, "vlan": answer})

    @classmethod
    def dedicate(cls, apiclient: Any, id: str, account: str | None = None, domainid: str | None = None,
                 projectid: str | None = None) -> PublicIpRange:
        return cls._call(apiclient, "dedicatePublicIpRange", id=id, account=account, domainid=domainid,
                         projectid=projectid)

    def release(self, apiclient: Any = None) -> Any:
        return self.api(apiclient).call("releasePublicIpRange", id=self.id)


class Region(Resource):
    list_command, update_command, delete_command = "listRegions", "updateRegion", "removeRegion"

    @classmethod
    def create(cls, apiclient: Any, services: dict) -> Region:
        return cls._call(apiclient, "addRegion", id=services["id"], name=services["name"],
                         endpoint=services["endpoint"])


class Configurations(Resource):
    list_command = "listConfigurations"

    @hybridmethod
    def update(cls, self, apiclient: Any = None, name: str | None = None, value: Any = None,
               **scope: Any) -> Any:
        """Set a global setting (or one scoped by zoneid, clusterid, storageid, domainid, accountid)."""
        api = api_of(apiclient) if self is None else self.api(apiclient)
        return api.call("updateConfiguration", name=name or self.name, value=value, **scope)

    @classmethod
    def reset(cls, apiclient: Any, name: str, **scope: Any) -> Any:
        return api_of(apiclient).call("resetConfiguration", name=name, **scope)

    @classmethod
    def listCapabilities(cls, apiclient: Any, **kwargs: Any) -> Record:
        return Record(api_of(apiclient).call("listCapabilities", **kwargs))

    def fetch(self, api: Api) -> list[dict]:
        return api.list(self.list_command, name=self.name)


class Hypervisor(Resource):
    list_command = "listHypervisors"


class SystemVm(Resource):
    """Secondary storage and console proxy VMs (upstream drives them with bare commands)."""
    list_command, delete_command = "listSystemVms", "destroySystemVm"

    def start(self, apiclient: Any = None) -> SystemVm:
        return self.act(self, apiclient, "startSystemVm")

    def stop(self, apiclient: Any = None, forced: bool | None = None) -> SystemVm:
        return self.act(self, apiclient, "stopSystemVm", forced=forced)

    def reboot(self, apiclient: Any = None) -> SystemVm:
        return self.act(self, apiclient, "rebootSystemVm")

    def migrate(self, apiclient: Any = None, hostid: str | None = None) -> SystemVm:
        self._load(self.api(apiclient).call("migrateSystemVm", virtualmachineid=self.id, hostid=hostid))
        return self


class SimulatorMock(Resource):
    """A fault injected into the simulator (configureSimulator)."""

    @classmethod
    def create(cls, apiclient: Any, command: str, zoneid: str | None = None, podid: str | None = None,
               clusterid: str | None = None, hostid: str | None = None, value: str = "result:fail",
               count: int | None = None, jsonresponse: str | None = None,
               method: str = "GET") -> SimulatorMock:
        return cls._call(apiclient, "configureSimulator", name=command, zoneid=zoneid, podid=podid,
                         clusterid=clusterid, hostid=hostid, value=value, count=count,
                         jsonresponse=jsonresponse)

    def query(self, apiclient: Any = None) -> SimulatorMock:
        return self.act(self, apiclient, "querySimulatorMock")

    def fetch(self, api: Api) -> list[dict]:
        return [api.call("querySimulatorMock", id=self.id)]

    def delete(self, apiclient: Any = None) -> Any:
        return self.api(apiclient).call("cleanupSimulatorMock", id=self.id)
