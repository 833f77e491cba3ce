"""What guest networks take from the zone: guest VNETs, source NAT and shared-range addresses, MACs.

Every allocation is a conditional UPDATE of a free row (`... WHERE id = :first_free AND taken IS NULL`),
retried when another management server won the race, so two servers sharing one database never hand
out the same VLAN or address. NIC addresses are guarded by the (network_id, ip4_address) unique key.
"""

import functools
import ipaddress
import itertools
from types import SimpleNamespace

from sqlalchemy import and_, bindparam, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..core.db import core, now, prebuilt
from ..core.errors import InsufficientCapacity, InvalidParameter
from ..infra.models import GuestVnet, PhysicalNetwork, PublicIp, Vlan
from ..usage.models import record_usage
from .models import MacAddressCounter, Network, Nic

RETRIES = 8
FREE, ALLOCATED = "Free", "Allocated"
VIRTUAL, DIRECT = "VirtualNetwork", "DirectAttached"


# ---- guest VNETs ----------------------------------------------------------------------------------

def broadcast_scheme(pnet: PhysicalNetwork) -> str:
    return "vxlan" if "VXLAN" in (pnet.isolation_methods or "").upper().split(",") else "vlan"


def allocate_vnet(ctx, network: Network) -> str:
    """Take the first free VNET of the network's physical network; answer its broadcast URI."""
    pnet = ctx.db.get(PhysicalNetwork, network.physical_network_id)
    for _ in range(RETRIES):
        row = ctx.db.execute(select(GuestVnet.id, GuestVnet.vnet).where(
            GuestVnet.physical_network_id == pnet.id, GuestVnet.taken.is_(None))
            .order_by(GuestVnet.vnet).limit(1)).first()
        if row is None:
            raise InsufficientCapacity(f"Unable to allocate a guest VNET for network {network.name}: "
                                       "insufficient VLAN capacity, no free VNET in physical network "
                                       f"{pnet.name}")
        taken = ctx.db.execute(update(GuestVnet).where(GuestVnet.id == row.id, GuestVnet.taken.is_(None))
                               .values(taken=now(), account_id=network.account_id,
                                       reservation_id=network.uuid)
                               .execution_options(synchronize_session=False)).rowcount
        if taken == 1:
            return f"{broadcast_scheme(pnet)}://{row.vnet}"
    raise InsufficientCapacity(f"Unable to allocate a guest VNET for network {network.name}: concurrent "
                               "allocations kept winning; try again")


def release_vnet(ctx, network: Network) -> None:
    """Give back the VNET this network took (a VLAN the admin specified was never taken)."""
    ctx.db.execute(update(GuestVnet).where(GuestVnet.reservation_id == network.uuid)
                   .values(taken=None, account_id=None, reservation_id=None)
                   .execution_options(synchronize_session=False))


# ---- public addresses ---------------------------------------------------------------------------

def ip_resource(ip: PublicIp) -> SimpleNamespace:
    # Usage records name an address by the address itself, as upstream does.
    return SimpleNamespace(id=ip.id, uuid=ip.uuid, name=ip.public_ip_address)


def usable_public_ranges(network: Network):
    """Public ranges the network's owner may take from: dedicated to it first, then the system pool."""
    return and_(Vlan.vlan_type == VIRTUAL, Vlan.removed.is_(None), Vlan.for_system_vms.is_(False),
                or_(Vlan.account_id == network.account_id,
                    and_(Vlan.account_id.is_(None),
                         or_(Vlan.domain_id.is_(None), Vlan.domain_id == network.domain_id))))


def allocate_source_nat(ctx, network: Network) -> PublicIp:
    for _ in range(RETRIES):
        candidate = ctx.db.scalar(select(PublicIp.id).join(Vlan, PublicIp.vlan_id == Vlan.id).where(
            PublicIp.zone_id == network.zone_id, PublicIp.state == FREE, usable_public_ranges(network))
            .order_by(Vlan.account_id.is_(None), PublicIp.id).limit(1))
        if candidate is None:
            raise InsufficientCapacity("Insufficient address capacity: no free public IP address in zone "
                                       f"for the source NAT of network {network.name}")
        claim = update(PublicIp).where(PublicIp.id == candidate, PublicIp.state == FREE)
        taken = ctx.db.execute(claim.values(
            state=ALLOCATED, allocated=now(), account_id=network.account_id, domain_id=network.domain_id,
            network_id=network.id, is_source_nat=True).execution_options(synchronize_session=False)).rowcount
        if taken == 1:
            ip = ctx.db.get(PublicIp, candidate)
            ctx.db.refresh(ip)
            record_usage(ctx, "NET.IPASSIGN", account_id=network.account_id, domain_id=network.domain_id,
                         zone_id=network.zone_id, resource=ip_resource(ip), resource_type=VIRTUAL, size=1)
            ctx.event("NET.IPASSIGN", f"Source NAT IP {ip.public_ip_address} assigned to network "
                                      f"{network.name}", resource_type="IpAddress", resource_id=ip.uuid,
                      account_id=network.account_id, domain_id=network.domain_id)
            return ip
    raise InsufficientCapacity("Insufficient address capacity: concurrent allocations kept winning")


def source_nat_ip(ctx, network: Network) -> PublicIp | None:
    return ctx.db.scalars(select(PublicIp).where(PublicIp.network_id == network.id,
                                                 PublicIp.is_source_nat.is_(True))).first()


def release_public_ips(ctx, network: Network, source_nat_only: bool = False) -> None:
    """Free the public (VirtualNetwork) addresses associated with the network."""
    query = select(PublicIp).join(Vlan, PublicIp.vlan_id == Vlan.id).where(
        PublicIp.network_id == network.id, Vlan.vlan_type == VIRTUAL, PublicIp.state != FREE)
    if source_nat_only:
        query = query.where(PublicIp.is_source_nat.is_(True))
    for ip in ctx.db.scalars(query):
        record_usage(ctx, "NET.IPRELEASE", account_id=ip.account_id or network.account_id,
                     domain_id=ip.domain_id or network.domain_id, zone_id=ip.zone_id,
                     resource=ip_resource(ip), resource_type=VIRTUAL, size=int(ip.is_source_nat))
        ctx.event("NET.IPRELEASE", f"IP {ip.public_ip_address} released from network {network.name}",
                  resource_type="IpAddress", resource_id=ip.uuid, account_id=network.account_id,
                  domain_id=network.domain_id)
        free_public_ip(ip)


def free_public_ip(ip: PublicIp) -> None:
    ip.state, ip.allocated, ip.account_id, ip.domain_id, ip.vm_id = FREE, None, None, None, None
    ip.is_source_nat = ip.is_static_nat = False
    if ip.source_network_id is None:
        ip.network_id = None


# ---- shared (DirectAttached) ranges ---------------------------------------------------------------

def take_shared_ip(ctx, network: Network, vm, requested: str | None,
                   pod_id: int | None) -> tuple[PublicIp, Vlan]:
    """An address of the network's guest ranges for a VM (its pod's ranges first, in a Basic zone)."""
    base = select(PublicIp.id).join(Vlan, PublicIp.vlan_id == Vlan.id).where(
        Vlan.network_id == network.id, Vlan.removed.is_(None), Vlan.vlan_type == DIRECT)
    if requested:
        found = ctx.db.execute(base.add_columns(PublicIp.state).where(PublicIp.public_ip_address == requested)
                               ).first()
        if found is None:
            raise InvalidParameter(f"The requested IP address {requested} is not in an IP range of network "
                                   f"{network.name}")
        if found.state != FREE or not _claim(ctx, found.id, network, vm):
            raise InvalidParameter(f"The requested IP address {requested} is already in use in network "
                                   f"{network.name}")
        return _claimed(ctx, found.id)
    if pod_id is not None:
        base = base.order_by((Vlan.pod_id == pod_id).desc())
    for _ in range(RETRIES):
        candidate = ctx.db.scalar(base.where(PublicIp.state == FREE).order_by(PublicIp.id).limit(1))
        if candidate is None:
            raise InsufficientCapacity("Insufficient address capacity: no free IP address left in network "
                                       f"{network.name}")
        if _claim(ctx, candidate, network, vm):
            return _claimed(ctx, candidate)
    raise InsufficientCapacity("Insufficient address capacity: concurrent allocations kept winning")


def _claim(ctx, ip_id: int, network: Network, vm) -> bool:
    return ctx.db.execute(update(PublicIp).where(PublicIp.id == ip_id, PublicIp.state == FREE).values(
        state=ALLOCATED, allocated=now(), account_id=vm.account_id, domain_id=vm.domain_id, vm_id=vm.id,
        network_id=network.id).execution_options(synchronize_session=False)).rowcount == 1


def _claimed(ctx, ip_id: int) -> tuple[PublicIp, Vlan]:
    ip = ctx.db.get(PublicIp, ip_id)
    ctx.db.refresh(ip)
    return ip, ctx.db.get(Vlan, ip.vlan_id)


def release_shared_ips(ctx, vm) -> None:
    """Shared-network addresses held by a VM go back to Free."""
    rows = ctx.db.scalars(select(PublicIp).join(Vlan, PublicIp.vlan_id == Vlan.id).where(
        PublicIp.vm_id == vm.id, Vlan.vlan_type == DIRECT))
    for ip in rows:
        free_public_ip(ip)


# ---- guest addresses of isolated networks ---------------------------------------------------------

def reserved_ranges(network: Network) -> list[tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]]:
    ranges = []
    for part in (network.reservation_range or "").split(","):
        if "-" in part:
            first, last = part.split("-", 1)
            ranges.append((ipaddress.IPv4Address(first), ipaddress.IPv4Address(last)))
    return ranges


def guest_vm_cidr(network: Network) -> ipaddress.IPv4Network | None:
    """The part of the network's CIDR VMs get addresses from (all of it unless a reservation is set)."""
    if not network.cidr:
        return None
    cidr = ipaddress.IPv4Network(network.cidr, strict=False)
    reserved = sorted(reserved_ranges(network))
    if not reserved:
        return cidr
    # The reservation is the CIDR minus the guest VM CIDR: what is left between its ranges is the latter.
    low, high = cidr.network_address, cidr.broadcast_address
    for first, last in reserved:
        if first <= low <= last:
            low = last + 1
    for first, last in reversed(reserved):
        if first <= high <= last:
            high = first - 1
    return next(ipaddress.summarize_address_range(low, high))


def guest_candidates(ctx, network: Network):
    """Free addresses of an isolated network, lowest first: not the gateway, not reserved, not in use."""
    cidr = guest_vm_cidr(network)
    statement = prebuilt("nics.addresses", lambda: select(Nic.ip4_address).where(
        Nic.network_id == bindparam("network"), Nic.ip4_address.is_not(None)))
    used = set(core(ctx.db, statement, {"network": network.id}).scalars().all())
    used.add(network.gateway)
    yield from itertools.filterfalse(used.__contains__, host_addresses(cidr))


@functools.lru_cache(maxsize=64)
def _host_list(cidr: ipaddress.IPv4Network) -> tuple[str, ...]:
    return tuple(str(host) for host in cidr.hosts())


def host_addresses(cidr: ipaddress.IPv4Network):
    """cidr.hosts() as strings, lowest first; the list of a network up to a /16 is made once (with
    thousands of NICs on a network, making the strings at every allocation costs more than the query)."""
    if cidr.num_addresses <= 65536:
        return _host_list(cidr)
    return (f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"
            for v in range(int(cidr.network_address) + 1, int(cidr.broadcast_address)))


def check_requested_guest_ip(network: Network, requested: str) -> str:
    try:
        address = ipaddress.IPv4Address(requested)
    except ValueError:
        raise InvalidParameter(f"Invalid IP address {requested}") from None
    cidr = guest_vm_cidr(network)
    if cidr is None or address not in cidr or address in (cidr.network_address, cidr.broadcast_address):
        raise InvalidParameter(f"The requested IP address {requested} is not in the guest CIDR {cidr} of "
                               f"network {network.name}")
    if requested == network.gateway:
        raise InvalidParameter(f"The requested IP address {requested} is the gateway of network "
                               f"{network.name}")
    return requested


def insert_nic(ctx, fields: dict, candidates) -> Nic:
    """Insert a NIC with the first candidate address nobody else inserted meanwhile."""
    for address in candidates:
        nic = Nic(**fields, ip4_address=address)
        try:
            with ctx.db.begin_nested():
                ctx.db.add(nic)
                ctx.db.flush()
            return nic
        except IntegrityError:
            continue
    raise InsufficientCapacity("Insufficient address capacity: no free IP address left in network "
                               f"{fields.get('network_id')}")


# ---- MAC addresses --------------------------------------------------------------------------------

def next_mac(ctx, zone_id: int) -> str:
    """A zone-unique MAC, 02:00:<zone>:<24-bit counter> (locally administered, as upstream's)."""
    counter = prebuilt("mac.next", lambda: update(MacAddressCounter).where(
        MacAddressCounter.zone_id == bindparam("zone")).values(next_value=MacAddressCounter.next_value + 1))
    if core(ctx.db, counter, {"zone": zone_id}).rowcount == 0:
        try:
            with ctx.db.begin_nested():
                ctx.db.add(MacAddressCounter(zone_id=zone_id, next_value=1))
        except IntegrityError:
            pass  # another server created the row first
        core(ctx.db, counter, {"zone": zone_id})
    current = prebuilt("mac.current", lambda: select(MacAddressCounter.next_value).where(
        MacAddressCounter.zone_id == bindparam("zone")))
    value = core(ctx.db, current, {"zone": zone_id}).scalar() - 1
    return "02:00:" + ":".join(f"{b:02x}" for b in (zone_id & 0xFF, (value >> 16) & 0xFF, (value >> 8) & 0xFF,
                                                      value & 0xFF))
