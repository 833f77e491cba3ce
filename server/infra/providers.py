"""Network service providers of a physical network, and the elements of the router-type providers.

A provider is Disabled until the operator enables it; the router-type providers (VirtualRouter,
VpcVirtualRouter, InternalLbVm) can only be enabled once their element is configured enabled.
"""

from dataclasses import dataclass

from sqlalchemy import select

from ..core.db import now
from ..core.errors import ApiError, InvalidParameter
from ..core.listing import paged
from ..core.params import BOOLEAN, LIST, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from . import network_views as views
from .models import DISABLED, ENABLED, NetworkServiceProvider, PhysicalNetwork, VirtualRouterElement

SERVICES = ("Vpn", "Dhcp", "Dns", "Gateway", "Firewall", "Lb", "UserData", "SourceNat", "StaticNat",
            "PortForwarding", "SecurityGroup", "NetworkACL", "Connectivity")
SHUTDOWN = "Shutdown"
PROVIDER_STATES = (ENABLED, DISABLED, SHUTDOWN)
VR_TYPE, VPC_VR_TYPE, ILB_TYPE = "VirtualRouter", "VPCVirtualRouter", "InternalLbVm"
ROUTER_TYPES = (VR_TYPE, VPC_VR_TYPE)


@dataclass(frozen=True, slots=True)
class ProviderKind:
    services: tuple[str, ...]
    # canenableindividualservice: may a subset of `services` be chosen?
    individual: bool = True
    # The element type of router-type providers (virtual_router_providers.type).
    element: str | None = None


_VR = ("Vpn", "Dhcp", "Dns", "Gateway", "Firewall", "Lb", "UserData", "SourceNat", "StaticNat",
       "PortForwarding")
_VPC = ("Vpn", "Dhcp", "Dns", "Gateway", "Lb", "UserData", "SourceNat", "StaticNat", "PortForwarding",
        "NetworkACL")
_APPLIANCE_FW = ("Firewall", "Gateway", "SourceNat", "StaticNat", "PortForwarding")
_SDN = ("Connectivity", "Gateway", "SourceNat", "StaticNat", "PortForwarding")
_SDN_FULL = ("Connectivity", "Dhcp", "Dns", "Gateway", "Firewall", "Lb", "UserData", "SourceNat", "StaticNat",
             "PortForwarding", "NetworkACL")

# Services per provider (spec/network-services.md §3); the external SDN lists are the seeds' matrices.
CATALOGUE: dict[str, ProviderKind] = {
    "VirtualRouter": ProviderKind(_VR, element=VR_TYPE),
    "VpcVirtualRouter": ProviderKind(_VPC, element=VPC_VR_TYPE),
    "InternalLbVm": ProviderKind(("Lb",), individual=False, element=ILB_TYPE),
    "SecurityGroupProvider": ProviderKind(("SecurityGroup",), individual=False),
    "ConfigDrive": ProviderKind(("UserData",), individual=False),
    "Ovs": ProviderKind(("Connectivity", "Lb", "StaticNat", "PortForwarding")),
    "Netscaler": ProviderKind(("Lb", "StaticNat")),
    "F5BigIp": ProviderKind(("Lb",)),
    "JuniperSRX": ProviderKind(_APPLIANCE_FW),
    "PaloAlto": ProviderKind(_APPLIANCE_FW),
    "CiscoVnmc": ProviderKind(_APPLIANCE_FW),
    "NiciraNvp": ProviderKind(_SDN),
    "BigSwitchBcf": ProviderKind(_SDN),
    "NuageVsp": ProviderKind(_SDN_FULL),
    "BrocadeVcs": ProviderKind(("Connectivity",)),
    "Opendaylight": ProviderKind(("Connectivity",)),
    "GloboDns": ProviderKind(("Dns",)),
    "JuniperContrailRouter": ProviderKind(_SDN_FULL),
    "JuniperContrailVpcRouter": ProviderKind(_SDN_FULL),
    "Tungsten": ProviderKind(_SDN_FULL),
    "Nsx": ProviderKind(_SDN_FULL),
    "Netris": ProviderKind(_SDN_FULL),
}
NO_KIND = ProviderKind(())

# Created with every physical network, in upstream's order; Ovs joins them on GRE-isolated networks.
DEFAULT_PROVIDERS = ("VirtualRouter", "SecurityGroupProvider", "VpcVirtualRouter", "InternalLbVm",
                     "ConfigDrive")


def canonical(name: str, known, default=None):
    """The known spelling of a name given in any case (MySQL compares names case-insensitively)."""
    return next((k for k in known if k.lower() == name.lower()), default)


def canonical_provider(name: str) -> str:
    provider = canonical(name, CATALOGUE)
    if provider is None:
        raise InvalidParameter(f"Invalid Network Service Provider={name}")
    return provider


def canonical_service(name: str) -> str:
    service = canonical(name, SERVICES)
    if service is None:
        raise InvalidParameter(f"Invalid Network Service specified={name}")
    return service


def check_provided(provider: str, services: list[str]) -> None:
    refused = next((s for s in services if s not in CATALOGUE[provider].services), None)
    if refused:
        raise InvalidParameter(f"{provider} Provider cannot provide this Service specified={refused}")


def chosen_services(provider: str, servicelist: list[str] | None) -> list[str]:
    """The services to enable on a new provider: all it offers, or a validated subset."""
    kind = CATALOGUE[provider]
    if servicelist is None:
        return list(kind.services)
    if not kind.individual and len(set(servicelist)) != len(kind.services):
        raise InvalidParameter("Cannot enable subset of Services, Please specify the complete list of "
                               f"Services for this Service Provider '{provider}'")
    services = [canonical_service(name) for name in servicelist]
    if "Gateway" in services:
        raise InvalidParameter("Invalid Network Service specified=Gateway")
    check_provided(provider, services)
    # The gateway comes with source NAT: a provider doing NAT is the network's router.
    if "SourceNat" in services and "Gateway" in kind.services:
        services.append("Gateway")
    return list(dict.fromkeys(services))


def find_provider(ctx, physical_network_id: int, provider: str) -> NetworkServiceProvider | None:
    return ctx.db.scalars(select(NetworkServiceProvider).where(
        NetworkServiceProvider.physical_network_id == physical_network_id,
        NetworkServiceProvider.provider_name == provider, NetworkServiceProvider.removed.is_(None))).first()


def add_provider(ctx, network: PhysicalNetwork, provider: str, services: list[str] | None = None,
                 destination: PhysicalNetwork | None = None) -> NetworkServiceProvider:
    if find_provider(ctx, network.id, provider) is not None:
        raise ApiError(f"The '{provider}' provider already exists on physical network : {network.uuid}")
    nsp = NetworkServiceProvider(physical_network_id=network.id, provider_name=provider, state=DISABLED,
                                 services=",".join(chosen_services(provider, services)),
                                 destination_physical_network_id=destination.id if destination else None)
    ctx.db.add(nsp)
    ctx.db.flush()
    return nsp


def element_of(ctx, nsp: NetworkServiceProvider) -> VirtualRouterElement | None:
    return ctx.db.scalars(select(VirtualRouterElement).where(
        VirtualRouterElement.nsp_id == nsp.id, VirtualRouterElement.removed.is_(None))).first()


def add_element(ctx, nsp: NetworkServiceProvider, element_type: str) -> VirtualRouterElement:
    if element_of(ctx, nsp) is not None:
        raise ApiError(f"There is already a {element_type} element with service provider id {nsp.uuid}")
    element = VirtualRouterElement(nsp_id=nsp.id, type=element_type, enabled=False)
    ctx.db.add(element)
    ctx.db.flush()
    return element


def add_default_providers(ctx, network: PhysicalNetwork) -> None:
    """The built-in providers every physical network starts with, Disabled, routers with their element."""
    names = list(DEFAULT_PROVIDERS)
    if "GRE" in network.isolation_methods.split(","):
        names.insert(1, "Ovs")
    for name in names:
        nsp = add_provider(ctx, network, name)
        element = CATALOGUE[name].element
        if element:
            add_element(ctx, nsp, element)


def is_ready(ctx, nsp: NetworkServiceProvider) -> bool:
    """Upstream's NetworkElement.isReady: router-type providers need their element enabled. Device-backed
    providers (Netscaler, NiciraNvp, ...) count as ready until their device commands exist."""
    kind = CATALOGUE.get(nsp.provider_name, NO_KIND)
    if kind.element is None:
        return True
    element = element_of(ctx, nsp)
    return element is not None and element.enabled


def remove_provider(ctx, nsp: NetworkServiceProvider) -> None:
    stamp = now()
    element = element_of(ctx, nsp)
    if element is not None:
        element.removed = stamp
    nsp.state = SHUTDOWN
    nsp.removed = stamp


def provider_view(ctx, nsp: NetworkServiceProvider) -> dict:
    network = ctx.db.get(PhysicalNetwork, nsp.physical_network_id)
    return views.provider(ctx, nsp, network, CATALOGUE.get(nsp.provider_name, NO_KIND).individual)


def provider_event(ctx, kind: str, nsp: NetworkServiceProvider, text: str) -> None:
    ctx.event(f"SERVICE.PROVIDER.{kind}", text, resource_type="PhysicalNetworkServiceProvider",
              resource_id=nsp.uuid)


# ---- providers ---------------------------------------------------------------------------------


def create_provider(ctx, p) -> NetworkServiceProvider:
    provider = canonical_provider(p.name)
    network = p.physicalnetworkid
    nsp = add_provider(ctx, network, provider, p.servicelist, p.destinationphysicalnetworkid)
    provider_event(ctx, "CREATE", nsp, f"Provider {provider} added to physical network {network.name}")
    return nsp


SERVICE_LIST = Param("servicelist", LIST, description="the list of services to be enabled for this physical "
                                                      "network service provider")


@command("addNetworkServiceProvider", isasync=True, create=create_provider, response="networkserviceprovider",
         roles=ROOT_ONLY, instance_type="PhysicalNetworkServiceProvider", params=[
    Param("name", STRING, required=True, description="the name for the physical network service provider"),
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, required=True,
          description="the Physical Network ID to add the provider to"),
    Param("destinationphysicalnetworkid", UUID, entity=PhysicalNetwork,
          description="the destination Physical Network ID to bridge to"),
    SERVICE_LIST,
])
def add_network_service_provider(ctx, p):
    """Adds a network serviceProvider to a physical network"""
    return provider_view(ctx, ctx.created)


def parse_provider_state(value: str) -> str:
    state = canonical(value, PROVIDER_STATES)
    if state is None:
        raise InvalidParameter(f"Unable to resolve state '{value}' to a supported value "
                               "{Enabled or Disabled}")
    if state == SHUTDOWN:
        raise InvalidParameter("Updating the provider state to 'Shutdown' is not supported")
    return state


@command("updateNetworkServiceProvider", isasync=True, response="networkserviceprovider", roles=ROOT_ONLY,
         instance_type="PhysicalNetworkServiceProvider", params=[
    Param("id", UUID, entity=NetworkServiceProvider, required=True,
          description="network service provider id"),
    Param("state", STRING, description="Enabled/Disabled/Shutdown the physical network service provider"),
    SERVICE_LIST,
])
def update_network_service_provider(ctx, p):
    """Updates a network serviceProvider of a physical network"""
    nsp = p.id
    state = parse_provider_state(p.state) if p.state else None
    if state == ENABLED and not is_ready(ctx, nsp):
        raise ApiError("Provider is not ready, cannot Enable the provider, please configure the provider "
                       "first")
    if p.servicelist is not None:
        if not CATALOGUE.get(nsp.provider_name, NO_KIND).individual:
            raise InvalidParameter("Cannot update set of Services for this Service Provider "
                                   f"'{nsp.provider_name}'")
        services = [canonical_service(name) for name in p.servicelist]
        check_provided(nsp.provider_name, services)
        nsp.services = ",".join(dict.fromkeys(services))
    if state:
        nsp.state = state
    provider_event(ctx, "UPDATE", nsp, f"Provider {nsp.provider_name} updated (state {nsp.state})")
    return provider_view(ctx, nsp)


@command("deleteNetworkServiceProvider", isasync=True, roles=ROOT_ONLY,
         instance_type="PhysicalNetworkServiceProvider", params=[
    Param("id", UUID, entity=NetworkServiceProvider, required=True,
          description="network service provider id"),
])
def delete_network_service_provider(ctx, p):
    """Deletes a Network Service Provider."""
    # Guest networks do not exist yet, so no network can be using the provider.
    remove_provider(ctx, p.id)
    provider_event(ctx, "DELETE", p.id, f"Provider {p.id.provider_name} deleted")
    return {"success": True}


@command("listNetworkServiceProviders", response="networkserviceprovider", listing="list", roles=ROOT_ONLY,
         params=[
    Param("physicalnetworkid", UUID, entity=PhysicalNetwork, description="the Physical Network ID"),
    Param("name", STRING, description="list providers by name"),
    Param("state", STRING, description="list providers by state"),
])
def list_network_service_providers(ctx, p):
    """Lists network serviceproviders for a given physical network."""
    query = select(NetworkServiceProvider).where(NetworkServiceProvider.removed.is_(None))
    if p.physicalnetworkid is not None:
        query = query.where(NetworkServiceProvider.physical_network_id == p.physicalnetworkid.id)
    if p.name:
        query = query.where(NetworkServiceProvider.provider_name == canonical(p.name, CATALOGUE, p.name))
    if p.state:
        query = query.where(NetworkServiceProvider.state == canonical(p.state, PROVIDER_STATES, p.state))
    return paged(ctx, p, query, lambda nsp: provider_view(ctx, nsp),
                 keyword_columns=(NetworkServiceProvider.provider_name,), order_by=NetworkServiceProvider.id)


# ---- virtual router and internal LB elements ----------------------------------------------------


def list_elements(ctx, p, types: tuple[str, ...], view):
    query = (select(VirtualRouterElement, NetworkServiceProvider)
             .join(NetworkServiceProvider, NetworkServiceProvider.id == VirtualRouterElement.nsp_id)
             .where(VirtualRouterElement.removed.is_(None), VirtualRouterElement.type.in_(types)))
    if p.id is not None:
        query = query.where(VirtualRouterElement.id == p.id.id)
    if p.nspid is not None:
        query = query.where(VirtualRouterElement.nsp_id == p.nspid.id)
    if p.enabled is not None:
        query = query.where(VirtualRouterElement.enabled.is_(p.enabled))
    return paged(ctx, p, query, view, order_by=VirtualRouterElement.id)


def configure_element(ctx, element: VirtualRouterElement, types: tuple[str, ...], enabled: bool,
                      label: str) -> NetworkServiceProvider:
    if element.type not in types:
        raise InvalidParameter(f"Unable to find {label} element with id {element.uuid}")
    element.enabled = enabled
    state = "enabled" if enabled else "disabled"
    ctx.event("NETWORK.ELEMENT.CONFIGURE", f"{label} element {element.uuid} {state}",
              resource_type="VirtualRouterElement", resource_id=element.uuid)
    return ctx.db.get(NetworkServiceProvider, element.nsp_id)


def element_provider(nsp: NetworkServiceProvider, provider: str) -> NetworkServiceProvider:
    if nsp.provider_name != provider:
        raise InvalidParameter(f"Invalid network service provider {nsp.uuid}: it is a {nsp.provider_name} "
                               f"provider, not {provider}")
    return nsp


ELEMENT_FILTERS = [
    Param("nspid", UUID, entity=NetworkServiceProvider,
          description="list elements by network service provider id"),
    Param("enabled", BOOLEAN, description="list elements by enabled state"),
]


@command("listVirtualRouterElements", response="virtualrouterelement", listing="list", roles=ROOT_ONLY,
         params=[
    Param("id", UUID, entity=VirtualRouterElement, description="list virtual router elements by id"),
    *ELEMENT_FILTERS,
])
def list_virtual_router_elements(ctx, p):
    """Lists all available virtual router elements."""
    return list_elements(ctx, p, ROUTER_TYPES, views.router_element)


@command("configureVirtualRouterElement", isasync=True, response="virtualrouterelement", roles=ROOT_ONLY,
         instance_type="VirtualRouterElement", params=[
    Param("id", UUID, entity=VirtualRouterElement, required=True,
          description="the ID of the virtual router provider"),
    Param("enabled", BOOLEAN, required=True, description="Enabled/Disabled the service provider"),
])
def configure_virtual_router_element(ctx, p):
    """Configures a virtual router element."""
    nsp = configure_element(ctx, p.id, ROUTER_TYPES, p.enabled, "virtual router")
    return views.router_element(p.id, nsp)


def create_router_element(ctx, p) -> VirtualRouterElement:
    element_type = canonical(p.providertype or VR_TYPE, ROUTER_TYPES)
    if element_type is None:
        raise InvalidParameter(f"Invalid providertype {p.providertype}; valid values are "
                               f"{', '.join(ROUTER_TYPES)}")
    provider = "VirtualRouter" if element_type == VR_TYPE else "VpcVirtualRouter"
    element = add_element(ctx, element_provider(p.nspid, provider), element_type)
    provider_event(ctx, "CREATE", p.nspid, f"Virtual router element {element.uuid} created")
    return element


@command("createVirtualRouterElement", isasync=True, create=create_router_element,
         response="virtualrouterelement", roles=ROOT_ONLY, instance_type="VirtualRouterElement", params=[
    Param("nspid", UUID, entity=NetworkServiceProvider, required=True,
          description="the network service provider ID of the virtual router element"),
    Param("providertype", STRING, description="The provider type. Supported types are VirtualRouter "
                                              "(default) and VPCVirtualRouter"),
])
def create_virtual_router_element(ctx, p):
    """Create a virtual router element."""
    element = ctx.created
    return views.router_element(element, ctx.db.get(NetworkServiceProvider, element.nsp_id))


@command("listInternalLoadBalancerElements", response="internalloadbalancerelement", listing="list",
         roles=ROOT_ONLY, params=[
    Param("id", UUID, entity=VirtualRouterElement, description="list internal load balancer elements by id"),
    *ELEMENT_FILTERS,
])
def list_internal_load_balancer_elements(ctx, p):
    """Lists all available Internal Load Balancer elements."""
    return list_elements(ctx, p, (ILB_TYPE,), views.internal_lb_element)


@command("configureInternalLoadBalancerElement", isasync=True, response="internalloadbalancerelement",
         roles=ROOT_ONLY, instance_type="InternalLbElement", params=[
    Param("id", UUID, entity=VirtualRouterElement, required=True,
          description="the ID of the internal lb provider"),
    Param("enabled", BOOLEAN, required=True,
          description="Enables/Disables the Internal Load Balancer element"),
])
def configure_internal_load_balancer_element(ctx, p):
    """Configures an Internal Load Balancer element."""
    nsp = configure_element(ctx, p.id, (ILB_TYPE,), p.enabled, "internal load balancer")
    return views.internal_lb_element(p.id, nsp)


def create_ilb_element(ctx, p) -> VirtualRouterElement:
    element = add_element(ctx, element_provider(p.nspid, "InternalLbVm"), ILB_TYPE)
    provider_event(ctx, "CREATE", p.nspid, f"Internal load balancer element {element.uuid} created")
    return element


@command("createInternalLoadBalancerElement", isasync=True, create=create_ilb_element,
         response="internalloadbalancerelement", roles=ROOT_ONLY, instance_type="InternalLbElement", params=[
    Param("nspid", UUID, entity=NetworkServiceProvider, required=True,
          description="the network service provider ID of the internal load balancer element"),
])
def create_internal_load_balancer_element(ctx, p):
    """Create an Internal Load Balancer element."""
    element = ctx.created
    return views.internal_lb_element(element, ctx.db.get(NetworkServiceProvider, element.nsp_id))
