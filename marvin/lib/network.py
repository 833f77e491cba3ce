"""Guest networking: network and VPC offerings, guest networks and their virtual routers (server/network).
The physical side (physical networks, traffic types, service providers, public IP ranges) is in
infrastructure.py."""

from __future__ import annotations

from typing import Any

from .resource import Resource, hybridmethod, pick
from .utils import random_gen


def provider_list(services: dict) -> list[dict] | None:
    """services["serviceProviderList"] {service: provider or [providers]} as serviceproviderlist[i]."""
    pairs = [{"service": service, "provider": provider}
             for service, providers in (services.get("serviceProviderList") or {}).items()
             for provider in ([providers] if isinstance(providers, str) else providers)]
    return pairs or None


def capability_list(services: dict) -> list[dict] | None:
    """services["serviceCapabilityList"] {service: {capability: value}} as servicecapabilitylist[i]."""
    triples = [{"service": service, "capabilitytype": kind, "capabilityvalue": value}
               for service, capabilities in (services.get("serviceCapabilityList") or {}).items()
               for kind, value in capabilities.items()]
    return triples or None


class NetworkOffering(Resource):
    """Created Disabled, as upstream: `offering.update(state="Enabled")` before networks can use it."""
    list_command, update_command = "listNetworkOfferings", "updateNetworkOffering"
    delete_command = "deleteNetworkOffering"

    @classmethod
    def create(cls, apiclient: Any, services: dict, **kwargs: Any) -> NetworkOffering:
        """services as upstream's test_data network offerings: name, displaytext (both get a random
        suffix), guestiptype, traffictype, supportedservices, serviceProviderList, serviceCapabilityList,
        useVpc ("on"), specifyVlan, specifyIpRanges, ispersistent, egress_policy, tags, internetprotocol;
        kwargs go to the command as they are."""
        params = {
            "name": f"{services['name']}-{random_gen()}",
            "displaytext": f"{services['displaytext']}-{random_gen()}",
            "guestiptype": services["guestiptype"], "traffictype": services["traffictype"],
            "supportedservices": services.get("supportedservices"),
            "serviceproviderlist": provider_list(services),
            "servicecapabilitylist": capability_list(services),
            "forvpc": services["useVpc"] == "on" if "useVpc" in services else None,
            "specifyvlan": services.get("specifyVlan"), "specifyipranges": services.get("specifyIpRanges"),
            "ispersistent": services.get("ispersistent"),
            "egressdefaultpolicy": services.get("egress_policy"),
            "tags": services.get("tags"), "internetprotocol": services.get("internetprotocol"),
            "availability": "Optional",
        }
        return cls._call(apiclient, "createNetworkOffering", **{**params, **kwargs})


class VpcOffering(Resource):
    list_command, delete_command = "listVPCOfferings", "deleteVPCOffering"

    @classmethod
    def create(cls, apiclient: Any, services: dict) -> VpcOffering:
        """services: name (a random suffix is added), displaytext, supportedservices, serviceProviderList,
        serviceCapabilityList, internetprotocol."""
        return cls._call(apiclient, "createVPCOffering", name=f"{services['name']}-{random_gen()}",
                         displaytext=services.get("displaytext"),
                         supportedservices=services.get("supportedservices"),
                         serviceproviderlist=provider_list(services),
                         servicecapabilitylist=capability_list(services),
                         internetprotocol=services.get("internetprotocol"))

    @hybridmethod
    def update(cls, self, apiclient: Any = None, name: str | None = None, displaytext: str | None = None,
               state: str | None = None, id: str | None = None, **kwargs: Any) -> VpcOffering:
        """upstream's `update(apiclient, name=None, displaytext=None, state=None)`; kwargs: sortkey, ..."""
        return cls.act(self, apiclient, "updateVPCOffering", id, name=name, displaytext=displaytext,
                       state=state, **kwargs)


# createNetwork parameters taken from `services` when present.
NETWORK_OPTIONS = ("startip", "endip", "acltype", "isolatedpvlan", "isolatedpvlantype", "routerip",
                   "ip6gateway", "ip6cidr", "startipv6", "endipv6", "routeripv6", "dns1", "dns2", "ip6dns1",
                   "ip6dns2", "networkdomain", "physicalnetworkid")


class Network(Resource):
    list_command, update_command, delete_command = "listNetworks", "updateNetwork", "deleteNetwork"

    @classmethod
    def create(cls, apiclient: Any, services: dict, accountid: str | None = None, domainid: str | None = None,
               networkofferingid: str | None = None, projectid: str | None = None,
               subdomainaccess: bool | None = None, zoneid: str | None = None, gateway: str | None = None,
               netmask: str | None = None, vpcid: str | None = None, aclid: str | None = None,
               vlan: str | None = None, externalid: str | None = None,
               bypassvlanoverlapcheck: bool | None = None, associatednetworkid: str | None = None,
               publicmtu: int | None = None, privatemtu: int | None = None,
               sourcenatipaddress: str | None = None) -> Network:
        """services: name, displaytext, networkoffering, zoneid, gateway, netmask, vlan (the arguments win)
        and any of NETWORK_OPTIONS."""
        params = {key: services.get(key) for key in NETWORK_OPTIONS}
        params.update(
            name=services["name"], displaytext=services.get("displaytext", services["name"]),
            networkofferingid=pick(networkofferingid, services, "networkoffering"),
            zoneid=pick(zoneid, services, "zoneid"), gateway=pick(gateway, services, "gateway"),
            netmask=pick(netmask, services, "netmask"), vlan=pick(vlan, services, "vlan"),
            subdomainaccess=subdomainaccess, account=accountid, domainid=domainid, projectid=projectid,
            vpcid=vpcid, aclid=aclid, externalid=externalid, bypassvlanoverlapcheck=bypassvlanoverlapcheck,
            associatednetworkid=associatednetworkid, publicmtu=publicmtu, privatemtu=privatemtu,
            sourcenatipaddress=sourcenatipaddress)
        return cls._call(apiclient, "createNetwork", **params)

    def restart(self, apiclient: Any = None, cleanup: bool | None = None,
                makeredundant: bool | None = None) -> Network:
        return self.act(self, apiclient, "restartNetwork", cleanup=cleanup, makeredundant=makeredundant)

    def delete(self, apiclient: Any = None, forced: bool | None = None) -> Any:
        return self.api(apiclient).call(self.delete_command, id=self.id, forced=forced)

    def routers(self, apiclient: Any = None, **kwargs: Any) -> list:
        """The network's virtual routers."""
        return Router.list(self.api(apiclient), networkid=self.id, listall=True, **kwargs) or []


class Router(Resource):
    """Virtual routers. Upstream drives them by id from the class (`Router.stop(apiclient, id)`); a
    listed router also does it itself (`router.stop()`)."""
    list_command = "listRouters"

    @hybridmethod
    def start(cls, self, apiclient: Any = None, id: str | None = None) -> Router:
        return cls.act(self, apiclient, "startRouter", id)

    @hybridmethod
    def stop(cls, self, apiclient: Any = None, id: str | None = None, forced: bool | None = None) -> Router:
        return cls.act(self, apiclient, "stopRouter", id, forced=forced)

    @hybridmethod
    def reboot(cls, self, apiclient: Any = None, id: str | None = None, forced: bool | None = None) -> Router:
        return cls.act(self, apiclient, "rebootRouter", id, forced=forced)

    @hybridmethod
    def destroy(cls, self, apiclient: Any = None, id: str | None = None) -> Router:
        return cls.act(self, apiclient, "destroyRouter", id)

    @hybridmethod
    def change_service_offering(cls, self, apiclient: Any = None, id: str | None = None,
                                serviceofferingid: str | None = None) -> Router:
        return cls.act(self, apiclient, "changeServiceForRouter", id, serviceofferingid=serviceofferingid)

    def delete(self, apiclient: Any = None) -> Any:
        """Cleanup's way to remove a router: destroy it."""
        return self.destroy(apiclient)

