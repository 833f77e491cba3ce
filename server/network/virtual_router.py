"""The virtual router: a system VM (VMInstance type DomainRouter, r-N-VM) serving one guest network.

Its NICs: eth0 on the guest network (the gateway of an isolated network, an address of the range of a
shared one), eth1 link-local on the zone's control network, eth2 the source NAT address on the zone's
public network. Every lifecycle step is an agent command through the hypervisor driver (so simulator
faults can fail it), sent after the transaction is committed; a failed start gives back the capacity.
"""

import ipaddress
import random

from sqlalchemy import bindparam, delete, select

from ..compute.models import ROUTER, ServiceOffering, VMInstance
from ..core.db import now, prebuilt
from ..core.errors import InsufficientCapacity
from ..hypervisors.base import AgentError, driver_for
from ..infra import capacity
from ..infra.models import DataCenter, Host, PublicIp, Vlan
from ..infra.system_vms import place, up_hosts
from ..storage.models import VMTemplate
from . import addresses
from .models import Network, NetworkOffering, Nic, NicSecondaryIp

# Upstream's "System Offering For Software Router": 1 vCPU at 500 MHz, 256 MiB.
DEFAULT_SIZE = (1, 500, 256 * 1024**2)
SYSTEM_NETWORK_OFFERINGS = {"Public": "System-Public-Network", "Control": "System-Control-Network",
                            "Management": "System-Management-Network", "Storage": "System-Storage-Network"}
BROADCAST_TYPES = {"Public": "Vlan", "Control": "LinkLocal", "Management": "Native", "Storage": "Native"}
LIVE = ("Starting", "Running", "Stopping", "Stopped", "Migrating")
SYSTEM_ACCOUNT = SYSTEM_DOMAIN = 1


# ---- the zone's system networks (where router NICs other than the guest one live) ---------------

def system_network(ctx, zone_id: int, traffic: str) -> Network:
    """The zone's network of a system traffic type, created on first use."""
    found = ctx.db.scalars(select(Network).where(Network.zone_id == zone_id, Network.traffic_type == traffic,
                                                 Network.removed.is_(None)).order_by(Network.id)).first()
    if found is not None:
        return found
    offering = system_offering(ctx, SYSTEM_NETWORK_OFFERINGS[traffic])
    network = Network(name=offering.name, display_text=offering.display_text, traffic_type=traffic,
                      broadcast_domain_type=BROADCAST_TYPES[traffic], network_offering_id=offering.id,
                      zone_id=zone_id, account_id=SYSTEM_ACCOUNT, domain_id=SYSTEM_DOMAIN, state="Setup",
                      acl_type="Domain")
    if traffic == "Control":
        network.cidr, network.netmask, network.gateway = "169.254.0.0/16", "255.255.0.0", "169.254.0.1"
    ctx.db.add(network)
    ctx.db.flush()
    return network


def system_offering(ctx, unique_name: str) -> NetworkOffering:
    query = select(NetworkOffering).where(NetworkOffering.unique_name == unique_name,
                                          NetworkOffering.removed.is_(None))
    offering = ctx.db.scalars(query).first()
    if offering is None:  # a database created before the seeds existed
        from .offerings import seed_network_offerings

        seed_network_offerings(ctx.db)
        offering = ctx.db.scalars(query).first()
    return offering


# ---- rows ---------------------------------------------------------------------------------------

def router_offering(ctx, router: VMInstance | None = None) -> ServiceOffering | None:
    if router is not None and router.service_offering_id:
        return ctx.db.get(ServiceOffering, router.service_offering_id)
    return ctx.db.scalars(select(ServiceOffering).where(
        ServiceOffering.is_system.is_(True), ServiceOffering.system_vm_type == "domainrouter",
        ServiceOffering.removed.is_(None))
        .order_by(ServiceOffering.is_default.desc(), ServiceOffering.id)).first()


def routers_of(ctx, network: Network) -> list[VMInstance]:
    """The live routers with a NIC on a guest network."""
    query = prebuilt("network.routers", lambda: select(VMInstance).join(Nic, Nic.instance_id == VMInstance.id)
                     .where(Nic.network_id == bindparam("network"), VMInstance.type == ROUTER,
                            VMInstance.removed.is_(None)).order_by(VMInstance.id))
    return list(ctx.db.scalars(query, {"network": network.id}))


def guest_network_of(ctx, router: VMInstance) -> Network | None:
    return ctx.db.scalars(select(Network).join(Nic, Nic.network_id == Network.id).where(
        Nic.instance_id == router.id, Network.traffic_type == "Guest")).first()


def create(ctx, network: Network) -> VMInstance:
    """A Stopped router for the network, sized by the system router offering, with its NICs."""
    zone = ctx.db.get(DataCenter, network.zone_id)
    hosts = up_hosts(ctx, zone)
    if not hosts:
        raise InsufficientCapacity(f"Unable to create the virtual router of network {network.name}: zone "
                                   f"{zone.name} has no Up host")
    hypervisor = hosts[0].hypervisor_type
    template = ctx.db.scalars(select(VMTemplate).where(VMTemplate.type == "SYSTEM",
                                                       VMTemplate.removed.is_(None),
                                                       VMTemplate.hypervisor_type == hypervisor)).first()
    offering = router_offering(ctx)
    cpus, speed, ram = ((offering.cpu, offering.speed, offering.ram_size * 1024**2) if offering
                        else DEFAULT_SIZE)
    router = VMInstance(name="pending", type=ROUTER, state="Stopped", zone_id=zone.id,
                        hypervisor_type=hypervisor,
                        template_id=template.id if template else None,
                        guest_os_id=template.guest_os_id if template else None, account_id=network.account_id,
                        domain_id=network.domain_id, cpus=cpus, speed=speed, ram=ram,
                        service_offering_id=offering.id if offering else None)
    ctx.db.add(router)
    ctx.db.flush()
    router.name = router.display_name = f"r-{router.id}-VM"
    add_guest_nic(ctx, router, network)
    add_control_nic(ctx, router)
    ctx.event("ROUTER.CREATE", f"Virtual router {router.name} created for network {network.name}",
              resource_type="DomainRouter", resource_id=router.uuid, account_id=router.account_id,
              domain_id=router.domain_id)
    return router


def nic_fields(ctx, router: VMInstance, network: Network, device: int, **extra) -> dict:
    return {"instance_id": router.id, "network_id": network.id,
            "mac_address": addresses.next_mac(ctx, router.zone_id),
            "device_id": device, "vm_type": ROUTER, "mode": "Static", "state": "Reserved",
            "broadcast_uri": network.broadcast_uri, "isolation_uri": network.broadcast_uri, **extra}


def add_guest_nic(ctx, router: VMInstance, network: Network) -> Nic:
    if network.guest_type == "Shared":
        ip, vlan = addresses.take_shared_ip(ctx, network, router, None, None)
        fields = nic_fields(ctx, router, network, 0, netmask=vlan.netmask, gateway=vlan.gateway,
                            broadcast_uri=vlan.vlan_id, isolation_uri=vlan.vlan_id)
        return addresses.insert_nic(ctx, fields, [ip.public_ip_address])
    fields = nic_fields(ctx, router, network, 0, netmask=network.netmask, gateway=network.gateway)
    return addresses.insert_nic(ctx, fields, [network.gateway])


def add_control_nic(ctx, router: VMInstance) -> Nic:
    control = system_network(ctx, router.zone_id, "Control")
    fields = nic_fields(ctx, router, control, 1, netmask="255.255.0.0", gateway=None)
    # Link-local addresses are picked at random (as upstream): the unique key settles collisions.
    candidates = (str(ipaddress.IPv4Address("169.254.0.0") + random.randint(2, 65533)) for _ in range(32))
    nic = addresses.insert_nic(ctx, fields, candidates)
    router.link_local_ip_address = nic.ip4_address
    return nic


def set_public_nic(ctx, router: VMInstance, ip: PublicIp | None) -> None:
    """Point eth2 at the network's source NAT address (or remove it when there is none)."""
    public = system_network(ctx, router.zone_id, "Public")
    current = ctx.db.scalars(select(Nic).where(Nic.instance_id == router.id,
                                               Nic.network_id == public.id)).first()
    if current is not None and (ip is None or current.ip4_address != ip.public_ip_address):
        ctx.db.delete(current)
        ctx.db.flush()
        current = None
    router.public_ip_address = ip.public_ip_address if ip else None
    if ip is None or current is not None:
        return
    vlan = ctx.db.get(Vlan, ip.vlan_id)
    fields = nic_fields(ctx, router, public, 2, netmask=vlan.netmask, gateway=vlan.gateway,
                        broadcast_uri=vlan.vlan_id, isolation_uri=vlan.vlan_id, is_default=True)
    addresses.insert_nic(ctx, fields, [ip.public_ip_address])


def refresh_guest_nic(ctx, router: VMInstance, network: Network) -> None:
    """A re-implemented network may have another VNET: the guest NIC follows it."""
    if network.guest_type == "Shared":
        return
    for nic in ctx.db.scalars(select(Nic).where(Nic.instance_id == router.id, Nic.network_id == network.id)):
        nic.broadcast_uri = nic.isolation_uri = network.broadcast_uri


# ---- lifecycle ----------------------------------------------------------------------------------

def size(router: VMInstance) -> tuple[int, int, int]:
    return router.cpus * router.speed, router.ram, router.cpus


def router_event(ctx, router: VMInstance, kind: str, text: str, level: str = "INFO") -> None:
    ctx.event(f"ROUTER.{kind}", text, level=level, resource_type="DomainRouter", resource_id=router.uuid,
              account_id=router.account_id, domain_id=router.domain_id)


async def start(ctx, router: VMInstance) -> VMInstance:
    host = place(ctx, router)
    router.state, router.host_id, router.pod_id = "Starting", host.id, host.pod_id
    ctx.commit()
    try:
        await driver_for(host.hypervisor_type).execute(ctx, host, "StartCommand", vm=router.name)
    except AgentError as error:
        ctx.db.refresh(router)
        capacity.release(ctx, host, *size(router))
        router.state, router.last_host_id, router.host_id = "Stopped", host.id, None
        router_event(ctx, router, "START", f"Virtual router {router.name} failed to start on {host.name}: "
                                           f"{error.text}", level="ERROR")
        ctx.commit()
        raise
    ctx.db.refresh(router)
    router.state, router.last_started, router.update_count = "Running", now(), router.update_count + 1
    router_event(ctx, router, "START", f"Virtual router {router.name} started on {host.name}")
    from .rules import reapply  # at call time: rules.py imports this module (for guest_network_of)

    await reapply(ctx, router)
    return router


async def stop(ctx, router: VMInstance, forced: bool = False) -> VMInstance:
    host = ctx.db.get(Host, router.host_id) if router.host_id else None
    if host is None:
        router.state = "Stopped"
        return router
    router.state = "Stopping"
    ctx.commit()
    try:
        await driver_for(host.hypervisor_type).execute(ctx, host, "StopCommand", vm=router.name)
    except AgentError:
        if not forced:
            ctx.db.refresh(router)
            router.state = "Running"
            ctx.commit()
            raise
    ctx.db.refresh(router)
    capacity.release(ctx, host, *size(router))
    router.state, router.last_host_id, router.host_id = "Stopped", host.id, None
    router_event(ctx, router, "STOP", f"Virtual router {router.name} stopped")
    return router


async def reboot(ctx, router: VMInstance) -> VMInstance:
    host = ctx.db.get(Host, router.host_id)
    ctx.commit()
    await driver_for(host.hypervisor_type).execute(ctx, host, "RebootCommand", vm=router.name)
    ctx.db.refresh(router)
    router_event(ctx, router, "REBOOT", f"Virtual router {router.name} rebooted")
    return router


async def destroy(ctx, router: VMInstance) -> VMInstance:
    """Stop (forced) and expunge: its capacity, addresses and NICs are given back."""
    if router.state in ("Running", "Starting", "Stopping", "Migrating"):
        await stop(ctx, router, forced=True)
    addresses.release_shared_ips(ctx, router)
    ctx.db.execute(delete(NicSecondaryIp).where(NicSecondaryIp.instance_id == router.id))
    ctx.db.execute(delete(Nic).where(Nic.instance_id == router.id))
    router.public_ip_address = router.link_local_ip_address = None
    router.state, router.removed = "Expunging", now()
    router_event(ctx, router, "DESTROY", f"Virtual router {router.name} destroyed")
    return router
