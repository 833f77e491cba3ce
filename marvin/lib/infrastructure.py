"""Infrastructure: zones, pods, clusters, hosts, physical networks with their traffic types and service
providers, public IP ranges, regions, system VMs and the simulator's fault injection (server/infra,
server/hypervisors)."""

from __future__ import annotations

from typing import Any

from .resource import Api, Resource, api_of, given, hybridmethod
from .utils import random_gen


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
