"""Virtual machine commands that change a VM beyond its power state: migrate, scale and change offering,
passwords and SSH keys, user data, update, restore, assign. Thin: parse, check, call vm_operations."""

from __future__ import annotations

from dataclasses import fields

from sqlalchemy import select

from ..core.errors import InvalidParameter
from ..core.params import BOOLEAN, LIST, MAP, STRING, UUID, Param, map_to_dict
from ..core.registry import ADMINS, REGISTRY, ROOT_ONLY, Command, command
from ..iam.models import Domain
from ..iam.owners import finalize_owner
from ..infra.models import Host
from ..storage.models import GuestOs, StoragePool, VMTemplate, Volume
from . import vm_operations as operations
from . import vm_service as service
from .models import ServiceOffering, UserData, VMInstance
from .vm_views import user_data_view, view
from .vms import USERDATA_LENGTH, VM, VM_ID, VM_ID_AS_VIRTUALMACHINEID, the_vm

# ---- migrate, scale, change offering -------------------------------------------------------------

def target_host(ctx, vm: VMInstance, host: Host | None) -> Host | None:
    if host is not None and host.zone_id != vm.zone_id:
        raise InvalidParameter(f"Host {host.name} is not in the zone of VM {vm.uuid}")
    return host


@command("migrateVirtualMachine", isasync=True, roles=ROOT_ONLY, **VM, params=[
    VM_ID_AS_VIRTUALMACHINEID,
    Param("hostid", UUID, entity=Host, description="Destination Host ID to migrate VM to."),
    Param("storageid", UUID, entity=StoragePool, description="Destination storage pool ID to migrate VM "
                                                             "volumes to. Required for migrating the root "
                                                             "disk volume"),
    Param("autoselect", BOOLEAN, since="4.16.0", description="Automatically select a destination host which "
                                                             "do not require storage migration, if hostId "
                                                             "and storageId are not specified. false by "
                                                             "default"),
])
async def migrate_virtual_machine(ctx, p):
    """Attempts Migration of a VM to a different host or Root volume of the vm to a different storage pool"""
    vm = the_vm(p, "virtualmachineid")
    if p.hostid is not None and p.storageid is not None:
        raise InvalidParameter("Only one of hostId and storageId can be specified")
    await operations.migrate(ctx, vm, target_host(ctx, vm, p.hostid), pool=p.storageid)
    return view(ctx, vm)


@command("migrateVirtualMachineWithVolume", isasync=True, roles=ROOT_ONLY, **VM, params=[
    VM_ID_AS_VIRTUALMACHINEID,
    Param("hostid", UUID, entity=Host, description="Destination Host ID to migrate VM to."),
    Param("migrateto", MAP, description="Storage to pool mapping. This parameter specifies the mapping "
                                        "between a volume and a pool where you want to migrate that volume. "
                                        "Format of this parameter: "
                                        "migrateto[volume-index].volume=<uuid>&"
                                        "migrateto[volume-index].pool=<uuid>"),
    Param("autoselect", BOOLEAN, since="4.19.0", description="Automatically select a destination host for a "
                                                             "running instance, if hostId is not specified."),
])
async def migrate_virtual_machine_with_volume(ctx, p):
    """Attempts Migration of a VM with its volumes to a different host"""
    vm = the_vm(p, "virtualmachineid")
    mapping = {}
    for entry in p.migrateto or ():
        volume = ctx.db.scalars(select(Volume).where(Volume.uuid == entry.get("volume"))).first()
        pool = ctx.db.scalars(select(StoragePool).where(StoragePool.uuid == entry.get("pool"),
                                                        StoragePool.removed.is_(None))).first()
        if volume is None or volume.instance_id != vm.id or pool is None:
            raise InvalidParameter(f"Invalid migrateto entry {entry}: the volume must be one of the VM's and "
                                   "the pool a live storage pool")
        mapping[volume.id] = pool
    await operations.migrate(ctx, vm, target_host(ctx, vm, p.hostid), volume_map=mapping)
    return view(ctx, vm)


SIZE_PARAMS = [
    Param("serviceofferingid", UUID, entity=ServiceOffering, required=True,
          description="the ID of the service offering for the virtual machine"),
    Param("details", MAP, description="name value pairs of custom parameters for cpu,memory and cpunumber. "
                                      "example details[i].name=value"),
]


@command("scaleVirtualMachine", isasync=True, **VM, params=[VM_ID, *SIZE_PARAMS])
async def scale_virtual_machine(ctx, p):
    """Scales the virtual machine to a new service offering."""
    vm = the_vm(p)
    await operations.scale(ctx, vm, p.serviceofferingid, map_to_dict(p.details))
    return view(ctx, vm)


@command("changeServiceForVirtualMachine", **VM, params=[VM_ID, *SIZE_PARAMS])
def change_service_for_virtual_machine(ctx, p):
    """Changes the service offering for a virtual machine."""
    vm = the_vm(p)
    return view(ctx, operations.change_offering(ctx, vm, p.serviceofferingid, map_to_dict(p.details)))


# ---- passwords, keys, user data ------------------------------------------------------------------

@command("resetPasswordForVirtualMachine", isasync=True, **VM, params=[
    VM_ID, Param("password", STRING, since="4.19.0", description="The new password of the virtual machine. "
                                                                 "If null, a random password will be "
                                                                 "generated for the VM."),
])
def reset_password_for_virtual_machine(ctx, p):
    """Resets the password for virtual machine."""
    vm = operations.reset_password(ctx, the_vm(p), p.password)
    return view(ctx, vm, with_password=True)


@command("getVMPassword", response="password", params=[VM_ID])
def get_vm_password(ctx, p):
    """Returns an encrypted password for the VM"""
    return {"encryptedpassword": operations.stored_password(ctx, the_vm(p))}


@command("resetSSHKeyForVirtualMachine", isasync=True, **VM, params=[
    VM_ID,
    Param("keypair", STRING, description="name of the ssh key pair used to login to the virtual machine"),
    Param("keypairs", LIST, since="4.17", description="names of the ssh key pairs to be used to login to the "
                                                      "virtual machine"),
    Param("account", STRING, description="an optional account for the ssh key. Must be used with domainId."),
    Param("domainid", UUID, entity=Domain, description="an optional domainId for the virtual machine. If "
                                                       "the account parameter is used, domainId must also "
                                                       "be used."),
    Param("projectid", UUID, description="an optional project for the ssh key"),
])
def reset_ssh_key_for_virtual_machine(ctx, p):
    """Resets the SSH Key for virtual machine. The virtual machine must be in a "Stopped" state."""
    names = ([p.keypair] if p.keypair else []) + list(p.keypairs or [])
    vm = operations.reset_ssh_keys(ctx, the_vm(p), names)
    return view(ctx, vm, with_password=True)


@command("getVirtualMachineUserData", response="virtualmachineuserdata", since="4.4", params=[
    VM_ID_AS_VIRTUALMACHINEID])
def get_virtual_machine_user_data(ctx, p):
    """Returns user data associated with the VM"""
    return user_data_view(ctx, the_vm(p, "virtualmachineid"))


# ---- update, restore, assign ---------------------------------------------------------------------

@command("updateVirtualMachine", **VM, params=[
    VM_ID,
    Param("displayname", STRING, description="user generated name"),
    Param("group", STRING, description="group of the virtual machine"),
    Param("haenable", BOOLEAN, description="true if high-availability is enabled for the virtual machine, "
                                           "false otherwise"),
    Param("ostypeid", UUID, entity=GuestOs, description="the ID of the OS type that best represents this "
                                                        "VM."),
    Param("userdata", STRING, length=USERDATA_LENGTH, description="an optional binary data that can be sent "
                                                                  "to the virtual machine upon a successful "
                                                                  "deployment. This binary data must be "
                                                                  "base64 encoded."),
    Param("userdataid", UUID, entity=UserData, since="4.18", description="the ID of the userdata"),
    Param("userdatadetails", MAP, since="4.18", description="used to specify the parameters values for the "
                                                            "variables in userdata."),
    Param("name", STRING, since="4.13", description="new host name of the vm. The VM has to be "
                                                    "stopped/started for this update to take affect"),
    Param("details", MAP, description="Details in key/value pairs. 'extraconfig' is not allowed to be "
                                      "passed in details."),
    Param("cleanupdetails", BOOLEAN, description="optional boolean field, which indicates if details should "
                                                 "be cleaned up or not (if set to true, details removed for "
                                                 "this resource, details field ignored; if false or not "
                                                 "set, no action)"),
    Param("isdynamicallyscalable", BOOLEAN, description="true if VM contains XS/VMWare tools inorder to "
                                                        "support dynamic scaling of VM cpu/memory"),
    Param("displayvm", BOOLEAN, description="an optional field, whether to the display the vm to the end "
                                            "user or not."),
    Param("customid", STRING, since="4.4", description="an optional field, in case you want to set a custom "
                                                       "id to the resource. Allowed to Root Admins only"),
    Param("securitygroupids", LIST, description="list of security group ids to be applied on the virtual "
                                                "machine."),
    Param("securitygroupnames", LIST, description="comma separated list of security groups names that going "
                                                  "to be applied to the virtual machine."),
])
def update_virtual_machine(ctx, p):
    """Updates properties of a virtual machine."""
    vm = the_vm(p)
    if vm.state in (service.DESTROYED, service.EXPUNGING):
        raise InvalidParameter(f"Unable to update VM {vm.uuid} in state {vm.state}")
    return view(ctx, operations.update(ctx, vm, p))


class RestoreVmCommand(Command):
    """restoreVirtualMachine answers as `restorevmresponse` (an upstream quirk libcloud depends on)."""

    __slots__ = ()

    @property
    def response_name(self) -> str:
        return "restorevmresponse"


@command("restoreVirtualMachine", isasync=True, **VM, params=[
    VM_ID_AS_VIRTUALMACHINEID,
    Param("templateid", UUID, entity=VMTemplate, check_access=False, description="an optional template Id "
                                                                                 "to restore vm from the "
                                                                                 "new template. This can be "
                                                                                 "an ISO id in case of "
                                                                                 "restore vm deployed using "
                                                                                 "ISO"),
])
async def restore_virtual_machine(ctx, p):
    """Restore a VM to original template/ISO or new template/ISO"""
    vm = the_vm(p, "virtualmachineid")
    await operations.restore(ctx, vm, p.templateid)
    return view(ctx, vm, with_password=True)


REGISTRY["restoreVirtualMachine"] = RestoreVmCommand(
    **{f.name: getattr(REGISTRY["restoreVirtualMachine"], f.name) for f in fields(Command)})


@command("assignVirtualMachine", roles=ADMINS, **VM, params=[
    VM_ID_AS_VIRTUALMACHINEID,
    Param("account", STRING, description="account name of the new VM owner."),
    Param("domainid", UUID, entity=Domain, description="domain id of the new VM owner."),
    Param("projectid", UUID, description="an optional project for the new VM owner."),
    Param("networkids", LIST, of=UUID, entity="Network", check_access=False,
          description="list of new network ids in which the moved VM will participate."),
    Param("securitygroupids", LIST, description="list of security group ids to be applied on the virtual "
                                                "machine."),
])
def assign_virtual_machine(ctx, p):
    """Change ownership of a VM from one account to another."""
    vm = the_vm(p, "virtualmachineid")
    if not p.account or p.domainid is None:
        raise InvalidParameter("account and domainid are required to assign a virtual machine")
    owner = finalize_owner(ctx, p.account, p.domainid)
    return view(ctx, operations.assign(ctx, vm, owner, p.networkids))
