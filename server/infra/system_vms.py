"""System VMs: the secondary storage VM (s-N-VM) and console proxy (v-N-VM) of each enabled zone.

A zone gets one of each as soon as it is Enabled and has what they need — an Up host, primary storage,
secondary storage holding the system VM template of the host's hypervisor. Until then the reason is
recorded as an event, once per change of reason. Every lifecycle step is an agent command through the
hypervisor driver, so simulator faults can fail it; a failed start gives back what it took.
"""

import ipaddress
import random

from sqlalchemy import select

from ..compute.models import CONSOLE_PROXY, SECONDARY_STORAGE_VM, VMInstance
from ..core.db import now
from ..core.errors import InsufficientCapacity, InvalidParameter
from ..core.listing import paged
from ..core.params import BOOLEAN, STRING, UUID, Param
from ..core.registry import ROOT_ONLY, command
from ..core.responses import describe
from ..hypervisors.base import AgentError, driver_for
from ..storage.models import ImageStore, StoragePool, TemplateStoreRef, VMTemplate
from . import capacity
from .models import ENABLED, Cluster, DataCenter, Host, HostPod, PrivateIp, PublicIp, Vlan

KINDS = {"secondarystoragevm": SECONDARY_STORAGE_VM, "consoleproxy": CONSOLE_PROXY}
PREFIX = {SECONDARY_STORAGE_VM: "s", CONSOLE_PROXY: "v"}
# The system offerings upstream uses for these VMs: 1 vCPU at 500 MHz; 512 MiB and 1 GiB of memory.
SIZES = {SECONDARY_STORAGE_VM: (1, 500, 512 * 1024**2), CONSOLE_PROXY: (1, 500, 1024**3)}
ACTIVE = ("Starting", "Running", "Stopping", "Stopped", "Migrating")


# ---- creation when a zone is ready --------------------------------------------------------------

def zone_enabled(ctx, zone: DataCenter) -> None:
    """Called by updateZone when a zone is enabled: create what is missing, if the zone is ready."""
    ctx.server.system_vm_zones_dirty = True


def missing_prerequisite(ctx, zone: DataCenter) -> tuple[str | None, Host | None, VMTemplate | None]:
    """Why the zone's system VMs can't be created yet (None when they can), and the host and template."""
    if zone.allocation_state != ENABLED:
        return "the zone is disabled", None, None
    hosts = up_hosts(ctx, zone)
    if not hosts:
        return "the zone has no Up and Enabled host", None, None
    stores = ctx.db.scalars(select(ImageStore.id).where(ImageStore.zone_id == zone.id, ImageStore.role == "Image",
                                                        ImageStore.removed.is_(None))).all()
    if not stores:
        return "the zone has no secondary storage (addImageStore)", None, None
    for host in hosts:
        template = system_template(ctx, host.hypervisor_type, stores)
        if template is None:
            continue
        if not primary_storage_for(ctx, host):
            continue
        return None, host, template
    hypervisors = ", ".join(sorted({h.hypervisor_type for h in hosts}))
    if not any(system_template(ctx, h.hypervisor_type, stores) for h in hosts):
        return (f"no system VM template for hypervisor {hypervisors} is ready on the zone's secondary storage",
                None, None)
    return "no primary storage is Up in a cluster with an Up host, nor zone-wide", None, None


def up_hosts(ctx, zone: DataCenter, exclude: int | None = None) -> list[Host]:
    query = select(Host).where(Host.zone_id == zone.id, Host.type == "Routing", Host.status == "Up",
                               Host.resource_state == ENABLED, Host.removed.is_(None))
    if exclude is not None:
        query = query.where(Host.id != exclude)
    return list(ctx.db.scalars(query.order_by(Host.id)))


def system_template(ctx, hypervisor: str | None, store_ids: list[int]) -> VMTemplate | None:
    return ctx.db.scalars(select(VMTemplate).join(TemplateStoreRef, TemplateStoreRef.template_id == VMTemplate.id)
                          .where(VMTemplate.type == "SYSTEM", VMTemplate.hypervisor_type == hypervisor,
                                 VMTemplate.removed.is_(None), TemplateStoreRef.store_id.in_(store_ids),
                                 TemplateStoreRef.state == "Ready")).first()


def primary_storage_for(ctx, host: Host) -> StoragePool | None:
    return ctx.db.scalars(select(StoragePool).where(
        StoragePool.zone_id == host.zone_id, StoragePool.status == "Up", StoragePool.removed.is_(None),
        (StoragePool.cluster_id == host.cluster_id) | (StoragePool.scope == "ZONE"))).first()


async def ensure_zone(ctx, zone: DataCenter) -> None:
    """Create and start the zone's missing system VMs, or record why they can't be."""
    existing = ctx.db.scalars(select(VMInstance).where(
        VMInstance.zone_id == zone.id, VMInstance.type.in_(PREFIX), VMInstance.state.in_(ACTIVE),
        VMInstance.removed.is_(None))).all()
    wanted = [kind for kind in (SECONDARY_STORAGE_VM, CONSOLE_PROXY) if kind not in {vm.type for vm in existing}]
    # A system VM that never managed to start is retried; one an operator stopped stays stopped.
    retry = [vm for vm in existing if vm.state == "Stopped" and vm.last_started is None]
    if not wanted and not retry:
        return
    reason, host, template = missing_prerequisite(ctx, zone)
    if reason:
        note_blocked(ctx, zone, reason)
        return
    for vm in retry + [allocate(ctx, zone, kind, template) for kind in wanted]:
        ctx.commit()
        try:
            await start(ctx, vm)
        except (AgentError, InsufficientCapacity) as error:
            note_blocked(ctx, zone, f"{vm.type} {vm.name} failed to start: {error.text}")
        ctx.commit()


def note_blocked(ctx, zone: DataCenter, reason: str) -> None:
    last = ctx.server.system_vm_blockers
    if last.get(zone.id) == reason:
        return
    last[zone.id] = reason
    ctx.event("SSVM.CREATE", f"System VMs of zone {zone.name} not started: {reason}", level="ERROR",
              resource_type="Zone", resource_id=zone.uuid)
    ctx.commit()


def allocate(ctx, zone: DataCenter, kind: str, template: VMTemplate) -> VMInstance:
    cpus, speed, ram = SIZES[kind]
    vm = VMInstance(name="pending", type=kind, state="Stopped", zone_id=zone.id, template_id=template.id,
                    guest_os_id=template.guest_os_id, hypervisor_type=template.hypervisor_type, account_id=1,
                    domain_id=1, cpus=cpus, speed=speed, ram=ram)
    ctx.db.add(vm)
    ctx.db.flush()
    vm.name = vm.display_name = f"{PREFIX[kind]}-{vm.id}-VM"
    ctx.event(f"{'SSVM' if kind == SECONDARY_STORAGE_VM else 'PROXY'}.CREATE", f"System VM {vm.name} created",
              resource_type="SystemVm", resource_id=vm.uuid, account_id=1, domain_id=1)
    return vm


# ---- lifecycle ----------------------------------------------------------------------------------

def event_prefix(vm: VMInstance) -> str:
    return "SSVM" if vm.type == SECONDARY_STORAGE_VM else "PROXY"


def place(ctx, vm: VMInstance, host: Host | None = None) -> Host:
    """Reserve CPU and memory on a host (the given one, else the first that fits)."""
    zone = ctx.db.get(DataCenter, vm.zone_id)
    candidates = [host] if host else up_hosts(ctx, zone)
    for candidate in candidates:
        if candidate.hypervisor_type == vm.hypervisor_type and primary_storage_for(ctx, candidate) \
                and capacity.reserve(ctx, candidate, vm.cpus * vm.speed, vm.ram, vm.cpus):
            return candidate
    raise InsufficientCapacity(f"Unable to find a host with capacity for system VM {vm.name} in zone {zone.name}")


def take_addresses(ctx, vm: VMInstance, host: Host) -> None:
    if vm.private_ip_address is None:
        ip = ctx.db.scalars(select(PrivateIp).where(PrivateIp.pod_id == host.pod_id, PrivateIp.taken.is_(None))
                            .order_by(PrivateIp.id).limit(1)).first()
        if ip is not None:
            ip.taken, ip.instance_id = now(), vm.id
            vm.private_ip_address = ip.ip_address
    if vm.public_ip_address is None:
        ip = ctx.db.scalars(select(PublicIp).join(Vlan, PublicIp.vlan_id == Vlan.id).where(
            PublicIp.zone_id == vm.zone_id, PublicIp.state == "Free", Vlan.vlan_type == "VirtualNetwork",
            Vlan.account_id.is_(None), Vlan.removed.is_(None)).order_by(PublicIp.id).limit(1)).first()
        if ip is not None:
            ip.state, ip.allocated, ip.is_system, ip.vm_id = "Allocated", now(), True, vm.id
            ip.account_id, ip.domain_id = 1, 1
            vm.public_ip_address = ip.public_ip_address
    if vm.link_local_ip_address is None:
        vm.link_local_ip_address = str(ipaddress.IPv4Address("169.254.0.0") + random.randint(2, 65533))


def release_addresses(ctx, vm: VMInstance) -> None:
    for ip in ctx.db.scalars(select(PrivateIp).where(PrivateIp.instance_id == vm.id)):
        ip.taken = ip.instance_id = None
    for ip in ctx.db.scalars(select(PublicIp).where(PublicIp.vm_id == vm.id, PublicIp.is_system.is_(True))):
        ip.state, ip.allocated, ip.vm_id, ip.account_id, ip.domain_id, ip.is_system = \
            "Free", None, None, None, None, False
    vm.private_ip_address = vm.public_ip_address = None


async def start(ctx, vm: VMInstance, host: Host | None = None) -> VMInstance:
    host = place(ctx, vm, host)
    vm.state, vm.host_id, vm.pod_id = "Starting", host.id, host.pod_id
    take_addresses(ctx, vm, host)
    ctx.commit()
    try:
        await driver_for(host.hypervisor_type).execute(ctx, host, "StartCommand", vm=vm.name)
    except AgentError:
        ctx.db.refresh(vm)
        capacity.release(ctx, host, vm.cpus * vm.speed, vm.ram, vm.cpus)
        vm.state, vm.last_host_id, vm.host_id = "Stopped", host.id, None
        ctx.event(f"{event_prefix(vm)}.START", f"System VM {vm.name} failed to start on {host.name}",
                  level="ERROR", resource_type="SystemVm", resource_id=vm.uuid, account_id=1, domain_id=1)
        ctx.commit()
        raise
    ctx.db.refresh(vm)
    vm.state, vm.last_started, vm.update_count = "Running", now(), vm.update_count + 1
    ctx.event(f"{event_prefix(vm)}.START", f"System VM {vm.name} started on {host.name}",
              resource_type="SystemVm", resource_id=vm.uuid, account_id=1, domain_id=1)
    ctx.server.system_vm_blockers.pop(vm.zone_id, None)
    return vm


async def stop(ctx, vm: VMInstance, forced: bool = False) -> VMInstance:
    host = ctx.db.get(Host, vm.host_id)
    vm.state = "Stopping"
    ctx.commit()
    try:
        await driver_for(host.hypervisor_type).execute(ctx, host, "StopCommand", vm=vm.name)
    except AgentError:
        if not forced:
            ctx.db.refresh(vm)
            vm.state = "Running"
            ctx.commit()
            raise
    ctx.db.refresh(vm)
    capacity.release(ctx, host, vm.cpus * vm.speed, vm.ram, vm.cpus)
    vm.state, vm.last_host_id, vm.host_id = "Stopped", host.id, None
    ctx.event(f"{event_prefix(vm)}.STOP", f"System VM {vm.name} stopped", resource_type="SystemVm",
              resource_id=vm.uuid, account_id=1, domain_id=1)
    return vm


# ---- commands -----------------------------------------------------------------------------------

def system_vm(ctx, vm: VMInstance) -> VMInstance:
    if vm.type not in PREFIX:
        raise InvalidParameter(f"Unable to find a system vm with id {vm.uuid}")
    return vm


def require_state(vm: VMInstance, *states: str) -> None:
    if vm.state not in states:
        raise InvalidParameter(f"System VM {vm.name} is {vm.state}; the operation needs it "
                               f"{' or '.join(states)}")


ID = Param("id", UUID, entity=VMInstance, required=True, description="The ID of the system virtual machine")


@command("startSystemVm", isasync=True, response="systemvm", roles=ROOT_ONLY, instance_type="SystemVm",
         params=[ID])
async def start_system_vm(ctx, p):
    """Starts a system virtual machine."""
    vm = system_vm(ctx, p.id)
    require_state(vm, "Stopped")
    return view(ctx, await start(ctx, vm))


@command("stopSystemVm", isasync=True, response="systemvm", roles=ROOT_ONLY, instance_type="SystemVm", params=[
    ID, Param("forced", BOOLEAN, description="Force stop the VM (vm is marked as Stopped even when command fails "
                                             "to be send to the backend, otherwise a force poweroff is "
                                             "attempted). The caller knows the VM is stopped."),
])
async def stop_system_vm(ctx, p):
    """Stops a system VM."""
    vm = system_vm(ctx, p.id)
    require_state(vm, "Running")
    return view(ctx, await stop(ctx, vm, bool(p.forced)))


@command("rebootSystemVm", isasync=True, response="systemvm", roles=ROOT_ONLY, instance_type="SystemVm",
         params=[ID, Param("forced", BOOLEAN, description="Force reboot the VM (VM is Stopped and then Started)")])
async def reboot_system_vm(ctx, p):
    """Reboots a system VM."""
    vm = system_vm(ctx, p.id)
    require_state(vm, "Running")
    host = ctx.db.get(Host, vm.host_id)
    ctx.commit()
    await driver_for(host.hypervisor_type).execute(ctx, host, "RebootCommand", vm=vm.name)
    ctx.db.refresh(vm)
    ctx.event(f"{event_prefix(vm)}.REBOOT", f"System VM {vm.name} rebooted", resource_type="SystemVm",
              resource_id=vm.uuid, account_id=1, domain_id=1)
    return view(ctx, vm)


@command("destroySystemVm", isasync=True, response="systemvm", roles=ROOT_ONLY, instance_type="SystemVm",
         params=[ID])
async def destroy_system_vm(ctx, p):
    """Destroys a system virtual machine. A replacement is created automatically while the zone is enabled."""
    vm = system_vm(ctx, p.id)
    if vm.state == "Running":
        await stop(ctx, vm, forced=True)
    release_addresses(ctx, vm)
    vm.state, vm.removed = "Expunging", now()
    ctx.event(f"{event_prefix(vm)}.DESTROY", f"System VM {vm.name} destroyed", resource_type="SystemVm",
              resource_id=vm.uuid, account_id=1, domain_id=1)
    answer = view(ctx, vm)
    ctx.server.system_vm_zones_dirty = True
    return answer


@command("migrateSystemVm", isasync=True, response="systemvm", roles=ROOT_ONLY, instance_type="SystemVm", params=[
    Param("virtualmachineid", UUID, entity=VMInstance, required=True, description="the ID of the virtual "
                                                                                  "machine"),
    Param("hostid", UUID, entity=Host, description="destination Host ID to migrate VM to"),
    Param("autoselect", BOOLEAN, description="Automatically select a destination host for a running system VM "
                                             "when a host ID is not specified"),
])
async def migrate_system_vm(ctx, p):
    """Attempts Migration of a system virtual machine to the host specified."""
    vm = system_vm(ctx, p.virtualmachineid)
    require_state(vm, "Running")
    source = ctx.db.get(Host, vm.host_id)
    target = p.hostid or next(iter(up_hosts(ctx, ctx.db.get(DataCenter, vm.zone_id), exclude=source.id)), None)
    if target is None:
        raise InsufficientCapacity(f"No other Up host in the zone to migrate {vm.name} to")
    if target.id == source.id:
        raise InvalidParameter(f"System VM {vm.name} already runs on host {target.name}")
    if target.cluster_id != source.cluster_id and ctx.db.get(Cluster, target.cluster_id).hypervisor_type != \
            vm.hypervisor_type:
        raise InvalidParameter(f"Host {target.name} runs another hypervisor than {vm.name}")
    place(ctx, vm, target)
    vm.state = "Migrating"
    ctx.commit()
    try:
        await driver_for(source.hypervisor_type).execute(ctx, source, "MigrateCommand", vm=vm.name,
                                                         destination=target.private_ip_address)
    except AgentError:
        ctx.db.refresh(vm)
        capacity.release(ctx, target, vm.cpus * vm.speed, vm.ram, vm.cpus)
        vm.state = "Running"
        ctx.commit()
        raise
    ctx.db.refresh(vm)
    capacity.release(ctx, source, vm.cpus * vm.speed, vm.ram, vm.cpus)
    vm.state, vm.host_id, vm.last_host_id, vm.pod_id = "Running", target.id, source.id, target.pod_id
    ctx.event(f"{event_prefix(vm)}.MIGRATE", f"System VM {vm.name} migrated from {source.name} to {target.name}",
              resource_type="SystemVm", resource_id=vm.uuid, account_id=1, domain_id=1)
    return view(ctx, vm)


@command("listSystemVms", response="systemvm", roles=ROOT_ONLY, listing="list", params=[
    Param("id", UUID, entity=VMInstance, description="the ID of the system VM"),
    Param("name", STRING, description="the name of the system VM"),
    Param("zoneid", UUID, entity=DataCenter, description="the Zone ID of the system VM"),
    Param("podid", UUID, entity=HostPod, description="the Pod ID of the system VM"),
    Param("hostid", UUID, entity=Host, description="the host ID of the system VM"),
    Param("state", STRING, description="the state of the system VM"),
    Param("systemvmtype", STRING, description="the system VM type. Possible types are \"consoleproxy\" and "
                                              "\"secondarystoragevm\"."),
    Param("storageid", UUID, entity=StoragePool, description="the storage ID where vm's volumes belong to"),
])
def list_system_vms(ctx, p):
    """List system virtual machines."""
    query = select(VMInstance).where(VMInstance.type.in_(PREFIX), VMInstance.removed.is_(None))
    if p.id is not None:
        query = query.where(VMInstance.id == p.id.id)
    if p.name:
        query = query.where(VMInstance.name == p.name)
    for param, column in (("zoneid", VMInstance.zone_id), ("podid", VMInstance.pod_id),
                          ("hostid", VMInstance.host_id)):
        if p.get(param) is not None:
            query = query.where(column == p.get(param).id)
    if p.state:
        query = query.where(VMInstance.state == p.state)
    if p.systemvmtype:
        kind = KINDS.get(p.systemvmtype.lower())
        if kind is None:
            raise InvalidParameter(f"Invalid systemvmtype {p.systemvmtype}; use consoleproxy or secondarystoragevm")
        query = query.where(VMInstance.type == kind)
    return paged(ctx, p, query, lambda vm: view(ctx, vm), keyword_columns=(VMInstance.name,), order_by=VMInstance.id)


def view(ctx, vm: VMInstance) -> dict:
    zone = ctx.db.get(DataCenter, vm.zone_id)
    host = ctx.db.get(Host, vm.host_id) if vm.host_id else None
    pod = ctx.db.get(HostPod, vm.pod_id) if vm.pod_id else None
    template = ctx.db.get(VMTemplate, vm.template_id) if vm.template_id else None
    return {
        "id": vm.uuid, "name": vm.name, "systemvmtype": "secondarystoragevm" if vm.type == SECONDARY_STORAGE_VM
        else "consoleproxy", "state": vm.state, "zoneid": zone.uuid, "zonename": zone.name,
        "podid": pod.uuid if pod else None, "podname": pod.name if pod else None,
        "hostid": host.uuid if host else None, "hostname": host.name if host else None,
        "hypervisor": vm.hypervisor_type, "privateip": vm.private_ip_address,
        "privatenetmask": str(ipaddress.IPv4Network(f"0.0.0.0/{pod.cidr_size}").netmask) if pod else None,
        "gateway": pod.gateway if pod else None, "publicip": vm.public_ip_address,
        "linklocalip": vm.link_local_ip_address, "linklocalnetmask": "255.255.0.0", "dns1": zone.dns1,
        "dns2": zone.dns2, "networkdomain": zone.network_domain, "templateid": template.uuid if template else None,
        "templatename": template.name if template else None, "created": vm.created,
        "activeviewersessions": 0 if vm.type == CONSOLE_PROXY else None,
        "agentstate": "Up" if vm.state == "Running" else "Disconnected",
    }


describe("systemvm", {
    "id": "the ID of the system VM", "name": "the name of the system VM", "systemvmtype": "the system VM type",
    "state": "the state of the system VM", "zoneid": "the Zone ID for the system VM", "zonename": "the Zone name "
    "for the system VM", "podid": "the Pod ID for the system VM", "podname": "the Pod name for the system VM",
    "hostid": "the host ID for the system VM", "hostname": "the hostname for the system VM", "hypervisor": "the "
    "hypervisor on which the template runs", "privateip": "the private IP address for the system VM",
    "privatenetmask": "the private netmask for the system VM", "gateway": "the gateway for the system VM",
    "publicip": "the public IP address for the system VM", "linklocalip": "the link local IP address for the "
    "system vm", "linklocalnetmask": "the link local netmask for the system vm", "dns1": "the first DNS for the "
    "system VM", "dns2": "the second DNS for the system VM", "networkdomain": "the network domain for the system "
    "VM", "templateid": "the template ID for the system VM", "templatename": "the template name for the system "
    "VM", "created": "the date and time the system VM was created", "activeviewersessions": "the number of active "
    "console sessions for the console proxy system vm", "agentstate": "the agent state of the system VM",
})


async def manage(server) -> None:
    """One pass of the system VM manager over the enabled zones (run by the lead management server)."""
    from ..core import auth
    from ..core.context import Context

    caller = auth.by_user_id(server, auth.SYSTEM_USER_ID)
    ctx = Context(server, None, caller)
    try:
        zones = ctx.db.scalars(select(DataCenter).where(DataCenter.allocation_state == ENABLED,
                                                        DataCenter.removed.is_(None))).all()
        for zone in zones:
            await ensure_zone(ctx, zone)
            ctx.commit()
    finally:
        ctx.rollback()
        ctx.close()
