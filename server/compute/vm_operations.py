"""User VM operations beyond the power states: migrate, scale / change offering, passwords and SSH keys,
update, restore (a fresh root disk) and assign (to another account)."""

from __future__ import annotations

import base64

from sqlalchemy import delete, select

from ..core.errors import InsufficientCapacity, InvalidParameter
from ..hypervisors.base import AgentError
from ..iam.models import Account
from ..infra import capacity
from ..infra.models import Host
from ..storage import volume_service as volumes
from ..storage.models import StoragePool, VMTemplate, Volume
from . import allocator, peers
from . import vm_service as service
from .models import AffinityGroupVm, ServiceOffering, SSHKeyPair, VMInstance
from .vm_deploy import HOSTNAME_RE, HOSTNAME_RULES, join_group, sizes

# ---- migration ----------------------------------------------------------------------------------


async def migrate(ctx, vm: VMInstance, target: Host | None, pool: StoragePool | None = None,
                  volume_map: dict[int, StoragePool] | None = None) -> VMInstance:
    """A running VM moves to another host (MigrateCommand); a stopped one moves its volumes to `pool`."""
    if vm.state == service.STOPPED:
        if pool is None:
            raise InvalidParameter(f"VM {vm.uuid} is not Running: give storageid to migrate its volumes")
        for volume in volumes.vm_volumes(ctx, vm.id):
            await move_volume(ctx, volume, pool)
        service.vm_event(ctx, "VM.MIGRATE", vm, f"Volumes of VM {vm.name} migrated to pool {pool.name}")
        return vm
    service.require_state(vm, service.RUNNING, doing="migrate")
    source = ctx.db.get(Host, vm.host_id)
    if target is not None and target.id == source.id:
        raise InvalidParameter(f"VM {vm.uuid} is already running on host {target.name}")
    req = service.placement_request(ctx, vm, host=target, avoid={source.id})
    if volume_map:
        # Storage motion: the volumes follow the VM, so their current pools don't bind its cluster.
        req.volumes = [(v, t) for v, t in req.volumes if v.id not in volume_map]
    placement = allocator.plan(ctx, req, service.label(vm))
    vm.state = service.MIGRATING
    # Remembered, so a migration its server never finished gives the target's capacity back (reconcile).
    service.set_details(vm, **{service.HIDDEN + "migratingto": placement.host.id})
    service.own_job(ctx, vm)
    try:
        await volumes.agent(ctx, source, "MigrateCommand", vm=service.instance_name(vm),
                            destination=placement.host.private_ip_address)
    except AgentError:
        ctx.db.rollback()
        ctx.db.refresh(vm)
        placement.undo(ctx)
        vm.state = service.RUNNING
        service.set_details(vm, **{service.HIDDEN + "migratingto": None})
        service.vm_event(ctx, "VM.MIGRATE", vm, f"VM {vm.name} failed to migrate to {placement.host.name}",
                         level="ERROR")
        ctx.commit()
        raise
    ctx.db.refresh(vm)
    service.set_details(vm, **{service.HIDDEN + "migratingto": None})
    capacity.release(ctx, source, vm.cpus * vm.speed, vm.ram, vm.cpus)
    vm.state, vm.host_id, vm.last_host_id, vm.pod_id = service.RUNNING, placement.host.id, source.id, \
        placement.host.pod_id
    for volume_id, new_pool in (volume_map or {}).items():
        await move_volume(ctx, ctx.db.get(Volume, volume_id), new_pool, placement.host)
    service.vm_event(ctx, "VM.MIGRATE", vm, f"VM {vm.name} migrated from host {source.name} to "
                     f"{placement.host.name}")
    return vm


async def move_volume(ctx, volume: Volume, pool: StoragePool, host: Host | None = None) -> Volume:
    """Copy a volume to another pool (MigrateVolumeCommand), moving its room on the pools."""
    if volume.pool_id == pool.id:
        return volume
    if volume.state == "Allocated":
        return volume  # nothing on storage yet: it will be created where the VM starts
    if not allocator.reserve_storage(ctx, pool, volume.size):
        raise InsufficientCapacity(f"Storage pool {pool.name} lacks {volume.size // volumes.GB} GB for "
                                   f"volume {volume.name}")
    source = ctx.db.get(StoragePool, volume.pool_id)
    previous, volume.state = volume.state, "Migrating"
    try:
        await volumes.agent(ctx, host or volumes.host_for_pool(ctx, pool), "MigrateVolumeCommand",
                            volume=volume.uuid, source=source.uuid if source else None, destination=pool.uuid)
    except AgentError:
        ctx.db.refresh(volume)
        allocator.release_storage(ctx, pool, volume.size)
        volume.state = previous
        ctx.commit()
        raise
    ctx.db.refresh(volume)
    allocator.release_storage(ctx, source, volume.size)
    volume.pool_id, volume.state, volume.pod_id = pool.id, previous, pool.pod_id
    volumes.volume_event(ctx, "VOLUME.MIGRATE", volume, f"Volume {volume.name} migrated to pool {pool.name}")
    return volume


# ---- offerings: scale (running) and change (stopped) ---------------------------------------------

def new_sizes(vm: VMInstance, offering: ServiceOffering, details: dict) -> tuple[int, int, int]:
    if offering.is_system or offering.state != "Active":
        raise InvalidParameter(f"Unable to use service offering {offering.uuid} for a user VM")
    if offering.id == vm.service_offering_id and not offering.customized:
        raise InvalidParameter(f"Not upgrading vm {vm.uuid} since it already has the requested service "
                               f"offering ({offering.name})")
    cpus, speed, memory = sizes(offering, details)
    return cpus, speed, memory * service.MIB


def apply_offering(ctx, vm: VMInstance, offering: ServiceOffering, cpus: int, speed: int, ram: int) -> None:
    """Switch the offering and sizes, moving the owner's cpu/memory counts by the difference."""
    service.uncount_vm(ctx, vm)
    old = (vm.cpus, vm.speed, vm.ram)
    vm.service_offering_id, vm.cpus, vm.speed, vm.ram = offering.id, cpus, speed, ram
    try:
        service.count_vm(ctx, vm)
    except Exception:
        vm.cpus, vm.speed, vm.ram = old
        raise
    service.vm_event(ctx, "VM.UPGRADE", vm, f"VM {vm.name} now uses service offering {offering.name}")
    service.vm_usage(ctx, "VM.UPGRADE", vm)


def change_offering(ctx, vm: VMInstance, offering: ServiceOffering, details: dict) -> VMInstance:
    service.require_state(vm, service.STOPPED, doing="change the service offering of")
    apply_offering(ctx, vm, offering, *new_sizes(vm, offering, details))
    return vm


async def scale(ctx, vm: VMInstance, offering: ServiceOffering, details: dict) -> VMInstance:
    """A running VM grows in place (ScaleVmCommand) when dynamic scaling is on and its host has room."""
    if vm.state == service.STOPPED:
        return change_offering(ctx, vm, offering, details)
    service.require_state(vm, service.RUNNING, doing="scale")
    allowed = service.setting_or(ctx, "enable.dynamic.scale.vm", False)
    if not (service.hidden(vm, "dynamicscaling", True) and allowed):
        raise InvalidParameter(f"Unable to scale VM {vm.uuid}: dynamic scaling is not enabled for it (the "
                               "VM, its service offering and the setting enable.dynamic.scale.vm must all "
                               "allow it)")
    cpus, speed, ram = new_sizes(vm, offering, details)
    extra = (cpus * speed - vm.cpus * vm.speed, ram - vm.ram, cpus - vm.cpus)
    if min(extra) < 0:
        raise InvalidParameter("Only scaling up the vm is supported, new service "
                               f"offering(speed={speed},cpu={cpus},memory={ram // service.MIB}) should have "
                               "no value lower than the old one")
    host = ctx.db.get(Host, vm.host_id)
    if not capacity.reserve(ctx, host, extra[0], extra[1], extra[2]):
        raise InsufficientCapacity(f"Unable to scale {service.label(vm)}: host {host.name} lacks the "
                                   "capacity")
    try:
        await volumes.agent(ctx, host, "ScaleVmCommand", vm=service.instance_name(vm), cpus=cpus, speed=speed,
                            ram=ram)
    except AgentError:
        capacity.release(ctx, host, *extra)
        ctx.commit()
        raise
    ctx.db.refresh(vm)
    apply_offering(ctx, vm, offering, cpus, speed, ram)
    return vm


# ---- passwords and SSH keys ----------------------------------------------------------------------

def encrypted_password(ctx, vm: VMInstance, password: str) -> str | None:
    """The password encrypted with the VM's first SSH key (as getVMPassword answers it), if it has one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    if not vm.keypairs:
        return None
    pair = ctx.db.scalars(select(SSHKeyPair).where(SSHKeyPair.account_id == vm.account_id,
                                                   SSHKeyPair.name == vm.keypairs.split(",")[0],
                                                   SSHKeyPair.removed.is_(None))).first()
    try:
        key = serialization.load_ssh_public_key(pair.public_key.encode()) if pair else None
    except (ValueError, TypeError):
        return None
    if not isinstance(key, rsa.RSAPublicKey):
        return None
    return base64.b64encode(key.encrypt(password.encode(), padding.PKCS1v15())).decode()


def set_password(ctx, vm: VMInstance, password: str | None = None) -> str | None:
    template = ctx.db.get(VMTemplate, vm.template_id) if vm.template_id else None
    if template is None or not template.password_enabled:
        return None
    vm.password = password or service.new_password()
    encrypted = encrypted_password(ctx, vm, vm.password)
    service.set_details(vm, **{service.HIDDEN + "encryptedpassword": encrypted})
    return vm.password


def reset_password(ctx, vm: VMInstance, password: str | None = None) -> VMInstance:
    template = ctx.db.get(VMTemplate, vm.template_id) if vm.template_id else None
    if template is None or not template.password_enabled:
        raise InvalidParameter("Fail to reset password for the virtual machine, the template is not "
                               "password enabled")
    service.require_state(vm, service.STOPPED, doing="reset the password of")
    set_password(ctx, vm, password)
    service.vm_event(ctx, "VM.RESETPASSWORD", vm, f"Password of VM {vm.name} reset")
    return vm


def reset_ssh_keys(ctx, vm: VMInstance, names: list[str]) -> VMInstance:
    from .vm_deploy import keypairs

    if not names:
        raise InvalidParameter("'keypair' or 'keypairs' must be specified")
    service.require_state(vm, service.STOPPED, doing="reset the SSH key of")
    vm.keypairs = keypairs(ctx, ctx.db.get(Account, vm.account_id), names)
    set_password(ctx, vm)
    service.vm_event(ctx, "VM.RESETSSHKEY", vm, f"SSH keys of VM {vm.name} reset to {vm.keypairs}")
    return vm


def stored_password(ctx, vm: VMInstance) -> str:
    encrypted = service.hidden(vm, "encryptedpassword")
    if not encrypted and vm.password:
        encrypted = encrypted_password(ctx, vm, vm.password)
    if not encrypted:
        raise InvalidParameter("No password for VM with specified id found. If VM was created using "
                               "password enabled template, SSH keypair must be specified to get the "
                               "encrypted password")
    return encrypted


# ---- update -------------------------------------------------------------------------------------

def update(ctx, vm: VMInstance, p) -> VMInstance:
    from ..storage.models import GuestOs
    from .vm_deploy import user_data

    if p.name is not None and p.name != vm.name:
        service.require_state(vm, service.STOPPED, doing="change the host name of")
        if not HOSTNAME_RE.match(p.name):
            raise InvalidParameter(HOSTNAME_RULES)
        vm.name = p.name
    if p.displayname is not None:
        vm.display_name = p.displayname
    if p.haenable is not None:
        vm.ha_enabled = p.haenable
    if p.ostypeid is not None:
        vm.guest_os_id = p.ostypeid.id if isinstance(p.ostypeid, GuestOs) else vm.guest_os_id
    if p.userdata is not None:
        vm.user_data = user_data(ctx, p)
    if p.userdataid is not None:
        vm.user_data_id = p.userdataid.id
    if p.displayvm is not None:
        vm.display_vm = p.displayvm
    if p.isdynamicallyscalable is not None:
        service.set_details(vm, **{service.HIDDEN + "dynamicscaling": p.isdynamicallyscalable})
    update_details(vm, p)
    if p.group is not None:
        join_group(ctx, vm, p.group)
    service.vm_event(ctx, "VM.UPDATE", vm, f"VM {vm.name} updated")
    return vm


def update_details(vm: VMInstance, p) -> None:
    from ..core.params import map_to_dict

    if p.cleanupdetails:
        service.set_details(vm, **dict.fromkeys(service.user_details(vm)))
    if p.details is not None:
        service.set_details(vm, **dict.fromkeys(service.user_details(vm)))
        service.set_details(vm, **map_to_dict(p.details))


# ---- restore ------------------------------------------------------------------------------------

async def restore(ctx, vm: VMInstance, template: VMTemplate | None) -> VMInstance:
    """A fresh root disk from the template (the VM's, or a new one); a running VM is restarted on it."""
    service.require_state(vm, service.RUNNING, service.STOPPED, doing="restore")
    service.own_job(ctx, vm)
    was_running = vm.state == service.RUNNING
    if template is not None and template.format == "ISO":
        raise InvalidParameter(f"Unable to restore VM {vm.uuid} from ISO {template.uuid}: give a template")
    template = template or ctx.db.get(VMTemplate, vm.template_id)
    if was_running:
        await service.stop(ctx, vm, forced=True)
    old = volumes.root_volume(ctx, vm.id)
    size = max(template.size or 0, old.size if old else 0)
    if old is not None:
        volumes.expunge(ctx, old, counted=True)
    volumes.new_volume(ctx, name=f"ROOT-{vm.id}", account_id=vm.account_id, domain_id=vm.domain_id,
                              zone_id=vm.zone_id, volume_type=volumes.ROOT, size=size,
                              disk_offering_id=old.disk_offering_id if old else None, template_id=template.id,
                              vm_id=vm.id, device_id=0, fmt=template.format, counted=True)
    vm.template_id, vm.guest_os_id = template.id, template.guest_os_id
    set_password(ctx, vm)
    service.vm_event(ctx, "VM.RESTORE", vm, f"VM {vm.name} restored from template {template.name}")
    if was_running:
        await service.start(ctx, vm)
    return vm


# ---- assign to another account ------------------------------------------------------------------

def assign(ctx, vm: VMInstance, owner: Account, network_rows: list | None) -> VMInstance:
    """Move a stopped VM and its volumes to another account: counts move, NICs are re-allocated on the
    new owner's networks, affinity groups (the old owner's) are left."""
    from ..infra.models import DataCenter

    service.require_state(vm, service.STOPPED, doing="assign")
    if owner.id == vm.account_id:
        raise InvalidParameter(f"The new account owner {owner.account_name} is same as the old account owner")
    attached = volumes.vm_volumes(ctx, vm.id)
    # The new owner is counted before the rows move (its first count is a recount of the tables).
    service.count_vm(ctx, vm, owner.id)
    for volume in attached:
        volumes.count_against_limits(ctx, volume, owner.id)
    service.uncount_vm(ctx, vm)
    for volume in attached:
        volumes.uncount(ctx, volume)
    service.vm_usage(ctx, "VM.DESTROY", vm)
    for volume in attached:
        volumes.volume_usage(ctx, "VOLUME.DELETE", volume)
    peers.release_nics(ctx, vm)
    old_account = vm.account_id
    vm.account_id, vm.domain_id = owner.id, owner.domain_id
    for volume in attached:
        volume.account_id, volume.domain_id = owner.id, owner.domain_id
    ctx.db.execute(delete(AffinityGroupVm).where(AffinityGroupVm.instance_id == vm.id))
    join_group(ctx, vm, None)
    zone = ctx.db.get(DataCenter, vm.zone_id)
    peers.allocate_nics(ctx, vm, peers.vm_networks(ctx, zone, owner, network_rows or None))
    service.vm_usage(ctx, "VM.CREATE", vm)
    for volume in attached:
        volumes.volume_usage(ctx, "VOLUME.CREATE", volume)
    service.vm_event(ctx, "VM.ASSIGN", vm, f"VM {vm.name} moved from account id {old_account} to "
                     f"{owner.account_name}")
    return vm
