"""Host lifecycle: discovery, private IPs, resource states (maintenance) and agent reconnection.

Two state machines, as upstream: `status` is the agent connection (Connecting, Up, Alert, Disconnected,
Down, Removed) and `resource_state` is the administrator's intent (Enabled, Disabled,
PrepareForMaintenance, Maintenance, ErrorInMaintenance, ...). Anything that talks to the host goes
through its hypervisor driver as an agent command, after committing, so configureSimulator can fail
or delay it and no write transaction is held while waiting.
"""

import ipaddress

from sqlalchemy import delete, func, select

from .. import CLOUDSTACK_VERSION
from ..compute.models import VMInstance
from ..core.db import now
from ..core.errors import ApiError, InsufficientCapacity, InvalidParameter, ResourceInUse
from ..hypervisors.base import AgentError, driver_for
from . import capacity
from .models import DISABLED, ENABLED, Cluster, DataCenter, Host, HostPod, HostTag, PrivateIp

PREPARE_FOR_MAINTENANCE = "PrepareForMaintenance"
MAINTENANCE = "Maintenance"
ERROR_IN_MAINTENANCE = "ErrorInMaintenance"
ERROR_IN_PREPARE_FOR_MAINTENANCE = "ErrorInPrepareForMaintenance"
DEGRADED = "Degraded"
MAINTENANCE_STATES = (PREPARE_FOR_MAINTENANCE, MAINTENANCE, ERROR_IN_MAINTENANCE, ERROR_IN_PREPARE_FOR_MAINTENANCE)
# Resource states from which maintenance may be (re)attempted (upstream ResourceState.canAttemptMaintenance).
CAN_ATTEMPT_MAINTENANCE = (ENABLED, DISABLED, ERROR_IN_MAINTENANCE, ERROR_IN_PREPARE_FOR_MAINTENANCE)
# Connection states a reconnect may start from (Connecting too: a server may have stopped mid-reconnect).
RECONNECTABLE = ("Up", "Connecting", "Alert", "Disconnected", "Down")


# ---- adding a host ------------------------------------------------------------------------------------

def reserved_ranges(pod: HostPod) -> list[tuple[int, int]]:
    ranges = []
    for part in (pod.description or "").split(","):
        if "-" in part:
            start, end = part.split("-", 1)
            ranges.append((int(ipaddress.IPv4Address(start)), int(ipaddress.IPv4Address(end))))
    return ranges


def free_private_ip(ctx, pod: HostPod) -> str:
    """The lowest address of the pod CIDR that is not the gateway, not in the pod's reserved system range
    and not held by another host of the pod (upstream's simulator picks one at random). When the reserved
    range covers the whole CIDR, a free address of that range is taken through its allocation table, so a
    system VM can never be handed the same address."""
    network = ipaddress.IPv4Network(f"{pod.cidr_address}/{pod.cidr_size}")
    reserved = sorted(reserved_ranges(pod))
    taken = {int(ipaddress.IPv4Address(a)) for a in ctx.db.scalars(select(Host.private_ip_address).where(
        Host.pod_id == pod.id, Host.removed.is_(None), Host.private_ip_address.is_not(None)))}
    taken.add(int(ipaddress.IPv4Address(pod.gateway)))
    number, last = int(network.network_address) + 1, int(network.broadcast_address) - 1
    while number <= last:
        block = next(((start, end) for start, end in reserved if start <= number <= end), None)
        if block:
            number = block[1] + 1  # jump over the reserved system range at once
        elif number in taken:
            number += 1
        else:
            return str(ipaddress.IPv4Address(number))
    return reserved_private_ip(ctx, pod, network)


def reserved_private_ip(ctx, pod: HostPod, network) -> str:
    ip = ctx.db.scalars(select(PrivateIp).where(PrivateIp.pod_id == pod.id, PrivateIp.taken.is_(None))
                        .order_by(PrivateIp.id).limit(1)).first()
    if ip is None:
        raise InsufficientCapacity(f"Unable to add the host: no free private IP address left in pod "
                                   f"{pod.name} ({network})")
    ip.taken, ip.reservation_id = now(), "host"
    return ip.ip_address


def check_credentials(hypervisor: str, username: str | None, password: str | None) -> None:
    if hypervisor == "VMware":
        return
    if hypervisor == "KVM":
        if not username:
            raise InvalidParameter("Username need to be provided.")
    elif not username or not password:
        raise InvalidParameter("Username and Password need to be provided.")


def add_host(ctx, zone: DataCenter, pod: HostPod, cluster: Cluster, url: str, username: str | None,
             password: str | None, tags: list[str], resource_state: str) -> Host:
    """Discover a host through its hypervisor driver and record it Up, with its capacity rows."""
    hypervisor = cluster.hypervisor_type
    if ctx.db.scalar(select(Host.id).where(Host.cluster_id == cluster.id, Host.url == url,
                                           Host.removed.is_(None)).limit(1)):
        raise InvalidParameter(f"A host with url {url} already exists in cluster {cluster.name}")
    found = driver_for(hypervisor).discover(ctx, zone, pod, cluster, url, username, password)
    host = Host(name=found.name, type="Routing", status="Up", resource_state=resource_state, zone_id=zone.id,
                pod_id=pod.id, cluster_id=cluster.id, hypervisor_type=hypervisor,
                hypervisor_version=found.hypervisor_version, private_ip_address=found.private_ip
                or free_private_ip(ctx, pod), cpus=found.cpus, cpu_sockets=1, speed=found.speed, ram=found.ram,
                local_storage=found.local_storage, arch=found.arch, url=url, guid=found.guid,
                capabilities=found.capabilities, version=CLOUDSTACK_VERSION, last_ping=now(),
                mgmt_server_id=ctx.server.msid)
    host.storage_ip_address = host.private_ip_address
    ctx.db.add(host)
    ctx.db.flush()
    set_tags(ctx, host, tags)
    capacity.create_host_capacity(ctx, host)
    ctx.event("HOST.ADD", f"Host {host.name} ({url}) added to cluster {cluster.name}", resource_type="Host",
              resource_id=host.uuid)
    return host


def set_tags(ctx, host: Host, tags: list[str]) -> None:
    """Replace a host's tags (duplicates dropped, order kept)."""
    ctx.db.execute(delete(HostTag).where(HostTag.host_id == host.id).execution_options(synchronize_session=False))
    for tag in dict.fromkeys(t.strip() for t in tags if t.strip()):
        ctx.db.add(HostTag(host_id=host.id, tag=tag))


# ---- resource state ---------------------------------------------------------------------------------

def set_resource_state(ctx, host: Host, state: str) -> None:
    host.resource_state = state
    capacity.set_host_capacity_enabled(ctx, host, state == ENABLED)


def change_allocation(ctx, host: Host, value: str) -> None:
    """updateHost allocationstate=Enable|Disable (upstream resource state events)."""
    wanted = {"enable": ENABLED, "enabled": ENABLED, "disable": DISABLED, "disabled": DISABLED}.get(value.lower())
    if wanted is None:
        raise InvalidParameter(f"Invalid allocation state: {value}, only Enable/Disable are allowed")
    if host.resource_state == wanted:
        return
    if host.resource_state not in (ENABLED, DISABLED):
        raise InvalidParameter(f"Unable to {value.lower()} host {host.uuid}: it is in resource state "
                               f"{host.resource_state}")
    set_resource_state(ctx, host, wanted)
    ctx.event("HOST.ENABLE" if wanted == ENABLED else "HOST.DISABLE", f"Host {host.name} {wanted.lower()}",
              resource_type="Host", resource_id=host.uuid)


# ---- maintenance ------------------------------------------------------------------------------------

def vms_on(ctx, host: Host, *states: str) -> list[VMInstance]:
    return list(ctx.db.scalars(select(VMInstance).where(
        VMInstance.host_id == host.id, VMInstance.removed.is_(None), VMInstance.state.in_(states))
        .order_by(VMInstance.id)))


def check_can_maintain(ctx, host: Host) -> None:
    """Upstream's refusals before a host is prepared for maintenance (CloudRuntimeException: 530)."""
    if host.resource_state not in CAN_ATTEMPT_MAINTENANCE:
        raise ApiError(f"Host is already in state {host.resource_state}. Cannot recall for maintenance until "
                       "resolved.")
    busy = ctx.db.scalar(select(func.count(Host.id)).where(
        Host.cluster_id == host.cluster_id, Host.id != host.id, Host.removed.is_(None),
        Host.resource_state.in_((PREPARE_FOR_MAINTENANCE, ERROR_IN_PREPARE_FOR_MAINTENANCE))))
    if busy:
        raise ApiError("There are other servers attempting migrations for maintenance. Found hosts in "
                       "PrepareForMaintenance OR ErrorInPrepareForMaintenance STATUS in cluster "
                       f"{host.cluster_id}")
    if vms_on(ctx, host, "Migrating"):
        raise ApiError("Host contains incoming VMs migrating. Please wait for them to complete before putting "
                       "to maintenance.")
    if vms_on(ctx, host, "Starting", "Stopping"):
        raise ApiError("Host contains VMs in starting/stopping state. Please wait for them to complete before "
                       "putting to maintenance.")
    if vms_on(ctx, host, "Error", "Unknown"):
        raise ApiError("Host contains VMs in error/unknown/shutdown state. Please fix errors to proceed.")


async def prepare_for_maintenance(ctx, host: Host) -> Host:
    """Enabled → PrepareForMaintenance → (VMs migrated away) → Maintenance, or ErrorInMaintenance."""
    check_can_maintain(ctx, host)
    driver = driver_for(host.hypervisor_type)
    previous = host.resource_state
    set_resource_state(ctx, host, PREPARE_FOR_MAINTENANCE)
    ctx.event("MAINT.PREPARE", f"starting maintenance for host {host.uuid}", state="Started",
              resource_type="Host", resource_id=host.uuid)
    ctx.commit()
    try:
        await driver.execute(ctx, host, "MaintainCommand")
    except AgentError as error:
        # The agent refused: nothing moved, the host stays as it was (upstream doMaintain returns false).
        set_resource_state(ctx, host, previous)
        ctx.commit()
        raise ApiError(f"Unable to prepare for maintenance host {host.uuid}: {error.text}") from None
    stranded = await evacuate(ctx, host, driver)
    if stranded:
        set_resource_state(ctx, host, ERROR_IN_MAINTENANCE)
        ctx.event("MAINT.PREPARE", f"Unable to migrate {len(stranded)} VM(s) away from host {host.uuid}: "
                  f"{', '.join(vm.name for vm in stranded)}", level="ERROR", resource_type="Host",
                  resource_id=host.uuid)
    else:
        set_resource_state(ctx, host, MAINTENANCE)
        ctx.event("MAINT.PREPARE", f"completed maintenance for host {host.uuid}", resource_type="Host",
                  resource_id=host.uuid)
    return host


def migration_targets(ctx, host: Host) -> list[Host]:
    return list(ctx.db.scalars(select(Host).where(
        Host.cluster_id == host.cluster_id, Host.id != host.id, Host.removed.is_(None), Host.type == "Routing",
        Host.status == "Up", Host.resource_state == ENABLED).order_by(Host.id)))


async def evacuate(ctx, host: Host, driver) -> list[VMInstance]:
    """Migrate the host's running VMs to other Up and Enabled hosts of its cluster; answer those left."""
    stranded = []
    for vm in vms_on(ctx, host, "Running"):
        if not await migrate_away(ctx, host, vm, driver):
            stranded.append(vm)
    return stranded


async def migrate_away(ctx, host: Host, vm: VMInstance, driver) -> bool:
    """Move one VM to the first target with room. The capacity moves in one transaction after the agent
    answered, so a server stopping mid-migration leaves nothing half-allocated."""
    need = (vm.cpus * vm.speed, vm.ram, vm.cpus)
    for target in migration_targets(ctx, host):
        if not capacity.fits(ctx, target, need[0], need[1]):
            continue
        ctx.commit()
        try:
            await driver.execute(ctx, host, "MigrateCommand", vm=vm.name, destination=target.private_ip_address)
        except AgentError:
            return False
        if not capacity.reserve(ctx, target, *need):
            return False  # taken by a concurrent allocation while the agent worked
        capacity.release(ctx, host, *need)
        vm.last_host_id, vm.host_id = host.id, target.id
        vm.update_count += 1
        ctx.event("VM.MIGRATE", f"VM {vm.name} migrated from host {host.name} to {target.name} for maintenance",
                  resource_type="VirtualMachine", resource_id=vm.uuid, account_id=vm.account_id,
                  domain_id=vm.domain_id)
        ctx.commit()
        return True
    return False


def cancel_maintenance(ctx, host: Host) -> Host:
    if host.resource_state not in MAINTENANCE_STATES:
        raise ApiError(f"Cannot perform cancelMaintenance when resource state is {host.resource_state}, "
                       f"hostId = {host.uuid}")
    set_resource_state(ctx, host, ENABLED)
    ctx.event("MAINT.CANCEL", f"canceling maintenance for host {host.uuid}", resource_type="Host",
              resource_id=host.uuid)
    return host


# ---- agent connection -------------------------------------------------------------------------------

async def reconnect(ctx, host: Host) -> Host:
    """Reconnect the agent: ReadyCommand then PingCommand; a failure leaves the host in Alert."""
    if host.status not in RECONNECTABLE:
        raise ApiError(f"Unable to reconnect host {host.uuid} because it is in status {host.status}")
    driver = driver_for(host.hypervisor_type)
    host.status = "Connecting"
    ctx.commit()
    try:
        await driver.execute(ctx, host, "ReadyCommand")
        await driver.execute(ctx, host, "PingCommand")
    except AgentError as error:
        host.status, host.disconnected = "Alert", now()
        ctx.event("HOST.RECONNECT", f"Unable to reconnect host {host.uuid}: {error.text}", level="ERROR",
                  resource_type="Host", resource_id=host.uuid)
        ctx.commit()
        raise
    host.status, host.last_ping, host.disconnected = "Up", now(), None
    ctx.event("HOST.RECONNECT", f"reconnected host {host.uuid}", resource_type="Host", resource_id=host.uuid)
    return host


# ---- removal ----------------------------------------------------------------------------------------

def delete_host(ctx, host: Host, forced: bool) -> None:
    if host.resource_state not in (MAINTENANCE, DEGRADED) and not forced:
        raise ResourceInUse(f"Host {host.uuid} cannot be deleted as it is not in maintenance mode. Either put "
                            "the host into maintenance or perform a forced deletion.")
    # A forced delete leaves the VMs that were on the host stopped, as upstream's cleanup does.
    for vm in ctx.db.scalars(select(VMInstance).where(VMInstance.host_id == host.id,
                                                      VMInstance.removed.is_(None))):
        vm.state, vm.last_host_id, vm.host_id = "Stopped", host.id, None
    set_tags(ctx, host, [])
    capacity.remove_host_capacity(ctx, host)
    # Give back a system-range address the host was given when its pod had no other.
    for ip in ctx.db.scalars(select(PrivateIp).where(PrivateIp.pod_id == host.pod_id, PrivateIp.reservation_id ==
                                                     "host", PrivateIp.ip_address == host.private_ip_address)):
        ip.taken = ip.reservation_id = None
    host.status, host.removed = "Removed", now()
    ctx.event("HOST.DELETE", f"Host {host.name} deleted", resource_type="Host", resource_id=host.uuid)
