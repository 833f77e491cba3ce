"""Guest networks in use: who may use them, implementation (VNET, source NAT, virtual router), deletion,
NICs of VMs. The creation rules are in guest_creation.py.

The VM work calls exactly five functions of this module: `vm_networks`, `allocate_nics`,
`prepare_networks`, `release_nics` and `nic_views`. A network is only rows until a VM needs it (or it is
persistent): `implement` then takes a VNET and a source NAT address with conditional UPDATEs, commits,
and starts the virtual router through the hypervisor driver; a failure gives back what it took.
"""

import asyncio
from types import SimpleNamespace

from sqlalchemy import bindparam, delete, select, update

from ..compute.models import ROUTER, VMInstance
from ..core.context import Params
from ..core.db import now, prebuilt
from ..core.errors import (
    ApiError,
    ConcurrentOperation,
    InvalidParameter,
    PermissionDenied,
    ResourceInUse,
)
from ..core.listing import domain_paths
from ..iam.models import Account, Domain
from ..infra.models import DataCenter, PublicIp, Vlan
from ..usage.models import record_usage
from . import addresses
from . import virtual_router as vr
from .guest_creation import ISOLATED, L2, SHARED, create_network, has_ranges, services_of
from .models import Network, NetworkOffering, Nic, NicSecondaryIp

# How long a caller waits for another operation that is implementing the same network.
IMPLEMENT_WAIT_SECONDS, IMPLEMENT_POLL = 120, 0.2


def needs_router(ctx, network: Network) -> bool:
    if network.guest_type == L2:
        return False
    services = services_of(ctx, network.network_offering_id)
    return any("VirtualRouter" in providers for providers in services.values())


# ---- who may use a network ------------------------------------------------------------------------

def domain_usable(ctx, network: Network, domain_id: int) -> bool:
    """A Domain network serves its domain, and the subdomains too when it grants subdomain access."""
    if domain_id == network.domain_id:
        return True
    paths = domain_paths(ctx)
    if network.subdomain_access is False or domain_id not in paths or network.domain_id not in paths:
        return False
    return paths[domain_id][0].startswith(paths[network.domain_id][0])


def check_network_use(ctx, network: Network, account: Account) -> None:
    """May this account's VMs have a NIC on the network? (531 when it belongs to someone else)."""
    if network.removed is not None or network.traffic_type != "Guest":
        raise InvalidParameter(f"Network {network.uuid} can't be used to deploy a virtual machine")
    allowed = (network.account_id == account.id if network.acl_type == "Account"
               else domain_usable(ctx, network, account.domain_id))
    if not allowed:
        raise PermissionDenied(f"Account {account.account_name} does not have permission to use network "
                               f"{network.name} ({network.uuid})")


def vm_networks(ctx, zone: DataCenter, owner_account: Account, network_rows: list | None) -> list[Network]:
    """The networks a new VM gets NICs on: the given ones (checked), else the zone's default for the owner."""
    if network_rows:
        seen = set()
        for network in network_rows:
            if network.zone_id != zone.id:
                raise InvalidParameter(f"Network {network.name} doesn't belong to zone {zone.name}")
            if network.id in seen:
                raise InvalidParameter(f"Network {network.name} is given more than once")
            seen.add(network.id)
            check_network_use(ctx, network, owner_account)
        return list(network_rows)
    if zone.networktype == "Basic" or zone.security_group_enabled:
        return [default_shared_network(ctx, zone, owner_account)]
    return [default_isolated_network(ctx, zone, owner_account)]


def default_shared_network(ctx, zone: DataCenter, account: Account) -> Network:
    candidates = ctx.db.scalars(select(Network).where(
        Network.zone_id == zone.id, Network.guest_type == SHARED, Network.traffic_type == "Guest",
        Network.removed.is_(None)).order_by(Network.id))
    for network in candidates:
        try:
            check_network_use(ctx, network, account)
        except ApiError:
            continue
        return network
    raise InvalidParameter(f"Unable to find a default network for account {account.account_name} in zone "
                           f"{zone.name}: no default network (create the zone's shared guest network first)")


def default_isolated_network(ctx, zone: DataCenter, account: Account) -> Network:
    """The account's one isolated network in the zone, or a new one from the Required offering."""
    owned = list(ctx.db.scalars(select(Network).where(
        Network.zone_id == zone.id, Network.account_id == account.id, Network.guest_type == ISOLATED,
        Network.vpc_id.is_(None), Network.removed.is_(None)).order_by(Network.id)))
    if len(owned) == 1:
        return owned[0]
    if owned:
        raise InvalidParameter(f"More than one isolated network is found for account {account.account_name} "
                               f"in zone {zone.name}; please specify networkids")
    offering = ctx.db.scalars(select(NetworkOffering).where(
        NetworkOffering.availability == "Required", NetworkOffering.guest_type == ISOLATED,
        NetworkOffering.removed.is_(None)).order_by(NetworkOffering.id)).first()
    if offering is None or offering.state != "Enabled":
        raise InvalidParameter("Unable to find an enabled network offering with availability Required to "
                               f"create the default network of account {account.account_name}")
    name = f"{account.account_name}-network"
    spec = Params(name=name, displaytext=name)
    domain = ctx.db.get(Domain, account.domain_id)
    return create_network(ctx, spec, offering, zone, account, domain, "Account")


# ---- implementation -------------------------------------------------------------------------------

def is_ready(ctx, network: Network) -> bool:
    if network.implemented is None:
        return False
    return not needs_router(ctx, network) or any(r.state == "Running" for r in vr.routers_of(ctx, network))


def claim(ctx, network: Network, prior: str) -> bool:
    """Mark the network Implementing unless another operation did (one UPDATE, safe across servers)."""
    statement = update(Network).where(Network.id == network.id, Network.state == prior,
                                      Network.removed.is_(None))
    claimed = ctx.db.execute(statement.values(state="Implementing")
                             .execution_options(synchronize_session=False)).rowcount
    ctx.db.refresh(network)
    return claimed == 1


async def implement(ctx, network: Network) -> Network:
    """Make the network usable by VMs: VNET, source NAT address, running virtual router.

    The caller's work is committed first: this awaits drivers, and a failure must not undo the caller's
    changes when it gives back what the implementation took."""
    ctx.db.refresh(network)
    if network.removed is None and is_ready(ctx, network):
        return network  # the usual case: nothing to do, nothing awaited
    ctx.commit()
    for _ in range(int(IMPLEMENT_WAIT_SECONDS / IMPLEMENT_POLL)):
        ctx.db.refresh(network)
        if network.removed is not None:
            raise InvalidParameter(f"Network {network.name} has been removed")
        if is_ready(ctx, network):
            return network
        prior = network.state
        if prior != "Implementing" and claim(ctx, network, prior):
            break
        ctx.commit()
        await asyncio.sleep(IMPLEMENT_POLL)
    else:
        raise ConcurrentOperation(f"Network {network.name} is being implemented by another operation")
    taken: dict[str, bool] = {}
    try:
        await _implement(ctx, network, taken)
    except Exception:
        # Uncommitted allocations vanish with the rollback; committed ones are given back explicitly.
        ctx.rollback()
        give_back(ctx, network, taken, prior)
        raise
    network.state = prior if network.guest_type == SHARED else "Implemented"
    network.implemented = network.implemented or now()
    ctx.commit()
    return network


async def _implement(ctx, network: Network, taken: dict[str, bool]) -> None:
    if network.guest_type in (ISOLATED, L2) and not network.broadcast_uri and network.vpc_id is None:
        network.broadcast_uri = addresses.allocate_vnet(ctx, network)
        taken["vnet"] = True
    source_nat = None
    if network.guest_type == ISOLATED and "SourceNat" in services_of(ctx, network.network_offering_id):
        source_nat = addresses.source_nat_ip(ctx, network)
        if source_nat is None:
            source_nat = addresses.allocate_source_nat(ctx, network)
            taken["ip"] = True
    if not needs_router(ctx, network):
        return
    router = next(iter(vr.routers_of(ctx, network)), None) or vr.create(ctx, network)
    vr.refresh_guest_nic(ctx, router, network)
    vr.set_public_nic(ctx, router, source_nat)
    ctx.commit()
    if router.state != "Running":
        await vr.start(ctx, router)


def give_back(ctx, network: Network, taken: dict[str, bool], prior: str) -> None:
    """Undo what a failed implementation took; its router stays Stopped without a public address."""
    ctx.db.refresh(network)
    if taken.get("ip"):
        for router in vr.routers_of(ctx, network):
            vr.set_public_nic(ctx, router, None)
        addresses.release_public_ips(ctx, network, source_nat_only=True)
    if taken.get("vnet"):
        addresses.release_vnet(ctx, network)
        network.broadcast_uri = None
    network.state = prior
    ctx.event("NETWORK.IMPLEMENT", f"Network {network.name} failed to be implemented", level="ERROR",
              resource_type="Network", resource_id=network.uuid, account_id=network.account_id,
              domain_id=network.domain_id)
    ctx.commit()


async def restart(ctx, network: Network, cleanup: bool) -> Network:
    offering = ctx.db.get(NetworkOffering, network.network_offering_id)
    persistent = offering.persistent and network.guest_type != SHARED
    if network.state not in ("Implemented", "Setup") and not (persistent and network.state == "Allocated"):
        raise InvalidParameter(f"Network {network.name} is not in the right state to be restarted. Correct "
                               "states are: Implemented, Setup")
    if cleanup:
        for router in vr.routers_of(ctx, network):
            await vr.destroy(ctx, router)
            ctx.commit()
    if network.implemented is not None or persistent:
        await implement(ctx, network)
    network.restart_required = False
    ctx.event("NETWORK.RESTART", f"Network {network.name} restarted" + (" with cleanup" if cleanup else ""),
              resource_type="Network", resource_id=network.uuid, account_id=network.account_id,
              domain_id=network.domain_id)
    return network


# ---- deletion -------------------------------------------------------------------------------------

def active_vm_names(ctx, network: Network) -> list[str]:
    return list(ctx.db.scalars(select(VMInstance.name).join(Nic, Nic.instance_id == VMInstance.id).where(
        Nic.network_id == network.id, VMInstance.type != ROUTER, VMInstance.removed.is_(None))))


async def delete_network(ctx, network: Network) -> None:
    """Destroy the routers, release the addresses, ranges and VNET; refused while VMs have NICs on it."""
    busy = active_vm_names(ctx, network)
    if busy:
        raise ResourceInUse(f"Network {network.name} has active VMs ({', '.join(busy[:5])}); it can't be "
                            "deleted until they are expunged")
    network.state = "Destroy"
    for router in vr.routers_of(ctx, network):
        await vr.destroy(ctx, router)
        ctx.commit()
    ctx.db.refresh(network)
    from .rules import forget_network  # at call time: the rule modules stay out of this one's imports

    forget_network(ctx, network)
    addresses.release_public_ips(ctx, network)
    ranges = list(ctx.db.scalars(select(Vlan).where(Vlan.network_id == network.id, Vlan.removed.is_(None))))
    for vlan in ranges:
        ctx.db.execute(delete(PublicIp).where(PublicIp.vlan_id == vlan.id))
        vlan.removed = now()
    addresses.release_vnet(ctx, network)
    network.removed = now()
    ctx.event("NETWORK.DELETE", f"Network {network.name} deleted", resource_type="Network",
              resource_id=network.uuid, account_id=network.account_id, domain_id=network.domain_id)


# ---- NICs of VMs ----------------------------------------------------------------------------------

def requested_ip(ip_map: dict | None, network: Network) -> str | None:
    """ip_map may be keyed by network uuid, id or row."""
    if not ip_map:
        return None
    for key in (network.uuid, network.id, network):
        if key in ip_map:
            return ip_map[key]
    return None


def allocate_nics(ctx, vm, networks: list[Network], ip_address: str | None = None,
                  ip_map: dict | None = None) -> list[Nic]:
    """One NIC per network, the first the default, each with a MAC and (but on L2) an address."""
    nics = []
    for device, network in enumerate(networks):
        wanted = requested_ip(ip_map, network) or (ip_address if device == 0 else None)
        nic = allocate_nic(ctx, vm, network, device, wanted)
        nics.append(nic)
        usage_resource = SimpleNamespace(id=vm.id, uuid=vm.uuid, name=str(nic.id))
        record_usage(ctx, "NETWORK.OFFERING.ASSIGN", account_id=vm.account_id, domain_id=vm.domain_id,
                     zone_id=vm.zone_id, resource=usage_resource, offering_id=network.network_offering_id,
                     size=int(nic.is_default))
    return nics


def allocate_nic(ctx, vm, network: Network, device: int, wanted: str | None) -> Nic:
    fields = {"instance_id": vm.id, "network_id": network.id,
              "mac_address": addresses.next_mac(ctx, vm.zone_id),
              "device_id": device, "is_default": device == 0, "vm_type": vm.type, "netmask": network.netmask,
              "gateway": network.gateway, "broadcast_uri": network.broadcast_uri,
              "isolation_uri": network.broadcast_uri}
    if has_ranges(ctx, network):
        ip, vlan = addresses.take_shared_ip(ctx, network, vm, wanted, getattr(vm, "pod_id", None))
        fields.update(netmask=vlan.netmask, gateway=vlan.gateway,
                      broadcast_uri=None if vlan.vlan_id == "untagged" else vlan.vlan_id)
        fields["isolation_uri"] = fields["broadcast_uri"]
        return addresses.insert_nic(ctx, fields, [ip.public_ip_address])
    if not network.cidr:
        if wanted:
            raise InvalidParameter(f"Network {network.name} has no IPv4 addresses to request {wanted} from")
        return addresses.insert_nic(ctx, fields, [None])
    if wanted:
        addresses.check_requested_guest_ip(network, wanted)
        try:
            return addresses.insert_nic(ctx, fields, [wanted])
        except ApiError:
            raise InvalidParameter(f"The requested IP address {wanted} is already in use in network "
                                   f"{network.name}") from None
    return addresses.insert_nic(ctx, fields, addresses.guest_candidates(ctx, network))


async def prepare_networks(ctx, vm) -> None:
    """Implement every network the VM has a NIC on (drivers are awaited); NICs follow the new VNETs."""
    query = prebuilt("nics.of_vm", lambda: select(Nic).where(Nic.instance_id == bindparam("vm"))
                     .order_by(Nic.device_id))
    nics = list(ctx.db.scalars(query, {"vm": vm.id}))
    for network_id in dict.fromkeys(nic.network_id for nic in nics):
        await implement(ctx, ctx.db.get(Network, network_id))
    for nic in nics:
        network = ctx.db.get(Network, nic.network_id)
        if network.guest_type != SHARED and not has_ranges(ctx, network):
            nic.broadcast_uri = nic.isolation_uri = network.broadcast_uri
        nic.state = "Reserved"
    from .security_group_members import program_vm  # at call time: rule modules stay out of our imports

    await program_vm(ctx, vm)


def release_nics(ctx, vm) -> None:
    """Free the VM's shared-range addresses and delete its NICs (the VM is being expunged)."""
    addresses.release_shared_ips(ctx, vm)
    from .rules import forget_vm  # at call time: the rule modules stay out of this one's imports

    forget_vm(ctx, vm)
    for nic in ctx.db.scalars(select(Nic).where(Nic.instance_id == vm.id)):
        network = ctx.db.get(Network, nic.network_id)
        record_usage(ctx, "NETWORK.OFFERING.REMOVE", account_id=vm.account_id, domain_id=vm.domain_id,
                     zone_id=vm.zone_id, resource=SimpleNamespace(id=vm.id, uuid=vm.uuid, name=str(nic.id)),
                     offering_id=network.network_offering_id, size=int(nic.is_default))
    ctx.db.execute(delete(NicSecondaryIp).where(NicSecondaryIp.instance_id == vm.id))
    ctx.db.execute(delete(Nic).where(Nic.instance_id == vm.id))


def nic_views(ctx, vm_ids: list[int]) -> dict[int, list[dict]]:
    """NIC dicts of VM views, for many VMs in one query."""
    from .network_views import nic

    found: dict[int, list[dict]] = {vm_id: [] for vm_id in vm_ids}
    if not vm_ids:
        return found
    query = prebuilt("nics.views", lambda: select(Nic, Network).join(Network, Network.id == Nic.network_id)
                     .where(Nic.instance_id.in_(bindparam("ids", expanding=True)))
                     .order_by(Nic.instance_id, Nic.device_id))
    rows = ctx.db.execute(query, {"ids": list(vm_ids)})
    for row_nic, network in rows:
        found[row_nic.instance_id].append(nic(row_nic, network))
    return found
