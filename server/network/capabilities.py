"""Which provider can offer which network service, and the rules a service × provider map must follow.

The table is spec/network-services.md §3-4 (seeds and upstream). It is a plain dict so the provider
work (one module per provider under network/providers/) can extend it: `PROVIDER_SERVICES[name] = {...}`.
"""

import json

from ..core.errors import InvalidParameter

SERVICES = ("Vpn", "Dhcp", "Dns", "Gateway", "Firewall", "Lb", "UserData", "SourceNat", "StaticNat",
            "PortForwarding", "SecurityGroup", "NetworkACL", "Connectivity")

_VR = {"Vpn", "Dhcp", "Dns", "Gateway", "Firewall", "Lb", "UserData", "SourceNat", "StaticNat",
       "PortForwarding"}
_VPC_VR = {"Vpn", "Dhcp", "Dns", "Gateway", "Lb", "UserData", "SourceNat", "StaticNat", "PortForwarding",
           "NetworkACL"}
_FIREWALL_APPLIANCE = {"Firewall", "Gateway", "SourceNat", "StaticNat", "PortForwarding", "Vpn"}
_SDN_FULL = {"Connectivity", "Dhcp", "Dns", "Gateway", "Firewall", "Lb", "UserData", "SourceNat",
             "StaticNat", "PortForwarding", "NetworkACL"}

PROVIDER_SERVICES: dict[str, set[str]] = {
    "VirtualRouter": set(_VR),
    "VpcVirtualRouter": set(_VPC_VR),
    "SecurityGroupProvider": {"SecurityGroup"},
    "InternalLbVm": {"Lb"},
    "ConfigDrive": {"UserData"},
    "Ovs": {"Connectivity", "Lb", "StaticNat", "PortForwarding"},
    "NiciraNvp": {"Connectivity", "Gateway", "SourceNat", "StaticNat", "PortForwarding"},
    "NuageVsp": {"Connectivity", "Dhcp", "Gateway", "SourceNat", "StaticNat", "Firewall", "NetworkACL"},
    "Netscaler": {"Lb", "StaticNat"},
    "F5BigIp": {"Lb"},
    "JuniperSRX": set(_FIREWALL_APPLIANCE),
    "PaloAlto": set(_FIREWALL_APPLIANCE),
    "CiscoVnmc": set(_FIREWALL_APPLIANCE),
    "BigSwitchBcf": {"Connectivity", "Gateway", "SourceNat", "StaticNat", "PortForwarding"},
    "BrocadeVcs": {"Connectivity"},
    "Opendaylight": {"Connectivity"},
    "GloboDns": {"Dns"},
    "JuniperContrailRouter": set(_SDN_FULL),
    "JuniperContrailVpcRouter": set(_SDN_FULL),
    "Tungsten": set(_SDN_FULL),
    "Nsx": set(_SDN_FULL),
    "Netris": set(_SDN_FULL),
}

# Providers that may serve VPC tiers; the plain VirtualRouter serves only networks outside VPCs.
VPC_PROVIDERS = {"VpcVirtualRouter", "InternalLbVm", "NiciraNvp", "NuageVsp", "Netscaler", "ConfigDrive",
                 "BigSwitchBcf", "JuniperContrailVpcRouter", "Tungsten", "Nsx", "Netris"}

# Capabilities a caller may choose per service (servicecapabilitylist) and their allowed values.
CHOOSABLE: dict[str, dict[str, tuple[str, ...]]] = {
    "SourceNat": {"SupportedSourceNatTypes": ("peraccount", "perzone"), "RedundantRouter": ("true", "false")},
    "Gateway": {"RedundantRouter": ("true", "false")},
    "Lb": {"SupportedLBIsolation": ("dedicated", "shared"), "ElasticLb": ("true", "false"),
           "InlineMode": ("true", "false"), "LbSchemes": ("public", "internal")},
    "StaticNat": {"ElasticIp": ("true", "false"), "AssociatePublicIP": ("true", "false")},
    "Connectivity": {"StretchedL2Subnet": ("true", "false"), "PublicAccess": ("true", "false"),
                     "RegionLevelVpc": ("true", "false"), "DistributedRouter": ("true", "false")},
}


def canonical(name: str, known, what: str) -> str:
    """The known spelling of a service or provider name given in any case."""
    found = next((k for k in known if k.lower() == (name or "").strip().lower()), None)
    if found is None:
        raise InvalidParameter(f"Invalid {what} specified={name}")
    return found


def default_provider(service: str, for_vpc: bool) -> str:
    """The provider a service gets when the request names none (upstream's defaults)."""
    if service == "SecurityGroup":
        return "SecurityGroupProvider"
    return "VpcVirtualRouter" if for_vpc else "VirtualRouter"


def service_map(supported: list[str] | None, provider_entries: list[dict] | None,
                for_vpc: bool) -> dict[str, list[str]]:
    """{service: [providers]} from createNetworkOffering's supportedservices + serviceproviderlist."""
    services = [canonical(s, SERVICES, "Network Service") for s in supported or ()]
    chosen: dict[str, list[str]] = {s: [] for s in services}
    for entry in provider_entries or ():
        lowered = {k.lower(): v for k, v in entry.items()}
        service = canonical(lowered.get("service", ""), SERVICES, "Network Service")
        provider = canonical(lowered.get("provider", ""), PROVIDER_SERVICES, "Network Service Provider")
        if service not in chosen:
            raise InvalidParameter(f"Service {service} is not enabled for the network offering, can't add a "
                                   "provider to it")
        if provider not in chosen[service]:
            chosen[service].append(provider)
    for service, providers in chosen.items():
        if not providers:
            providers.append(default_provider(service, for_vpc))
    # The provider doing source NAT is the network's gateway (upstream adds Gateway by itself).
    if "SourceNat" in chosen and "Gateway" not in chosen:
        gateways = [p for p in chosen["SourceNat"] if "Gateway" in PROVIDER_SERVICES[p]]
        if gateways:
            chosen["Gateway"] = gateways
    return chosen


def check_providers(chosen: dict[str, list[str]], for_vpc: bool, vpc_offering: bool = False) -> None:
    """Every provider must offer its service; one provider per service (a VPC's Lb may have two)."""
    for service, providers in chosen.items():
        for provider in providers:
            if service not in PROVIDER_SERVICES.get(provider, ()):
                raise InvalidParameter(f"Provider {provider} doesn't support service {service}: it offers "
                                       f"{', '.join(sorted(PROVIDER_SERVICES.get(provider, ())))}")
            if for_vpc and provider not in VPC_PROVIDERS:
                raise InvalidParameter(f"Provider {provider} can't provide service {service} to VPC "
                                       "networks; use VpcVirtualRouter")
            if not for_vpc and provider == "VpcVirtualRouter":
                raise InvalidParameter(f"Provider VpcVirtualRouter provides service {service} only to VPC "
                                       "networks (forvpc=true)")
        if len(providers) > 1 and not (vpc_offering and service == "Lb"):
            raise InvalidParameter(f"Only one provider can be specified for service {service}; got "
                                   f"{', '.join(providers)}")


def check_guest_type(guest_type: str, chosen: dict[str, list[str]], for_vpc: bool) -> None:
    """Services each guest type can have (upstream createNetworkOffering's rules)."""
    if guest_type == "L2":
        extra = set(chosen) - {"UserData"}
        if extra or any(p != "ConfigDrive" for p in chosen.get("UserData", ())):
            raise InvalidParameter("L2 network offerings support no services except UserData through the "
                                   "ConfigDrive provider")
    if "SecurityGroup" in chosen and (guest_type != "Shared" or for_vpc):
        raise InvalidParameter("The SecurityGroup service is supported only by Shared network offerings")
    if for_vpc and guest_type != "Isolated":
        raise InvalidParameter("Only Isolated network offerings can be for VPC (forvpc=true)")
    if guest_type == "Shared" and "SourceNat" in chosen:
        raise InvalidParameter("The SourceNat service is not supported by Shared network offerings")


def capability_map(entries: list[dict] | None, chosen: dict[str, list[str]]) -> dict[str, dict[str, str]]:
    """{service: {capability: value}} from servicecapabilitylist, each one checked."""
    result: dict[str, dict[str, str]] = {}
    for entry in entries or ():
        lowered = {k.lower(): v for k, v in entry.items()}
        service = canonical(lowered.get("service", ""), SERVICES, "Network Service")
        name, value = lowered.get("capabilitytype", ""), str(lowered.get("capabilityvalue", ""))
        allowed = CHOOSABLE.get(service, {})
        capability = next((c for c in allowed if c.lower() == name.lower()), None)
        if capability is None:
            raise InvalidParameter(f"Capability {name} is not supported for service {service}")
        if service not in chosen:
            raise InvalidParameter(f"Capability {capability} given for service {service}, which the offering "
                                   "doesn't support")
        if value.lower() not in allowed[capability]:
            raise InvalidParameter(f"Invalid value {value} for capability {capability} of service {service}; "
                                   f"valid values are {', '.join(allowed[capability])}")
        result.setdefault(service, {})[capability] = value.lower()
    return result


def capabilities_json(values: dict[str, str] | None) -> str | None:
    return json.dumps(values) if values else None


def service_capabilities(service: str, stored: str | None, offering) -> list[dict]:
    """The capability list answered for one service of an offering (or a network's offering)."""
    chosen = json.loads(stored) if stored else {}

    def entry(name: str, value) -> dict:
        text = value if isinstance(value, str) else str(bool(value)).lower()
        return {"name": name, "value": text, "canchooseservicecapability": False}

    def flag(name: str) -> bool:
        # VPC offerings lack most of these columns: their capabilities are upstream's defaults.
        return bool(getattr(offering, name, False))

    if service == "SourceNat":
        return [entry("SupportedSourceNatTypes", getattr(offering, "source_nat_type", None) or "peraccount"),
                entry("RedundantRouter", flag("redundant_router"))]
    if service == "Lb":
        return [entry("SupportedLBIsolation", chosen.get("SupportedLBIsolation", "dedicated")),
                entry("ElasticLb", flag("elastic_lb")),
                entry("InlineMode", chosen.get("InlineMode", "false"))]
    if service == "StaticNat":
        return [entry("ElasticIp", flag("elastic_ip")),
                entry("AssociatePublicIP", flag("associate_public_ip"))]
    if service == "Connectivity":
        return [entry("StretchedL2Subnet", flag("supports_strechted_l2")),
                entry("PublicAccess", flag("supports_public_access"))]
    return []
