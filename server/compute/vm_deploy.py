"""The request half of deployVirtualMachine: check everything, count the resources, write the rows.

Everything here runs before the job is queued, so a bad parameter (431), a permission problem (531) or
an exceeded limit (532) is a synchronous error and leaves nothing behind (the request's transaction is
rolled back as a whole). Starting the VM is the job's part (vm_service.deploy).
"""

from __future__ import annotations

import re

from sqlalchemy import bindparam, select

from ..core.db import core, new_uuid, prebuilt
from ..core.errors import InvalidParameter, PermissionDenied
from ..core.params import map_to_dict
from ..iam.models import Account
from ..iam.owners import finalize_owner
from ..infra.models import Cluster, DataCenter
from ..storage import volume_service as volumes
from ..storage.models import ImageStore, TemplatePermission, TemplateStoreRef, VMTemplate
from . import peers
from . import vm_service as service
from .models import (
    USER_VM,
    AffinityGroup,
    AffinityGroupVm,
    DiskOffering,
    InstanceGroup,
    InstanceGroupVm,
    ServiceOffering,
    SSHKeyPair,
    VMInstance,
)

GB = 1024**3
HOSTNAME_RE = re.compile(r"[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
HOSTNAME_RULES = ("Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' through "
                  "'9', and the hyphen ('-'), must be between 1 and 63 characters long, and can't start or "
                  "end with \"-\" and can't start with digit")


# ---- what is deployed, and where ----------------------------------------------------------------

def check_zone(ctx, zone: DataCenter) -> DataCenter:
    if zone.allocation_state != "Enabled" and not (ctx.caller.is_root_admin or ctx.caller.is_system):
        raise PermissionDenied(f"Cannot perform this operation, Zone is currently disabled: {zone.uuid}")
    return zone


def check_offering(ctx, offering: ServiceOffering, zone: DataCenter) -> ServiceOffering:
    from .offering_rules import in_zone, visible

    if offering.is_system or offering.state != "Active":
        raise InvalidParameter(f"Unable to use service offering {offering.uuid}: it is a system offering or "
                               "inactive")
    if not visible(ctx, offering.domain_ids) or not in_zone(offering.zone_ids, zone):
        raise PermissionDenied(f"Service offering {offering.uuid} is not available to the caller in zone "
                               f"{zone.name}")
    return offering


def may_use_image(ctx, image: VMTemplate, owner: Account) -> bool:
    caller = ctx.caller
    if image.public or caller.is_root_admin or caller.is_system or image.account_id == owner.id:
        return True
    shared = ctx.db.scalar(select(TemplatePermission.id).where(TemplatePermission.template_id == image.id,
                                                               TemplatePermission.account_id == owner.id))
    return shared is not None


def ready_in_zone(ctx, image: VMTemplate, zone: DataCenter) -> bool:
    statement = prebuilt("deploy.ready", lambda: select(TemplateStoreRef.id)
                         .join(ImageStore, ImageStore.id == TemplateStoreRef.store_id)
                         .where(TemplateStoreRef.template_id == bindparam("image"),
                                TemplateStoreRef.state == "Ready", ImageStore.zone_id == bindparam("zone"),
                                ImageStore.removed.is_(None)).limit(1))
    return core(ctx.db, statement, {"image": image.id, "zone": zone.id}).first() is not None


def check_image(ctx, p, zone: DataCenter, owner: Account) -> VMTemplate:
    """The template (or ISO: upstream passes its id as templateid) to deploy from: usable by the owner,
    ready in the zone."""
    image = p.templateid
    if image.state != "Active" or image.type == "SYSTEM" or not may_use_image(ctx, image, owner):
        raise InvalidParameter(f"Unable to use template {image.uuid} to deploy a user vm")
    if not ready_in_zone(ctx, image, zone):
        raise InvalidParameter(f"The template {image.uuid} is not available for use in zone {zone.name}: it "
                               "has not been completely downloaded to the zone's secondary storage")
    if image.format == "ISO" and p.diskofferingid is None:
        raise InvalidParameter("Installing from ISO requires a disk offering to be specified for the root "
                               "disk.")
    return image


def choose_hypervisor(ctx, p, image: VMTemplate, zone: DataCenter) -> str:
    wanted = p.hypervisor
    if image.hypervisor_type and image.hypervisor_type not in ("None", "Any"):
        if wanted and wanted.lower() != image.hypervisor_type.lower():
            raise InvalidParameter("Hypervisor passed to the deployVm call, is different from the hypervisor "
                                   "type of the template")
        return image.hypervisor_type
    kinds = ctx.db.scalars(select(Cluster.hypervisor_type).where(Cluster.zone_id == zone.id,
                                                                 Cluster.removed.is_(None)).distinct()).all()
    chosen = next((k for k in kinds if not wanted or k.lower() == wanted.lower()), None)
    if chosen is None:
        raise InvalidParameter(f"No cluster of hypervisor {wanted or 'any'} in zone {zone.name}")
    return chosen


# ---- sizes --------------------------------------------------------------------------------------

def detail(details: dict, name: str) -> str | None:
    return next((v for k, v in details.items() if k.lower() == name.lower()), None)


def custom_value(details: dict, name: str, low: int | None, high: int | None, what: str) -> int:
    raw = detail(details, name)
    if raw is None:
        raise InvalidParameter(f"{name} should be specified in details for a custom service offering")
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"Invalid {what} value {raw}") from None
    if value <= 0 or (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if low is not None else "greater than 0"
        raise InvalidParameter(f"Invalid {what} value, specify a value {bounds}")
    return value


def sizes(offering: ServiceOffering, details: dict) -> tuple[int, int, int]:
    """(vCPUs, MHz, MiB): the offering's, or the deployment's details for a custom offering's blanks."""
    cpus = offering.cpu if offering.cpu is not None else custom_value(
        details, "cpuNumber", offering.min_cpu, offering.max_cpu, "cpu number")
    speed = offering.speed if offering.speed is not None else custom_value(
        details, "cpuSpeed", None, None, "cpu speed")
    memory = offering.ram_size if offering.ram_size is not None else custom_value(
        details, "memory", offering.min_memory, offering.max_memory, "memory")
    return cpus, speed, memory


def custom_size_gb(ctx, size: int | None, disk: DiskOffering) -> int:
    if size is None:
        raise InvalidParameter(f"Disk offering {disk.name} is customized: the size parameter is required")
    low = service.setting_or(ctx, "custom.diskoffering.size.min", 1)
    high = service.setting_or(ctx, "custom.diskoffering.size.max", 1024)
    if not low <= size <= high:
        raise InvalidParameter(f"Invalid disk size {size} GB: custom disk offering sizes are between {low} "
                               f"and {high} GB")
    return size


def data_disk_offering(ctx, disk: DiskOffering, zone: DataCenter) -> DiskOffering:
    from .offering_rules import in_zone, visible

    if disk.compute_only or disk.state != "Active" or not visible(ctx, disk.domain_ids) \
            or not in_zone(disk.zone_ids, zone):
        raise InvalidParameter(f"Unable to use disk offering {disk.uuid} in zone {zone.name}")
    return disk


def disk_size(ctx, disk: DiskOffering, size_gb: int | None) -> int:
    return custom_size_gb(ctx, size_gb, disk) * GB if disk.customized else disk.disk_size


def root_disk(ctx, p, offering: ServiceOffering, image: VMTemplate, zone: DataCenter):
    """(size in bytes, disk offering id) of the root volume."""
    if image.format == "ISO":
        disk = data_disk_offering(ctx, p.diskofferingid, zone)
        return disk_size(ctx, disk, p.size), disk.id
    size = offering.root_disk_size or image.size or 0
    if p.rootdisksize is not None:
        wanted = p.rootdisksize * GB
        if wanted < (image.size or 0):
            raise InvalidParameter(f"Root disk size ({p.rootdisksize} GB) should be greater than or equal to "
                                   f"the template size ({image.size} bytes)")
        size = wanted
    return size, offering.disk_offering_id


def data_disk(ctx, p, image: VMTemplate, zone: DataCenter):
    """(size in bytes, disk offering) of the data disk asked for, or None."""
    if p.diskofferingid is None or image.format == "ISO":
        return None
    disk = data_disk_offering(ctx, p.diskofferingid, zone)
    return disk_size(ctx, disk, p.size), disk


# ---- names, keys, user data, groups --------------------------------------------------------------

def names(p, vm_uuid: str) -> tuple[str, str]:
    """(host name, display name). Without a name, upstream uses the display name, else VM-<uuid>."""
    hostname = p.name
    if hostname is None and p.displayname and HOSTNAME_RE.match(p.displayname):
        hostname = p.displayname
    hostname = hostname or f"VM-{vm_uuid}"
    if not HOSTNAME_RE.match(hostname):
        raise InvalidParameter(HOSTNAME_RULES)
    return hostname, p.displayname or hostname


def keypairs(ctx, owner: Account, wanted: list[str]) -> str | None:
    names_found = []
    for name in dict.fromkeys(wanted):
        pair = ctx.db.scalars(select(SSHKeyPair).where(SSHKeyPair.account_id == owner.id,
                                                       SSHKeyPair.name == name,
                                                       SSHKeyPair.removed.is_(None))).first()
        if pair is None:
            raise InvalidParameter(f"A key pair with name '{name}' was not found for account "
                                   f"{owner.account_name} in specified domain id")
        names_found.append(pair.name)
    return ",".join(names_found) or None


def wanted_keypairs(p) -> list[str]:
    return ([p.keypair] if p.keypair else []) + list(p.keypairs or [])


def user_data(ctx, p) -> str | None:
    if p.userdata is None:
        return None
    from .userdata import normalize

    return normalize(ctx, p.userdata)


def affinity_groups(ctx, owner: Account, ids: list | None,
                    group_names: list[str] | None) -> list[AffinityGroup]:
    if ids and group_names:
        raise InvalidParameter("affinityGroupNames and affinityGroupIds parameters can't be specified "
                               "together")
    groups = list(ids or [])
    for name in group_names or ():
        group = ctx.db.scalars(select(AffinityGroup).where(AffinityGroup.account_id == owner.id,
                                                           AffinityGroup.name == name,
                                                           AffinityGroup.removed.is_(None))).first()
        if group is None:
            raise InvalidParameter(f"Unable to find affinity group by name {name}")
        groups.append(group)
    for group in groups:
        if group.account_id != owner.id and group.acl_type != "Domain":
            raise PermissionDenied(f"Entity affinity group {group.uuid} and entity VM owner "
                                   f"{owner.account_name} belong to different accounts")
    return groups


def instance_group(ctx, owner: Account, name: str) -> InstanceGroup:
    """The owner's instance group of that name, created on first use (as upstream's deploy does)."""
    group = ctx.db.scalars(select(InstanceGroup).where(InstanceGroup.account_id == owner.id,
                                                       InstanceGroup.name == name,
                                                       InstanceGroup.removed.is_(None))).first()
    if group is None:
        group = InstanceGroup(name=name, account_id=owner.id, domain_id=owner.domain_id)
        ctx.db.add(group)
        ctx.db.flush()
    return group


def join_group(ctx, vm: VMInstance, group_name: str | None) -> None:
    from sqlalchemy import delete

    ctx.db.execute(delete(InstanceGroupVm).where(InstanceGroupVm.instance_id == vm.id))
    if group_name:
        owner = ctx.db.get(Account, vm.account_id)
        ctx.db.add(InstanceGroupVm(group_id=instance_group(ctx, owner, group_name).id, instance_id=vm.id))


# ---- networks -----------------------------------------------------------------------------------

def ip_map(ctx, entries: list[dict] | None) -> tuple[list, dict[int, str]]:
    """iptonetworklist[i].networkid/ip → (networks named, {network id: ip})."""
    from ..network.models import Network

    found, chosen = [], {}
    for entry in entries or ():
        uuid = entry.get("networkid")
        network = ctx.db.scalars(select(Network).where(Network.uuid == uuid,
                                                       Network.removed.is_(None))).first()
        if network is None:
            raise InvalidParameter(f"Unable to find network by id {uuid} in iptonetworklist")
        found.append(network)
        if entry.get("ip"):
            chosen[network.id] = entry["ip"]
    return found, chosen


def check_hostname_free(ctx, hostname: str, networks: list) -> None:
    from ..network.models import Nic

    if not networks:
        return
    statement = prebuilt("deploy.hostname", lambda: select(VMInstance.id)
                         .join(Nic, Nic.instance_id == VMInstance.id).where(VMInstance.name == bindparam("name"), VMInstance.type == USER_VM,
                                VMInstance.removed.is_(None), Nic.removed.is_(None),
                                Nic.network_id.in_(bindparam("networks", expanding=True))).limit(1))
    taken = core(ctx.db, statement, {"name": hostname, "networks": [n.id for n in networks]}).first()
    if taken is not None:
        raise InvalidParameter(f"The vm with hostName {hostname} already exists in the network domain of one "
                               "of the networks asked for; use another name")


# ---- the allocation -----------------------------------------------------------------------------

def allocate(ctx, p) -> VMInstance:
    """deployVirtualMachine's create step: the VM (Stopped), its volumes and NICs, counted."""
    owner = finalize_owner(ctx, p.account, p.domainid)
    zone = check_zone(ctx, p.zoneid)
    offering = check_offering(ctx, p.serviceofferingid, zone)
    image = check_image(ctx, p, zone, owner)
    hypervisor = choose_hypervisor(ctx, p, image, zone)
    details = map_to_dict(p.details)
    cpus, speed, memory = sizes(offering, details)
    root_size, root_offering_id = root_disk(ctx, p, offering, image, zone)
    data = data_disk(ctx, p, image, zone)
    vm_uuid = new_uuid()
    hostname, display = names(p, vm_uuid)
    groups = affinity_groups(ctx, owner, p.affinitygroupids, p.affinitygroupnames)
    mapped, ips = ip_map(ctx, p.iptonetworklist)
    networks = peers.vm_networks(ctx, zone, owner, list(p.networkids or []) or mapped or None)
    check_hostname_free(ctx, hostname, networks)
    vm = VMInstance(
        uuid=vm_uuid, name=hostname, display_name=display, type=USER_VM, state=service.STOPPED,
        zone_id=zone.id,
        template_id=image.id, guest_os_id=image.guest_os_id, hypervisor_type=hypervisor, account_id=owner.id,
        domain_id=owner.domain_id, cpus=cpus, speed=speed, ram=memory * service.MIB,
        ha_enabled=offering.ha_enabled, service_offering_id=offering.id,
        iso_id=image.id if image.format == "ISO" else None, user_data=user_data(ctx, p),
        user_data_id=p.userdataid.id if p.userdataid is not None else None,
        keypairs=keypairs(ctx, owner, wanted_keypairs(p)), display_vm=p.displayvm is not False,
        password=service.new_password() if image.password_enabled else None)
    count_all(ctx, vm, root_size, data)
    remember(ctx, vm, p, details, offering)
    ctx.db.add(vm)
    ctx.db.flush()
    add_volumes(ctx, vm, image, root_size, root_offering_id, data)
    peers.allocate_nics(ctx, vm, networks, ip_address=p.ipaddress, ip_map=ips or None)
    from ..network.security_group_members import join_groups  # at call time, as in peers.py

    join_groups(ctx, vm, owner, networks, p.securitygroupids, p.securitygroupnames)
    for group in groups:
        ctx.db.add(AffinityGroupVm(affinity_group_id=group.id, instance_id=vm.id))
    if p.group:
        join_group(ctx, vm, p.group)
    service.vm_event(ctx, "VM.CREATE", vm, f"VM {vm.name} created")
    service.vm_usage(ctx, "VM.CREATE", vm)
    return vm


def remember(ctx, vm: VMInstance, p, details: dict, offering: ServiceOffering) -> None:
    """Details answered to clients, plus the ones this server keeps for itself — set before the row is
    inserted, so the instance name holds `{id}` for the id it does not have yet (see instance_name)."""
    suffix = service.setting_or(ctx, "instance.name", "VM")
    scalable = bool(offering.dynamic_scaling_enabled) and p.dynamicscalingenabled is not False
    own = {service.HIDDEN + "instancename": f"i-{vm.account_id}-{{id}}-{suffix}",
           service.HIDDEN + "dynamicscaling": scalable,
           service.HIDDEN + "securitygroups": ",".join(p.securitygroupids or p.securitygroupnames or [])
           or None,
           service.HIDDEN + "boottype": p.boottype, service.HIDDEN + "bootmode": p.bootmode,
           service.HIDDEN + "userid": ctx.caller.user_id}
    service.set_details(vm, **details, **own)


def count_all(ctx, vm: VMInstance, root_size: int, data) -> None:
    """The VM and its volumes counted against the owner in one pass (user_vm, cpu, memory, volume,
    primary_storage), before their rows exist: the limits module recounts the tables when it first meets
    an account."""
    disks = [root_size] + ([data[0]] if data is not None else [])
    peers.reserve_limits(ctx, vm.account_id, service.limits(vm) + volumes.limits(sum(disks), len(disks)))


def add_volumes(ctx, vm: VMInstance, image: VMTemplate, root_size: int, root_offering_id: int | None,
                data) -> None:
    """The ROOT volume (and the data disk asked for); count_all has counted them."""
    is_iso = image.format == "ISO"
    volumes.new_volume(ctx, name=f"ROOT-{vm.id}", account_id=vm.account_id, domain_id=vm.domain_id,
                              zone_id=vm.zone_id, volume_type=volumes.ROOT, size=root_size,
                              disk_offering_id=root_offering_id, template_id=None if is_iso else image.id,
                              vm_id=vm.id, device_id=0, fmt=None if is_iso else image.format, counted=False)
    if data is not None:
        size, disk = data
        volumes.new_volume(ctx, name=f"DATA-{vm.id}", account_id=vm.account_id, domain_id=vm.domain_id,
                                    zone_id=vm.zone_id, volume_type=volumes.DATADISK, size=size,
                                    disk_offering_id=disk.id, vm_id=vm.id, device_id=1,
                                    provisioning=disk.provisioning_type, min_iops=disk.min_iops,
                                    max_iops=disk.max_iops, counted=False)
