"""Guest networking rows → response objects: network and VPC offerings, networks, NICs, routers."""

from sqlalchemy import select

from ..compute.models import ServiceOffering
from ..core.responses import describe
from ..iam.models import Account, Domain
from ..infra.models import DataCenter, Host, HostPod, PhysicalNetwork, PublicIp, Vlan
from ..storage.models import VMTemplate
from .capabilities import service_capabilities
from .models import Network, NetworkOffering, NetworkOfferingService, Nic, VpcOfferingService

VERSION = "4.22.0"


def _uuid_name(ctx, model, row_id, attr: str = "name") -> tuple[str | None, str | None]:
    row = ctx.db.get(model, row_id) if row_id is not None else None
    return (row.uuid, getattr(row, attr)) if row is not None else (None, None)


def preload(ctx, model, ids) -> list:
    """Read the rows a page refers to in one statement: while the caller holds the answer, later
    `ctx.db.get` calls find them in the session's (weak-referencing) identity map."""
    wanted = {i for i in ids if i is not None}
    return list(ctx.db.scalars(select(model).where(model.id.in_(wanted)))) if wanted else []


def _ids(text: str | None) -> list[int]:
    return [int(part) for part in (text or "").split(",") if part.strip()]


def _scoped(ctx, model, text: str | None) -> tuple[str | None, str | None]:
    """Comma-joined uuids and names of the domains/zones an offering is limited to (None: all)."""
    rows = [ctx.db.get(model, i) for i in _ids(text)]
    rows = [r for r in rows if r is not None]
    if not rows:
        return None, None
    return ",".join(r.uuid for r in rows), ",".join(r.name for r in rows)


def services(ctx, offering, rows: list | None = None) -> list[dict]:
    """[{name, provider:[{name}], capability:[...]}] of a network (or VPC) offering, services in order."""
    if rows is None:
        rows = list(ctx.db.scalars(select(NetworkOfferingService).where(
            NetworkOfferingService.offering_id == offering.id).order_by(NetworkOfferingService.id)))
    grouped: dict[str, dict] = {}
    for row in rows:
        if row.service not in grouped:
            capability = service_capabilities(row.service, getattr(row, "capabilities", None), offering)
            grouped[row.service] = {"name": row.service, "provider": [], "capability": capability}
        entry = grouped[row.service]
        entry["provider"].append({"name": row.provider})
    return list(grouped.values())


def network_offerings(ctx, rows: list[NetworkOffering]) -> list[dict]:
    """Views of a page of offerings: their services read in one statement."""
    found: dict[int, list] = {row.id: [] for row in rows}
    if rows:
        query = select(NetworkOfferingService).where(NetworkOfferingService.offering_id.in_(found))
        for service in ctx.db.scalars(query.order_by(NetworkOfferingService.id)):
            found[service.offering_id].append(service)
    return [network_offering(ctx, row, found[row.id]) for row in rows]


def network_offering(ctx, row: NetworkOffering, service_rows: list | None = None) -> dict:
    domain_ids, domains = _scoped(ctx, Domain, row.domain_ids)
    zone_ids, zones = _scoped(ctx, DataCenter, row.zone_ids)
    service_offering = ctx.db.get(ServiceOffering, row.service_offering_id) \
        if row.service_offering_id else None
    return {
        "id": row.uuid, "name": row.name, "displaytext": row.display_text, "traffictype": row.traffic_type,
        "isdefault": row.is_default, "specifyvlan": row.specify_vlan, "conservemode": row.conserve_mode,
        "specifyipranges": row.specify_ip_ranges, "availability": row.availability,
        "networkrate": row.network_rate if row.network_rate is not None else
        int(ctx.setting("network.throttling.rate") or 200),
        "state": row.state, "guestiptype": row.guest_type,
        "serviceofferingid": service_offering.uuid if service_offering else None,
        "service": services(ctx, row, service_rows), "forvpc": row.for_vpc, "ispersistent": row.persistent,
        "egressdefaultpolicy": row.egress_default_policy,
        "supportsstrechedl2subnet": row.supports_strechted_l2,
        "supportspublicaccess": row.supports_public_access, "internetprotocol": row.internet_protocol,
        "domainid": domain_ids, "domain": domains, "zoneid": zone_ids, "zone": zones, "tags": row.tags,
        "maxconnections": row.max_connections, "created": row.created, "hasannotations": False,
        "specifyasnumber": False, "supportsinternallb": row.internal_lb, "fornsx": False,
    }


def vpc_offering(ctx, row) -> dict:
    rows = list(ctx.db.scalars(select(VpcOfferingService).where(VpcOfferingService.vpc_offering_id == row.id)
                               .order_by(VpcOfferingService.id)))
    domain_ids, domains = _scoped(ctx, Domain, row.domain_ids)
    zone_ids, zones = _scoped(ctx, DataCenter, row.zone_ids)
    return {
        "id": row.uuid, "name": row.name, "displaytext": row.display_text, "isdefault": row.is_default,
        "state": row.state, "created": row.created, "service": services(ctx, row, rows),
        "distributedvpcrouter": row.distributed_router, "supportsregionLevelvpc": row.region_level_vpc,
        "internetprotocol": row.internet_protocol, "domainid": domain_ids, "domain": domains,
        "zoneid": zone_ids, "zone": zones, "fornsx": False, "hasannotations": False,
    }


def owner_fields(ctx, row) -> dict:
    domain = ctx.db.get(Domain, row.domain_id)
    fields = {"domainid": domain.uuid if domain else None, "domain": domain.name if domain else None,
              "domainpath": domain.path if domain else None}
    if getattr(row, "acl_type", "Account") == "Account":
        account = ctx.db.get(Account, row.account_id)
        fields["account"] = account.account_name if account else None
    return fields


def deployable_ids(ctx, ids: list[int]) -> tuple[set[int], set[int]]:
    """(networks with IP ranges, those of them with a Free address) among `ids`, in two statements."""
    live = Vlan.removed.is_(None)
    ranged = set(ctx.db.scalars(select(Vlan.network_id).where(Vlan.network_id.in_(ids), live)))
    free = set(ctx.db.scalars(select(Vlan.network_id).join(PublicIp, PublicIp.vlan_id == Vlan.id).where(
        Vlan.network_id.in_(ranged), Vlan.removed.is_(None), PublicIp.state == "Free"))) if ranged else set()
    return ranged, free


def networks(ctx, rows: list[Network]) -> list[dict]:
    """Views of a page of networks from a fixed number of statements, whatever its length."""
    if not rows:
        return []
    held = [preload(ctx, model, (getattr(row, column) for row in rows))
            for model, column in ((DataCenter, "zone_id"), (NetworkOffering, "network_offering_id"),
                                  (PhysicalNetwork, "physical_network_id"), (Domain, "domain_id"),
                                  (Account, "account_id"))]
    service_rows: dict[int, list] = {row.network_offering_id: [] for row in rows}
    query = select(NetworkOfferingService).where(NetworkOfferingService.offering_id.in_(service_rows))
    for service in ctx.db.scalars(query.order_by(NetworkOfferingService.id)):
        service_rows[service.offering_id].append(service)
    ranged, free = deployable_ids(ctx, [row.id for row in rows])
    views = [network(ctx, row, service_rows[row.network_offering_id],
                     row.traffic_type == "Guest" and (row.id not in ranged or row.id in free))
             for row in rows]
    del held
    return views


def network(ctx, row: Network, service_rows: list | None = None, deployable: bool | None = None) -> dict:
    from .addresses import guest_vm_cidr

    if deployable is None:
        return networks(ctx, [row])[0]

    zone = ctx.db.get(DataCenter, row.zone_id)
    offering = ctx.db.get(NetworkOffering, row.network_offering_id)
    pnet_uuid, _ = _uuid_name(ctx, PhysicalNetwork, row.physical_network_id)
    admin = ctx.caller.is_root_admin or ctx.caller.is_system
    vlan = row.broadcast_uri.rpartition("://")[2] if row.broadcast_uri else None
    cidr = guest_vm_cidr(row) if row.cidr else None
    return {
        "id": row.uuid, "name": row.name, "displaytext": row.display_text,
        "broadcastdomaintype": row.broadcast_domain_type, "traffictype": row.traffic_type,
        "gateway": row.gateway, "netmask": row.netmask, "cidr": str(cidr) if cidr else None,
        "networkcidr": row.cidr if row.reservation_range else None, "reservediprange": row.reservation_range,
        "zoneid": zone.uuid, "zonename": zone.name, "networkofferingid": offering.uuid,
        "networkofferingname": offering.name, "networkofferingdisplaytext": offering.display_text,
        "networkofferingconservemode": offering.conserve_mode,
        "networkofferingavailability": offering.availability, "issystem": offering.is_system,
        "state": row.state, "related": row.uuid, "broadcasturi": row.broadcast_uri if admin else None,
        "dns1": row.dns1, "dns2": row.dns2, "type": row.guest_type, "vlan": vlan if admin else None,
        "acltype": row.acl_type, "subdomainaccess": row.subdomain_access, **owner_fields(ctx, row),
        "service": services(ctx, offering, service_rows), "networkdomain": row.network_domain,
        "physicalnetworkid": pnet_uuid,
        "restartrequired": row.restart_required, "specifyipranges": row.specify_ip_ranges,
        "vpcid": None, "canusefordeploy": deployable and row.removed is None,
        "ispersistent": offering.persistent,
        "tags": [], "displaynetwork": row.display_network, "redundantrouter": row.redundant,
        "created": row.created, "ip6gateway": row.ip6_gateway, "ip6cidr": row.ip6_cidr,
        "externalid": row.external_id, "hasannotations": False, "strechedl2subnet": False,
        "supportsvmautoscaling": offering.public_lb, "egressdefaultpolicy": offering.egress_default_policy,
        "aclid": None,
    }


def nic(row: Nic, net: Network) -> dict:
    return {
        "id": row.uuid, "networkid": net.uuid, "networkname": net.name, "netmask": row.netmask,
        "gateway": row.gateway, "ipaddress": row.ip4_address, "isolationuri": row.isolation_uri,
        "broadcasturi": row.broadcast_uri, "traffictype": net.traffic_type, "type": net.guest_type,
        "isdefault": row.is_default, "macaddress": row.mac_address, "deviceid": str(row.device_id),
        "ip6address": row.ip6_address, "ip6gateway": net.ip6_gateway if row.ip6_address else None,
        "ip6cidr": net.ip6_cidr if row.ip6_address else None, "secondaryip": [], "extradhcpoption": [],
    }


def routers(ctx, vms: list) -> list[dict]:
    """Views of a page of routers: their NICs and related rows read once per page."""
    if not vms:
        return []
    nics: dict[int, list] = {vm.id: [] for vm in vms}
    query = select(Nic, Network).join(Network, Network.id == Nic.network_id).where(Nic.instance_id.in_(nics))
    for row, net in ctx.db.execute(query.order_by(Nic.instance_id, Nic.device_id)):
        nics[row.instance_id].append((row, net))
    held = [preload(ctx, model, (getattr(vm, column) for vm in vms))
            for model, column in ((DataCenter, "zone_id"), (Host, "host_id"), (HostPod, "pod_id"),
                                  (ServiceOffering, "service_offering_id"), (VMTemplate, "template_id"),
                                  (Account, "account_id"), (Domain, "domain_id"))]
    views = [router(ctx, vm, nics[vm.id]) for vm in vms]
    del held
    return views


def router(ctx, vm, rows: list | None = None) -> dict:
    if rows is None:
        return routers(ctx, [vm])[0]
    by_traffic = {net.traffic_type: (row, net) for row, net in rows}
    guest = by_traffic.get("Guest", (None, None))
    public = by_traffic.get("Public", (None, None))
    control = by_traffic.get("Control", (None, None))
    zone = ctx.db.get(DataCenter, vm.zone_id)
    host_id, host_name = _uuid_name(ctx, Host, vm.host_id)
    pod_id, pod_name = _uuid_name(ctx, HostPod, vm.pod_id)
    offering_id, offering_name = _uuid_name(ctx, ServiceOffering, vm.service_offering_id)
    template_id, template_name = _uuid_name(ctx, VMTemplate, vm.template_id)
    view = {
        "id": vm.uuid, "name": vm.name, "zoneid": zone.uuid, "zonename": zone.name, "podid": pod_id,
        "podname": pod_name, "hostid": host_id, "hostname": host_name, "hypervisor": vm.hypervisor_type,
        "state": vm.state, "dns1": zone.dns1, "dns2": zone.dns2, "created": vm.created,
        "serviceofferingid": offering_id, "serviceofferingname": offering_name, "templateid": template_id,
        "templatename": template_name, "isredundantrouter": False, "redundantstate": "UNKNOWN",
        "role": "VIRTUAL_ROUTER", "requiresupgrade": False, "version": VERSION, "softwareversion": VERSION,
        "healthchecksfailed": False, "nic": [nic(row, net) for row, net in rows],
        **owner_fields(ctx, SimpleOwner(vm.account_id, vm.domain_id)),
    }
    if guest[0] is not None:
        view.update(guestipaddress=guest[0].ip4_address, guestmacaddress=guest[0].mac_address,
                    guestnetmask=guest[0].netmask, guestnetworkid=guest[1].uuid,
                    guestnetworkname=guest[1].name,
                    networkdomain=guest[1].network_domain, vpcid=None)
    if public[0] is not None:
        view.update(publicip=public[0].ip4_address, publicmacaddress=public[0].mac_address,
                    publicnetmask=public[0].netmask, gateway=public[0].gateway,
                    publicnetworkid=public[1].uuid)
    if control[0] is not None:
        view.update(linklocalip=control[0].ip4_address, linklocalmacaddress=control[0].mac_address,
                    linklocalnetmask=control[0].netmask, linklocalnetworkid=control[1].uuid)
    return view


class SimpleOwner:
    __slots__ = ("account_id", "domain_id", "acl_type")

    def __init__(self, account_id: int, domain_id: int):
        self.account_id, self.domain_id, self.acl_type = account_id, domain_id, "Account"


_SERVICE = "the list of supported services"
describe("networkoffering", {
    "id": "the id of the network offering",
    "name": "the name of the network offering",
    "displaytext": "an alternate display text of the network offering.",
    "traffictype": "the traffic type for the network offering, supported types are Public, Management, "
                   "Control, Guest, Vlan or Storage.",
    "isdefault": "true if network offering is default, false otherwise",
    "specifyvlan": "true if network offering supports vlans, false otherwise",
    "conservemode": "true if network offering is ip conserve mode enabled",
    "specifyipranges": "true if network offering supports specifying ip ranges, false otherwise",
    "availability": "availability of the network offering",
    "networkrate": "data transfer rate in megabits per second allowed.",
    "state": "state of the network offering. Can be Disabled/Enabled/Inactive",
    "guestiptype": "guest type of the network offering, can be Shared or Isolated",
    "serviceofferingid": "the ID of the service offering used by virtual router provider",
    "service": _SERVICE,
    "forvpc": "true if network offering can be used by VPC networks only",
    "ispersistent": "true if network offering supports persistent networks, false otherwise",
    "egressdefaultpolicy": "true if guest network default egress policy is allow; false if default egress "
                           "policy is deny",
    "supportsstrechedl2subnet": "true if network offering supports network that span multiple zones",
    "supportspublicaccess": "true if network offering supports public access for guest networks",
    "internetprotocol": "the internet protocol of the network offering",
    "domainid": "the domain ID(s) this disk offering belongs to. Ignore this information as it is not "
                "currently applicable.",
    "domain": "the domain name(s) this disk offering belongs to.",
    "zoneid": "the zone ID(s) this disk offering belongs to.",
    "zone": "the zone name(s) this disk offering belongs to.",
    "tags": "the tags for the network offering",
    "created": "the date this network offering was created",
    "hasannotations": "true if the entity/resource has annotations",
})
describe("vpcoffering", {
    "id": "the id of the vpc offering",
    "name": "the name of the vpc offering",
    "displaytext": "an alternate display text of the vpc offering.",
    "isdefault": "true if vpc offering is default, false otherwise",
    "state": "state of the vpc offering. Can be Disabled/Enabled",
    "created": "the date this vpc offering was created",
    "service": _SERVICE,
    "distributedvpcrouter": "indicates if the vpc offering supports distributed router for one-hop "
                            "forwarding",
    "supportsregionLevelvpc": "indicates if the vpc offering supports distributed router for one-hop "
                              "forwarding",
    "internetprotocol": "the internet protocol of the vpc offering",
    "domainid": "the domain ID(s) this disk offering belongs to.",
    "zoneid": "the zone ID(s) this disk offering belongs to.",
})
describe("network", {
    "id": "the id of the network",
    "name": "the name of the network",
    "displaytext": "the displaytext of the network",
    "broadcastdomaintype": "Broadcast domain type of the network",
    "traffictype": "the traffic type of the network",
    "gateway": "the network's gateway",
    "netmask": "the network's netmask",
    "cidr": "CloudStack managed address space, all CloudStack managed VMs get IP address from CIDR",
    "zoneid": "zone id of the network",
    "zonename": "the name of the zone the network belongs to",
    "networkofferingid": "network offering id the network is created from",
    "networkofferingname": "name of the network offering the network is created from",
    "networkofferingdisplaytext": "display text of the network offering the network is created from",
    "networkofferingconservemode": "true if network offering is ip conserve mode enabled",
    "networkofferingavailability": "availability of the network offering the network is created from",
    "issystem": "true if network is system, false otherwise",
    "state": "state of the network",
    "related": "related to what other network configuration",
    "broadcasturi": "broadcast uri of the network. This parameter is visible to ROOT admins only",
    "dns1": "the first IPv4 DNS for the network",
    "dns2": "the second IPv4 DNS for the network",
    "type": "the type of the network",
    "vlan": "The vlan of the network. This parameter is visible to ROOT admins only",
    "acltype": "acl type - access type to the network",
    "subdomainaccess": "true if users from subdomains can access the domain level network",
    "account": "the owner of the network",
    "domainid": "the domain id of the network owner",
    "domain": "the domain name of the network owner",
    "service": "the list of services",
    "networkdomain": "the network domain",
    "physicalnetworkid": "the physical network id",
    "restartrequired": "true network requires restart",
    "specifyipranges": "true if network supports specifying ip ranges, false otherwise",
    "vpcid": "VPC the network belongs to",
    "canusefordeploy": "list networks available for vm deployment",
    "ispersistent": "list networks that are persistent",
    "tags": "the list of resource tags associated with network",
    "displaynetwork": "an optional field, whether to the display the network to the end user or not.",
    "redundantrouter": "If the network has redundant routers enabled",
    "created": "the date this network was created",
    "ip6gateway": "the gateway of IPv6 network",
    "ip6cidr": "the cidr of IPv6 network",
    "hasannotations": "true if the entity/resource has annotations",
})
describe("router", {
    "id": "the id of the router",
    "name": "the name of the router",
    "zoneid": "the Zone ID for the router",
    "zonename": "the Zone name for the router",
    "podid": "the Pod ID for the router",
    "hostid": "the host ID for the router",
    "hostname": "the hostname for the router",
    "state": "the state of the router",
    "publicip": "the public IP address for the router",
    "publicnetworkid": "the ID of the corresponding public network",
    "guestipaddress": "the guest IP address for the router",
    "guestnetworkid": "the ID of the corresponding guest network",
    "guestnetworkname": "the name of the corresponding guest network",
    "linklocalip": "the link local IP address for the router",
    "networkdomain": "the network domain for the router",
    "account": "the account associated with the router",
    "domainid": "the domain ID associated with the router",
    "domain": "the domain associated with the router",
    "serviceofferingid": "the ID of the service offering of the virtual machine",
    "serviceofferingname": "the name of the service offering of the virtual machine",
    "templateid": "the template ID for the router",
    "isredundantrouter": "if this router is an redundant virtual router",
    "redundantstate": "the state of redundant virtual router",
    "role": "role of the domain router",
    "nic": "the list of nics associated with the router",
    "created": "the date and time the router was created",
    "requiresupgrade": "true if the router template requires upgrader",
    "version": "the version of template",
})
